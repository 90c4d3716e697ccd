"""The knowledge base as a service: files -> SQL (documents, chunks) -> hybrid index.

SQL is written first and is the source of truth; the index is then brought in line
with it (``HybridIndex.sync`` embeds only what is missing), so a crash during indexing
is repaired by the next ``sync`` or ``siyu kb rebuild``, never by re-ingesting.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.domain import KnowledgeSuggestion
from bot.errors import InputError
from bot.store import Database
from bot.store import documents as docs_repo
from bot.store.records import ChunkRecord
from knowledge import (
    HybridIndex,
    IndexItem,
    SyncStats,
    chunk_document,
    iter_document_paths,
    load_document,
)
from knowledge.settings import KnowledgeSettings
from scripts_lib.model import ANY_INDUSTRY

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    chunks_written: int = 0
    index: SyncStats | None = None


class KnowledgeBase:
    def __init__(self, *, db: Database, index: HybridIndex, settings: KnowledgeSettings) -> None:
        self._db = db
        self._index = index
        self._settings = settings
        #: Chunks as of the last sync, so a search needs no database round trip.
        self._chunks: dict[str, ChunkRecord] = {}

    def ingest(
        self,
        path: Path,
        *,
        industry: str | None = None,
        on_file: Callable[[Path], None] | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Ingest a file or a folder. Every file is read and chunked before anything is
        written; one unreadable file means nothing is written and every problem is listed."""
        paths = iter_document_paths(path)
        if not paths:
            raise InputError(f"no supported documents in {path} (.md, .txt, .csv, .xlsx)")
        loaded = []
        problems: list[str] = []
        for p in paths:
            try:
                doc = load_document(p)
            except InputError as exc:
                problems.append(f"{p}: {exc}")
                continue
            loaded.append((p, doc))
        if problems:
            raise InputError(f"{len(problems)} of {len(paths)} files cannot be read", problems)
        report = IngestReport()
        with self._db.session() as session:
            for p, doc in loaded:
                if on_file is not None:
                    on_file(p)
                source = str(p.resolve())
                existing = docs_repo.get_document(session=session, source=source)
                if existing is not None and existing.sha256 == doc.sha256:
                    report.unchanged.append(source)
                    continue
                chunks = chunk_document(
                    doc,
                    max_chars=self._settings.chunk_chars,
                    overlap=self._settings.chunk_overlap,
                )
                if not chunks:
                    raise InputError(f"{p}: no text to index")
                docs_repo.replace_document(
                    session=session,
                    source=source,
                    kind=doc.kind,
                    sha256=doc.sha256,
                    industry=industry,
                    chunks=[
                        docs_repo.ChunkSpec(ordinal=c.ordinal, section=c.section, text=c.text)
                        for c in chunks
                    ],
                )
                report.chunks_written += len(chunks)
                (report.updated if existing else report.added).append(source)
        report.index = self.sync(progress=progress)
        return report

    def remove(self, path: Path) -> int:
        with self._db.session() as session:
            removed = docs_repo.delete_document(session=session, source=str(path.resolve()))
        if not removed:
            raise InputError(f"{path} is not in the knowledge base")
        self.sync()
        return len(removed)

    def sync(self, *, progress: Progress | None = None) -> SyncStats:
        """Bring the index in line with SQL (start-up, after ingest)."""
        return self._index.sync(self._items(), progress=progress)

    def rebuild(self, *, progress: Progress | None = None) -> SyncStats:
        """Drop both indexes and rebuild them from SQL."""
        return self._index.rebuild(self._items(), progress=progress)

    def search(
        self,
        text: str,
        *,
        k: int,
        industry: str | None = None,
        query_vector: np.ndarray | None = None,
    ) -> list[KnowledgeSuggestion]:
        if k <= 0 or not text.strip():
            return []
        where: dict[str, object] | None = (
            {"industry": [industry, ANY_INDUSTRY]} if industry else None
        )
        hits = self._index.search(text, k=k, where=where, query_vector=query_vector)
        out = []
        for hit in hits:
            chunk = self._chunks.get(hit.id)
            if chunk is None:  # index ahead of the cache: skip, the next sync repairs it
                continue
            out.append(
                KnowledgeSuggestion(
                    source=Path(chunk.source).name,
                    section=chunk.section,
                    text=chunk.text,
                    score=round(hit.score, 4),
                )
            )
        return out

    def _items(self) -> list[IndexItem]:
        with self._db.session() as session:
            chunks = docs_repo.all_chunks(session=session)
        self._chunks = {c.index_id: c for c in chunks}
        return [chunk_item(c) for c in chunks]


def chunk_item(chunk: ChunkRecord) -> IndexItem:
    text = f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text
    return IndexItem(
        id=chunk.index_id,
        text=text,
        metadata={"industry": chunk.industry or ANY_INDUSTRY, "document": chunk.document_id},
    )
