"""The FastAPI application factory. Everything the app needs comes from the runtime
(built once by ``open_runtime``); there is no module-level app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from bot.errors import Conflict, InputError, NotFoundError, PermissionDenied, RejectedInput
from bot.labels import DOCUMENT_KIND_LABELS, HEADER_LABELS, money
from bot.pipeline.runtime import Runtime
from bot.web import (
    account,
    advisers,
    api,
    auth,
    campaigns,
    channel,
    effectiveness,
    health,
    jobs,
    knowledge,
    manager,
    profile,
    scripts,
    segments,
    sidebar,
    tools,
    validation,
)
from bot.web.charts import share
from bot.web.deps import (
    NotAuthenticated,
    csrf_token,
    current_principal,
    local_path,
    local_time,
    waiting_label,
)
from bot.web.inline_forms import InlineForms, wants_json
from bot.web.protection import BodyLimit, SecurityHeaders
from bot.web.throttle import DeviceCookies
from scripts_lib import INDUSTRY_LABELS, STAGE_LABELS

HERE = Path(__file__).parent
API_DESCRIPTION = """思语 Siyu Copilot 的 JSON API。

Authenticate with an API token (`siyu users token USERNAME`) as `Authorization: Bearer …`,
or with the console's session cookie (then unsafe methods need the `X-CSRF-Token` header).
Every read and export of customer data is written to the audit log."""

#: The HTTP status of each domain error (bot/errors.py); an ``InputError`` is 400, with
#: its problems listed.
DOMAIN_STATUS: dict[type[Exception], int] = {
    NotFoundError: 404,
    PermissionDenied: 403,
    Conflict: 409,
    RejectedInput: 422,
}


def routers() -> list[APIRouter]:
    """The routers of the console's pages and API, in the order they are matched."""
    modules = (
        auth,
        account,
        jobs,
        sidebar,
        effectiveness,
        scripts,
        knowledge,
        manager,
        segments,  # /campaigns/segments, before campaigns' /campaigns/{campaign_id}
        campaigns,
        advisers,
        api,
        tools,
        profile,
        channel,
        health,
    )
    return [module.router for module in modules]


