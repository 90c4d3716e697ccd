"""Log in (password, session cookie; throttled) and out (every session of the user ends);
the home page sends each role to its page."""

from __future__ import annotations

import math
import secrets
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from bot.services import users
from bot.services.access import Principal
from bot.web.deps import (
    NotAuthenticated,
    credential_of,
    csrf_guard,
    current_principal,
    db_session,
    local_path,
    render,
    runtime_of,
)
from bot.web.throttle import DeviceCookies, LoginThrottle

router = APIRouter(include_in_schema=False)

HOME = {"adviser": "/sidebar", "operator": "/scripts", "manager": "/manager"}


@router.get("/")
def home(request: Request) -> Response:
    try:
        principal = current_principal(request, None, credential_of(request, None))
    except NotAuthenticated:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOME.get(principal.role, "/login"), status_code=303)


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    return render(request, "login.html", None, next=local_path(next), error=None)


def _devices(request: Request) -> DeviceCookies:
    found: DeviceCookies = request.app.state.login_devices
    return found


def _throttle(request: Request) -> LoginThrottle:
    found: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if found is None:
        web = runtime_of(request).settings.web
        found = LoginThrottle(
            account_failures=web.login_account_failures,
            address_failures=web.login_address_failures,
            window_s=web.login_window_s,
        )
        request.app.state.login_throttle = found
    return found


def _password_limiter(request: Request) -> anyio.CapacityLimiter:
    """The worker threads password checks may use (``[web] login_concurrency``): argon2
    costs ~0.2 s of CPU, so a flood of logins waits here instead of taking every core
    and every worker thread of the other requests."""
    found: anyio.CapacityLimiter | None = getattr(request.app.state, "password_limiter", None)
    if found is None:
        found = anyio.CapacityLimiter(runtime_of(request).settings.web.login_concurrency)
        request.app.state.password_limiter = found
    return found


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", dependencies=[Depends(csrf_guard)])
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Log in. Failed attempts are counted per account (per device, from a browser
    that logged in to it before: ``DeviceCookies``) and per client address; past
    ``[web] login_*_failures`` within ``login_window_s`` the answer is 429 with
    ``Retry-After`` and no password is checked. The password check (argon2) runs in a
    worker thread, at most ``login_concurrency`` at a time."""
    # Login is a cookie-less write: check the pre-login CSRF token here.
    expected = request.session.get("csrf")
    if not expected or not secrets.compare_digest(str(expected), csrf_token):
        return render(
            request,
            "login.html",
            None,
            status_code=403,
            next=next,
            username=username,
            error="页面已过期，请重试",
        )
    throttle = _throttle(request)
    address = client_address(request)
    devices = _devices(request)
    device = devices.device_of(request.cookies.get(devices.name), username)
    verdict = throttle.check(account=username, address=address, device=device)
    if not verdict.allowed:
        if verdict.newly_locked:

            def audit() -> None:
                with db_session(request) as session:
                    users.record_throttled(session, username=username, client=address)

            await run_in_threadpool(audit)
        minutes = max(1, math.ceil(verdict.retry_after_s / 60))
        response = render(
            request,
            "login.html",
            None,
            status_code=429,
            next=next,
            username=username,
            error=f"登录失败次数过多，请 {minutes} 分钟后再试",
        )
        response.headers["Retry-After"] = str(verdict.retry_after_s)
        return response

    def check() -> users.Login | None:
        with db_session(request) as session:
            return users.login(session, username=username, password=password)

    result = await anyio.to_thread.run_sync(check, limiter=_password_limiter(request))
    if result is None:
        throttle.failed(account=username, address=address, device=device)
        return render(
            request,
            "login.html",
            None,
            status_code=401,
            next=next,
            username=username,
            error="用户名或密码错误",
        )
    throttle.succeeded(account=username, device=device)
    request.session.clear()  # no session fixation: a fresh session and CSRF token
    request.session["uid"] = result.principal.user_id
    request.session["sv"] = result.session_version
    request.session["csrf"] = secrets.token_urlsafe(32)
    response = RedirectResponse(
        local_path(next) or HOME.get(result.principal.role, "/"), status_code=303
    )
    devices.issue(response, username, device)
    return response


@router.post("/logout")
def logout(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Response:
    """Log out: every session of this user ends, including copies of this cookie."""
    with db_session(request) as session:
        users.logout(session, principal)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
