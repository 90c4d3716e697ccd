"""Protections every response and request gets, as plain ASGI middleware: security
headers (CSP, frame and MIME-sniffing protection, referrer policy) and request body limits
enforced before the body is read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException

from bot.services.uploads import size_label

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Scripts and styles only from the app's own files (no inline code, no CDN); images
#: also as data: URIs (Swagger UI's icons); never framed; forms post only to the app.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)
SECURITY_HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
TOO_LARGE: Final = "请求体过大（上限 {limit}）"


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response (pages, API, static files and
    errors alike)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses request bodies over a limit with 413 before they are read: multipart
    uploads up to ``upload_bytes``, every other body (JSON, forms) up to ``body_bytes``.

    A declared ``Content-Length`` over the limit is answered at once, before routing,
    authentication or parsing; a body sent without one (chunked) is counted as it is read
    and refused as soon as it passes the limit, so the server never holds more than the
    limit of it."""

    def __init__(self, app: ASGIApp, *, body_bytes: int, upload_bytes: int) -> None:
        self.app = app
        self.body_bytes = body_bytes
        self.upload_bytes = upload_bytes

    def limit_for(self, headers: Headers) -> tuple[int, int]:
        """The bytes allowed, and the limit as people are told it (an upload's size,
        without the room for the form around it)."""
        if headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return self.upload_bytes + MULTIPART_OVERHEAD, self.upload_bytes
        return self.body_bytes, self.body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit, shown = self.limit_for(headers)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(scope, receive, send, shown)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # FastAPI and Starlette let an HTTPException from the body through to
                    # the app's handlers, which answer 413 like any other error.
                    raise HTTPException(status_code=413, detail=_message(shown))
            return message

        await self.app(scope, counted, send)


#: Room for the multipart envelope (boundaries, headers, the other form fields) around
#: an uploaded file of the largest allowed size.
MULTIPART_OVERHEAD: Final = 64 * 1024


def _message(limit: int) -> str:
    return TOO_LARGE.format(limit=size_label(limit))


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """413 without reading the body; the server closes the connection after it."""
    from starlette.responses import JSONResponse

    response = JSONResponse(
        {"detail": _message(limit)}, status_code=413, headers={"Connection": "close"}
    )
    await response(scope, receive, send)
