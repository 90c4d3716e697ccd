"""The script library as a service: files <-> SQL, and retrieval over approved scripts."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from bot.errors import one_of
from bot.store import Database
from bot.store import scripts as scripts_repo
from bot.vocab import SCRIPT_STATUSES, member
from knowledge import HybridIndex, IndexItem, SyncStats
from scripts_lib import check_scripts, write_scripts
from scripts_lib.model import ANY_INDUSTRY, LintIssue, ParsedScript, ScriptRecord

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ScriptHit:
    script: ScriptRecord
    score: float


class ScriptLibrary:
    def __init__(self, *, db: Database, index: HybridIndex) -> None:
        self._db = db
        self._index = index
        self._cache: dict[str, ScriptRecord] = {}

    def plan_import(self, path: Path, *, today: date | None = None) -> ImportPlan:
        """What importing ``path`` would do, writing nothing: how many scripts are new,
        changed and unchanged, and the file's warnings (``InputError`` listing every
        error of a file that cannot be imported)."""
        parsed, warnings = check_scripts(path, today=today)
        with self._db.session() as session:
            return _plan(session, parsed, warnings)

    def import_file(
        self, path: Path, *, progress: Progress | None = None
    ) -> scripts_repo.ImportStats:
        """All-or-nothing: the whole file is validated before one row is written. A
        column the file does not have (``status``, ``variant_group``, ``deadline``), and
        an empty ``status`` cell, keep what the library holds for a script."""
        parsed, warnings = check_scripts(path)
        with self._db.session() as session:
            plan = _plan(session, parsed, warnings)
            stats = scripts_repo.upsert_scripts(session=session, records=plan.records)
        self.sync(progress=progress)
        return stats

    def export(
        self,
        path: Path,
        *,
        industry: str | None = None,
        category: str | None = None,
        status: str | None = None,
        chinese: bool = False,
    ) -> int:
        records = self.list_scripts(industry=industry, category=category, status=status)
        write_scripts(records, path, chinese=chinese)
        return len(records)

    def list_scripts(
        self,
        *,
        industry: str | None = None,
        category: str | None = None,
        status: str | None = None,
    ) -> list[ScriptRecord]:
        wanted = None if status is None else member(SCRIPT_STATUSES, status)
        if status is not None and wanted is None:
            return []  # no script has an unknown status
        with self._db.session() as session:
            return scripts_repo.list_scripts(
                session=session, industry=industry, category=category, status=wanted
            )

    def set_status(self, script_id: str, status: str) -> ScriptRecord | None:
        with self._db.session() as session:
            record = scripts_repo.set_script_status(
                session=session,
                script_id=script_id,
                status=one_of(SCRIPT_STATUSES, status, "status"),
            )
        self.sync()
        return record

    def industries(self) -> set[str]:
        with self._db.session() as session:
            return scripts_repo.known_industries(session=session)

    def sync(self, *, progress: Progress | None = None) -> SyncStats:
        """Index exactly the approved scripts (only approved scripts are ever suggested)."""
        approved = self.list_scripts(status="approved")
        self._cache = {s.id: s for s in approved}
        return self._index.sync([script_item(s) for s in approved], progress=progress)

    def rebuild(self, *, progress: Progress | None = None) -> SyncStats:
        approved = self.list_scripts(status="approved")
        self._cache = {s.id: s for s in approved}
        return self._index.rebuild([script_item(s) for s in approved], progress=progress)

    def search(
        self,
        text: str,
        *,
        k: int,
        industry: str | None = None,
        categories: Collection[str] | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[ScriptHit]:
        where: dict[str, object] = {}
        if industry:
            where["industry"] = [industry, ANY_INDUSTRY]
        if categories:
            where["category"] = sorted(categories)
        hits = self._index.search(text, k=k, where=where or None, query_vector=query_vector)
        out = []
        for hit in hits:
            script = self._cache.get(hit.id)
            if script is not None:
                out.append(ScriptHit(script=script, score=round(hit.score, 4)))
        return out

    def variants(self, group: str) -> list[ScriptRecord]:
        """The approved scripts of an A/B variant group (from memory), by id."""
        return sorted(
            (s for s in self._cache.values() if s.variant_group == group), key=lambda s: s.id
        )

    def get(self, ids: Sequence[str]) -> dict[str, ScriptRecord]:
        with self._db.session() as session:
            return scripts_repo.get_scripts(session=session, ids=ids)


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """What an import would write: the records (stored values kept where the file does
    not say), counted as new / updated / unchanged, and the file's warnings."""

    records: list[ScriptRecord]
    stats: scripts_repo.ImportStats
    warnings: list[LintIssue]
    #: The line each record starts on in the file.
    lines: list[int]


def _plan(session: Session, parsed: list[ParsedScript], warnings: list[LintIssue]) -> ImportPlan:
    stored = scripts_repo.get_scripts(session=session, ids=[p.record.id for p in parsed])
    records = [p.merged(stored.get(p.record.id)) for p in parsed]
    stats = scripts_repo.compare_scripts(session=session, records=records)
    return ImportPlan(
        records=records, stats=stats, warnings=warnings, lines=[p.line for p in parsed]
    )


def script_item(script: ScriptRecord) -> IndexItem:
    return IndexItem(
        id=script.id,
        text=script.search_text(),
        metadata={
            "industry": script.industry,
            "category": script.category,
            "stage": script.stage,
        },
    )
