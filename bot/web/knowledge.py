"""Operator pages for the knowledge base: upload documents, see chunks, rebuild."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from bot.services import knowledge
from bot.web.deps import IdPath, IdQuery, Operator, db_session, render, runtime_of

router = APIRouter(prefix="/knowledge", include_in_schema=False)


@router.get("")
def list_page(
    request: Request, principal: Operator, message: str = "", document: IdQuery = None
) -> Response:
    with db_session(request) as session:
        docs = knowledge.documents(session, principal)
        chunks = knowledge.chunks(session, principal, document) if document else []
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
    data = await file.read(knowledge.MAX_UPLOAD_BYTES + 1)
    name, report = knowledge.ingest_upload(
        runtime_of(request),
        principal,
        filename=file.filename or "",
        data=data,
        industry=industry or None,
    )
    return RedirectResponse(
        f"/knowledge?message=已导入 {name}：{report.chunks_written} 段", status_code=303
    )


@router.post("/rebuild")
def rebuild(request: Request, principal: Operator) -> Response:
    k, s = knowledge.rebuild(runtime_of(request), principal)
    return RedirectResponse(
        f"/knowledge?message=索引已重建：知识 {k.added} 段，话术 {s.added} 条", status_code=303
    )


@router.get("/{document_id}")
def chunks_page(request: Request, principal: Operator, document_id: IdPath) -> Response:
    with db_session(request) as session:
        knowledge.check_document(session, principal, document_id)
    return RedirectResponse(f"/knowledge?document={document_id}#chunks", status_code=303)