def create_app(
    runtime: Runtime,
    *,
    secret: str | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the console for ``runtime``. ``secret`` signs session cookies; by default it
    is read from the environment variable named by ``[web] secret_env``. ``on_shutdown``
    runs when the server stops (a worker process closes its runtime)."""
    web = runtime.settings.web

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_shutdown is not None:
                on_shutdown()

    app = FastAPI(
        title="思语 Siyu Copilot",
        version="0.1.0",
        description=API_DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["localtime"] = lambda v: local_time(v, runtime.settings.timezone)
    templates.env.filters["waiting"] = waiting_label
    templates.env.globals["share"] = share
    templates.env.filters["money"] = money  # 9,880.00, as the CLI writes it
    # names, not codes: 保险 for insurance, 转化 for convert
    templates.env.filters["industry"] = lambda v: INDUSTRY_LABELS.get(v, v) if v else "全部"
    templates.env.globals["industry_labels"] = INDUSTRY_LABELS
    templates.env.filters["stage"] = lambda v: STAGE_LABELS.get(v, v) if v else "-"
    templates.env.filters["document_kind"] = lambda v: DOCUMENT_KIND_LABELS.get(v, v)
    templates.env.filters["script_field"] = lambda v: HEADER_LABELS.get(v, v)  # 标题, 内容
    app.state.templates = templates
    # The last added is the outermost: security headers on every response (the 413s
    # too), the body limit before the session is decoded or anything is parsed.
    app.add_middleware(InlineForms)  # inside the session: its cookie still goes out
    secret_key = secret if secret is not None else web.secret()
    app.state.login_devices = DeviceCookies(
        secret_key,
        name=f"{web.cookie_name}_device",
        days=web.login_device_days,
        secure=web.cookie_secure,
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key,
        session_cookie=web.cookie_name,
        max_age=web.session_max_age_s,
        same_site="lax",
        https_only=web.cookie_secure,
    )
    app.add_middleware(BodyLimit, body_bytes=web.max_body_bytes, upload_bytes=web.max_upload_bytes)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _mount_api_docs(app, templates, public=web.public_docs)
    for router in routers():
        app.include_router(router)
    _error_handlers(app, templates)
    return app


#: The API reference; answered like the API (401, not a redirect) when not logged in.
OPENAPI_URL = "/openapi.json"


def _mount_api_docs(app: FastAPI, templates: Jinja2Templates, *, public: bool) -> None:
    """/docs (Swagger UI from the ``swagger-ui-bundle`` wheel: offline, no CDN, no inline
    script) and /openapi.json; both need a login unless ``[web] public_docs``."""
    import swagger_ui_bundle

    app.mount(
        "/assets/swagger",
        StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
        name="swagger",
    )

    # Not public: a session or a token, as for any API call (401 / the login page).
    guard = [] if public else [Depends(current_principal)]

    @app.get(OPENAPI_URL, include_in_schema=False, dependencies=guard)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=guard)
    def docs(request: Request) -> Response:
        return templates.TemplateResponse(request, "api_docs.html", {"openapi_url": OPENAPI_URL})


#: A form sent after the session ended (its page keeps what was typed).
SESSION_ENDED = "登录已过期：请在新的标签页打开本站重新登录，再回到这里提交（填写的内容还在）"
#: The router's own answers, which Starlette words in English.
HTTP_ERRORS = {
    404: "页面不存在",
    405: "这个地址不能直接打开，请回到页面上操作",
}
#: FastAPI's own English details, said in Chinese (a body it cannot read: malformed or
#: nested too deeply).
FRAMEWORK_DETAILS = {
    "There was an error parsing the body": "请求内容无法解析：请发送有效的 JSON 或表单",
}


#: The heading of the error page, by status (the number stays beside it, small).
STATUS_TITLES = {
    400: "输入有误",
    401: "需要登录",
    403: "没有权限",
    404: "找不到",
    405: "不能这样打开",
    409: "操作冲突",
    413: "文件太大",
    422: "输入有误",
    429: "操作太频繁",
}


def _in_chinese(exc: StarletteHTTPException) -> str:
    """An HTTP error's message for a person: Starlette's English phrase in Chinese."""
    if exc.detail == HTTPStatus(exc.status_code).phrase:
        return HTTP_ERRORS.get(exc.status_code, f"出错了（{exc.status_code}）")
    return FRAMEWORK_DETAILS.get(str(exc.detail), str(exc.detail))


def _form_page(request: Request) -> str:
    """For a refused form: the page of this app it was sent from (going back there with
    the browser's back keeps what was typed); "" for anything else."""
    if request.method != "POST":
        return ""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc:
        return ""
    return local_path(referer.path + (f"?{referer.query}" if referer.query else ""))


def _without_query(request: Request) -> str:
    """For a page refused for its query string (「最近天数」 of 「1e3」): the same page
    without it, to start again; "" for a form sent (its way back is the form)."""
    if request.method != "GET" or not request.url.query:
        return ""
    return local_path(request.url.path)


def _error_handlers(app: FastAPI, templates: Jinja2Templates) -> None:
    def is_api(request: Request) -> bool:
        path = request.url.path
        return path.startswith("/api/") or path == OPENAPI_URL

    def page(request: Request, status: int, message: str, again: str = "") -> Response:
        if wants_json(request):  # shown beside the form by the page's script
            return JSONResponse({"detail": message}, status_code=status)
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "me": None,
                "csrf": csrf_token(request),
                "status": status,
                "title": STATUS_TITLES.get(status, "出错了"),
                "message": message,
                "back": _form_page(request),
                "again": again,
            },
            status_code=status,
        )

    @app.exception_handler(NotAuthenticated)
    async def not_authenticated(request: Request, _exc: NotAuthenticated) -> Response:
        if is_api(request):
            return JSONResponse(
                {"detail": "未登录或令牌无效"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if wants_json(request):  # the form stays, with what was typed, for after a login
            return JSONResponse({"detail": SESSION_ENDED}, status_code=401)
        if request.method == "POST":  # back to the form's page, not to a form's address
            target = quote(_form_page(request) or "/")
        else:
            target = quote(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(StarletteHTTPException)  # the router's 404 / 405 too
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api(request):
            detail = FRAMEWORK_DETAILS.get(exc.detail, exc.detail)
            return JSONResponse({"detail": detail}, status_code=exc.status_code)
        return page(request, exc.status_code, _in_chinese(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        errors = jsonable_encoder(exc.errors())
        if not is_api(request) and not wants_json(request):  # a page: the problems in Chinese
            return page(request, 422, validation.message(errors), again=_without_query(request))
        # The API, and a form sent by the page's script, which names each field by its
        # label on the form (bot/web/static/app.js, fieldProblem): FastAPI's list. Its
        # own handler echoes the input, and a lone surrogate in it (valid JSON escape, no
        # UTF-8 encoding) made the error response itself fail: ASCII-escaped.
        body = json.dumps({"detail": validation.in_chinese(errors)}, ensure_ascii=True)
        return Response(body, status_code=422, media_type="application/json")

    def domain_error(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handler(request: Request, exc: Exception) -> Response:
            if is_api(request):
                return JSONResponse({"detail": str(exc)}, status_code=status)
            return page(request, status, str(exc))

        return handler

    # Domain errors of the services, one status each (bot/errors.py).
    for error, status in DOMAIN_STATUS.items():
        app.add_exception_handler(error, domain_error(status))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> Response:
        if is_api(request):
            return JSONResponse(
                {"detail": str(exc).splitlines()[0], "problems": exc.problems}, status_code=400
            )
        return page(request, 400, str(exc))
