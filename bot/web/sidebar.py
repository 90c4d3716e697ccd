"""The adviser sidebar: the adviser's own numbers, today's follow-ups, conversation list,
live suggestions, the profile card (profile fields and the values stated in messages,
where the customer came from — campaign and referrer —, next-best actions)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.crm.fields import TYPE_LABELS
from bot.services import (
    advisers,
    campaigns,
    customers,
    fields,
    followups,
    next_actions,
    referrals,
    tags,
)
from bot.services.access import Principal
from bot.web.deps import CustomerViewer, IdPath, IdQuery, db_session, render, runtime_of
from bot.web.schemas import MAX_ID
from scripts_lib import CATEGORY_LABELS, STAGE_LABELS

router = APIRouter(include_in_schema=False)

TAG_STATUS_LABELS = {"suggested": "待确认", "confirmed": "已确认", "rejected": "已拒绝"}
EVENT_LABELS = {
    "contact_added": "添加好友",
    "stage_changed": "阶段变化",
    "converted": "成交",
    "purchase": "购买",
    "friend_request": "好友申请",
    "attributed": "渠道归因",
    "referral_set": "登记介绍人",
}
METHOD_LABELS = {
    "greeting": "好友验证语",
    "channel_param": "渠道参数",
    "import": "导入",
    "manual": "手动",
}
IDENTITY_LABELS = {
    "memory_contact": "测试渠道",
    "wechaty_contact": "微信",
    "wecom_external_userid": "企业微信",
    "unionid": "UnionID",
    "phone": "手机",
}


@router.get("/sidebar")
def sidebar(request: Request, principal: CustomerViewer, customer_id: IdQuery = None) -> Response:
    settings = runtime_of(request).settings
    with db_session(request) as session:
        rows = customers.inbox(session, principal)
        profile = customers.profile(session, principal, customer_id) if customer_id else None
        reminders = followups.reminders(
            session, principal, now=datetime.now(UTC), settings=settings
        )
        numbers = (
            advisers.my_numbers(session, principal, settings=settings, now=datetime.now(UTC))
            if principal.role == "adviser" and principal.adviser_id
            else None
        )
        growth = _growth(session, principal, customer_id) if customer_id else {}
    actions = (
        next_actions.for_customer(runtime_of(request), principal, customer_id)
        if customer_id
        else ()
    )
    return render(
        request,
        "sidebar.html",
        principal,
        rows=rows,
        numbers=numbers,
        actions=actions,
        **growth,
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


def _growth(session: Session, principal: Principal, customer_id: int) -> dict[str, Any]:
    """What the profile card shows beyond the basics."""
    return {
        "field_values": fields.of_customer(session, principal, customer_id),
        "field_suggestions": fields.suggestions(session, principal, customer_id=customer_id),
        "attribution": campaigns.attribution(session, principal, customer_id),
        "codes": campaigns.codes(session, principal),
        "chain": referrals.chain(session, principal, customer_id),
        "type_labels": TYPE_LABELS,
        "method_labels": METHOD_LABELS,
        "suggestion_label": fields.label,
    }


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


async def _field_inputs(request: Request) -> dict[str, str]:
    """The ``field:NAME`` inputs of the profile fields form (their names are the declared
    fields'). The form is parsed already (the CSRF check read it): nothing blocks here."""
    form = await request.form()
    return {
        str(key).removeprefix("field:"): str(value)
        for key, value in form.multi_items()
        if str(key).startswith("field:") and isinstance(value, str)
    }


@router.post("/sidebar/customers/{customer_id}/fields")
def save_fields(
    request: Request,
    customer_id: IdPath,
    principal: CustomerViewer,
    values: Annotated[dict[str, str], Depends(_field_inputs)],
) -> Response:
    """The profile fields form: an empty input clears its field."""
    with db_session(request) as session:
        fields.set_values(session, principal, customer_id=customer_id, values=values)
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#fields", status_code=303)


@router.post("/sidebar/profile-suggestions/{suggestion_id}")
def review_suggestion(
    request: Request,
    suggestion_id: IdPath,
    principal: CustomerViewer,
    status: Annotated[str, Form(pattern="^(confirmed|rejected)$")],
    customer_id: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    with db_session(request) as session:
        fields.review(session, principal, suggestion_id=suggestion_id, status=status)
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#fields", status_code=303)


@router.post("/sidebar/customers/{customer_id}/referrer")
def save_referrer(
    request: Request,
    customer_id: IdPath,
    principal: CustomerViewer,
    referrer: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    with db_session(request) as session:
        referrals.set_referrer(session, principal, customer_id=customer_id, referrer=referrer)
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#origin", status_code=303)


@router.post("/sidebar/customers/{customer_id}/attribution")
def save_attribution(
    request: Request,
    customer_id: IdPath,
    principal: CustomerViewer,
    code: Annotated[str, Form(min_length=1, max_length=40)],
) -> Response:
    with db_session(request) as session:
        campaigns.attribute(session, principal, customer_id=customer_id, code=code)
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#origin", status_code=303)
