"""Campaigns: add and list them, each adviser's entry code and targets, attributing a
contact by hand, the unattributed contacts, and the campaign report with its drill-down.

Who sees what: operators and managers manage campaigns (a manager the codes and targets
of their team); the report's figures cover the principal's scope (an operator's: every
adviser, figures only; a manager's: the team; an adviser's: their own); lists of
customers (unattributed, drill-down) are for those who see customers, and audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from bot import labels
from bot.crm import campaigns as crm_campaigns
from bot.domain import UNASSIGNED_ADVISER, UNASSIGNED_ADVISER_NAME
from bot.errors import InputError, NotFoundError, PermissionDenied
from bot.services import audit
from bot.services.access import (
    CURATORS,
    CUSTOMER_VIEWERS,
    Principal,
    check_customer,
    require,
    scope_of,
)
from bot.settings import Settings
from bot.store import campaigns as repo
from bot.store import customers as customers_repo
from bot.store import scripts as scripts_repo
from bot.store import segments as segments_repo
from bot.store.advisers import ids_by_name, list_advisers
from bot.store.campaigns import AttributionRecord, CampaignRecord, CampaignSpec, CodeRecord
from bot.store.records import CustomerRecord
from knowledge.text import echo

ReportRow = crm_campaigns.ReportRow
MemberRow = crm_campaigns.MemberRow
CHANNELS = crm_campaigns.CHANNELS
#: The label of total rows.
TOTAL = labels.TOTAL
write_csv = crm_campaigns.write_csv
write_png = crm_campaigns.write_png
NO_ADVISER = "顾问不存在"


def _team(session: Session, principal: Principal) -> tuple[str, ...] | None:
    """The advisers whose codes the principal manages (None: all)."""
    return scope_of(session, principal).adviser_ids if principal.role == "manager" else None


def _figures_scope(session: Session, principal: Principal) -> tuple[str, ...] | None:
    """Whose figures the principal sees in reports: an operator every adviser's."""
    return None if principal.role == "operator" else scope_of(session, principal).adviser_ids


def create(
    session: Session,
    principal: Principal,
    *,
    spec: CampaignSpec,
    settings: Settings,
    advisers: Sequence[str] = (),
    codes: Mapping[str, str] | None = None,
) -> tuple[CampaignRecord, list[CodeRecord]]:
    """Add a campaign and give each adviser an entry code: ``advisers`` (default: every
    known adviser — a manager's: the team's), ``codes`` chosen by hand where given."""
    require(principal, *CURATORS)
    if not spec.name.strip():
        raise InputError("活动需要名称")
    if not spec.channel.strip():
        raise InputError("活动需要渠道（如 直播、门店扫码、信息流、转介绍）")
    if spec.ends_on is not None and spec.ends_on < spec.starts_on:
        raise InputError("结束日期早于开始日期")
    if spec.cost < 0:
        raise InputError("成本不能为负数")
    if spec.segment:
        _check_segment(session, spec.segment)
    team = _team(session, principal)
    named = ids_by_name(session=session, values=[*advisers, *(codes or {})])
    advisers = [named.get(a, a) for a in advisers]
    codes = {named.get(a, a): code for a, code in (codes or {}).items()}
    chosen = list(dict.fromkeys([*advisers, *codes]))
    if not chosen:
        chosen = [
            a.id
            for a in list_advisers(session=session, adviser_ids=team)
            if a.id != UNASSIGNED_ADVISER
        ]
    for adviser in chosen:
        if team is not None and adviser not in team:
            raise NotFoundError(NO_ADVISER, ref=adviser)
    campaign = repo.create_campaign(session=session, spec=spec, actor=principal.username)
    made = [
        _add_code(session, campaign.id, adviser, (codes or {}).get(adviser), settings)
        for adviser in chosen
    ]
    audit.record(
        session,
        principal,
        "campaign.add",
        "campaign",
        campaign.id,
        name=campaign.name,
        codes=[c.code for c in made],
    )
    return campaign, made


