"""The script library as a service: files <-> SQL, and retrieval over approved scripts."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.errors import one_of
from bot.store import Database
from bot.store import scripts as scripts_repo
from bot.vocab import SCRIPT_STATUSES, member
from knowledge import HybridIndex, IndexItem, SyncStats
from scripts_lib import load_scripts, write_scripts
from scripts_lib.model import ANY_INDUSTRY, ScriptRecord

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

    def import_file(
        self, path: Path, *, progress: Progress | None = None
    ) -> scripts_repo.ImportStats:
        """All-or-nothing: the whole file is validated before one row is written."""
        records = load_scripts(path)
        with self._db.session() as session:
            stats = scripts_repo.upsert_scripts(session=session, records=records)
        self.sync(progress=progress)
        return stats

    def export(
        self,
        path: Path,
        *,
        industry: str | None = None,
        category: str | None = None,
        status: str | None = None,
    ) -> int:
        records = self.list_scripts(industry=industry, category=category, status=status)
        write_scripts(records, path)
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
