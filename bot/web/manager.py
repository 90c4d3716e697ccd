"""Manager pages: the home (today's queues, with links), the tag review queue (filters,
evidence, bulk; adding a missed tag; each tag's precision from review), OneID merge
suggestions (merge after a confirm dialog, undo), and adviser KPIs with the funnel and the
weekly tag distribution."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from bot.errors import InputError, NotFoundError
from bot.labels import INBOX_QUEUE_LABELS
from bot.services import (
    advisers,
    customers,
    fields,
    followups,
    merges,
    queues,
    reports,
    tags,
)
from bot.web import schemas
from bot.web.charts import bar_chart, funnel_chart, stacked_columns
from bot.web.deps import (
    CountQuery,
    IdPath,
    IdQuery,
    Manager,
    PeriodDaysQuery,
    db_session,
    render,
    runtime_of,
)

router = APIRouter(prefix="/manager", include_in_schema=False)


#: How an identifier kind reads in a merge suggestion's evidence.
EVIDENCE_KINDS = {"phone": "手机号", "unionid": "UnionID"}
Filter = Annotated[str | None, Query(max_length=100)]
#: The KPI page's funnel covers the customers added in this many days unless asked.
FUNNEL_DAYS = 30


@router.get("")
def home(request: Request, principal: Manager) -> Response:
    """The manager's home: today's queues in the team, each with a link to its page."""
    settings = runtime_of(request).settings
    tz = settings.timezone
    today = settings.today()
    now = datetime.now(UTC)
    with db_session(request) as session:
        waiting_tags = tags.review_queue(session, principal)
        merge_pairs = merges.suggestions(session, principal)
        stated = fields.suggestions(session, principal)
        waiting = queues.conversations(session, principal, "waiting", now=now, settings=settings)
        due = followups.reminders(session, principal, now=now, settings=settings)
        added = reports.funnel(
            session, principal, since=today, until=today + timedelta(days=1), timezone=tz
        )[-1]
    # each sidebar link shows the conversations its queue counts (bot/services/queues.py)
    counted = [
        ("待审核标签", len(waiting_tags), "/manager/tags", "系统建议的客户标签，等你通过或拒绝"),
        ("客户合并建议", len(merge_pairs), "/manager/merges", "同一手机号或 UnionID 的两个档案"),
        (
            INBOX_QUEUE_LABELS["stated"],
            len(stated),
            "/sidebar?queue=stated",
            "客户在聊天中提到的预算、城市等，由顾问确认",
        ),
        (
            INBOX_QUEUE_LABELS["waiting"],
            len(waiting),
            "/sidebar?queue=waiting",
            "客户发来消息后还没有回复",
        ),
        (
            INBOX_QUEUE_LABELS["followups"],
            len(due),
            "/sidebar?queue=followups",
            "今天到期或已逾期的跟进提醒",
        ),
        ("今日新增客户", added.new, "/manager/kpis#funnel", "今天新加的客户（转化漏斗的起点）"),
    ]
    return render(request, "manager_home.html", principal, queues=counted, today=today)


@router.get("/tags")
def tag_queue(
    request: Request,
    principal: Manager,
    done: CountQuery = None,
    added: IdQuery = None,
    adviser: Filter = None,
    category: Filter = None,
    tag: Filter = None,
    add_for: IdQuery = None,
    add_tag: Annotated[str | None, Query(max_length=201)] = None,
) -> Response:
    """The review queue (filtered by adviser, category and tag), a form to add a tag the
    system missed, and each tag's precision from review. With ``add_for`` and ``add_tag``
    (where the form's first step leads) the form asks which of that customer's latest
    messages shows the tag."""
    picking = None
    with db_session(request) as session:
        if add_for is not None and add_tag:
            messages = tags.message_choices(session, principal, add_for)  # 404 out of scope
            tag_category, _, tag_name = add_tag.rpartition("/")
            picking = {
                "customer_id": add_for,
                "customer_name": customers.names(session, principal, [add_for])[add_for],
                "messages": messages,
                "tag": add_tag,
                "tag_name": tag_name,
                "category": tag_category,
            }
        items = tags.review_queue(
            session,
            principal,
            adviser_id=adviser or None,
            category=category or None,
            tag=tag or None,
        )
        precision = tags.precision(session, principal)
        names = advisers.names(session, principal)
        added_tag = tags.added_tag(session, principal, added) if added else None
        taxonomy = tags.taxonomy(session, principal)
    return render(
        request,
        "manager_tags.html",
        principal,
        items=items,
        done=done,
        added=added_tag,
        precision=precision,
        names=names,
        categories=sorted({t.category for t in taxonomy}),
        tag_names=sorted({t.name for t in taxonomy if not category or t.category == category}),
        chosen={"adviser": adviser or "", "category": category or "", "tag": tag or ""},
        picking=picking,
        tag_choices=sorted({f"{t.category}/{t.name}" for t in taxonomy}),
    )


@router.post("/tags")
def review(
    request: Request,
    principal: Manager,
    status: Annotated[str, Form(pattern="^(confirmed|rejected)$")],
    ids: Annotated[list[schemas.Id] | None, Form()] = None,
) -> Response:
    chosen = ids or []
    if not chosen:
        raise InputError("请先勾选要处理的标签")
    tags.decide(runtime_of(request), principal, ids=chosen, status=status)
    return RedirectResponse(f"/manager/tags?done={len(chosen)}", status_code=303)


@router.post("/tags/add")
def add(
    request: Request,
    principal: Manager,
    customer: Annotated[str, Form(min_length=1, max_length=200)],
    tag: Annotated[str, Form(min_length=1, max_length=201)],
    msg_id: Annotated[str, Form(max_length=200)] = "",
    pick_message: Annotated[bool, Form()] = False,
) -> Response:
    """Add a tag the system missed. The customer by name (one among those the manager
    may see), phone, WeChat id, number or contact id (``customer_refs.resolve``). The
    form's first step sends ``pick_message``: when the customer has messages, the page
    then asks which of the latest shows the tag (the tagger learns from it), else the tag
    is added; without it the tag is added, with the message ``msg_id`` if given."""
    label = tags.TagLabel(customer=customer, tag=tag, msg_id=msg_id.strip() or None)
    if pick_message:
        with db_session(request) as session:
            found = tags.draft(session, principal, label)
        if found.messages:
            query = urlencode(
                {
                    "add_for": found.customer_id,
                    "add_tag": f"{found.tag.category}/{found.tag.name}",
                }
            )
            return RedirectResponse(f"/manager/tags?{query}#add", status_code=303)
    record, _ = tags.add(runtime_of(request), principal, label, by_name=True)
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
def merge_suggestions(
    request: Request, principal: Manager, merged: IdQuery = None, undone: IdQuery = None
) -> Response:
    """Profiles in the team sharing a phone number or unionid, each with a merge button
    (confirmed in a dialog), and the merges done, newest first, each with an undo button."""
    with db_session(request) as session:
        items = merges.suggestions(session, principal)
        done = list(reversed(merges.history(session, principal)))[:20]
        shown = {r.kept_id for r in done} | {r.merged_id for r in done}
        names = customers.names(session, principal, sorted(shown))
    return render(
        request,
        "manager_merges.html",
        principal,
        items=items,
        merged=merged,
        undone=undone,
        history=done,
        names=names,
        evidence=[[_evidence(e) for e in s.evidence] for s in items],
    )


def _evidence(text: str) -> str:
    """「手机号 13800138000」 for the evidence ``phone 13800138000``."""
    kind, _, value = text.partition(" ")
    return f"{EVIDENCE_KINDS.get(kind, kind)} {value}"


@router.post("/merges/{merge_record_id}/undo")
def undo_merge(request: Request, principal: Manager, merge_record_id: IdPath) -> Response:
    """Undo a merge: both profiles come back as they were."""
    with db_session(request) as session:
        merges.undo(session, principal, merge_id=merge_record_id)
    return RedirectResponse(f"/manager/merges?undone={merge_record_id}", status_code=303)


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
    days: PeriodDaysQuery = None,
    weeks: Annotated[int, Query(ge=1, le=26)] = 8,
) -> Response:
    """Adviser KPIs, the new-contact funnel of the last ``days`` days (default 30) and
    the customer tags of the last ``weeks`` weeks, for the manager's team."""
    days = days or FUNNEL_DAYS
    settings = runtime_of(request).settings
    tz = settings.timezone
    until = settings.today() + timedelta(days=1)
    since = until - timedelta(days=days)
    with db_session(request) as session:
        rows = reports.adviser_kpis(session, principal, timezone=tz)
        funnel = reports.funnel(session, principal, since=since, until=until, timezone=tz)
        tag_rows = reports.tag_weeks(session, principal, weeks=weeks, timezone=tz)
        known = advisers.names(session, principal)
    names = {k.adviser_id: known.get(k.adviser_id) or k.name or k.adviser_id for k in rows}
    groups = [advisers.shown(known | names, r.group) for r in funnel[:-1]]
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
        groups=groups,
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
