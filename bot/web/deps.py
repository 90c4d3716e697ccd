"""Request-scoped helpers shared by the routers: who is asking (session cookie or API
token), CSRF protection for cookie-authenticated writes, the role each route admits, and
template rendering. Scope, audit and domain rules live in ``bot.services``."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import Session
from starlette.responses import Response

from bot.pipeline.runtime import Runtime
from bot.services import access, channel_status, users
from bot.services.access import Principal, Role
from bot.vocab import InboxQueue
from bot.web.schemas import MAX_ID

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

#: An id in the path (``MAX_ID``: see bot/web/schemas.py), and an optional one in the query string.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
#: A count shown back on a page (``?done=3``).
CountQuery = Annotated[int | None, Query(ge=0, le=MAX_ID)]

#: 最近天数: at most ten years back, on every page and API taking ``days``.
MAX_DAYS = 3660


def _blank_is_none(value: object) -> object:
    """A box left empty in a GET form is sent as ``name=``: the same as not sent."""
    return None if value == "" else value


def _days(least: int) -> BeforeValidator:
    """最近天数 as typed in a page's number box: empty is None (the page's default), else
    a whole number from ``least`` to ``MAX_DAYS``; anything else (「1e3」, 「-5」,
    「99999」) is refused with that range, never ignored."""

    def check(value: object) -> object:
        if value is None or value == "":
            return None
        text = str(value).strip()
        digits = re.fullmatch(r"-?[0-9]{1,12}", text)
        if digits is None or not least <= int(text) <= MAX_DAYS:
            raise PydanticCustomError(
                "days_range",
                "要一个 {least} 到 {most} 之间的整数",
                {"least": least, "most": MAX_DAYS},
            )
        return int(text)

    return BeforeValidator(check)


#: 最近天数 on a page where empty or 0 means all the time there is.
DaysQuery = Annotated[int | None, _days(0), Query()]
#: 最近天数 on a page with a default period (empty: the default; 0 refused).
PeriodDaysQuery = Annotated[int | None, _days(1), Query()]
#: A date in a GET form's query string (开始日期, 结束日期); empty when not chosen.
DateQuery = Annotated[date | None, BeforeValidator(_blank_is_none), Query()]
#: The sidebar's conversations of one work queue (the manager's home links there); empty
#: is none, anything else is refused (筛选：不是可选的值).
QueueQuery = Annotated[InboxQueue | None, BeforeValidator(_blank_is_none), Query()]

bearer = HTTPBearer(auto_error=False, description="API token (`siyu users token NAME`)")


class NotAuthenticated(Exception):
    """No valid session or token: the API answers 401, pages redirect to the login."""


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def templates_of(request: Request) -> Jinja2Templates:
    t: Jinja2Templates = request.app.state.templates
    return t


@contextmanager
def db_session(request: Request) -> Iterator[Session]:
    with runtime_of(request).db.session() as session:
        yield session


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_guard(request: Request) -> None:
    """Cookie-authenticated writes must echo the session's CSRF token (form field or
    header). Token-authenticated API calls carry no cookie and need none."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    if "uid" not in request.session:
        return  # not logged in by cookie: authentication fails later with 401 / redirect
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(str(expected), sent):
        raise HTTPException(status_code=403, detail="CSRF 校验失败，请刷新页面后重试")


def credential_of(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> users.Credential:
    """The request's API token (``Authorization: Bearer``), else its session cookie's user
    and session version (empty when there is neither)."""
    if credentials is not None:
        return users.Credential(token=credentials.credentials)
    uid, version = request.session.get("uid"), request.session.get("sv")
    if isinstance(uid, int) and isinstance(version, int):
        return users.Credential(user_id=uid, session_version=version)
    return users.Credential()


def current_principal(
    request: Request,
    _csrf: Annotated[None, Depends(csrf_guard)],
    credential: Annotated[users.Credential, Depends(credential_of)],
) -> Principal:
    with db_session(request) as session:
        principal = users.authenticate(session, credential)
    if principal is None:
        raise NotAuthenticated()
    return principal


def require(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting only ``roles`` (``PermissionDenied``, 403, otherwise): the
    pages and routes of each role, checked before the request body is read."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        access.require(principal, *roles)
        return principal

    return dependency


CustomerViewer = Annotated[Principal, Depends(require("adviser", "manager"))]
AdviserUser = Annotated[Principal, Depends(require("adviser"))]
Operator = Annotated[Principal, Depends(require("operator", "manager"))]
Manager = Annotated[Principal, Depends(require("manager"))]
AnyUser = Annotated[Principal, Depends(current_principal)]


def render(
    request: Request,
    name: str,
    principal: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    return templates_of(request).TemplateResponse(
        request,
        name,
        {
            "me": principal,
            "csrf": csrf_token(request),
            # Lazy: only a full page (base.html) reads it, not a fragment such as the inbox.
            "banners": lambda: channel_banners(request, principal),
            **context,
        },
        status_code=status_code,
    )


def channel_banners(request: Request, principal: Principal | None) -> list[str]:
    """The lines every page shows an adviser or a manager about their WeChat accounts
    (logged out, waiting for a scan, parked messages). Never breaks a page: a failure is
    logged and shows nothing."""
    if principal is None or principal.role not in ("adviser", "manager"):
        return []
    try:
        settings = runtime_of(request).settings.wechaty
        with db_session(request) as session:
            accounts = channel_status.read_status(session, principal, settings=settings)
    except Exception:
        log.exception("reading the channel accounts for the banner failed")
        return []
    return [a.banner for a in accounts if a.banner]


#: Characters a browser drops or reads as a separator inside a URL: with them,
#: ``/<tab>/evil.example`` would become ``//evil.example``, another site.
_URL_CONTROL = frozenset(chr(c) for c in range(0x21)) | {"\\", "\x7f"}


def local_path(target: str) -> str:
    """``target`` when it is a path of this app (``/…``, not ``//host``), else ``""``:
    every redirect to a user-supplied place goes through here (no open redirect)."""
    if not target.startswith("/") or target.startswith("//"):
        return ""
    if any(ch in _URL_CONTROL for ch in target):
        return ""
    return target


def local_time(value: datetime | None, tz: str) -> str:
    if value is None:
        return "-"
    return value.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M")


def waiting_label(since: datetime | None, now: datetime | None = None) -> str:
    """How long a customer has waited for a reply, in Chinese ("等待 5 分钟")."""
    if since is None:
        return ""
    seconds = max(0, int(((now or datetime.now(UTC)) - since).total_seconds()))
    if seconds < 60:
        return "刚刚"
    if seconds < 3600:
        return f"等待 {seconds // 60} 分钟"
    if seconds < 86400:
        return f"等待 {seconds // 3600} 小时"
    return f"等待 {seconds // 86400} 天"
