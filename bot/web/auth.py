"""Log in (password, session cookie) and out; the home page sends each role to its page."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from bot.services import users
from bot.services.access import Principal
from bot.web.deps import NotAuthenticated, csrf_guard, current_principal, db_session, render

router = APIRouter(include_in_schema=False)

HOME = {"adviser": "/sidebar", "operator": "/scripts", "manager": "/manager/tags"}


@router.get("/")
def home(request: Request) -> Response:
    try:
        principal = current_principal(request, None, None)
    except NotAuthenticated:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOME.get(principal.role, "/login"), status_code=303)


@router.get("/login")
def login_form(request: Request, next: str = "") -> Response:
    return render(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login", dependencies=[Depends(csrf_guard)])
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    # Login is a cookie-less write: check the pre-login CSRF token here.
    expected = request.session.get("csrf")
    if not expected or not secrets.compare_digest(str(expected), csrf_token):
        return render(
            request, "login.html", None, status_code=403, next=next, error="页面已过期，请重试"
        )
    with db_session(request) as session:
        user = users.login(session, username=username, password=password)
    if user is None:
        return render(
            request, "login.html", None, status_code=401, next=next, error="用户名或密码错误"
        )
    request.session.clear()  # no session fixation: a fresh session and CSRF token
    request.session["uid"] = user.user_id
    request.session["csrf"] = secrets.token_urlsafe(32)
    return RedirectResponse(_safe_next(next) or HOME.get(user.role, "/"), status_code=303)


@router.post("/logout")
def logout(
    request: Request, principal: Annotated[Principal, Depends(current_principal)]
) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _safe_next(target: str) -> str:
    """Only same-site paths (no open redirect)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""
