"""The JSON API (documented at /docs): customers, suggestions, outcomes, tags, scripts,
KPIs, and the live event stream behind the adviser sidebar."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from bot.pipeline.live import LiveEvent
from bot.services import operations as ops
from bot.services.access import CustomerScope
from bot.web import schemas
from bot.web.deps import (
    AdviserUser,
    AnyUser,
    CustomerViewer,
    Manager,
    Operator,
    db_session,
    runtime_of,
    scope_of,
)
from scripts_lib import CATEGORIES, STATUSES

router = APIRouter(prefix="/api")

#: Seconds between keep-alive comments on the event stream (proxies close idle streams).
KEEPALIVE_S = 15.0
QUEUE_SIZE = 100


@router.get("/me", response_model=schemas.Me, tags=["account"])
def me(principal: AnyUser) -> schemas.Me:
    return schemas.Me(
        username=principal.username,
        display_name=principal.display_name,
        role=principal.role,
        adviser_id=principal.adviser_id,
        team=principal.team,
    )


# ------------------------------------------------------------------ customers
@router.get("/customers", response_model=list[schemas.InboxItem], tags=["customers"])
def list_customers(request: Request, principal: CustomerViewer) -> list[schemas.InboxItem]:
    """Conversation list: customers in your scope with unread count and waiting time."""
    with db_session(request) as session:
        rows = ops.inbox(session, principal)
    return [
        schemas.InboxItem(
            customer_id=r.customer_id,
            name=r.name,
            adviser_id=r.adviser_id,
            last_message_at=r.last_message_at,
            last_text=r.last_text,
            unread=r.unread,
            waiting_since=r.waiting_since,
        )
        for r in rows
    ]


@router.get(
    "/customers/{customer_id}",
    response_model=schemas.ProfilePublic,
    tags=["customers"],
    responses={404: {"description": "No such customer in your scope"}},
)
def get_customer(
    request: Request, customer_id: int, principal: CustomerViewer
) -> schemas.ProfilePublic:
    """Profile card: identities, tags, timeline (audited)."""
    with db_session(request) as session:
        return ops.profile_public(ops.profile(session, principal, customer_id))


@router.get(
    "/customers/{customer_id}/export",
    response_model=schemas.CustomerExport,
    tags=["customers"],
    responses={404: {"description": "No such customer in your scope"}},
)
def export_customer(
    request: Request, customer_id: int, principal: CustomerViewer
) -> schemas.CustomerExport:
    """Everything held about one customer (audited as an export)."""
    with db_session(request) as session:
        return ops.export_customer(session, principal, customer_id)


@router.get(
    "/customers/{customer_id}/suggestion",
    response_model=schemas.SuggestionPublic | None,
    tags=["suggestions"],
    responses={404: {"description": "No such customer in your scope"}},
)
def latest_suggestion(
    request: Request, customer_id: int, principal: CustomerViewer
) -> schemas.SuggestionPublic | None:
    """The newest suggestion for a customer (null if none yet)."""
    with db_session(request) as session:
        found = ops.latest_suggestion(session, principal, customer_id)
    return ops.suggestion_public(found) if found else None


# ------------------------------------------------------------------ suggestions
@router.get(
    "/suggestions/{suggestion_id}",
    response_model=schemas.SuggestionPublic,
    tags=["suggestions"],
    responses={404: {"description": "No such suggestion in your scope"}},
)
def get_suggestion(
    request: Request, suggestion_id: int, principal: CustomerViewer
) -> schemas.SuggestionPublic:
    with db_session(request) as session:
        return ops.suggestion_public(ops.suggestion(session, principal, suggestion_id))


@router.post(
    "/suggestions/{suggestion_id}/outcomes",
    response_model=schemas.OutcomeCreated,
    status_code=201,
    tags=["suggestions"],
    responses={
        404: {"description": "No such suggestion in your scope"},
        422: {"description": "The script was not part of this suggestion"},
    },
)
def record_outcome(
    request: Request,
    suggestion_id: int,
    body: schemas.OutcomeCreate,
    principal: CustomerViewer,
) -> schemas.OutcomeCreated:
    """Record that a script or the draft was used as is (adopted) or after editing."""
    with db_session(request) as session:
        return schemas.OutcomeCreated(
            outcome_id=ops.record_outcome(session, principal, suggestion_id, body)
        )


@router.post(
    "/messages",
    response_model=schemas.MessageAccepted,
    status_code=201,
    tags=["messages"],
    responses={
        200: {"model": schemas.MessageAccepted, "description": "Already logged (same msg_id)"},
        403: {"description": "Only an adviser account can post its chats"},
    },
)
def post_message(
    request: Request, body: schemas.MessageIn, principal: AdviserUser, response: Response
) -> schemas.MessageAccepted:
    """Log one message of your chat with a customer and get the suggestions for it: the
    integration point for chat sources the bot does not run itself. The customer's
    text is treated as data; a repeated `msg_id` is logged once (answered with 200)."""
    accepted = ops.post_message(runtime_of(request), principal, body)
    if accepted.duplicate:
        response.status_code = 200
    return accepted


@router.post("/suggest", tags=["suggestions"])
def suggest(
    request: Request, body: schemas.SuggestRequest, principal: AnyUser
) -> dict[str, object]:
    """What would you say to this message? (no customer, nothing logged) — the JSON of
    `siyu suggest`."""
    result = runtime_of(request).assistant.suggest(body.text, industry=body.industry)
    return result.to_json()


# ------------------------------------------------------------------ tags
@router.post(
    "/customer-tags/{customer_tag_id}/review",
    response_model=schemas.CustomerTagPublic,
    tags=["tags"],
    responses={404: {"description": "No such tag in your scope"}},
)
def review_tag(
    request: Request, customer_tag_id: int, body: schemas.TagReview, principal: CustomerViewer
) -> schemas.CustomerTagPublic:
    """Confirm or reject a suggested tag of a customer in your scope."""
    with db_session(request) as session:
        return ops.tag_public(ops.review_tag(session, principal, customer_tag_id, body.status))


@router.get("/tags/review-queue", response_model=list[schemas.ReviewItemPublic], tags=["tags"])
def review_queue(request: Request, principal: Manager) -> list[schemas.ReviewItemPublic]:
    """Suggested tags waiting for review in your team, with their evidence."""
    with db_session(request) as session:
        items = ops.review_queue(session, principal)
    return [
        schemas.ReviewItemPublic(
            tag=ops.tag_public(i.tag), adviser_id=i.adviser_id, evidence_message=i.evidence_message
        )
        for i in items
    ]


@router.post(
    "/tags/review",
    response_model=schemas.BulkReviewResult,
    tags=["tags"],
    responses={404: {"description": "A tag is not in your scope (nothing reviewed)"}},
)
def bulk_review(
    request: Request, body: schemas.BulkTagReview, principal: Manager
) -> schemas.BulkReviewResult:
    """Confirm or reject many tags at once (all or nothing)."""
    with db_session(request) as session:
        for tag_id in body.ids:
            ops.review_tag(session, principal, tag_id, body.status)
    return schemas.BulkReviewResult(reviewed=len(body.ids))


@router.get("/kpis", response_model=list[schemas.KpiPublic], tags=["manager"])
def kpis(request: Request, principal: Manager) -> list[schemas.KpiPublic]:
    """Per adviser: messages, suggestions, adopted / edited, adoption rate, median
    first-response minutes and conversations per active day."""
    with db_session(request) as session:
        rows = ops.adviser_kpis(session, principal, runtime_of(request).settings.timezone)
    return [
        schemas.KpiPublic(
            adviser_id=k.adviser_id,
            name=k.name,
            messages_in=k.messages_in,
            messages_out=k.messages_out,
            suggestions=k.suggestions,
            adopted=k.adopted,
            edited=k.edited,
            adoption_rate=round(k.adoption_rate, 4),
            first_response_min=k.first_response_min,
            conversations_per_day=k.conversations_per_day,
        )
        for k in rows
    ]


@router.get("/reminders", response_model=list[schemas.ReminderPublic], tags=["customers"])
def reminders(request: Request, principal: CustomerViewer) -> list[schemas.ReminderPublic]:
    """Open follow-ups due today or earlier (yours; a manager's: the team's), with the
    suggested script filled in."""
    with db_session(request) as session:
        found = ops.reminders(session, principal, runtime_of(request))
    return [
        schemas.ReminderPublic(
            id=r.follow_up.id,
            customer_id=r.follow_up.customer_id,
            customer_name=r.follow_up.customer_name,
            adviser_id=r.follow_up.adviser_id,
            due_at=r.follow_up.due_at,
            note=r.note,
            rule=r.follow_up.rule,
            script_id=r.follow_up.script_id,
            script=r.script,
        )
        for r in found
    ]


# ------------------------------------------------------------------ OneID
@router.post(
    "/customers/merge",
    response_model=schemas.MergePublic,
    status_code=201,
    tags=["customers"],
    responses={
        400: {"description": "Same customer, or one already merged"},
        404: {"description": "A customer is not in your scope"},
    },
)
def merge_customers(
    request: Request, body: schemas.MergeCreate, principal: Manager
) -> schemas.MergePublic:
    """Merge customer `merge_id` into `keep_id` (both in your team; audited; undoable)."""
    with db_session(request) as session:
        return ops.merge_public(
            ops.merge_customers(session, principal, body.keep_id, body.merge_id, body.reason)
        )


@router.post(
    "/merges/{merge_id}/undo",
    response_model=schemas.MergePublic,
    tags=["customers"],
    responses={
        400: {"description": "Already undone, or a later merge must be undone first"},
        404: {"description": "No such merge in your scope"},
    },
)
def undo_merge(request: Request, merge_id: int, principal: Manager) -> schemas.MergePublic:
    """Undo a merge: both profiles are as they were (audited)."""
    with db_session(request) as session:
        return ops.merge_public(ops.undo_merge(session, principal, merge_id))


@router.get(
    "/merge-suggestions", response_model=list[schemas.MergeSuggestionPublic], tags=["customers"]
)
def merge_suggestions(request: Request, principal: Manager) -> list[schemas.MergeSuggestionPublic]:
    """Pairs of profiles in your team sharing a phone number or unionid (audited)."""
    with db_session(request) as session:
        found = ops.merge_suggestions(session, principal)
    return [
        schemas.MergeSuggestionPublic(
            keep_id=s.keep_id,
            merge_id=s.merge_id,
            keep_name=s.keep_name,
            merge_name=s.merge_name,
            evidence=list(s.evidence),
        )
        for s in found
    ]


# ------------------------------------------------------------------ funnel
def _until(request: Request) -> tuple[str, date]:
    """The configured timezone and the first local day after today (periods end there)."""
    tz = runtime_of(request).settings.timezone
    return tz, datetime.now(ZoneInfo(tz)).date() + timedelta(days=1)


@router.get("/funnel", response_model=list[schemas.FunnelRowPublic], tags=["manager"])
def funnel(
    request: Request,
    principal: CustomerViewer,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> list[schemas.FunnelRowPublic]:
    """Customers added in the last `days` days per adviser (your team's; an adviser's
    own): new → engaged → converted, rate and revenue, then a total row."""
    tz, until = _until(request)
    with db_session(request) as session:
        rows = ops.adviser_funnel(
            session, principal, since=until - timedelta(days=days), until=until, timezone=tz
        )
    return [
        schemas.FunnelRowPublic(
            group=r.group,
            new=r.new,
            engaged=r.engaged,
            converted=r.converted,
            conversion_rate=round(r.rate, 4),
            revenue=r.revenue,
        )
        for r in rows
    ]


@router.get(
    "/funnel/{adviser_id}/customers",
    response_model=list[schemas.FunnelCustomerPublic],
    tags=["manager"],
    responses={404: {"description": "No such adviser in your scope"}},
)
def funnel_customers(
    request: Request,
    adviser_id: str,
    principal: CustomerViewer,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> list[schemas.FunnelCustomerPublic]:
    """Drill-down of one funnel row: the adviser's cohort with each customer's stage
    (audited)."""
    tz, until = _until(request)
    with db_session(request) as session:
        found = ops.funnel_customers(
            session,
            principal,
            adviser_id,
            since=until - timedelta(days=days),
            until=until,
            timezone=tz,
        )
    return [
        schemas.FunnelCustomerPublic(
            customer_id=c.customer_id,
            name=c.name,
            stage=c.stage,  # type: ignore[arg-type]
            engaged=c.engaged,
            revenue=c.revenue,
        )
        for c in found
    ]


# ------------------------------------------------------------------ scripts
@router.get("/scripts", response_model=list[schemas.ScriptPublic], tags=["scripts"])
def list_scripts(
    request: Request,
    principal: Operator,
    industry: Annotated[str | None, Query(max_length=50)] = None,
    category: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str | None, Query(max_length=10)] = None,
    q: Annotated[str | None, Query(max_length=100, description="Text in title or body")] = None,
) -> list[schemas.ScriptPublic]:
    records = runtime_of(request).library.list_scripts(
        industry=industry or None,
        category=category if category in CATEGORIES else None,
        status=status if status in STATUSES else None,
    )
    if q:
        records = [r for r in records if q in r.title or q in r.body or q in r.id]
    return [ops.script_public(r) for r in records]


@router.post("/scripts/preview", response_model=schemas.ScriptPreview, tags=["scripts"])
def preview_script(
    request: Request, body: schemas.ScriptDraft, principal: Operator
) -> schemas.ScriptPreview:
    """A script's body with its variables filled for a sample customer, and its lint."""
    return ops.preview_script(runtime_of(request), principal, body)


# ------------------------------------------------------------------ live events
@router.get(
    "/events",
    tags=["suggestions"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def events(request: Request, principal: CustomerViewer) -> StreamingResponse:
    """Server-sent events: one `message` event per message logged for a customer in your
    scope, with the id of the suggestion made for it."""

    def scope() -> CustomerScope:
        with db_session(request) as session:
            return scope_of(session, principal)

    allowed = await run_in_threadpool(scope)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=QUEUE_SIZE)

    def put(event: LiveEvent) -> None:
        if not queue.full():  # a stalled client loses events rather than memory
            queue.put_nowait(event)

    def on_event(event: LiveEvent) -> None:  # runs on the publisher's thread
        if allowed.allows(event.adviser_id) and not loop.is_closed():
            loop.call_soon_threadsafe(put, event)

    unsubscribe = runtime_of(request).events.subscribe(on_event)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                payload = {
                    "customer_id": event.customer_id,
                    "at": event.at.isoformat(),
                    **event.data,
                }
                yield f"event: {event.kind}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
        finally:
            unsubscribe()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