def _add_code(
    session: Session, campaign_id: int, adviser: str, code: str | None, settings: Settings
) -> CodeRecord:
    if adviser == UNASSIGNED_ADVISER:
        raise InputError(
            f"“{UNASSIGNED_ADVISER_NAME}”不是一位顾问，不能领渠道码：请写顾问的 ID 或名字"
        )
    chosen = (
        crm_campaigns.clean_code(code)
        if code
        else crm_campaigns.new_code(session, length=settings.campaigns.code_length)
    )
    return repo.add_code(session=session, campaign_id=campaign_id, adviser_id=adviser, code=chosen)


def add_code(
    session: Session,
    principal: Principal,
    *,
    campaign: str,
    adviser_id: str,
    settings: Settings,
    code: str | None = None,
) -> CodeRecord:
    """Give one more adviser an entry code for a campaign (``adviser_id``: their id, or a
    name only they go by)."""
    require(principal, *CURATORS)
    adviser_id = _adviser(session, adviser_id)
    team = _team(session, principal)
    if team is not None and adviser_id not in team:
        raise NotFoundError(NO_ADVISER, ref=adviser_id)
    if not list_advisers(session=session, adviser_ids=(adviser_id,)):
        raise NotFoundError(NO_ADVISER, ref=adviser_id)  # a typo would get a code of its own
    found = repo.find_campaign(session=session, ref=campaign)
    record = _add_code(session, found.id, adviser_id, code, settings)
    audit.record(session, principal, "campaign.code", "campaign", found.id, code=record.code)
    return record


def list_campaigns(session: Session, principal: Principal) -> list[CampaignRecord]:
    require(principal, *CURATORS, "adviser")
    return repo.list_campaigns(session=session)


def welcome_titles(session: Session, rows: Sequence[CampaignRecord]) -> dict[str, str]:
    """The titles of the campaigns' welcome scripts by script id: what people read (a
    script since deleted keeps showing its id)."""
    wanted = sorted({r.welcome_script_id for r in rows if r.welcome_script_id})
    found = scripts_repo.get_scripts(session=session, ids=wanted) if wanted else {}
    return {i: s.title for i, s in found.items() if s.title}


def show(
    session: Session, principal: Principal, *, campaign: str
) -> tuple[CampaignRecord, list[CodeRecord]]:
    """A campaign and the entry codes the principal may see (an adviser: their own)."""
    require(principal, *CURATORS, "adviser")
    found = repo.find_campaign(session=session, ref=campaign)
    return found, codes(session, principal, campaign_id=found.id)


def codes(
    session: Session, principal: Principal, *, campaign_id: int | None = None
) -> list[CodeRecord]:
    require(principal, *CURATORS, "adviser")
    if principal.role == "adviser":
        mine = (principal.adviser_id,) if principal.adviser_id else ()
        return repo.list_codes(session=session, campaign_id=campaign_id, adviser_ids=mine)
    return repo.list_codes(
        session=session, campaign_id=campaign_id, adviser_ids=_team(session, principal)
    )


def set_targets(
    session: Session,
    principal: Principal,
    *,
    campaign: str,
    adviser_id: str,
    added: int | None,
    converted: int | None,
    revenue: float | None,
) -> CodeRecord:
    """An adviser's targets for a campaign (目标): customers added, converted, revenue
    (``adviser_id``: their id, or a name only they go by)."""
    require(principal, *CURATORS)
    adviser_id = _adviser(session, adviser_id)
    for value in (added, converted, revenue):
        if value is not None and value < 0:
            raise InputError("目标不能为负数")
    team = _team(session, principal)
    if team is not None and adviser_id not in team:
        raise NotFoundError(NO_ADVISER, ref=adviser_id)
    found = repo.find_campaign(session=session, ref=campaign)
    code = repo.code_for(session=session, campaign_id=found.id, adviser_id=adviser_id)
    if code is None:
        raise NotFoundError(f"顾问在活动「{found.name}」没有渠道码", ref=adviser_id)
    record = repo.set_targets(
        session=session, code_id=code.id, added=added, converted=converted, revenue=revenue
    )
    audit.record(session, principal, "campaign.targets", "campaign", found.id, adviser=adviser_id)
    return record


