"""What the console does, shared by the HTML pages and the JSON API: every function
checks access and writes the audit log, so neither front can forget to."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import HTTPException
from sqlalchemy.orm import Session

from bot.crm import followups, oneid, reports
from bot.domain import IncomingMessage
from bot.pipeline.runtime import Runtime
from bot.services.access import Principal
from bot.store import customers as customers_repo
from bot.store import inbox as inbox_repo
from bot.store import kpis as kpis_repo
from bot.store import merges as merges_repo
from bot.store import outcomes as outcomes_repo
from bot.store import suggestions as suggestions_repo
from bot.store import tags as tags_repo
from bot.store import users as users_repo
from bot.store.records import (
    CustomerProfile,
    CustomerTagRecord,
    MergeRecord,
    SuggestionRecord,
)
from bot.web import schemas
from bot.web.deps import audit, check_customer, scope_of
from scripts_lib import ParsedScript, ScriptRecord, fill, lint, split_tags

#: Values used to preview a script's variables (an imaginary customer).
SAMPLE_CUSTOMER = {
    "customer_name": "王女士",
    "product": "安心保重疾险",
    "city": "上海",
}


def inbox(session: Session, principal: Principal) -> list[inbox_repo.InboxRow]:
    scope = scope_of(session, principal)
    rows = inbox_repo.conversation_list(
        session=session, adviser_ids=scope.adviser_ids, viewer=principal.username
    )
    audit(session, principal, "inbox.view", "customer", "", count=len(rows))
    return rows


def profile(session: Session, principal: Principal, customer_id: int) -> CustomerProfile:
    check_customer(session, principal, customer_id)
    result = customers_repo.customer_profile(session=session, customer_id=customer_id)
    audit(session, principal, inbox_repo.VIEW_ACTION, "customer", customer_id)
    return result


def export_customer(
    session: Session, principal: Principal, customer_id: int
) -> schemas.CustomerExport:
    check_customer(session, principal, customer_id)
    prof = customers_repo.customer_profile(
        session=session, customer_id=customer_id, timeline_limit=10_000
    )
    suggestions = suggestions_repo.list_suggestions(
        session=session, customer_id=customer_id, limit=10_000
    )
    audit(session, principal, "customer.export", "customer", customer_id)
    return schemas.CustomerExport(
        profile=profile_public(prof), suggestions=[suggestion_public(s) for s in suggestions]
    )


#: Channel name of messages posted to the API (POST /api/messages).
API_CHANNEL = "api"


def api_source_id(adviser_id: str, source_id: str) -> str:
    """How ``POST /api/messages`` stores an adviser's message or contact id: prefixed by
    the adviser id and its length, so that no id can spell another adviser's."""
    return f"{len(adviser_id)}:{adviser_id}:{source_id}"


def post_message(
    rt: Runtime, principal: Principal, body: schemas.MessageIn
) -> schemas.MessageAccepted:
    """Log a message of the principal's own chat and run the pipeline on it, exactly as
    a channel would. Contact and message ids are namespaced by the adviser (length-prefixed,
    so no id can pose as another adviser's), and a contact or message that belongs to
    another adviser anyway (a customer handed over, merged) is refused, never reached."""
    adviser = principal.adviser_id
    if not adviser:
        raise HTTPException(status_code=403, detail="此账号没有关联顾问 ID，不能提交消息")
    message = IncomingMessage(
        msg_id=api_source_id(adviser, body.msg_id or uuid.uuid4().hex),
        channel=API_CHANNEL,
        contact_id=api_source_id(adviser, body.contact_id),
        contact_name=body.contact_name,
        text=body.text,
        adviser_id=adviser,
        adviser_name=principal.display_name,
        direction=body.direction,
        type=body.type,
        industry=body.industry,
        sent_at=body.sent_at or datetime.now(UTC),
    )
    with rt.db.session() as session:
        owner = customers_repo.identity_owner(
            session=session, kind=f"{API_CHANNEL}_contact", value=message.contact_id
        )
    if owner is not None and owner != adviser:
        raise HTTPException(status_code=409, detail="该联系人已分配给其他顾问")
    received = rt.assistant.receive(message)
    return schemas.MessageAccepted(
        message_id=received.message_id,
        customer_id=received.customer_id,
        duplicate=not received.created,
        suggestion=received.result.to_json() if received.result is not None else None,
    )


