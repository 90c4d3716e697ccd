"""Long work started from the console (bot/pipeline/jobs.py): a page showing its progress
(updated by static/app.js) and its status as JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from bot.services import jobs
from bot.web import schemas
from bot.web.deps import AnyUser, render, runtime_of

router = APIRouter()

JobId = Annotated[str, Path(pattern="^[0-9a-f]{16}$")]


@router.get("/jobs/{job_id}", include_in_schema=False)
def job_page(request: Request, principal: AnyUser, job_id: JobId) -> Response:
    job = jobs.get(runtime_of(request), principal, job_id)
    return render(request, "job.html", principal, job=job)


@router.get(
    "/api/jobs/{job_id}",
    response_model=schemas.JobPublic,
    tags=["jobs"],
    responses={404: {"description": "No such job of yours (or it finished over an hour ago)"}},
)
def job_status(request: Request, principal: AnyUser, job_id: JobId) -> schemas.JobPublic:
    """The progress of a job you started (an upload, an import, a rebuild)."""
    return schemas.JobPublic.model_validate(jobs.get(runtime_of(request), principal, job_id))
