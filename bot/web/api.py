"""The JSON API (documented at /docs): customers, suggestions, outcomes, tags, scripts,
KPIs, and the live event stream behind the adviser sidebar."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from bot.pipeline.live import LiveEvent
from bot.services import (
    customers,
    followups,
    knowledge,
    live,
    merges,
    messages,
    privacy,
    reports,
    scripts,
    suggestions,
    tags,
    users,
)
from bot.web import schemas
from bot.web.deps import (
    AdviserUser,
    AnyUser,
    CustomerViewer,
    IdPath,
    Manager,
    Operator,
    credential_of,
    db_session,
    runtime_of,
)
from bot.web.scripts import preview_draft, script_filters

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api")

#: Events waiting for a slow event-stream client; past this, new ones are dropped.
QUEUE_SIZE = 100
#: Event streams re-checking their viewer at once (each check holds a database
#: connection for ~0.3 ms on SQLite, a few ms on PostgreSQL: bench/live_recheck.py); the
#: others wait, and meanwhile gather more events for their next check.
STREAM_CHECKS = 2


def _stream_checks(request: Request) -> anyio.CapacityLimiter:
    """The worker threads the event streams' re-checks share (``STREAM_CHECKS``): an
    event fans out to every open manager stream, which must not take every pooled
    connection from the other requests."""
    found: anyio.CapacityLimiter | None = getattr(request.app.state, "stream_checks", None)
    if found is None:
        found = anyio.CapacityLimiter(STREAM_CHECKS)
        request.app.state.stream_checks = found
    return found


@router.get("/me", response_model=schemas.Me, tags=["account"])
def me(principal: AnyUser) -> schemas.Me:
    return schemas.Me.model_validate(principal)


# ------------------------------------------------------------------ customers
@router.get("/customers", response_model=list[schemas.InboxItem], tags=["customers"])
def list_customers(request: Request, principal: CustomerViewer) -> list[schemas.InboxItem]:
    """Conversation list: customers in your scope with unread count and waiting time."""
    with db_session(request) as session:
        rows = customers.inbox(session, principal)
    return [schemas.InboxItem.model_validate(r) for r in rows]


@router.get(
    "/customers/{customer_id}",
    response_model=schemas.ProfilePublic,
    tags=["customers"],
    responses={404: {"description": "No such customer in your scope"}},
)
def get_customer(
    request: Request, customer_id: IdPath, principal: CustomerViewer
) -> schemas.ProfilePublic:
    """Profile card: identities, tags, timeline (audited)."""
    with db_session(request) as session:
        found = customers.profile(session, principal, customer_id)
    return schemas.ProfilePublic.model_validate(found)


@router.get(
    "/customers/{customer_id}/export",
    response_model=schemas.CustomerExport,
    tags=["customers"],
    responses={404: {"description": "No such customer in your scope"}},
)
def export_customer(
    request: Request, customer_id: IdPath, principal: CustomerViewer
) -> schemas.CustomerExport:
    """Everything held about one customer (audited as an export)."""
    with db_session(request) as session:
        found = privacy.export_profile(session, principal, customer_id)
    return schemas.CustomerExport.model_validate(found)


@router.get(
    "/customers/{customer_id}/suggestion",
    response_model=schemas.SuggestionPublic | None,
    tags=["suggestions"],
    responses={404: {"description": "No such customer in your scope"}},
)
def latest_suggestion(
    request: Request, customer_id: IdPath, principal: CustomerViewer
) -> schemas.SuggestionPublic | None:
    """The newest suggestion for a customer (null if none yet)."""
    with db_session(request) as session:
        found = suggestions.latest(session, principal, customer_id)
    return schemas.SuggestionPublic.model_validate(found) if found else None


# ------------------------------------------------------------------ suggestions
@router.get(
    "/suggestions/{suggestion_id}",
    response_model=schemas.SuggestionPublic,
    tags=["suggestions"],
    responses={404: {"description": "No such suggestion in your scope"}},
)
def get_suggestion(
    request: Request, suggestion_id: IdPath, principal: CustomerViewer
) -> schemas.SuggestionPublic:
    with db_session(request) as session:
        found = suggestions.get(session, principal, suggestion_id)
    return schemas.SuggestionPublic.model_validate(found)


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
    suggestion_id: IdPath,
    body: schemas.OutcomeCreate,
    principal: CustomerViewer,
) -> schemas.OutcomeCreated:
    """Record that a script or the draft was used as is (adopted) or after editing."""
    with db_session(request) as session:
        outcome_id = suggestions.record_outcome(
            session,
            principal,
            suggestion_id=suggestion_id,
            kind=body.kind,
            final_text=body.final_text,
            script_id=body.script_id,
        )
    return schemas.OutcomeCreated(outcome_id=outcome_id)


@router.post(
    "/messages",
    response_model=schemas.MessageAccepted,
    status_code=201,
    tags=["messages"],
    responses={
        200: {"model": schemas.MessageAccepted, "description": "Already logged (same msg_id)"},
        403: {"description": "Only an adviser account can post its chats"},
        422: {
            "description": "An empty text message, an industry nothing uses, or a body"
            " that does not validate; nothing is logged"
        },
    },
)
def post_message(
    request: Request, body: schemas.MessageIn, principal: AdviserUser, response: Response
) -> schemas.MessageAccepted:
    """Log one message of your chat with a customer and get the suggestions for it: the
    integration point for chat sources the bot does not run itself. The customer's
    text is treated as data; a repeated `msg_id` is logged once (answered with 200)."""
    received = messages.post(
        runtime_of(request),
        principal,
        msg_id=body.msg_id,
        contact_id=body.contact_id,
        contact_name=body.contact_name,
        text=body.text,
        direction=body.direction,
        type=body.type,
        industry=body.industry,
        sent_at=body.sent_at,
    )
    if not received.created:
        response.status_code = 200
    return schemas.MessageAccepted(
        message_id=received.message_id,
        customer_id=received.customer_id,
        duplicate=not received.created,
        suggestion=received.result.to_json() if received.result is not None else None,
    )


@router.post("/suggest", tags=["suggestions"])
def suggest(
    request: Request, body: schemas.SuggestRequest, principal: AnyUser
) -> dict[str, object]:
    """What would you say to this message? (no customer, nothing logged) — the JSON of
    `siyu suggest`."""
    result = suggestions.suggest(
        runtime_of(request), principal, text=body.text, industry=body.industry
    )
    return result.to_json()


# ------------------------------------------------------------------ tags
@router.post(
    "/customer-tags/{customer_tag_id}/review",
    response_model=schemas.CustomerTagPublic,
    tags=["tags"],
    responses={404: {"description": "No such tag in your scope"}},
)
def review_tag(
    request: Request, customer_tag_id: IdPath, body: schemas.TagReview, principal: CustomerViewer
) -> schemas.CustomerTagPublic:
    """Confirm or reject a suggested tag of a customer in your scope."""
    (record,) = tags.decide(
        runtime_of(request), principal, ids=[customer_tag_id], status=body.status
    )
    return schemas.CustomerTagPublic.model_validate(record)


@router.post(
    "/customer-tags",
    response_model=schemas.CustomerTagPublic,
    status_code=201,
    tags=["tags"],
    responses={404: {"description": "No such customer in your scope, tag or message"}},
)
def add_tag(
    request: Request, body: schemas.TagAdd, principal: CustomerViewer
) -> schemas.CustomerTagPublic:
    """Give a customer in your scope a tag the system missed (confirmed at once); with
    ``msg_id`` the tagger learns from that message."""
    record, _ = tags.add(
        runtime_of(request),
        principal,
        tags.TagLabel(customer=body.customer, tag=body.tag, msg_id=body.msg_id),
    )
    return schemas.CustomerTagPublic.model_validate(record)


@router.get("/tags/precision", response_model=list[schemas.TagPrecisionPublic], tags=["tags"])
def tag_precision(request: Request, principal: Manager) -> list[schemas.TagPrecisionPublic]:
    """Per tag, how its suggestions fared in review in your team: confirmed / reviewed."""
    with db_session(request) as session:
        rows = tags.precision(session, principal)
    return [schemas.TagPrecisionPublic.model_validate(r) for r in rows]


@router.get("/tags/review-queue", response_model=list[schemas.ReviewItemPublic], tags=["tags"])
def review_queue(
    request: Request,
    principal: Manager,
    adviser: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=100)] = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
) -> list[schemas.ReviewItemPublic]:
    """Suggested tags waiting for review in your team, with their evidence and the
    adviser's name; only one adviser's customers, one category or one tag when asked."""
    with db_session(request) as session:
        items = tags.review_queue(
            session, principal, adviser_id=adviser, category=category, tag=tag
        )
    return [schemas.ReviewItemPublic.model_validate(i) for i in items]


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
    tags.decide(runtime_of(request), principal, ids=body.ids, status=body.status)
    return schemas.BulkReviewResult(reviewed=len(set(body.ids)))


@router.get("/kpis", response_model=list[schemas.KpiPublic], tags=["manager"])
def kpis(request: Request, principal: Manager) -> list[schemas.KpiPublic]:
    """Per adviser: messages, suggestions, adopted / edited, adoption rate, median
    first-response minutes and conversations per active day."""
    with db_session(request) as session:
        rows = reports.adviser_kpis(
            session, principal, timezone=runtime_of(request).settings.timezone
        )
    return [schemas.KpiPublic.model_validate(k) for k in rows]


@router.get("/reminders", response_model=list[schemas.ReminderPublic], tags=["customers"])
def reminders(request: Request, principal: CustomerViewer) -> list[schemas.ReminderPublic]:
    """Open follow-ups due today or earlier (yours; a manager's: the team's), with the
    suggested script filled in."""
    with db_session(request) as session:
        found = followups.reminders(
            session, principal, now=datetime.now(UTC), settings=runtime_of(request).settings
        )
    return [schemas.ReminderPublic.model_validate(r) for r in found]


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
        record = merges.merge(
            session, principal, keep_id=body.keep_id, merge_id=body.merge_id, reason=body.reason
        )
    return schemas.MergePublic.model_validate(record)


@router.post(
    "/merges/{merge_id}/undo",
    response_model=schemas.MergePublic,
    tags=["customers"],
    responses={
        400: {"description": "Already undone, or a later merge must be undone first"},
        404: {"description": "No such merge in your scope"},
    },
)
def undo_merge(request: Request, merge_id: IdPath, principal: Manager) -> schemas.MergePublic:
    """Undo a merge: both profiles are as they were (audited)."""
    with db_session(request) as session:
        record = merges.undo(session, principal, merge_id=merge_id)
    return schemas.MergePublic.model_validate(record)


@router.get(
    "/merge-suggestions", response_model=list[schemas.MergeSuggestionPublic], tags=["customers"]
)
def merge_suggestions(request: Request, principal: Manager) -> list[schemas.MergeSuggestionPublic]:
    """Pairs of profiles in your team sharing a phone number or unionid (audited)."""
    with db_session(request) as session:
        found = merges.suggestions(session, principal)
    return [schemas.MergeSuggestionPublic.model_validate(s) for s in found]


# ------------------------------------------------------------------ funnel
def _until(request: Request) -> tuple[str, date]:
    """The configured timezone and the first local day after today (periods end there)."""
    settings = runtime_of(request).settings
    return settings.timezone, settings.today() + timedelta(days=1)


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
        rows = reports.funnel(
            session, principal, since=until - timedelta(days=days), until=until, timezone=tz
        )
    return [schemas.FunnelRowPublic.model_validate(r) for r in rows]


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
        found = reports.funnel_customers(
            session,
            principal,
            adviser_id=adviser_id,
            since=until - timedelta(days=days),
            until=until,
            timezone=tz,
        )
    return [schemas.FunnelCustomerPublic.model_validate(c) for c in found]


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
    records = scripts.list_scripts(
        runtime_of(request),
        principal,
        **script_filters(industry=industry, category=category, status=status),
        text=q,
    )
    return [schemas.ScriptPublic.model_validate(r) for r in records]


@router.post("/scripts/preview", response_model=schemas.ScriptPreview, tags=["scripts"])
def preview_script(
    request: Request, body: schemas.ScriptDraft, principal: Operator
) -> schemas.ScriptPreview:
    """A script's body with its variables filled for a sample customer, and its lint."""
    preview = preview_draft(runtime_of(request), principal, body)
    return schemas.ScriptPreview.model_validate(preview)


