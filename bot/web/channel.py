"""The WeChat accounts of the channel in the console: each account's state, the login QR
code for its own adviser, the messages parked after their retries (managers put them back),
while every page shows a banner when an account of the viewer's is logged out, waiting
for a scan or has parked messages (``deps.render``); bot/services/channel_status.py
decides who sees what."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from bot.errors import InputError
from bot.services import channel_status
from bot.web import schemas
from bot.web.deps import CountQuery, CustomerViewer, Manager, db_session, render, runtime_of

router = APIRouter()

#: Parked events listed on the page (the oldest first).
PARKED_SHOWN = 50


@router.get("/channel", include_in_schema=False)
def channel_page(
    request: Request,
    principal: CustomerViewer,
    requeued: CountQuery = None,
    discarded: CountQuery = None,
) -> Response:
    settings = runtime_of(request).settings.wechaty
    with db_session(request) as session:
        accounts = channel_status.read_status(session, principal, settings=settings)
        parked = channel_status.parked_messages(
            session, principal, settings=settings, limit=PARKED_SHOWN
        )
    waiting = any(a.qr_code for a in accounts)
    return render(
        request,
        "channel.html",
        principal,
        accounts=accounts,
        qr={a.account: qr_svg(a.qr_code) for a in accounts if a.qr_code},
        parked=parked,
        kind_labels=channel_status.KIND_LABELS,
        stage_labels=channel_status.STAGE_LABELS,
        requeued=requeued,
        discarded=discarded,
        # While a scan is awaited the page reloads itself: the code changes every few minutes.
        refresh_s=15 if waiting else None,
        banners=lambda: [a.banner for a in accounts if a.banner],  # read once, above
    )


@router.post("/channel/requeue", include_in_schema=False)
def requeue_page(
    request: Request,
    principal: Manager,
    ids: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Put parked messages back (the ids ticked, or every one in scope when none is)."""
    chosen = _ids(ids)
    settings = runtime_of(request).settings.wechaty
    with db_session(request) as session:
        count = channel_status.requeue(session, principal, ids=chosen, settings=settings)
    return RedirectResponse(f"/channel?requeued={count}", status_code=303)


@router.post("/channel/discard", include_in_schema=False)
def discard_page(
    request: Request,
    principal: Manager,
    ids: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Give up the parked messages named (a message that can never succeed)."""
    settings = runtime_of(request).settings.wechaty
    with db_session(request) as session:
        count = channel_status.discard(session, principal, ids=_ids(ids) or [], settings=settings)
    return RedirectResponse(f"/channel?discarded={count}", status_code=303)


@router.get(
    "/api/channel/status",
    response_model=schemas.ChannelStatusPublic,
    tags=["channel"],
)
def api_status(request: Request, principal: CustomerViewer) -> schemas.ChannelStatusPublic:
    """The WeChat accounts in scope (an adviser's own, a manager's team's) and their parked
    messages; the login QR code only for the account's own adviser."""
    settings = runtime_of(request).settings.wechaty
    with db_session(request) as session:
        accounts = channel_status.read_status(session, principal, settings=settings)
        parked = channel_status.parked_messages(session, principal, settings=settings)
    return schemas.ChannelStatusPublic(
        accounts=[schemas.ChannelAccountPublic.model_validate(a) for a in accounts],
        parked=[schemas.ParkedPublic.model_validate(p) for p in parked],
    )


@router.post(
    "/api/channel/requeue",
    response_model=schemas.RequeueResult,
    tags=["channel"],
)
def api_requeue(
    request: Request, body: schemas.RequeueRequest, principal: Manager
) -> schemas.RequeueResult:
    """Put parked messages of the team's accounts back for another try (all when ``ids``
    is omitted); the running bot takes them up within half a minute."""
    settings = runtime_of(request).settings.wechaty
    with db_session(request) as session:
        count = channel_status.requeue(session, principal, ids=body.ids, settings=settings)
    return schemas.RequeueResult(requeued=count)


@router.post(
    "/api/channel/discard",
    response_model=schemas.DiscardResult,
    tags=["channel"],
)
def api_discard(
    request: Request, body: schemas.DiscardRequest, principal: Manager
) -> schemas.DiscardResult:
    """Give up parked messages of the team's accounts for good: they are not processed,
    and the inbox forgets their text (a message already logged stays logged)."""
    settings = runtime_of(request).settings.wechaty
    with db_session(request) as session:
        count = channel_status.discard(session, principal, ids=body.ids, settings=settings)
    return schemas.DiscardResult(discarded=count)


def qr_svg(data: str) -> Markup:
    """The login QR code as inline SVG (no script, no style: the CSP allows it)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode("utf-8")
    svg = svg[svg.index("<svg") :]  # the XML declaration is not allowed inside HTML
    svg = svg.replace("<svg ", '<svg role="img" aria-label="微信登录二维码" class="qr" ', 1)
    return Markup(svg)


def _ids(value: str) -> list[int] | None:
    parts = [p for p in value.replace("，", ",").split(",") if p.strip()]
    if not parts:
        return None
    try:
        return [int(p) for p in parts]
    except ValueError as exc:
        raise InputError(f"搁置消息的 ID 应为逗号分隔的数字，而不是 {value!r}") from exc
