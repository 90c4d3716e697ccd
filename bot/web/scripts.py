"""Operator pages for the script library: list, create / edit with live preview,
approve / archive, upload with a validation report before anything is written, export."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from bot.errors import InputError, NotFoundError, RejectedInput
from bot.labels import HEADER_LABELS
from bot.pipeline.runtime import Runtime
from bot.services import jobs, scripts
from bot.services.access import Principal
from bot.web import schemas
from bot.web.deps import IdPath, IdQuery, Operator, local_path, render, runtime_of
from bot.web.diffs import html_diff
from bot.web.inline_forms import wants_json
from bot.web.paging import Page, PageNumber, page_of
from scripts_lib import (
    CATEGORIES,
    CATEGORY_LABELS,
    STAGE_LABELS,
    STAGES,
    STATUS_LABELS,
    STATUSES,
    ScriptRecord,
    split_tags,
)
from scripts_lib.model import DEPRECATED_VARIABLES, INDUSTRY_CODES, VARIABLES
from scripts_lib.variables import VARIABLE_LABELS

router = APIRouter(prefix="/scripts", include_in_schema=False)

EXPORT_FORMATS = {"csv": ".csv", "xlsx": ".xlsx", "yaml": ".yaml"}
NO_VERSION = "版本不存在"
#: Examples on one page of the editor: a script answered often learns thousands.
EXAMPLES_PER_PAGE = 25
#: Scripts on one page of the list (a library of a thousand is no page to scroll).
SCRIPTS_PER_PAGE = 50


def script_filters(
    *, industry: str | None, category: str | None, status: str | None
) -> dict[str, str | None]:
    """The list filters of a query string: empty or unknown values filter nothing."""
    return {
        "industry": industry or None,
        "category": category if category in CATEGORIES else None,
        "status": status if status in STATUSES else None,
    }


def _query(**values: object) -> str:
    """The query string of the non-empty ``values``, ready for one more parameter."""
    kept = {k: v for k, v in values.items() if v not in (None, "")}
    return urlencode(kept) + "&" if kept else ""


def script_record(draft: schemas.ScriptDraft) -> ScriptRecord:
    """The script an edit form or API draft describes (saved as a draft); an industry
    may be given by its Chinese name (保险)."""
    industry = draft.industry.strip()
    deadline = None
    if draft.deadline and draft.deadline.strip():
        try:
            deadline = date.fromisoformat(draft.deadline.strip())
        except ValueError:
            raise RejectedInput(f"截止日期要写成 2026-12-31 这样：{draft.deadline}") from None
    return ScriptRecord(
        id=draft.id.strip(),
        title=draft.title.strip(),
        category=draft.category.strip(),
        stage=draft.stage.strip(),
        industry=INDUSTRY_CODES.get(industry, industry),
        body=draft.body.strip(),
        tags=split_tags(draft.tags),
        status="draft",
        deadline=deadline,
    )


def preview_draft(rt: Runtime, principal: Principal, draft: schemas.ScriptDraft) -> scripts.Preview:
    """The preview of an edit form or API draft: a deadline the draft does not give (None)
    is the stored script's; one it gives, empty included, is the operator's."""
    return scripts.preview(
        rt, principal, script_record(draft), deadline_given=draft.deadline is not None
    )


def _vocab() -> dict[str, Any]:
    return {
        "categories": CATEGORIES,
        "category_labels": CATEGORY_LABELS,
        "stages": STAGES,
        "stage_labels": STAGE_LABELS,
        "statuses": STATUSES,
        "status_labels": STATUS_LABELS,
    }


@router.get("")
def list_page(
    request: Request,
    principal: Operator,
    industry: str = "",
    category: str = "",
    status: str = "",
    q: str = "",
    page: PageNumber = 1,
) -> Response:
    rt = runtime_of(request)
    records = scripts.list_scripts(
        rt,
        principal,
        **script_filters(industry=industry, category=category, status=status),
        text=q,
    )
    return render(
        request,
        "scripts.html",
        principal,
        page=page_of(
            records,
            page,
            size=SCRIPTS_PER_PAGE,
            href=f"?{_query(industry=industry, category=category, status=status, q=q)}page=",
        ),
        industries=sorted(scripts.industries(rt, principal)),
        filters={"industry": industry, "category": category, "status": status, "q": q},
        **_vocab(),
    )


@router.get("/new")
def new_page(request: Request, principal: Operator) -> Response:
    draft = schemas.ScriptDraft(category="welcome", stage="acquire", industry="general")
    return _edit(request, principal, draft, is_new=True)


@router.get("/{script_id}/edit")
def edit_page(
    request: Request,
    principal: Operator,
    script_id: str,
    old: IdQuery = None,
    new: IdQuery = None,
    examples_page: PageNumber = 1,
) -> Response:
    """The edit form, with the script's examples (a page of them: ``examples_page``, past
    the last one the last), the version history and the difference between two versions
    (by default the latest and the one before it)."""
    rt = runtime_of(request)
    found = scripts.get(rt, principal, script_id)
    history = _history(scripts.versions(rt, principal, script_id), old, new)
    learned = scripts.examples(rt, principal, script_id)
    page = page_of(
        learned.examples,
        examples_page,
        size=EXAMPLES_PER_PAGE,
        href=f"?{_query(old=old, new=new)}examples_page=",
        anchor="#examples",
    )
    draft = schemas.ScriptDraft(
        id=found.id,
        title=found.title,
        category=found.category,
        stage=found.stage,
        industry=found.industry,
        tags=";".join(found.tags),
        body=found.body,
        deadline=found.deadline.isoformat() if found.deadline else "",
    )
    return _edit(
        request,
        principal,
        draft,
        is_new=False,
        status=found.status,
        history=history,
        learned=learned,
        examples=page,
    )


@router.post("/{script_id}/examples/{example_id}/remove")
def remove_example(
    request: Request,
    principal: Operator,
    script_id: str,
    example_id: IdPath,
    examples_page: Annotated[int, Form(ge=1, le=1_000_000)] = 1,
) -> Response:
    """Remove a bad example: retrieval stops suggesting the script for messages like it.
    Back to the page of examples it was on."""
    scripts.remove_example(
        runtime_of(request), principal, script_id=script_id, example_id=example_id
    )
    page = f"?examples_page={examples_page}" if examples_page > 1 else ""
    return RedirectResponse(f"/scripts/{script_id}/edit{page}#examples", status_code=303)


def _history(
    versions: list[scripts.ScriptVersion], old: int | None, new: int | None
) -> dict[str, Any]:
    if not versions:
        return {"versions": [], "old": None, "new": None, "title_diff": None, "body_diff": None}
    by_number = {v.version: v for v in versions}
    newer = by_number.get(new) if new is not None else versions[0]
    if newer is None:
        raise NotFoundError(NO_VERSION)
    if old is not None:
        older = by_number.get(old)
        if older is None:
            raise NotFoundError(NO_VERSION)
    else:
        older = next((v for v in versions if v.version < newer.version), None)
    return {
        "versions": versions,
        "old": older,
        "new": newer,
        "title_diff": html_diff(older.title, newer.title) if older else None,
        "body_diff": html_diff(older.body, newer.body) if older else None,
    }


def _edit(
    request: Request,
    principal: Principal,
    draft: schemas.ScriptDraft,
    *,
    is_new: bool,
    status: str = "draft",
    status_code: int = 200,
    history: dict[str, Any] | None = None,
    learned: scripts.ScriptExamples | None = None,
    examples: Page[Any] | None = None,
) -> Response:
    preview = preview_draft(runtime_of(request), principal, draft)
    return render(
        request,
        "script_edit.html",
        principal,
        status_code=status_code,
        draft=draft,
        variables=[v for v in VARIABLES if v not in DEPRECATED_VARIABLES],
        variable_labels=VARIABLE_LABELS,
        is_new=is_new,
        status=status,
        preview=preview,
        history=history,
        learned=learned,
        examples=examples,
        **_vocab(),
    )


@router.post("/save")
def save(
    request: Request,
    principal: Operator,
    id: Annotated[str, Form(max_length=64)],
    title: Annotated[str, Form(max_length=200)],
    category: Annotated[str, Form(max_length=20)],
    stage: Annotated[str, Form(max_length=20)],
    industry: Annotated[str, Form(max_length=50)],
    body: Annotated[str, Form(max_length=4000)],
    tags: Annotated[str, Form(max_length=500)] = "",
    deadline: Annotated[str | None, Form(max_length=10)] = None,
    has_deadline: Annotated[bool, Form()] = False,
    is_new: Annotated[bool, Form()] = False,
) -> Response:
    """Save as a draft (a changed approved script goes back to review)."""
    # The editor's form says it has the field (an empty date arrives as no value at all);
    # another client that does not send it keeps the stored deadline.
    given = has_deadline or deadline is not None
    draft = schemas.ScriptDraft(
        id=id,
        title=title,
        category=category,
        stage=stage,
        industry=industry,
        tags=tags,
        body=body,
        deadline=(deadline or "") if given else None,
    )
    rt = runtime_of(request)
    record = script_record(draft)
    preview = preview_draft(rt, principal, draft)
    if preview.has_errors:
        if wants_json(request):  # shown at the top of the editor, what was typed kept
            problems = [
                f"{HEADER_LABELS.get(i.field, i.field)}：{i.message}"
                for i in preview.issues
                if i.severity == "error"
            ]
            return JSONResponse(
                {"detail": "没有保存，请先改正：", "problems": problems}, status_code=400
            )
        stored = None if is_new else rt.library.get([id]).get(id)
        status = stored.status if stored is not None else "draft"  # the status bar's
        return _edit(request, principal, draft, is_new=is_new, status=status, status_code=400)
    fields = frozenset({"status", "deadline"} if given else {"status"})
    scripts.save(rt, principal, record=record, is_new=is_new, given=fields)
    return RedirectResponse(f"/scripts?q={record.id}", status_code=303)


@router.post("/{script_id}/status")
def set_status(
    request: Request,
    principal: Operator,
    script_id: str,
    status: Annotated[str, Form(pattern="^(draft|approved|archived)$")],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Back to the list the form was on (``next``, a path of this app), never to
    wherever the ``Referer`` points."""
    scripts.set_status(runtime_of(request), principal, script_id=script_id, status=status)
    return RedirectResponse(local_path(next) or "/scripts", status_code=303)


