"""Reports: the funnel (with its drill-down to customers), purchase quadrants, adviser
KPIs, tags per week, script effectiveness and conversion attribution. Figures cover the
principal's scope; a list of customers is audited."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.crm import reports as crm_reports
from bot.crm.followups import start_of_day
from bot.errors import NotFoundError, PermissionDenied
from bot.learning import script_report
from bot.learning.attribution import Attribution, attribute_all
from bot.learning.effectiveness import GROUP_BYS, GroupBy
from bot.pipeline.privacy import mask_names, mask_pii
from bot.services import audit
from bot.services.access import CUSTOMER_VIEWERS, Principal, denied, require, scope_of
from bot.settings import Settings
from bot.store import Database
from bot.store import kpis as kpis_repo

TagWeek = kpis_repo.TagWeek
ScriptReport = script_report.ScriptReport
FunnelCustomer = crm_reports.FunnelCustomer
#: Ways to split the script effectiveness report.
SCRIPT_GROUP_BYS = GROUP_BYS
#: Report files and formats, for the fronts.
write_funnel_csv = crm_reports.write_funnel_csv
write_funnel_png = crm_reports.write_funnel_png
write_scripts_csv = script_report.write_csv
write_scripts_png = script_report.write_png
fmt_rate = script_report.fmt_rate
NO_ADVISER = "顾问不存在"
BY_ADVISER_MANAGERS = "按顾问分组的话术效果仅主管可见"


def funnel(
    session: Session,
    principal: Principal,
    *,
    since: date,
    until: date,
    by: crm_reports.GroupBy = "adviser",
    timezone: str,
) -> list[crm_reports.FunnelRow]:
    """Customers added in [since, until) by adviser or channel: new → engaged →
    converted, revenue, then a total row; of the principal's customers only."""
    require(principal, *CUSTOMER_VIEWERS)
    scope = scope_of(session, principal)
    return crm_reports.funnel(
        session=session,
        since=since,
        until=until,
        by=by,
        timezone=timezone,
        adviser_ids=scope.adviser_ids,
    )


def funnel_customers(
    session: Session,
    principal: Principal,
    *,
    adviser_id: str,
    since: date,
    until: date,
    timezone: str,
) -> list[FunnelCustomer]:
    """One adviser's funnel cohort with each customer's stage (audited); an adviser
    outside the scope does not exist."""
    require(principal, *CUSTOMER_VIEWERS)
    if not scope_of(session, principal).allows(adviser_id):
        denied(session, principal, "adviser", adviser_id)
        raise NotFoundError(NO_ADVISER, ref=adviser_id)
    found = crm_reports.funnel_customers(
        session=session, since=since, until=until, adviser_id=adviser_id, timezone=timezone
    )
    audit.record(
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


def quadrants(
    session: Session,
    principal: Principal,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    frequency_threshold: float | None = None,
    ticket_threshold: float | None = None,
) -> crm_reports.QuadrantReport:
    """Buyers by purchase frequency × average ticket (all customers: administrators)."""
    require(principal)
    return crm_reports.quadrants(
        session=session,
        since=since,
        until=until,
        frequency_threshold=frequency_threshold,
        ticket_threshold=ticket_threshold,
    )


def adviser_kpis(
    session: Session, principal: Principal, *, timezone: str
) -> list[kpis_repo.AdviserKpi]:
    """Per adviser in scope: messages, suggestions, adoption, first response, chats."""
    require(principal, "manager")
    scope = scope_of(session, principal)
    return kpis_repo.adviser_kpis(session=session, adviser_ids=scope.adviser_ids, timezone=timezone)


def tag_weeks(
    session: Session, principal: Principal, *, weeks: int, timezone: str
) -> list[TagWeek]:
    """Confirmed / suggested tags per category per week, the last ``weeks`` weeks."""
    require(principal, "manager")
    tz = ZoneInfo(timezone)
    today = datetime.now(tz).date()
    monday = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    since = start_of_day(monday, tz)
    scope = scope_of(session, principal)
    return kpis_repo.tag_weeks(
        session=session, adviser_ids=scope.adviser_ids, since=since, timezone=timezone
    )


def script_effectiveness(
    db: Database,
    principal: Principal,
    *,
    settings: Settings,
    by: GroupBy | None = None,
    since: datetime | None = None,
) -> ScriptReport:
    """Per-script suggested / adopted / edited, reply and conversion rates with Wilson
    intervals (optionally per industry, stage or adviser), flags and A/B variants, over
    the suggestions made to the advisers in the principal's scope (a manager: their team).

    The advisers' edited texts are messages to customers: a manager (and the command
    line) sees the common edits with personal data and the customer's name masked; an
    operator, who sees no customers, gets the figures without any text, and no split by
    adviser. Every view is audited."""
    require(principal, "operator", "manager")
    operator = principal.role == "operator"
    if operator and by == "adviser":
        raise PermissionDenied(BY_ADVISER_MANAGERS)
    with db.session() as session:
        scope = None if operator else scope_of(session, principal).adviser_ids
    report = script_report.build(
        db=db,
        settings=settings.ranking,
        by=by,
        since=since,
        reply_window=timedelta(hours=settings.outcomes.reply_window_hours),
        adviser_ids=scope,
        redact=_no_text if operator else masked_edit,
        edits_shown=not operator,
    )
    with db.session() as session:
        audit.record(
            session,
            principal,
            "script_effectiveness.view",
            "report",
            "",
            by=by,
            since=since.isoformat() if since else None,
            rows=len(report.rows),
        )
    return report


def masked_edit(text: str, customer_name: str | None) -> str:
    """An adviser's message to a customer as a report may show it: personal data and the
    customer's own name masked."""
    return mask_names(mask_pii(text), [customer_name])


def _no_text(_text: str, _customer_name: str | None) -> str:
    return ""


def attribution(
    db: Database, principal: Principal, *, settings: Settings, since: datetime | None = None
) -> Attribution:
    """Conversions credited to the scripts used before them: of the customers in a
    manager's scope; all of them for an operator (figures per script, no customer)."""
    require(principal, "operator", "manager")
    with db.session() as session:
        scope = None if principal.role == "operator" else scope_of(session, principal).adviser_ids
    return attribute_all(
        db=db,
        window=timedelta(days=settings.ranking.conversion_window_days),
        since=since,
        adviser_ids=scope,
    )
