"""Advisers: their persona (IP 人设: the name customers know, a signature, tone notes),
and each adviser's own numbers — today's and this period's messages answered, adoption,
conversions, revenue and campaign targets — shown to that adviser and nobody else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from bot.crm import campaigns as crm_campaigns
from bot.crm.followups import start_of_day
from bot.domain import UNASSIGNED_ADVISER, UNASSIGNED_ADVISER_NAME
from bot.errors import InputError, NotFoundError
from bot.services import audit
from bot.services.access import Principal, require, scope_of
from bot.settings import Settings
from bot.store import advisers as repo
from bot.store import campaigns as campaigns_repo
from bot.store import kpis as kpis_repo
from bot.store.kpis import OwnNumbers
from bot.store.records import AdviserRecord

NO_ADVISER = "顾问不存在"
#: Longest persona texts.
MAX_NAME_CHARS = 100
MAX_TEXT_CHARS = 500
PERIOD_LABELS = {"week": "本周", "month": "本月"}


def _may_edit(session: Session, principal: Principal, adviser_id: str) -> None:
    """An adviser edits their own persona, a manager those of the team (the command
    line's administrator any)."""
    require(principal, "adviser", "manager")
    if principal.role == "adviser":
        if principal.adviser_id != adviser_id:
            raise NotFoundError(NO_ADVISER, ref=adviser_id)
    elif not scope_of(session, principal).allows(adviser_id):
        raise NotFoundError(NO_ADVISER, ref=adviser_id)


def list_advisers(session: Session, principal: Principal) -> list[AdviserRecord]:
    """The advisers the principal may see: their own, their team's, or all."""
    require(principal, "adviser", "manager", "operator")
    if principal.role == "adviser":
        ids: tuple[str, ...] | None = (principal.adviser_id,) if principal.adviser_id else ()
    elif principal.role == "manager":
        ids = scope_of(session, principal).adviser_ids
    else:
        ids = None
    return repo.list_advisers(session=session, adviser_ids=ids)


def names(session: Session, principal: Principal) -> dict[str, str]:
    """Adviser id -> the name colleagues know them by, for the advisers the principal
    may see (pages show names, never ids)."""
    return repo.adviser_names(
        session=session, adviser_ids=tuple(a.id for a in list_advisers(session, principal))
    )


def shown(names: dict[str, str], adviser_id: str) -> str:
    """An adviser id as people read it, from ``names``: the placeholder of customers
    without an adviser is 「未指定顾问」 even before a chat stored it."""
    if adviser_id in names:
        return names[adviser_id]
    return UNASSIGNED_ADVISER_NAME if adviser_id == UNASSIGNED_ADVISER else adviser_id


def persona_if_any(session: Session, adviser_id: str) -> AdviserRecord | None:
    """The adviser ``adviser_id`` with their persona, or None when there is none (the
    demo checks it before loading its own)."""
    found = repo.list_advisers(session=session, adviser_ids=(adviser_id,))
    return found[0] if found else None


def persona_of(session: Session, principal: Principal, adviser_id: str) -> AdviserRecord:
    _may_edit(session, principal, adviser_id)
    found = persona_if_any(session, adviser_id)
    if found is None:
        raise NotFoundError(NO_ADVISER, ref=adviser_id)
    return found


def set_persona(
    session: Session,
    principal: Principal,
    *,
    adviser_id: str,
    name: str | None = None,
    signature: str | None = None,
    tone: str | None = None,
) -> AdviserRecord:
    """Change the persona fields given; an empty text clears one."""
    _may_edit(session, principal, adviser_id)
    if name is not None and len(name.strip()) > MAX_NAME_CHARS:
        raise InputError(f"人设名称不能超过 {MAX_NAME_CHARS} 个字符")
    for text in (signature, tone):
        if text is not None and len(text.strip()) > MAX_TEXT_CHARS:
            raise InputError(f"签名和语气说明不能超过 {MAX_TEXT_CHARS} 个字符")
    record = repo.set_persona(
        session=session, adviser_id=adviser_id, persona_name=name, signature=signature, tone=tone
    )
    audit.record(session, principal, "adviser.persona", "adviser", adviser_id)
    return record


def shown_name(session: Session, principal: Principal, settings: Settings) -> str:
    """The ``{adviser_name}`` of scripts shown to the principal: their persona's name, else
    their console name, else their channel account's, else the configured one."""
    found = (
        repo.list_advisers(session=session, adviser_ids=(principal.adviser_id,))
        if principal.adviser_id
        else []
    )
    if found and found[0].persona_name:
        return found[0].persona_name
    own = "" if principal.is_admin else principal.display_name
    return own or (found[0].name if found else "") or settings.assistant.adviser_name


# --------------------------------------------------------------------------- own numbers
@dataclass(frozen=True, slots=True)
class TargetProgress:
    """One campaign's targets of the adviser next to what they have done."""

    campaign: str
    code: str
    added: int
    converted: int
    revenue: float
    target_added: int | None
    target_converted: int | None
    target_revenue: float | None


@dataclass(frozen=True, slots=True)
class MyNumbers:
    adviser_id: str
    today: OwnNumbers
    period: OwnNumbers
    period_label: str
    targets: tuple[TargetProgress, ...]


def my_numbers(
    session: Session,
    principal: Principal,
    *,
    settings: Settings,
    now: datetime,
    adviser_id: str | None = None,
) -> MyNumbers:
    """The adviser's own numbers. An adviser gets their own only; the command line's
    administrator names the adviser."""
    if principal.is_admin:
        if not adviser_id:
            raise InputError("请指定顾问 id")
        mine = adviser_id
        if not repo.list_advisers(session=session, adviser_ids=(mine,)):
            raise NotFoundError(NO_ADVISER, ref=mine)
    else:
        require(principal, "adviser")
        if not principal.adviser_id or (adviser_id and adviser_id != principal.adviser_id):
            raise NotFoundError(NO_ADVISER, ref=adviser_id or "-")
        mine = principal.adviser_id
    tz = settings.zone
    today = settings.today(now)
    start = _period_start(today, settings.advisers.period)
    tomorrow = start_of_day(today + timedelta(days=1), tz)
    rows = crm_campaigns.report(
        session=session,
        since=None,
        until=today + timedelta(days=1),
        timezone=settings.timezone,
        adviser_ids=(mine,),
    )
    codes = {
        c.campaign_id: c.code
        for c in campaigns_repo.list_codes(session=session, adviser_ids=(mine,))
    }
    targets = tuple(
        TargetProgress(
            campaign=r.campaign,
            code=codes.get(r.campaign_id or 0, ""),
            added=r.added,
            converted=r.converted,
            revenue=r.revenue,
            target_added=r.target_added,
            target_converted=r.target_converted,
            target_revenue=r.target_revenue,
        )
        for r in rows
        if not r.total
    )
    return MyNumbers(
        adviser_id=mine,
        today=kpis_repo.own_numbers(
            session=session, adviser_id=mine, since=start_of_day(today, tz), until=tomorrow
        ),
        period=kpis_repo.own_numbers(
            session=session, adviser_id=mine, since=start_of_day(start, tz), until=tomorrow
        ),
        period_label=PERIOD_LABELS[settings.advisers.period],
        targets=targets,
    )


def _period_start(today: date, period: str) -> date:
    if period == "week":
        return today - timedelta(days=today.weekday())
    return today.replace(day=1)


#: An import names advisers the store does not know (it creates them, without a team).
#: The new advisers named in the warning (the rest counted).
NEW_ADVISERS_NAMED = 5
NEW_ADVISERS = (
    "文件里有 {count} 个系统里还没有的顾问（{names}），导入时会新建；"
    "如果写的是顾问的名字而不是 ID，请改成 ID（siyu advisers list）"
)


def advisers_as_known(session: Session, values: set[str]) -> tuple[dict[str, str], list[str]]:
    """A file's advisers as stored: a known id as written, a name that only one adviser
    goes by (console name, persona or account name) as that adviser's id; and the names
    nobody knows (the import creates them; listed only when some adviser exists)."""
    mapped = repo.ids_by_name(session=session, values=values)
    ids = {a.id for a in repo.list_advisers(session=session)}
    unknown = sorted(v for v in values if v and v not in ids and v not in mapped) if ids else []
    return mapped, unknown


def new_advisers_warning(unknown: list[str]) -> str | None:
    """The warning about ``unknown`` advisers (None for none)."""
    if not unknown:
        return None
    more = "等" if len(unknown) > NEW_ADVISERS_NAMED else ""
    names = "、".join(unknown[:NEW_ADVISERS_NAMED]) + more
    return NEW_ADVISERS.format(count=len(unknown), names=names)