def latest_suggestion(
    session: Session, principal: Principal, customer_id: int
) -> SuggestionRecord | None:
    check_customer(session, principal, customer_id)
    found = inbox_repo.latest_suggestion(session=session, customer_id=customer_id)
    audit(session, principal, "suggestion.view", "customer", customer_id)
    return found


def suggestion(session: Session, principal: Principal, suggestion_id: int) -> SuggestionRecord:
    found = inbox_repo.get_suggestion(session=session, suggestion_id=suggestion_id)
    if found is None or found.customer_id is None:
        raise HTTPException(status_code=404, detail="建议不存在")
    check_customer(session, principal, found.customer_id)
    audit(session, principal, "suggestion.view", "customer", found.customer_id, id=suggestion_id)
    return found


def record_outcome(
    session: Session, principal: Principal, suggestion_id: int, body: schemas.OutcomeCreate
) -> int:
    found = suggestion(session, principal, suggestion_id)
    if body.script_id is not None:
        shown = {s.get("id") for s in found.candidates.get("scripts", [])}
        if body.script_id not in shown:
            raise HTTPException(status_code=422, detail="该话术不在这条建议中")
    outcome_id = outcomes_repo.record_adoption(
        session=session,
        suggestion_id=suggestion_id,
        script_id=body.script_id,
        final_text=body.final_text,
        kind=body.kind,
    )
    audit(
        session,
        principal,
        f"suggestion.{body.kind}",
        "suggestion",
        suggestion_id,
        script_id=body.script_id,
    )
    return outcome_id


def review_tag(
    session: Session, principal: Principal, customer_tag_id: int, status: str
) -> CustomerTagRecord:
    customer_id = inbox_repo.customer_tag_customer(session=session, customer_tag_id=customer_tag_id)
    if customer_id is None:
        raise HTTPException(status_code=404, detail="标签不存在")
    check_customer(session, principal, customer_id)
    record = tags_repo.review_customer_tag(
        session=session, customer_tag_id=customer_tag_id, status=status, reviewer=principal.username
    )
    audit(
        session, principal, f"tag.{status}", "customer", customer_id, customer_tag=customer_tag_id
    )
    return record


def review_queue(session: Session, principal: Principal) -> list[inbox_repo.ReviewItem]:
    scope = scope_of(session, principal)
    items = inbox_repo.tag_review_queue(session=session, adviser_ids=scope.adviser_ids)
    audit(session, principal, "tag_queue.view", "customer", "", count=len(items))
    return items


def adviser_kpis(
    session: Session, principal: Principal, timezone: str = "UTC"
) -> list[kpis_repo.AdviserKpi]:
    scope = scope_of(session, principal)
    return kpis_repo.adviser_kpis(session=session, adviser_ids=scope.adviser_ids, timezone=timezone)


def tag_weeks(
    session: Session, principal: Principal, *, weeks: int, timezone: str
) -> list[kpis_repo.TagWeek]:
    """Confirmed / suggested tags per category per week, the last ``weeks`` weeks."""
    tz = ZoneInfo(timezone)
    today = datetime.now(tz).date()
    monday = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    since = datetime.combine(monday, time.min, tzinfo=tz)
    scope = scope_of(session, principal)
    return kpis_repo.tag_weeks(
        session=session, adviser_ids=scope.adviser_ids, since=since, timezone=timezone
    )


def adviser_funnel(
    session: Session, principal: Principal, *, since: date, until: date, timezone: str
) -> list[reports.FunnelRow]:
    """The funnel by adviser, limited to the principal's advisers, with a total row."""
    scope = scope_of(session, principal)
    rows = reports.funnel(
        session=session, since=since, until=until, by="adviser", timezone=timezone
    )
    *groups, total = rows
    if scope.adviser_ids is None:
        return rows
    mine = [r for r in groups if r.group in scope.adviser_ids]
    total = reports.FunnelRow(
        group=total.group,
        new=sum(r.new for r in mine),
        engaged=sum(r.engaged for r in mine),
        converted=sum(r.converted for r in mine),
        revenue=round(sum(r.revenue for r in mine), 2),
    )
    return [*mine, total]