# ------------------------------------------------------------------ upload
@router.get("/upload")
def upload_page(request: Request, principal: Operator, job: str = "") -> Response:
    """The upload form; with ``job``, the outcome of a validation (its report) or of an
    import this user started."""
    report, imported = None, None
    if job:
        found = jobs.get(runtime_of(request), principal, job)
        if isinstance(found.result, scripts.UploadReport):
            report = found.result
        elif found.kind == "scripts.import" and found.state == "done":
            imported = found.message
    status = 400 if report is not None and report.token is None else 200
    return render(
        request,
        "script_upload.html",
        principal,
        status_code=status,
        report=report,
        imported=imported,
    )


@router.post("/upload")
def upload(request: Request, principal: Operator, file: UploadFile) -> Response:
    """Validate the file as a job (nothing is written to the library yet) and show its
    progress, then its report. A plain ``def``: never on the event loop."""
    rt = runtime_of(request)
    job = scripts.start_validation(
        rt,
        principal,
        filename=file.filename or "upload.csv",
        data=file.file.read(rt.settings.web.max_upload_bytes + 1),
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.post("/upload/{token}/confirm")
def confirm_upload(request: Request, principal: Operator, token: str) -> Response:
    job = scripts.start_import(runtime_of(request), principal, token=token)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/export")
def export(
    request: Request,
    principal: Operator,
    format: str = "csv",
    industry: str = "",
    category: str = "",
    status: str = "",
) -> Response:
    suffix = EXPORT_FORMATS.get(format)
    if suffix is None:
        raise InputError("格式只能是 csv / xlsx / yaml")
    tmp = Path(tempfile.mkdtemp(prefix="siyu-export-")) / f"scripts{suffix}"
    scripts.export(
        runtime_of(request),
        principal,
        path=tmp,
        industry=industry or None,
        category=category or None,
        status=status or None,
    )

    def cleanup() -> None:
        tmp.unlink(missing_ok=True)
        tmp.parent.rmdir()

    return FileResponse(tmp, filename=f"scripts{suffix}", background=BackgroundTask(cleanup))