# --------------------------------------------------------------------------- attribution
def attribute(
    session: Session,
    principal: Principal,
    *,
    customer_id: int,
    code: str | None = None,
    campaign: str | None = None,
    adviser_id: str | None = None,
    note: str = "",
) -> AttributionRecord:
    """Attribute a customer in scope by hand: to an entry code, or to a campaign and an
    adviser's code there (default: the customer's adviser). The code must be one the
    principal may credit: an adviser their own, a manager their team's (the command
    line's administrator any). A code outside the scope is refused exactly as one that
    does not exist (``NotFoundError``, the same words), so codes printed for other
    teams cannot be probed; naming a campaign and an adviser outside the scope is
    ``PermissionDenied``, whether that adviser has a code there or not."""
    require(principal, *CUSTOMER_VIEWERS)
    check_customer(session, principal, customer_id)
    scope = scope_of(session, principal)
    if code:
        cleaned = crm_campaigns.clean_code(code)
        found = repo.find_code(session=session, code=cleaned)
        if found is None and scope.adviser_ids is None:  # nothing hidden: the plain answer
            raise NotFoundError(repo.NO_CODE, ref=cleaned)
        if found is None or not scope.allows(found.adviser_id):
            raise NotFoundError(_no_code(principal, cleaned), ref=cleaned)
    elif campaign:
        the_campaign = repo.find_campaign(session=session, ref=campaign)
        customer = customers_repo.get_customer(session=session, customer_id=customer_id)
        adviser = _adviser(session, adviser_id) if adviser_id else customer.adviser_id
        # Refused before the code is looked up: whether a colleague outside the scope has
        # a code in the campaign is not told (403 either way).
        if adviser and not scope.allows(adviser):
            raise PermissionDenied(
                _not_yours(
                    principal,
                    f"顾问 {echo(adviser_id or adviser)} 在活动「{the_campaign.name}」的渠道码",
                )
            )
        found = (
            repo.code_for(session=session, campaign_id=the_campaign.id, adviser_id=adviser)
            if adviser
            else None
        )
        if found is None:
            raise NotFoundError(f"顾问在活动「{the_campaign.name}」没有渠道码", ref=adviser or "-")
    else:
        raise InputError("请给出渠道码，或活动（和顾问）")
    record = repo.attribute(
        session=session,
        customer_id=customer_id,
        code_id=found.id,
        method="manual",
        evidence=note.strip() or f"{principal.username} 手动设置",
        actor=principal.username,
    )
    audit.record(session, principal, "customer.attribute", "customer", customer_id, code=found.code)
    return record


def _no_code(principal: Principal, code: str) -> str:
    """The one answer for a code that does not exist and a code the principal may not
    credit (``code``: as cleaned, letters and digits only)."""
    whose = "本团队的" if principal.role == "manager" else "你的"
    return f"渠道码 {code} 不存在，或不是{whose}渠道码：{_codes_rule(principal)}"


def _not_yours(principal: Principal, what: str) -> str:
    """Why ``what`` (an adviser's code) may not be credited by the principal."""
    return f"不能把客户归到{what}：{_codes_rule(principal)}"


def _codes_rule(principal: Principal) -> str:
    """Which codes the principal may credit, in words."""
    if principal.role == "manager":
        return "主管只能归到本团队顾问的渠道码"
    return "顾问只能归到自己的渠道码"


def attribution(
    session: Session, principal: Principal, customer_id: int
) -> AttributionRecord | None:
    check_customer(session, principal, customer_id)
    return repo.attribution_of(session=session, customer_id=customer_id)