def funnel_customers(
    session: Session,
    principal: Principal,
    adviser_id: str,
    *,
    since: date,
    until: date,
    timezone: str,
) -> list[reports.FunnelCustomer]:
    """One adviser's funnel cohort with each customer's stage (audited). A manager sees
    the team's advisers, an adviser only their own (404 otherwise)."""
    scope = scope_of(session, principal)
    if principal.role == "adviser" and principal.adviser_id != adviser_id:
        raise HTTPException(status_code=404, detail="顾问不存在")
    if not scope.allows(adviser_id):
        raise HTTPException(status_code=404, detail="顾问不存在")
    found = reports.funnel_customers(
        session=session, since=since, until=until, adviser_id=adviser_id, timezone=timezone
    )
    audit(
        session,
        principal,
        "funnel.customers.view",
        "adviser",
        adviser_id,
        count=len(found),
        since=since.isoformat(),
        until=until.isoformat(),
    )
    return found


# ------------------------------------------------------------------ OneID
def merge_suggestions(session: Session, principal: Principal) -> list[oneid.MergeSuggestion]:
    """Merge suggestions whose two profiles are both in the principal's scope (audited:
    names and identifiers are customer data)."""
    scope = scope_of(session, principal)
    advisers: dict[int, tuple[bool, str | None]] = {}

    def visible(customer_id: int) -> bool:
        if customer_id not in advisers:
            advisers[customer_id] = inbox_repo.customer_adviser(
                session=session, customer_id=customer_id
            )
        exists, adviser_id = advisers[customer_id]
        return exists and scope.allows(adviser_id)

    found = [
        s
        for s in oneid.merge_suggestions(session=session)
        if visible(s.keep_id) and visible(s.merge_id)
    ]
    audit(session, principal, "merge_suggestions.view", "customer", "", count=len(found))
    return found


def merge_customers(
    session: Session, principal: Principal, keep_id: int, merge_id: int, reason: str = ""
) -> MergeRecord:
    """Merge ``merge_id`` into ``keep_id``, both in scope; the store writes the audit row."""
    check_customer(session, principal, keep_id)
    check_customer(session, principal, merge_id)
    return oneid.merge(
        session=session, keep=keep_id, merge=merge_id, actor=principal.username, reason=reason
    )


def undo_merge(session: Session, principal: Principal, merge_id: int) -> MergeRecord:
    """Undo a merge of two customers in scope (404 otherwise); audited by the store."""
    found = next((m for m in merges_repo.list_merges(session=session) if m.id == merge_id), None)
    if found is None:
        raise HTTPException(status_code=404, detail="合并记录不存在")
    check_customer(session, principal, found.kept_id)
    check_customer(session, principal, found.merged_id)
    return oneid.unmerge(session=session, merge_id=merge_id, actor=principal.username)


def reminders(
    session: Session, principal: Principal, runtime: Runtime, now: datetime | None = None
) -> list[followups.DueReminder]:
    """Open follow-ups due today or earlier: an adviser's own, a manager's team's."""
    scope = scope_of(session, principal)
    if scope.adviser_ids == ():
        return []
    a = runtime.settings.assistant
    own = principal.adviser_id if principal.role == "adviser" else None
    found = followups.due_reminders(
        session=session,
        now=now or datetime.now(UTC),
        timezone=runtime.settings.timezone,
        adviser_id=own,
        adviser_name=principal.display_name or a.adviser_name,
        company=a.company,
    )
    found = [r for r in found if scope.allows(r.follow_up.adviser_id)]
    audit(session, principal, "reminders.view", "customer", "", count=len(found))
    return found


def api_tokens(session: Session, principal: Principal) -> list[users_repo.ApiTokenRecord]:
    return users_repo.list_api_tokens(session=session, user_id=principal.user_id)


