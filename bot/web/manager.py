"""Manager pages: the tag review queue (with evidence, bulk; adding a missed tag; each
tag's precision from review), OneID merge suggestions
(merge button), and adviser KPIs with the funnel and the weekly tag distribution."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from bot.errors import NotFoundError
from bot.services import merges, reports, tags
from bot.web import schemas
from bot.web.charts import bar_chart, funnel_chart, stacked_columns
from bot.web.deps import (
    CountQuery,
    IdPath,
    IdQuery,
    Manager,
    db_session,
    render,
    runtime_of,
)

router = APIRouter(prefix="/manager", include_in_schema=False)


@router.get("/tags")
def tag_queue(
    request: Request, principal: Manager, done: CountQuery = None, added: IdQuery = None
) -> Response:
    """The review queue, a form to add a tag the system missed, and each tag's precision
    from review."""
    with db_session(request) as session:
        items = tags.review_queue(session, principal)
        precision = tags.precision(session, principal)
    return render(
        request,
        "manager_tags.html",
        principal,
        items=items,
        done=done,
        added=added,
        precision=precision,
    )


@router.post("/tags")
def review(
    request: Request,
    principal: Manager,
    status: Annotated[str, Form(pattern="^(confirmed|rejected)$")],
    ids: Annotated[list[schemas.Id] | None, Form()] = None,
) -> Response:
    chosen = ids or []
    tags.decide(runtime_of(request), principal, ids=chosen, status=status)
    return RedirectResponse(f"/manager/tags?done={len(chosen)}", status_code=303)


@router.post("/tags/add")
def add(
    request: Request,
    principal: Manager,
    customer: Annotated[str, Form(min_length=1, max_length=200)],
    tag: Annotated[str, Form(min_length=1, max_length=201)],
    msg_id: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Add a tag the system missed; with a message id the tagger learns from it."""
    record, _ = tags.add(
        runtime_of(request),
        principal,
        tags.TagLabel(customer=customer, tag=tag, msg_id=msg_id.strip() or None),
    )
    return RedirectResponse(f"/manager/tags?added={record.id}", status_code=303)


@router.post("/tags/{customer_tag_id}/{status}")
def review_one(
    request: Request, principal: Manager, customer_tag_id: IdPath, status: str
) -> Response:
    if status not in ("confirmed", "rejected"):
        raise NotFoundError("未知操作")
    tags.decide(runtime_of(request), principal, ids=[customer_tag_id], status=status)
    return RedirectResponse("/manager/tags?done=1", status_code=303)


@router.get("/merges")
def merge_suggestions(request: Request, principal: Manager, merged: IdQuery = None) -> Response:
    """Profiles in the team sharing a phone number or unionid, each with a merge button."""
    with db_session(request) as session:
        items = merges.suggestions(session, principal)
    return render(request, "manager_merges.html", principal, items=items, merged=merged)


@router.post("/merges")
def merge(
    request: Request,
    principal: Manager,
    keep_id: Annotated[int, Form(ge=1, le=schemas.MAX_ID)],
    merge_id: Annotated[int, Form(ge=1, le=schemas.MAX_ID)],
) -> Response:
    with db_session(request) as session:
        record = merges.merge(session, principal, keep_id=keep_id, merge_id=merge_id)
    return RedirectResponse(f"/manager/merges?merged={record.id}", status_code=303)


@router.get("/kpis")
def kpis(
    request: Request,
    principal: Manager,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
    weeks: Annotated[int, Query(ge=1, le=26)] = 8,
) -> Response:
    """Adviser KPIs, the new-contact funnel of the last ``days`` days and the customer
    tags of the last ``weeks`` weeks, for the manager's team."""
    tz = runtime_of(request).settings.timezone
    until = datetime.now(ZoneInfo(tz)).date() + timedelta(days=1)
    since = until - timedelta(days=days)
    with db_session(request) as session:
        rows = reports.adviser_kpis(session, principal, timezone=tz)
        funnel = reports.funnel(session, principal, since=since, until=until, timezone=tz)
        tag_rows = reports.tag_weeks(session, principal, weeks=weeks, timezone=tz)
    names = {k.adviser_id: k.name or k.adviser_id for k in rows}
    labels = [names[k.adviser_id] for k in rows]
    answered = [k for k in rows if k.first_response_min is not None]
    total = funnel[-1]
    week_labels, categories, confirmed, suggested = _tag_series(tag_rows)
    return render(
        request,
        "manager_kpis.html",
        principal,
        rows=rows,
        names=names,
        funnel=funnel,
        days=days,
        weeks=weeks,
        tag_rows=tag_rows,
        adoption_chart=bar_chart(
            labels, [k.adoption_rate * 100 for k in rows], unit="%", title="建议采用率"
        ),
        messages_chart=bar_chart(
            labels, [float(k.messages_in) for k in rows], unit="条", title="客户消息数"
        ),
        response_chart=bar_chart(
            [names[k.adviser_id] for k in answered],
            [k.first_response_min or 0.0 for k in answered],
            unit="分",
            title="首次响应时间（中位数，分钟）",
        ),
        conversations_chart=bar_chart(
            labels,
            [k.conversations_per_day for k in rows],
            unit="",
            title="日均会话数",
            decimals=1,
        ),
        funnel_chart=funnel_chart(
            [("新增", total.new), ("互动", total.engaged), ("成交", total.converted)],
            title=f"转化漏斗（近 {days} 天新增客户）",
        ),
        confirmed_chart=stacked_columns(
            week_labels, {c: confirmed[c] for c in categories}, title="每周已确认标签（按类别）"
        ),
        suggested_chart=stacked_columns(
            week_labels, {c: suggested[c] for c in categories}, title="每周待确认标签（按类别）"
        ),
    )


def _tag_series(
    rows: list[reports.TagWeek],
) -> tuple[list[str], list[str], dict[str, list[float]], dict[str, list[float]]]:
    """Week labels ("11/16"), categories, and per category one count per week."""
    weeks = sorted({r.week for r in rows})
    categories = sorted({r.category for r in rows})
    index = {w: i for i, w in enumerate(weeks)}
    confirmed = {c: [0.0] * len(weeks) for c in categories}
    suggested = {c: [0.0] * len(weeks) for c in categories}
    for r in rows:
        confirmed[r.category][index[r.week]] += r.confirmed
        suggested[r.category][index[r.week]] += r.suggested
    return [f"{w.month}/{w.day}" for w in weeks], categories, confirmed, suggested