def unattributed(
    session: Session, principal: Principal, *, settings: Settings, days: int | None = None
) -> list[CustomerRecord]:
    """Contacts in scope added in the last ``days`` days without an entry code (audited)."""
    require(principal, *CUSTOMER_VIEWERS)
    span = days if days is not None else settings.campaigns.unattributed_days
    if span < 1:
        raise InputError("天数至少为 1")
    since = datetime.now(UTC) - timedelta(days=span)
    rows = repo.unattributed(
        session=session, since=since, adviser_ids=scope_of(session, principal).adviser_ids
    )
    audit.record(session, principal, "campaign.unattributed.view", "customer", "", count=len(rows))
    return rows


def written_codes(
    session: Session, principal: Principal, *, customer_ids: Sequence[int]
) -> dict[int, str]:
    """Customer id -> the other adviser's entry code the customer wrote and was not
    attributed to (``code_not_attributed``), for the customers given in scope."""
    require(principal, *CUSTOMER_VIEWERS)
    return repo.codes_not_attributed(
        session=session,
        customer_ids=list(customer_ids)[:1000],
        adviser_ids=scope_of(session, principal).adviser_ids,
    )


# --------------------------------------------------------------------------- report
def report(
    session: Session,
    principal: Principal,
    *,
    since: date | None,
    until: date,
    timezone: str,
    by: crm_campaigns.ReportBy = "adviser",
    campaign: str | None = None,
) -> list[ReportRow]:
    """Per campaign × channel × adviser: added, referred, engaged, converted, revenue,
    cost, ROI and targets (``by="channel"``: per channel), of the principal's scope."""
    require(principal, *CURATORS, "adviser")
    campaign_id = repo.find_campaign(session=session, ref=campaign).id if campaign else None
    return crm_campaigns.report(
        session=session,
        since=since,
        until=until,
        timezone=timezone,
        by=by,
        adviser_ids=_figures_scope(session, principal),
        campaign_id=campaign_id,
    )


def report_customers(
    session: Session,
    principal: Principal,
    *,
    campaign: str,
    adviser_id: str | None,
    since: date | None,
    until: date,
    timezone: str,
) -> list[MemberRow]:
    """The customers behind a report row (one adviser's, or the campaign's in scope):
    only customers in the principal's scope, judged by each customer's own adviser (a
    customer of another adviser who wrote one of the scope's codes is not listed)."""
    require(principal, *CUSTOMER_VIEWERS)
    scope = scope_of(session, principal)
    if adviser_id is not None and not scope.allows(adviser_id):
        raise NotFoundError(NO_ADVISER, ref=adviser_id)
    found = repo.find_campaign(session=session, ref=campaign)
    wanted = scope.narrow(adviser_id)
    code_ids = [
        c.id for c in repo.list_codes(session=session, campaign_id=found.id, adviser_ids=wanted)
    ]
    rows = crm_campaigns.report_customers(
        session=session,
        code_ids=code_ids,
        since=since,
        until=until,
        timezone=timezone,
        adviser_ids=scope.adviser_ids,
    )
    audit.record(
        session,
        principal,
        "campaign.customers.view",
        "campaign",
        found.id,
        adviser=adviser_id,
        count=len(rows),
    )
    return rows


def _adviser(session: Session, value: str) -> str:
    """The adviser ``value`` names: an id as written, or a name only one adviser goes by
    (林晓 for ins_lin: people type the name they know)."""
    return ids_by_name(session=session, values=[value]).get(value, value)


def _check_segment(session: Session, name: str) -> None:
    """A campaign's segment is a saved one: else the refusal names the saved segments
    (or how to save one), not only that this one is missing."""
    saved = [s.name for s in segments_repo.list_segments(session=session)]
    if name in saved:
        return
    shown = "、".join(saved[:10]) + ("…" if len(saved) > 10 else "")
    hint = (
        f"已保存的分群：{shown}"
        if saved
        else "还没有保存的分群（主管在「活动 → 客户分群」保存，或用 siyu segments add）"
    )
    raise NotFoundError(f"分群“{echo(name)}”不存在：{hint}；不限人群请留空")


def segment_names(session: Session, principal: Principal) -> list[str]:
    """The saved segments' names, which a new campaign's 目标人群 may name."""
    require(principal, *CURATORS)
    return [s.name for s in segments_repo.list_segments(session=session)]