def revoke_token(session: Session, principal: Principal, token_id: int) -> None:
    """Revoke one of the principal's own tokens (404 for anyone else's)."""
    if not users_repo.revoke_user_token(
        session=session, user_id=principal.user_id, token_id=token_id
    ):
        raise HTTPException(status_code=404, detail="令牌不存在")
    audit(session, principal, "token.revoke", "api_token", token_id)


def script_from_draft(draft: schemas.ScriptDraft) -> ScriptRecord:
    return ScriptRecord(
        id=draft.id.strip(),
        title=draft.title.strip(),
        category=draft.category.strip(),
        stage=draft.stage.strip(),
        industry=draft.industry.strip(),
        body=draft.body.strip(),
        tags=split_tags(draft.tags),
        status="draft",
    )


def preview_script(
    runtime: Runtime, principal: Principal, draft: schemas.ScriptDraft
) -> schemas.ScriptPreview:
    """The body filled for a sample customer, and the lint result, as the operator types."""
    record = script_from_draft(draft)
    now = datetime.now(ZoneInfo(runtime.settings.timezone))
    a = runtime.settings.assistant
    filled = fill(
        record.body,
        SAMPLE_CUSTOMER
        | {
            "adviser_name": principal.display_name or a.adviser_name,
            "date": f"{now.month}月{now.day}日",
            "company": a.company,
        },
    )
    issues = lint([ParsedScript(line=1, record=record)])
    return schemas.ScriptPreview(
        text=filled.text,
        missing=list(filled.missing),
        issues=[
            schemas.LintIssuePublic(field=i.field, message=i.message, severity=i.severity)
            for i in issues
        ],
    )


# ------------------------------------------------------------------ converters
def tag_public(t: CustomerTagRecord) -> schemas.CustomerTagPublic:
    return schemas.CustomerTagPublic(
        id=t.id,
        customer_id=t.customer_id,
        customer_name=t.customer_name,
        tag=t.tag.name,
        category=t.tag.category,
        status=t.status,
        source=t.source,
        evidence=t.evidence,
        score=t.score,
        reviewer=t.reviewer,
    )


def profile_public(p: CustomerProfile) -> schemas.ProfilePublic:
    c = p.customer
    return schemas.ProfilePublic(
        customer=schemas.CustomerPublic(
            id=c.id,
            name=c.name,
            adviser_id=c.adviser_id,
            industry=c.industry,
            stage=c.stage,
            product=c.product,
            city=c.city,
            last_message_at=c.last_message_at,
        ),
        identities=[
            schemas.IdentityPublic(kind=i.kind, value=i.value, display_name=i.display_name)
            for i in p.identities
        ],
        tags=[tag_public(t) for t in p.tags],
        timeline=[
            schemas.TimelinePublic(at=e.at, kind=e.kind, direction=e.direction, text=e.text)
            for e in p.timeline
        ],
        message_count=p.message_count,
    )


def suggestion_public(s: SuggestionRecord) -> schemas.SuggestionPublic:
    return schemas.SuggestionPublic(
        id=s.id,
        customer_id=s.customer_id,
        message_id=s.message_id,
        mode=s.mode,
        reply=s.reply,
        created_at=s.created_at,
        candidates=s.candidates,
    )


def merge_public(m: MergeRecord) -> schemas.MergePublic:
    return schemas.MergePublic(
        id=m.id,
        kept_id=m.kept_id,
        merged_id=m.merged_id,
        actor=m.actor,
        reason=m.reason,
        moved=m.moved,
        created_at=m.created_at,
        undone_at=m.undone_at,
        undone_by=m.undone_by,
    )


def script_public(s: ScriptRecord) -> schemas.ScriptPublic:
    return schemas.ScriptPublic(
        id=s.id,
        title=s.title,
        category=s.category,
        stage=s.stage,
        industry=s.industry,
        tags=list(s.tags),
        body=s.body,
        status=s.status,
        version=s.version,
        variant_group=s.variant_group,
    )