# ------------------------------------------------------------------ knowledge
@router.get("/documents", response_model=list[schemas.DocumentPublic], tags=["knowledge"])
def list_documents(request: Request, principal: Operator) -> list[schemas.DocumentPublic]:
    """The knowledge documents, one per name."""
    with db_session(request) as session:
        docs = knowledge.documents(session, principal)
    return [schemas.DocumentPublic.model_validate(d) for d in docs]


@router.delete(
    "/documents/{document_id}",
    response_model=schemas.DocumentPublic,
    tags=["knowledge"],
    responses={404: {"description": "No such document"}},
)
def delete_document(
    request: Request, document_id: IdPath, principal: Operator
) -> schemas.DocumentPublic:
    """Delete a document: its chunks leave the database and both indexes (audited)."""
    found = knowledge.delete(runtime_of(request), principal, ref=document_id)
    return schemas.DocumentPublic.model_validate(found)


# ------------------------------------------------------------------ live events
@router.get(
    "/events",
    tags=["suggestions"],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def events(
    request: Request,
    principal: CustomerViewer,
    credential: Annotated[users.Credential, Depends(credential_of)],
) -> StreamingResponse:
    """Server-sent events: one `message` event per message logged for a customer in your
    scope, with the id of the suggestion made for it; a comment every
    ``[web] events_keepalive_s`` on a quiet stream.

    Before it sends anything the stream checks your login again and judges each event by
    your scope at that moment (bot/services/live.py): it closes once the session ends
    (logout, password change, deactivation), the token is revoked or a session cookie
    expires, and a team move changes what it sends at the next event."""
    web = runtime_of(request).settings.web
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=QUEUE_SIZE)
    # This response renews a session cookie (SessionMiddleware): it lapses
    # session_max_age_s from now unless another request renews it; the browser then
    # reconnects with its newest cookie.
    lapses = loop.time() + web.session_max_age_s if credential.token is None else math.inf

    def put(event: LiveEvent) -> None:
        if not queue.full():  # a stalled client loses events rather than memory
            queue.put_nowait(event)

    def on_event(event: LiveEvent) -> None:  # runs on the publisher's thread
        if live.could_see(principal, event) and not loop.is_closed():
            loop.call_soon_threadsafe(put, event)

    def check(batch: list[LiveEvent]) -> list[LiveEvent] | None:
        with db_session(request) as session:
            return live.visible(session, credential, principal, batch)

    limiter = _stream_checks(request)
    unsubscribe = runtime_of(request).events.subscribe(on_event)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 3000\n\n"
            sent = loop.time()
            while (left := lapses - loop.time()) > 0:
                quiet = max(0.0, sent + web.events_keepalive_s - loop.time())
                try:
                    first = await asyncio.wait_for(queue.get(), timeout=min(quiet, left))
                except TimeoutError:
                    batch = []
                else:  # everything queued meanwhile: one check for all of it
                    batch = [first, *(queue.get_nowait() for _ in range(queue.qsize()))]
                try:
                    shown = await anyio.to_thread.run_sync(check, batch, limiter=limiter)
                except Exception:  # not known to be valid: close; the browser reconnects
                    log.exception("re-checking an event stream's viewer failed")
                    return
                if shown is None:
                    return
                if shown or not batch:
                    sent = loop.time()
                if not batch:
                    yield ": keep-alive\n\n"
                for event in shown:
                    payload = {
                        "customer_id": event.customer_id,
                        "at": event.at.isoformat(),
                        **event.data,
                    }
                    data = json.dumps(payload, ensure_ascii=False)
                    yield f"event: {event.kind}\ndata: {data}\n\n"
        finally:
            unsubscribe()

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
