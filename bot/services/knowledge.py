"""The knowledge base: ingest documents (a path, or a file uploaded to the console),
rebuild the indexes, search, and list documents and their chunks."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from bot.domain import KnowledgeSuggestion
from bot.errors import InputError, NotFoundError
from bot.pipeline.kb import IngestReport
from bot.pipeline.runtime import Runtime
from bot.services import audit
from bot.services.access import CURATORS, Principal, require
from bot.store import documents as docs_repo
from bot.store.records import ChunkRecord, DocumentRecord
from knowledge import SyncStats

Progress = Callable[[int, int], None]
#: Documents uploaded to the console are kept here, under the data directory.
UPLOAD_DIR = "knowledge"
UPLOAD_SUFFIXES = (".md", ".txt", ".csv", ".xlsx")
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
_UNSAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")
NO_DOCUMENT = "文档不存在"


def ingest(
    rt: Runtime,
    principal: Principal,
    *,
    path: Path,
    industry: str | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest a file or a folder; unchanged files are skipped, changed ones replace their
    chunks."""
    require(principal, *CURATORS)
    report = rt.kb.ingest(path, industry=industry, progress=progress)
    with rt.db.session() as session:
        audit.record(
            session,
            principal,
            "knowledge.ingest",
            "document",
            path.name,
            chunks=report.chunks_written,
        )
    return report


def upload_name(filename: str) -> str:
    """A safe file name for an uploaded document (no path, no odd characters)."""
    return _UNSAFE_NAME.sub("_", Path(filename).name).strip("._") or "document.txt"


def ingest_upload(
    rt: Runtime, principal: Principal, *, filename: str, data: bytes, industry: str | None
) -> tuple[str, IngestReport]:
    """Keep an uploaded document in the data directory and ingest it; its safe name and
    the report."""
    require(principal, *CURATORS)
    name = upload_name(filename)
    if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
        raise InputError("只支持 .md / .txt / .csv / .xlsx 文档")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InputError("文件超过 5 MB")
    folder = Path(rt.settings.data_dir) / UPLOAD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_bytes(data)
    return name, ingest(rt, principal, path=target, industry=industry)


def rebuild(
    rt: Runtime,
    principal: Principal,
    *,
    knowledge_progress: Progress | None = None,
    scripts_progress: Progress | None = None,
) -> tuple[SyncStats, SyncStats]:
    """Rebuild the knowledge, script and tag indexes from the database; the knowledge
    and script index statistics."""
    require(principal, *CURATORS)
    k = rt.kb.rebuild(progress=knowledge_progress)
    s = rt.library.rebuild(progress=scripts_progress)
    rt.reload_tags()
    with rt.db.session() as session:
        audit.record(session, principal, "knowledge.rebuild", "index", "")
    return k, s


def search(
    rt: Runtime, principal: Principal, *, query: str, k: int, industry: str | None = None
) -> list[KnowledgeSuggestion]:
    """Hybrid search (embeddings + BM25) of the knowledge base."""
    require(principal, *CURATORS)
    return rt.kb.search(query, k=k, industry=industry)


def documents(session: Session, principal: Principal) -> list[DocumentRecord]:
    require(principal, *CURATORS)
    return docs_repo.list_documents(session=session)


def chunks(session: Session, principal: Principal, document_id: int) -> list[ChunkRecord]:
    """The chunks of one document (none for an unknown one)."""
    require(principal, *CURATORS)
    return docs_repo.all_chunks(session=session, document_id=document_id)


def check_document(session: Session, principal: Principal, document_id: int) -> None:
    """``NotFoundError`` unless the document exists."""
    require(principal, *CURATORS)
    if not docs_repo.document_exists(session=session, document_id=document_id):
        raise NotFoundError(NO_DOCUMENT, ref=document_id)
