"""Console forms sent in the background, so that a refusal is shown beside the form with
what was typed still in it (bot/web/static/app.js, "forms").

The page's script sends a form with the header ``X-Siyu-Form: 1``. For such a request a
redirect (the answer of every console form that worked) becomes ``200 {"location": …}``,
and the script goes there itself; an error is answered as JSON ``{"detail": …}`` by the
app's error handlers (``wants_json``). Without the script a form posts as usual and a
refusal is a page with a way back to the form.
"""

from __future__ import annotations

import json
from typing import Final

from starlette.datastructures import Headers
from starlette.requests import Request

from bot.web.protection import ASGIApp, Message, Receive, Scope, Send

HEADER: Final = "x-siyu-form"
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


def wants_json(request: Request) -> bool:
    """A console form sent by the page's script (its refusal goes back as JSON)."""
    return request.headers.get(HEADER) == "1"


class InlineForms:
    """Turns the redirect that answers a form sent with ``X-Siyu-Form: 1`` into
    ``200 {"location": …}`` (a script cannot read a redirect's target, nor its ``#``);
    every other header (the session's cookie) is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or Headers(scope=scope).get(HEADER) != "1":
            await self.app(scope, receive, send)
            return
        redirected = False

        async def send_location(message: Message) -> None:
            nonlocal redirected
            if message["type"] == "http.response.start" and message["status"] in REDIRECTS:
                redirected = True
                headers = Headers(raw=message.get("headers", []))
                body = json.dumps({"location": headers.get("location", "/")}).encode()
                kept = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in (b"location", b"content-length", b"content-type")
                ]
                message = {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        *kept,
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
                await send(message)
                await send({"type": "http.response.body", "body": body})
                return
            if redirected:  # the redirect's own (empty) body: already answered
                return
            await send(message)

        await self.app(scope, receive, send_location)
