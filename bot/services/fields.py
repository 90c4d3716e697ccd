"""Profile fields: the fields file, a customer's values (set by hand), and the values —
or referrers — stated in messages, which a person confirms or rejects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from bot.crm import fields as crm_fields
from bot.crm import oneid
from bot.errors import InputError, NotFoundError
from bot.services import audit
from bot.services.access import (
    CURATORS,
    CUSTOMER_VIEWERS,
    Principal,
    check_customer,
    require,
    scope_of,
)
from bot.services.referrals import check_referrer
from bot.store import customers as customers_repo
from bot.store import fields as repo
from bot.store import referrals as referrals_repo
from bot.store.fields import REFERRER_FIELD, FieldSpec, FieldsStats, FieldValue
from bot.store.fields import ProfileSuggestionRecord as SuggestionRecord

#: How the referrer suggestion is labelled for people.
REFERRER_LABEL = "介绍人"
REVIEWS = ("confirmed", "rejected")
NO_FIELD = "资料字段不存在"


@dataclass(frozen=True, slots=True)
class ShownValue:
    """A field and the customer's value of it (None: no value), for a profile card."""

    spec: FieldSpec
    value: FieldValue | None

    @property
    def text(self) -> str:
        return crm_fields.shown(self.spec, self.value.value) if self.value else ""


def import_fields(session: Session, principal: Principal, *, path: Path) -> FieldsStats:
    """Replace the declared fields with the file's (fields left out are deactivated: the
    values customers hold stay)."""
    require(principal, *CURATORS)
    specs = crm_fields.load_fields(path, columns=oneid.IMPORT_COLUMN_NAMES)
    stats = repo.replace_fields(session=session, specs=specs)
    audit.record(
        session,
        principal,
        "fields.import",
        "profile_fields",
        path.name[:64],
        added=stats.added,
        updated=stats.updated,
        unchanged=stats.unchanged,
        deactivated=stats.deactivated,
    )
    return stats


def list_fields(
    session: Session, principal: Principal, *, industry: str | None = None
) -> list[FieldSpec]:
    return repo.list_fields(session=session, industry=industry)


def of_customer(session: Session, principal: Principal, customer_id: int) -> list[ShownValue]:
    """Every field for the customer's industry (and any other value they hold)."""
    check_customer(session, principal, customer_id)
    customer = customers_repo.get_customer(session=session, customer_id=customer_id)
    specs = repo.list_fields(session=session, industry=customer.industry)
    values = {v.field: v for v in repo.field_values(session=session, customer_id=customer_id)}
    known = {s.name for s in specs}
    everything = {s.name: s for s in repo.list_fields(session=session)}
    shown = [ShownValue(s, values.get(s.name)) for s in specs]
    for name, value in values.items():
        if name not in known:
            spec = everything.get(name) or FieldSpec(name=name, type="text")
            shown.append(ShownValue(spec, value))
    audit.record(session, principal, "customer.fields.view", "customer", customer_id)
    return shown


def set_values(
    session: Session,
    principal: Principal,
    *,
    customer_id: int,
    values: Mapping[str, str],
) -> list[FieldValue]:
    """Set fields of a customer in scope (an empty value clears one); every value is
    checked against its field's type before anything is written."""
    require(principal, *CUSTOMER_VIEWERS)
    check_customer(session, principal, customer_id)
    specs = {s.name: s for s in repo.list_fields(session=session)}
    problems: list[str] = []
    parsed: dict[str, repo.Parsed | None] = {}
    for name, text in values.items():
        spec = specs.get(name)
        if spec is None:
            problems.append(f"{NO_FIELD}：{name}")
            continue
        if not text.strip():
            parsed[name] = None
            continue
        try:
            parsed[name] = crm_fields.parse_value(spec, text)
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise InputError(f"{len(problems)} 个字段有问题，没有保存", problems)
    out = []
    for name, value in parsed.items():
        saved = repo.set_value(
            session=session,
            customer_id=customer_id,
            field=name,
            parsed=value,
            source="manual",
            evidence=f"{principal.username} 手动填写",
            actor=principal.username,
        )
        if saved is not None:
            out.append(saved)
    audit.record(
        session, principal, "customer.fields.set", "customer", customer_id, fields=list(parsed)
    )
    return out


def suggestions(
    session: Session,
    principal: Principal,
    *,
    customer_id: int | None = None,
    status: str | None = "suggested",
) -> list[SuggestionRecord]:
    """Values stated in messages of customers in scope, waiting for review (audited)."""
    require(principal, *CUSTOMER_VIEWERS)
    if customer_id is not None:
        check_customer(session, principal, customer_id)
    rows = repo.list_suggestions(
        session=session,
        status=status,
        customer_id=customer_id,
        adviser_ids=scope_of(session, principal).adviser_ids,
    )
    audit.record(
        session,
        principal,
        "profile_suggestions.view",
        "customer",
        customer_id or "",
        count=len(rows),
    )
    return rows


def review(
    session: Session, principal: Principal, *, suggestion_id: int, status: str
) -> SuggestionRecord:
    """Confirm (the value is set, or the referrer) or reject a suggestion."""
    require(principal, *CUSTOMER_VIEWERS)
    if status not in REVIEWS:
        raise InputError(f"状态只能是 confirmed（确认）或 rejected（拒绝），不是 {status!r}")
    found = repo.get_suggestion(session=session, suggestion_id=suggestion_id)
    check_customer(session, principal, found.customer_id)
    if status == "confirmed":
        _apply(session, principal, found)
    record = repo.review(
        session=session, suggestion_id=suggestion_id, status=status, reviewer=principal.username
    )
    audit.record(
        session,
        principal,
        f"profile_suggestion.{status}",
        "customer",
        found.customer_id,
        suggestion=suggestion_id,
        field=found.field,
    )
    return record


def _apply(session: Session, principal: Principal, found: SuggestionRecord) -> None:
    if found.field == REFERRER_FIELD:
        value = found.value
        if not (value.isascii() and value.isdigit()):
            raise InputError(f"没有找到名为「{value}」的客户：请在画像里手动选择介绍人")
        referrer = int(value)
        check_referrer(session, principal, referrer, ref=value)
        referrals_repo.set_referrer(
            session=session,
            customer_id=found.customer_id,
            referrer_id=referrer,
            method="greeting",
            evidence=found.evidence,
            actor=principal.username,
        )
        return
    spec = {s.name: s for s in repo.list_fields(session=session)}.get(found.field)
    if spec is None:
        raise NotFoundError(NO_FIELD, ref=found.field)
    repo.set_value(
        session=session,
        customer_id=found.customer_id,
        field=found.field,
        parsed=crm_fields.parse_value(spec, found.value),
        source="message",
        evidence=found.evidence,
        actor=principal.username,
    )


def label(field: str) -> str:
    return REFERRER_LABEL if field == REFERRER_FIELD else field
