"""The script library in SQL (source of truth; the index is derived from it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import one_of
from bot.store import changes
from bot.store import examples as examples_repo
from bot.store.models import Script, ScriptVersion
from bot.store.records import aware
from bot.vocab import SCRIPT_STATUSES, ScriptStatus
from scripts_lib.model import ScriptRecord, industry_code, industry_names


@dataclass(frozen=True, slots=True)
class ImportStats:
    added: int
    updated: int
    unchanged: int


#: The fields an import or an edit compares and writes (besides the id).
_FIELDS = (
    "title",
    "category",
    "stage",
    "industry",
    "tags",
    "body",
    "status",
    "variant_group",
    "deadline",
)


def _values(rec: ScriptRecord) -> tuple[object, ...]:
    return (
        rec.title,
        rec.category,
        rec.stage,
        rec.industry,
        list(rec.tags),
        rec.body,
        one_of(SCRIPT_STATUSES, rec.status, "status"),
        rec.variant_group,
        rec.deadline,
    )


def compare_scripts(*, session: Session, records: Sequence[ScriptRecord]) -> ImportStats:
    """How ``upsert_scripts`` would count ``records`` (new / changed / unchanged),
    writing nothing."""
    stored = get_scripts(session=session, ids=[r.id for r in records])
    added = updated = unchanged = 0
    for rec in records:
        old = stored.get(rec.id)
        if old is None:
            added += 1
        elif _values(old) == _values(rec) and old.examples == rec.examples:
            unchanged += 1
        else:
            updated += 1
    return ImportStats(added=added, updated=updated, unchanged=unchanged)


def upsert_scripts(*, session: Session, records: Sequence[ScriptRecord]) -> ImportStats:
    """Insert new scripts and update changed ones (a change bumps the version and keeps
    the previous text in the history). A record's ``examples`` become the script's
    operator examples (a change of examples alone is an update without a new version:
    the history keeps texts). Runs inside the caller's transaction, so an import is
    all-or-nothing."""
    added = updated = unchanged = 0
    now = datetime.now(UTC)
    for rec in records:
        row = session.get(Script, rec.id)
        if row is None:
            row = Script(id=rec.id, version=1, created_at=now, updated_at=now)
            for name, value in zip(_FIELDS, _values(rec), strict=True):
                setattr(row, name, value)
            session.add(row)
            session.flush()
            _snapshot(session, row)
            if rec.examples:
                examples_repo.set_operator_examples(
                    session=session, script_id=rec.id, texts=rec.examples
                )
            added += 1
            continue
        examples_changed = examples_repo.set_operator_examples(
            session=session, script_id=rec.id, texts=rec.examples
        )
        new = _values(rec)
        if new == _values(script_record(row)):
            if examples_changed:
                updated += 1
            else:
                unchanged += 1
            continue
        for name, value in zip(_FIELDS, new, strict=True):
            setattr(row, name, value)
        row.version += 1
        row.updated_at = now
        session.flush()
        _snapshot(session, row)
        updated += 1
    if added or updated:
        changes.bump(session=session, topic="scripts")
    return ImportStats(added=added, updated=updated, unchanged=unchanged)


def set_script_status(
    *, session: Session, script_id: str, status: ScriptStatus
) -> ScriptRecord | None:
    row = session.get(Script, script_id)
    if row is None:
        return None
    if row.status != status:
        row.status = status
        row.version += 1
        row.updated_at = datetime.now(UTC)
        session.flush()
        _snapshot(session, row)
        changes.bump(session=session, topic="scripts")
    return script_record(row)


def list_scripts(
    *,
    session: Session,
    industry: str | None = None,
    category: str | None = None,
    status: ScriptStatus | None = None,
) -> list[ScriptRecord]:
    stmt = select(Script).order_by(Script.id)
    if industry is not None:
        stmt = stmt.where(Script.industry.in_(industry_names(industry)))
    if category is not None:
        stmt = stmt.where(Script.category == category)
    if status is not None:
        stmt = stmt.where(Script.status == status)
    rows = list(session.scalars(stmt))
    examples = examples_repo.operator_examples(session=session)
    return [script_record(s, examples.get(s.id, ())) for s in rows]


def get_scripts(*, session: Session, ids: Sequence[str]) -> dict[str, ScriptRecord]:
    """Scripts by id, with their operator examples."""
    if not ids:
        return {}
    rows = list(session.scalars(select(Script).where(Script.id.in_(list(ids)))))
    examples = examples_repo.operator_examples(session=session, script_ids=[r.id for r in rows])
    return {row.id: script_record(row, examples.get(row.id, ())) for row in rows}


@dataclass(frozen=True, slots=True)
class ScriptVersionRecord:
    version: int
    title: str
    body: str
    status: ScriptStatus
    created_at: datetime


def list_versions(*, session: Session, script_id: str) -> list[ScriptVersionRecord]:
    """Every saved version of a script, newest first (empty for an unknown script)."""
    stmt = (
        select(ScriptVersion)
        .where(ScriptVersion.script_id == script_id)
        .order_by(ScriptVersion.version.desc())
    )
    return [
        ScriptVersionRecord(
            version=v.version,
            title=v.title,
            body=v.body,
            status=v.status,
            created_at=aware(v.created_at),
        )
        for v in session.scalars(stmt)
    ]


def known_industries(*, session: Session) -> set[str]:
    """The scripts' industries, a known one once by its code (``industry_code``)."""
    return {industry_code(i) for i in session.scalars(select(Script.industry).distinct())}


def _snapshot(session: Session, row: Script) -> None:
    session.add(
        ScriptVersion(
            script_id=row.id,
            version=row.version,
            title=row.title,
            body=row.body,
            status=row.status,
        )
    )


def script_record(row: Script, examples: tuple[str, ...] = ()) -> ScriptRecord:
    return ScriptRecord(
        id=row.id,
        title=row.title,
        category=row.category,
        stage=row.stage,
        industry=row.industry,
        body=row.body,
        tags=tuple(row.tags or ()),
        status=row.status,
        version=row.version,
        variant_group=row.variant_group,
        deadline=row.deadline,
        examples=examples,
    )
