"""The knowledge base as a service: files -> SQL (documents, chunks) -> hybrid index.

SQL is written first and is the source of truth; the index is then brought in line
with it (``HybridIndex.sync`` embeds only what is missing), so a crash during indexing
is repaired by the next ``sync`` or ``siyu kb rebuild``, never by re-ingesting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.domain import KnowledgeSuggestion
from bot.errors import InputError
from bot.pipeline.changes import changed_vectors
from bot.store import Database
from bot.store import documents as docs_repo
from bot.store.records import ChunkRecord, DocumentRecord
from knowledge import (
    HybridIndex,
    IndexItem,
    SyncStats,
    chunk_document,
    iter_document_paths,
    load_document,
    spread,
)
from knowledge.settings import KnowledgeSettings
from scripts_lib.model import ANY_INDUSTRY, canonical_industry, matching_industries

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

#: A search that spreads its passages over documents looks this many times deeper.
_SPREAD_DEPTH = 5


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    chunks_written: int = 0
    index: SyncStats | None = None
    #: Things the person ingesting should know (an industry nothing else uses …).
    warnings: list[str] = field(default_factory=list)


class KnowledgeBase:
    def __init__(self, *, db: Database, index: HybridIndex, settings: KnowledgeSettings) -> None:
        self._db = db
        self._index = index
        self._settings = settings
        #: Chunks as of the last sync, so a search needs no database round trip.
        self._chunks: dict[str, ChunkRecord] = {}
        #: The chunks and the index change together (a sync and another process's refresh).
        self._lock = threading.RLock()

    def ingest(
        self,
        path: Path,
        *,
        industry: str | None = None,
        on_file: Callable[[Path], None] | None = None,
        progress: Progress | None = None,
        origin: str | None = None,
    ) -> IngestReport:
        """Ingest a file or a folder. Every file is read and chunked before anything is
        written; one unreadable file means nothing is written and every problem is listed.

        A document is known by its file name: ingesting a file of a name the knowledge
        base holds (from any folder, or uploaded in the console) replaces that document.
        ``origin`` is recorded as where it came from (default: the file's path)."""
        paths = iter_document_paths(path)
        if not paths:
            raise InputError(f"{path} 里没有支持的文档（.md、.txt、.csv、.xlsx）")
        loaded = []
        problems: list[str] = []
        names: dict[str, Path] = {}
        for p in paths:
            if p.name in names:
                problems.append(
                    f"{p}：与 {names[p.name]} 同名；知识库按文件名区分文档，请给其中一个改名"
                )
                continue
            names[p.name] = p
            try:
                doc = load_document(p)
            except InputError as exc:
                if len(paths) == 1:  # one file: its own error (it names the file)
                    raise
                problems.append(_file_problem(p, exc))
                continue
            loaded.append((p, doc))
        if problems:
            raise InputError(f"{len(paths)} 个文件中有 {len(problems)} 个无法读取", problems)
        industry = canonical_industry(industry) if industry else None
        report = IngestReport()
        with self._db.session() as session:
            for p, doc in loaded:
                if on_file is not None:
                    on_file(p)
                name = p.name
                existing = docs_repo.get_document(session=session, source=name)
                if (
                    existing is not None
                    and existing.sha256 == doc.sha256
                    and existing.industry == industry
                ):
                    report.unchanged.append(name)
                    continue
                chunks = chunk_document(
                    doc,
                    max_chars=self._settings.chunk_chars,
                    overlap=self._settings.chunk_overlap,
                )
                if not chunks:
                    raise InputError(f"{p}：没有可索引的文字")
                docs_repo.replace_document(
                    session=session,
                    source=name,
                    kind=doc.kind,
                    sha256=doc.sha256,
                    industry=industry,
                    chunks=[
                        docs_repo.ChunkSpec(ordinal=c.ordinal, section=c.section, text=c.text)
                        for c in chunks
                    ],
                    origin=(origin if origin is not None else str(p.resolve()))[:1000],
                )
                report.chunks_written += len(chunks)
                (report.updated if existing else report.added).append(name)
        report.index = self.sync(progress=progress)
        return report

    def delete(self, document_id: int) -> DocumentRecord | None:
        """Delete a document: its chunks leave SQL and both indexes. None if unknown."""
        with self._db.session() as session:
            found = docs_repo.get_document(session=session, document_id=document_id)
            if found is None:
                return None
            docs_repo.delete_document(session=session, document_id=document_id)
        self.sync()
        return found

    def sync(self, *, progress: Progress | None = None) -> SyncStats:
        """Bring the index in line with SQL (start-up, after ingest); other processes
        are told once the vectors are stored."""
        with self._lock:
            stats = self._index.sync(self._items(), progress=progress)
        changed_vectors(self._db, "knowledge", stats)
        return stats

    def refresh(self) -> None:
        """Serve the chunks as another process left them: the vectors it stored are
        read, nothing is embedded (bot/pipeline/changes.py)."""
        with self._lock:
            self._index.refresh(self._items())

    def rebuild(self, *, progress: Progress | None = None) -> SyncStats:
        """Drop both indexes and rebuild them from SQL."""
        with self._lock:
            stats = self._index.rebuild(self._items(), progress=progress)
        changed_vectors(self._db, "knowledge", stats)
        return stats

    def search(
        self,
        text: str,
        *,
        k: int,
        industry: str | None = None,
        query_vector: np.ndarray | None = None,
        per_document: int = 0,
    ) -> list[KnowledgeSuggestion]:
        """The ``k`` best passages, at most ``per_document`` of one document (0: no
        limit; ``knowledge.fusion.spread``)."""
        if k <= 0 or not text.strip():
            return []
        where: dict[str, object] | None = (
            {"industry": matching_industries(industry)} if industry else None
        )
        wanted = k * _SPREAD_DEPTH if per_document else k
        hits = self._index.search(text, k=wanted, where=where, query_vector=query_vector)
        found = [(hit, chunk) for hit in hits if (chunk := self._chunks.get(hit.id))]
        # (a hit without a chunk: the index is ahead of the cache; the next sync repairs it)
        found = spread(found, key=lambda pair: pair[1].document_id, per_key=per_document, k=k)
        return [
            KnowledgeSuggestion(
                source=chunk.source,
                section=chunk.section,
                text=chunk.text,
                score=round(hit.score, 4),
            )
            for hit, chunk in found
        ]

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


def _file_problem(path: Path, exc: InputError) -> str:
    """One file's problem as one item of a folder's list: its message names the file
    already (else it is named first), with its own problems in brackets (before: the
    path twice, 「a.csv: a.csv：缺少列」, and its problems as items of the folder's)."""
    head = exc.args[0] if exc.args else str(exc)
    if str(path) not in head and path.name not in head:
        head = f"{path}：{head}"
    return f"{head}（{'；'.join(exc.problems)}）" if exc.problems else head
