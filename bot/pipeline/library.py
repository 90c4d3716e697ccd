"""The script library as a service: files <-> SQL, and retrieval over approved scripts.

A search fuses three channels over the approved scripts of the industry: the script's text
(dense and lexical, ``HybridIndex``), its title and tags alone (dense: a title is often the
customer's question in other words), and the customer messages the script has answered
(``bot.pipeline.triggers``). Fusion and weights: ``[retrieval]`` and ``[learning]``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from bot.errors import one_of
from bot.pipeline.changes import changed_vectors
from bot.pipeline.triggers import LearnedTriggers
from bot.store import Database
from bot.store import scripts as scripts_repo
from bot.store.industries import as_known
from bot.vocab import SCRIPT_STATUSES, member
from knowledge import Channel, HybridIndex, IndexItem, SyncStats
from knowledge.settings import RetrievalSettings
from scripts_lib import check_scripts, write_scripts
from scripts_lib.matching import TemplateMatcher
from scripts_lib.model import (
    LintIssue,
    ParsedScript,
    ScriptRecord,
    matching_industries,
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ScriptHit:
    script: ScriptRecord
    score: float
    #: Uses of the script that answered messages similar to the query (the reason
    #: 「相似问题已用过 12 次」); 0 without learned examples.
    similar_uses: int = 0
    #: Why it was chosen when it was not found for the message's words (the campaign's
    #: welcome); None: the suggestion explains it from the message.
    reason: str | None = None


class ScriptLibrary:
    def __init__(
        self,
        *,
        db: Database,
        index: HybridIndex,
        titles: HybridIndex,
        triggers: LearnedTriggers,
        retrieval: RetrievalSettings,
    ) -> None:
        self._db = db
        self._index = index
        self._titles = titles
        self.triggers = triggers
        self._retrieval = retrieval
        self._cache: dict[str, ScriptRecord] = {}
        self._matcher: TemplateMatcher | None = None
        #: The cache and the index change together (a sync and another process's refresh).
        self._lock = threading.RLock()

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
        """Index exactly the approved scripts (only approved scripts are ever suggested)
        and their examples, embedding what is new or changed; other processes are told
        once the vectors are stored (``changed_vectors``)."""
        with self._lock:
            approved = self.list_scripts(status="approved")
            self._cache = {s.id: s for s in approved}
            self._matcher = None
            stats = self._index.sync([script_item(s) for s in approved], progress=progress)
            self._titles.sync([title_item(s) for s in approved])
            self.triggers.sync(approved=self._cache)
        changed_vectors(self._db, "scripts", stats)
        return stats

    def refresh(self) -> None:
        """Serve the approved scripts as another process left them: the vectors it
        stored are read, nothing is embedded (bot/pipeline/changes.py). The learned
        examples stay this process's own until its next sync: they vote only for the
        approved candidates a search returns, so an archived script's never count."""
        with self._lock:
            approved = self.list_scripts(status="approved")
            self._cache = {s.id: s for s in approved}
            self._matcher = None
            self._index.refresh([script_item(s) for s in approved])
            self._titles.refresh([title_item(s) for s in approved])

    def rebuild(self, *, progress: Progress | None = None) -> SyncStats:
        with self._lock:
            approved = self.list_scripts(status="approved")
            self._cache = {s.id: s for s in approved}
            self._matcher = None
            stats = self._index.rebuild([script_item(s) for s in approved], progress=progress)
            self._titles.rebuild([title_item(s) for s in approved])
            self.triggers.sync(approved=self._cache)
        changed_vectors(self._db, "scripts", stats)
        return stats

    def search(
        self,
        text: str,
        *,
        k: int,
        industry: str | None = None,
        categories: Collection[str] | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[ScriptHit]:
        """The ``k`` best approved scripts for ``text`` (of ``industry`` or general, of
        ``categories``), best first."""
        where: dict[str, object] = {}
        if industry:
            where["industry"] = matching_industries(industry)
        if categories:
            where["category"] = sorted(categories)
        if query_vector is None:
            query_vector = self._index.embed_query(text)
        extra: list[Channel] = []
        reference: tuple[float, float] | None = None
        if self._titles.loaded:
            titles = self._titles.similarities(
                text,
                where=where or None,
                query_vector=query_vector,
                limit=self._retrieval.candidates,
            )
            if self._retrieval.title_weight > 0:
                extra.append(Channel(list(titles.items()), self._retrieval.title_weight))
            if len(titles) >= 2:
                values = np.fromiter(titles.values(), dtype=np.float64)
                reference = (float(values.mean()), float(values.std()))
        learned = self.triggers.enabled and len(self.triggers) > 0
        if learned:
            allowed = self._index.allowed(where or None)
            scripts = [s for s in self.triggers.index.labels() if allowed(s)]
            extra.append(self.triggers.channel(query_vector, scripts=scripts, reference=reference))
        hits = self._index.search(
            text, k=k, where=where or None, query_vector=query_vector, extra=extra
        )
        out = []
        for hit in hits:
            script = self._cache.get(hit.id)
            if script is not None:
                uses = self.triggers.similar_uses(query_vector, script.id) if learned else 0
                out.append(ScriptHit(script=script, score=round(hit.score, 4), similar_uses=uses))
        return out

    def matcher(self, min_similarity: float) -> TemplateMatcher:
        """Matches sent messages against the approved scripts (rebuilt after a sync)."""
        matcher = self._matcher
        if matcher is None or matcher.min_similarity != min_similarity:
            matcher = TemplateMatcher(
                ((s.id, s.body) for s in self._cache.values()), min_similarity=min_similarity
            )
            self._matcher = matcher
        return matcher

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
    # 保险 → insurance, as the documents, taxonomy and customers store it
    named = as_known(session=session, values=[p.record.industry for p in parsed])
    records = [
        replace(r, industry=named.get(r.industry, r.industry))
        for r in (p.merged(stored.get(p.record.id)) for p in parsed)
    ]
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


def title_item(script: ScriptRecord) -> IndexItem:
    """The title channel's view of a script: its title and tags."""
    return IndexItem(
        id=script.id,
        text="\n".join(p for p in (script.title, " ".join(script.tags)) if p),
        metadata={
            "industry": script.industry,
            "category": script.category,
            "stage": script.stage,
        },
    )
