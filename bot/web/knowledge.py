"""Operator pages for the knowledge base: upload documents, see chunks, rebuild."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from bot.errors import NotFoundError
from bot.services import jobs, knowledge
from bot.services.access import Principal
from bot.web.deps import IdPath, IdQuery, Operator, db_session, render, runtime_of

router = APIRouter(prefix="/knowledge", include_in_schema=False)


@router.get("")
def list_page(
    request: Request, principal: Operator, job: str = "", document: IdQuery = None
) -> Response:
    """The documents (and one document's chunks); ``job``: the outcome of an upload or
    rebuild this user started."""
    message = _job_message(request, principal, job)
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
        names={d.id: d.source for d in docs},
    )


def _job_message(request: Request, principal: Principal, job_id: str) -> str:
    if not job_id:
        return ""
    try:
        return jobs.get(runtime_of(request), principal, job_id).message
    except NotFoundError:
        return ""


@router.post("/upload")
def upload(
    request: Request,
    principal: Operator,
    file: UploadFile,
    industry: Annotated[str, Form(max_length=50)] = "",
) -> Response:
    """Start ingesting the document as a job and show its progress. A plain ``def``: the
    upload is read in a worker thread, never on the event loop."""
    limit = runtime_of(request).settings.web.max_upload_bytes
    job = knowledge.start_upload(
        runtime_of(request),
        principal,
        filename=file.filename or "",
        data=file.file.read(limit + 1),
        industry=industry or None,
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/{document_id}/delete")
def delete(request: Request, principal: Operator, document_id: IdPath) -> Response:
    """Delete a document with its chunks (database and both indexes) as a job and show
    its progress, then the list."""
    job = knowledge.start_delete(runtime_of(request), principal, document_id=document_id)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/rebuild")
def rebuild(request: Request, principal: Operator) -> Response:
    job = knowledge.start_rebuild(runtime_of(request), principal)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/{document_id}")
def chunks_page(request: Request, principal: Operator, document_id: IdPath) -> Response:
    with db_session(request) as session:
        knowledge.check_document(session, principal, document_id)
    return RedirectResponse(f"/knowledge?document={document_id}#chunks", status_code=303)
