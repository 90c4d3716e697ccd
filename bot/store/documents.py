"""Knowledge documents and their chunks (source of truth for the knowledge index)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from bot.store import changes
from bot.store.models import Chunk, Document
from bot.store.records import ChunkRecord, DocumentRecord


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    ordinal: int
    section: str
    text: str


def get_document(
    *, session: Session, source: str | None = None, document_id: int | None = None
) -> DocumentRecord | None:
    """The document of this name (``source``) or id."""
    if source is not None:
        row = session.scalar(select(Document).where(Document.source == source))
    elif document_id is not None:
        row = session.get(Document, document_id)
    else:
        raise TypeError("get_document needs a source or a document_id")
    return _document_record(session, row) if row else None


def replace_document(
    *,
    session: Session,
    source: str,
    kind: str,
    sha256: str,
    industry: str | None,
    chunks: Sequence[ChunkSpec],
    origin: str = "",
) -> tuple[DocumentRecord, list[int]]:
    """Store a document and its chunks, replacing any previous version of the same name.

    Returns the document and the ids of the chunks it replaced (to remove from indexes).
    """
    row = session.scalar(select(Document).where(Document.source == source))
    removed: list[int] = []
    now = datetime.now(UTC)
    if row is None:
        row = Document(source=source, kind=kind, sha256=sha256, industry=industry, origin=origin)
        session.add(row)
        session.flush()
    else:
        removed = list(session.scalars(select(Chunk.id).where(Chunk.document_id == row.id)))
        session.execute(delete(Chunk).where(Chunk.document_id == row.id))
        row.kind, row.sha256, row.industry, row.updated_at = kind, sha256, industry, now
        row.origin = origin
    if chunks:
        # One bulk INSERT (executemany), not a unit of work of one object per chunk: a
        # 5 MB document (12k chunks) is written in a fraction of the time, so SQLite's
        # write lock is held briefly and other writers do not wait on an upload.
        session.execute(
            insert(Chunk),
            [
                {"document_id": row.id, "ordinal": c.ordinal, "section": c.section, "text": c.text}
                for c in chunks
            ],
        )
    session.flush()
    changes.bump(session=session, topic="knowledge")
    return _document_record(session, row), removed


def delete_document(*, session: Session, document_id: int) -> list[int] | None:
    """Delete a document and its chunks; returns the ids of the chunks (None for an
    unknown document)."""
    row = session.get(Document, document_id)
    if row is None:
        return None
    removed = list(session.scalars(select(Chunk.id).where(Chunk.document_id == row.id)))
    session.execute(delete(Chunk).where(Chunk.document_id == row.id))
    session.delete(row)
    session.flush()
    changes.bump(session=session, topic="knowledge")
    return removed


def list_documents(*, session: Session) -> list[DocumentRecord]:
    return [
        _document_record(session, row)
        for row in session.scalars(select(Document).order_by(Document.source))
    ]


def all_chunks(*, session: Session, document_id: int | None = None) -> list[ChunkRecord]:
    """Every chunk, or those of one document."""
    stmt = (
        select(Chunk, Document.source, Document.industry)
        .join(Document, Document.id == Chunk.document_id)
        .order_by(Chunk.id)
    )
    if document_id is not None:
        stmt = stmt.where(Chunk.document_id == document_id)
    return [_chunk_record(c, src, ind) for c, src, ind in session.execute(stmt)]


def document_exists(*, session: Session, document_id: int) -> bool:
    return session.get(Document, document_id) is not None


def _document_record(session: Session, row: Document) -> DocumentRecord:
    n = session.scalar(select(func.count()).select_from(Chunk).where(Chunk.document_id == row.id))
    return DocumentRecord(
        id=row.id,
        source=row.source,
        kind=row.kind,
        sha256=row.sha256,
        industry=row.industry,
        chunks=int(n or 0),
        origin=row.origin,
    )


def _chunk_record(row: Chunk, source: str, industry: str | None) -> ChunkRecord:
    return ChunkRecord(
        id=row.id,
        document_id=row.document_id,
        source=source,
        industry=industry,
        ordinal=row.ordinal,
        section=row.section,
        text=row.text,
    )
