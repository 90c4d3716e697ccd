"""The knowledge base: ingest documents (a path, or a file uploaded to the console, as a
job), rebuild the indexes (from the console: as a job), search, and list documents and
their chunks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from bot.domain import KnowledgeSuggestion
from bot.errors import InputError, NotFoundError
from bot.pipeline.jobs import JobOutcome, JobProgress, JobStatus
from bot.pipeline.kb import IngestReport
from bot.pipeline.runtime import Runtime
from bot.services import audit, industries, uploads
from bot.services.access import CURATORS, Principal, require
from bot.store import documents as docs_repo
from bot.store.industries import as_known
from bot.store.records import ChunkRecord, DocumentRecord
from knowledge import SyncStats

Progress = Callable[[int, int], None]
#: Documents uploaded to the console are kept here, under the data directory.
UPLOAD_DIR = "knowledge"
UPLOAD_SUFFIXES = (".md", ".txt", ".csv", ".xlsx")
NO_DOCUMENT = "文档不存在"
#: The ``origin`` of a document uploaded in the console.
UPLOAD_ORIGIN = "控制台上传"


def ingest(
    rt: Runtime,
    principal: Principal,
    *,
    path: Path,
    industry: str | None = None,
    progress: Progress | None = None,
    origin: str | None = None,
) -> IngestReport:
    """Ingest a file or a folder; unchanged files are skipped, changed ones replace their
    chunks, and a file named like a document already held (from another folder, or
    uploaded in the console) replaces that document. The report warns about an industry
    nothing else uses."""
    require(principal, *CURATORS)
    with rt.db.session() as session:
        # 保险 → insurance: a document stored under another name never reaches them
        industry = as_known(session=session, values=[industry]).get(industry or "", industry)
        warnings = industries.unused_warnings(session, [industry], what="文档")
    report = rt.kb.ingest(path, industry=industry, progress=progress, origin=origin)
    report.warnings = warnings
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


def start_upload(
    rt: Runtime, principal: Principal, *, filename: str, data: bytes, industry: str | None
) -> JobStatus:
    """Check an uploaded document's type and size now, and ingest it as a job (off the
    request): rows counted first for a table, then read, chunked, written to SQL in one
    transaction and indexed, with progress. The document is kept in the data directory
    under its own name (a later upload of the same name replaces it); a rejected one is
    not kept, and its error names only the file."""
    require(principal, *CURATORS)
    staged = uploads.stage(rt.settings, filename=filename, data=data, suffixes=UPLOAD_SUFFIXES)

    def work(job: JobProgress) -> JobOutcome:
        return _ingest_staged(rt, principal, staged, industry, job)

    try:
        return rt.jobs.submit(
            kind="knowledge.ingest",
            owner=principal.username,
            title=f"导入知识文档 {staged.name}",
            work=work,
        )
    except Exception:
        uploads.discard(staged.path)
        raise


def _ingest_staged(
    rt: Runtime,
    principal: Principal,
    staged: uploads.Staged,
    industry: str | None,
    job: JobProgress,
) -> JobOutcome:
    folder = Path(rt.settings.data_dir) / UPLOAD_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / staged.name
    previous = target.read_bytes() if target.is_file() else None
    job.phase("读取文件")
    try:
        uploads.check_rows(staged, rt.settings)
        os.replace(staged.path, target)
        job.phase("读取与分段")
        report = ingest(
            rt,
            principal,
            path=target,
            industry=industry,
            progress=_phase(job, "建立索引"),
            origin=UPLOAD_ORIGIN,
        )
    except InputError as exc:
        # Refused before anything was written (kb.ingest reads and checks every file
        # first): the upload is not kept, and the previous version of the file comes back.
        uploads.discard(staged.path)
        if previous is None:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(previous)
        head = str(exc.args[0]) if exc.args else str(exc)  # the problems are listed once, below
        detail = uploads.without_paths(
            uploads.without_paths(head, target, staged.name), staged.path, staged.name
        )
        detail = detail.removeprefix(f"{staged.name}：")  # named once, below
        problems = [uploads.without_paths(p, target, staged.name) for p in exc.problems]
        raise InputError(f"无法导入 {staged.name}：{detail}", problems) from exc
    finally:
        uploads.discard(staged.path)  # moved into place, or refused: never left staged
    if report.chunks_written:
        message = f"已导入 {staged.name}：{report.chunks_written} 段"
    else:
        message = f"{staged.name} 内容未变，无需重新导入"
    for warning in report.warnings:  # an industry nothing else uses: a typo?
        message += f"。注意：{warning}"
    return JobOutcome(message=message, next_url=f"/knowledge?job={job.job_id}")


def start_rebuild(rt: Runtime, principal: Principal) -> JobStatus:
    """Rebuild the indexes as a job."""
    require(principal, *CURATORS)

    def work(job: JobProgress) -> JobOutcome:
        job.phase("重建知识索引")
        k, s = rebuild(
            rt,
            principal,
            knowledge_progress=job.progress,
            scripts_progress=_phase(job, "重建话术索引"),
        )
        return JobOutcome(
            message=f"索引已重建：知识 {k.added} 段，话术 {s.added} 条",
            next_url=f"/knowledge?job={job.job_id}",
        )

    return rt.jobs.submit(
        kind="knowledge.rebuild", owner=principal.username, title="重建索引", work=work
    )


def _phase(job: JobProgress, name: str) -> Progress:
    started = False

    def progress(done: int, total: int) -> None:
        nonlocal started
        if not started:
            job.phase(name, total)
            started = True
        job.progress(done, total)

    return progress


def find(session: Session, principal: Principal, ref: str | int) -> DocumentRecord:
    """The document of id ``ref`` (an int), or named ``ref`` (its file name, e.g.
    ``售后政策.txt``) or else whose id the text is (``siyu kb list`` shows both)."""
    require(principal, *CURATORS)
    if isinstance(ref, int):
        found = docs_repo.get_document(session=session, document_id=ref)
    else:
        ref = ref.strip()
        found = docs_repo.get_document(session=session, source=ref)
        if found is None and ref.isascii() and ref.isdigit() and len(ref) < 10:
            found = docs_repo.get_document(session=session, document_id=int(ref))
    if found is None:
        raise NotFoundError(NO_DOCUMENT, ref=ref)
    return found


def start_delete(rt: Runtime, principal: Principal, *, document_id: int) -> JobStatus:
    """Delete a document as a job (the indexes are brought in line off the request); the
    document must exist now."""
    require(principal, *CURATORS)
    with rt.db.session() as session:
        found = find(session, principal, document_id)

    def work(job: JobProgress) -> JobOutcome:
        job.phase("删除文档")
        gone = delete(rt, principal, ref=document_id)
        return JobOutcome(
            message=f"已删除 {gone.source}：{gone.chunks} 段",
            next_url=f"/knowledge?job={job.job_id}",
        )

    return rt.jobs.submit(
        kind="knowledge.delete",
        owner=principal.username,
        title=f"删除知识文档 {found.source}",
        work=work,
    )


def delete(rt: Runtime, principal: Principal, *, ref: str | int) -> DocumentRecord:
    """Delete a document by name or id (``find``): its chunks leave the database and both
    indexes (nothing of it is suggested any more). The deleted document."""
    require(principal, *CURATORS)
    with rt.db.session() as session:
        found = find(session, principal, ref)
    if rt.kb.delete(found.id) is None:  # deleted meanwhile by someone else
        raise NotFoundError(NO_DOCUMENT, ref=ref)
    with rt.db.session() as session:
        audit.record(
            session,
            principal,
            "knowledge.delete",
            "document",
            found.source[:64],
            id=found.id,
            chunks=found.chunks,
        )
    return found


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
    """Hybrid search (embeddings + BM25) of the knowledge base; an unknown industry is
    refused, naming the known ones."""
    require(principal, *CURATORS)
    if not query.strip():
        raise InputError("请输入要查的问题或关键词")
    with rt.db.session() as session:
        industry = industries.resolve(session, industry)
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
