"""Operator pages for the knowledge base: upload documents, see chunks, rebuild."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from bot.errors import InputError
from bot.store import documents as docs_repo
from bot.web.deps import Operator, audit, db_session, render, runtime_of

router = APIRouter(prefix="/knowledge", include_in_schema=False)

DOC_SUFFIXES = (".md", ".txt", ".csv", ".xlsx")
MAX_DOC_BYTES = 5 * 1024 * 1024
_SAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


@router.get("")
def list_page(
    request: Request, principal: Operator, message: str = "", document: int | None = None
) -> Response:
    with db_session(request) as session:
        docs = docs_repo.list_documents(session=session)
        chunks = (
            [c for c in docs_repo.all_chunks(session=session) if c.document_id == document]
            if document
            else []
        )
    return render(
        request,
        "knowledge.html",
        principal,
        docs=docs,
        chunks=chunks,
        selected=document,
        message=message,
        names={d.id: Path(d.source).name for d in docs},
    )


@router.post("/upload")
async def upload(
    request: Request,
    principal: Operator,
    file: UploadFile,
    industry: Annotated[str, Form(max_length=50)] = "",
) -> Response:
    name = _SAFE_NAME.sub("_", Path(file.filename or "").name).strip("._") or "document.txt"
    if Path(name).suffix.lower() not in DOC_SUFFIXES:
        raise InputError("只支持 .md / .txt / .csv / .xlsx 文档")
    data = await file.read(MAX_DOC_BYTES + 1)
    if len(data) > MAX_DOC_BYTES:
        raise InputError("文件超过 5 MB")
    rt = runtime_of(request)
    folder = Path(rt.settings.data_dir) / "knowledge"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_bytes(data)
    report = rt.kb.ingest(target, industry=industry or None)
    with db_session(request) as session:
        audit(
            session, principal, "knowledge.ingest", "document", name, chunks=report.chunks_written
        )
    return RedirectResponse(
        f"/knowledge?message=已导入 {name}：{report.chunks_written} 段", status_code=303
    )


@router.post("/rebuild")
def rebuild(request: Request, principal: Operator) -> Response:
    rt = runtime_of(request)
    k = rt.kb.rebuild()
    s = rt.library.rebuild()
    rt.reload_tags()
    with db_session(request) as session:
        audit(session, principal, "knowledge.rebuild", "index", "")
    return RedirectResponse(
        f"/knowledge?message=索引已重建：知识 {k.added} 段，话术 {s.added} 条", status_code=303
    )


@router.get("/{document_id}")
def chunks_page(request: Request, principal: Operator, document_id: int) -> Response:
    with db_session(request) as session:
        if not any(d.id == document_id for d in docs_repo.list_documents(session=session)):
            raise HTTPException(status_code=404, detail="文档不存在")
    return RedirectResponse(f"/knowledge?document={document_id}#chunks", status_code=303)
