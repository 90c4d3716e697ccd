"""The adviser sidebar: today's follow-ups, conversation list, live suggestions, profile
card."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from bot.services import customers, followups, tags
from bot.web.deps import CustomerViewer, IdPath, IdQuery, db_session, render, runtime_of
from scripts_lib import CATEGORY_LABELS, STAGE_LABELS

router = APIRouter(include_in_schema=False)

TAG_STATUS_LABELS = {"suggested": "待确认", "confirmed": "已确认", "rejected": "已拒绝"}
EVENT_LABELS = {"contact_added": "添加好友", "stage_changed": "阶段变化", "converted": "成交"}
IDENTITY_LABELS = {
    "memory_contact": "测试渠道",
    "wechaty_contact": "微信",
    "wecom_external_userid": "企业微信",
    "unionid": "UnionID",
    "phone": "手机",
}


@router.get("/sidebar")
def sidebar(request: Request, principal: CustomerViewer, customer_id: IdQuery = None) -> Response:
    with db_session(request) as session:
        rows = customers.inbox(session, principal)
        profile = customers.profile(session, principal, customer_id) if customer_id else None
        reminders = followups.reminders(
            session, principal, now=datetime.now(UTC), settings=runtime_of(request).settings
        )
    return render(
        request,
        "sidebar.html",
        principal,
        rows=rows,
        reminders=reminders,
        today_start=_today_start(runtime_of(request).settings.timezone),
        profile=profile,
        selected=customer_id,
        tag_labels=TAG_STATUS_LABELS,
        event_labels=EVENT_LABELS,
        identity_labels=IDENTITY_LABELS,
        category_labels=CATEGORY_LABELS,
        stage_labels=STAGE_LABELS,
    )


def _today_start(timezone: str) -> datetime:
    """Midnight today in ``timezone``: reminders due before it are overdue."""
    tz = ZoneInfo(timezone)
    return datetime.combine(datetime.now(tz).date(), time.min, tzinfo=tz)


@router.get("/sidebar/inbox")
def inbox_fragment(
    request: Request, principal: CustomerViewer, customer_id: IdQuery = None
) -> Response:
    """The conversation list alone, re-fetched when a live event arrives."""
    with db_session(request) as session:
        rows = customers.inbox(session, principal)
    return render(request, "_inbox.html", principal, rows=rows, selected=customer_id)


@router.post("/sidebar/tags/{customer_tag_id}")
def review_tag(
    request: Request,
    customer_tag_id: IdPath,
    principal: CustomerViewer,
    status: Annotated[str, Form(pattern="^(confirmed|rejected)$")],
    customer_id: Annotated[int, Form()],
) -> Response:
    tags.decide(runtime_of(request), principal, ids=[customer_tag_id], status=status)
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#profile", status_code=303)
