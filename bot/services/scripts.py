"""The script library (话术库): list, preview, save, approve / archive, import, export,
and drafts mined from what advisers actually send."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bot.errors import InputError, NotFoundError
from bot.learning.mining import Proposal, mine_edits
from bot.pipeline import library
from bot.pipeline.jobs import JobOutcome, JobProgress, JobStatus
from bot.pipeline.privacy import mask_names, mask_pii
from bot.pipeline.runtime import Runtime
from bot.services import audit, uploads
from bot.services.access import CURATORS, Principal, require
from bot.services.advisers import shown_name
from bot.services.industries import resolve as resolve_industry
from bot.services.industries import unused_warnings
from bot.store import Database
from bot.store import examples as examples_repo
from bot.store import scripts as scripts_repo
from bot.store import uses as uses_repo
from bot.store.examples import ExampleRecord
from bot.store.industries import as_known
from bot.store.uses import UseCounts
from scripts_lib import (
    STATUSES,
    LintIssue,
    ParsedScript,
    ScriptRecord,
    canonical_industry,
    date_values,
    fill,
    keep_unset,
    lint,
    read_scripts,
    variables_in,
)

ScriptVersion = scripts_repo.ScriptVersionRecord
ImportPlan = library.ImportPlan
NO_SCRIPT = "话术不存在"
NO_EXAMPLE = "例句不存在"
#: Values used to preview a script's variables (an imaginary customer), per industry;
#: an industry not listed gets the ``general`` ones, which name no product (the preview
#: shows 【待填:产品】 rather than another industry's product).
SAMPLE_VALUES: dict[str, dict[str, str]] = {
    "general": {"customer_name": "王女士", "city": "上海"},
    "insurance": {"customer_name": "王女士", "product": "安心保重疾险", "city": "上海"},
    "kaoyan": {"customer_name": "小陈同学", "product": "考研全程班", "city": "南京"},
    "母婴": {"customer_name": "乐乐妈妈", "product": "婴儿有机奶粉", "city": "杭州"},
}


@dataclass(frozen=True, slots=True)
class Preview:
    """A script's body filled for a sample customer, and its lint."""

    text: str
    missing: tuple[str, ...]
    issues: tuple[LintIssue, ...]

    @property
    def has_errors(self) -> bool:
        return any(i.severity == "error" for i in self.issues)


def list_scripts(
    rt: Runtime,
    principal: Principal,
    *,
    industry: str | None = None,
    category: str | None = None,
    status: str | None = None,
    text: str | None = None,
) -> list[ScriptRecord]:
    """Scripts by industry, category and status; ``text`` must occur in the title, body
    or id."""
    require(principal, *CURATORS)
    with rt.db.session() as session:
        industry = resolve_industry(session, industry)
    records = rt.library.list_scripts(industry=industry, category=category, status=status)
    if text:
        records = [r for r in records if text in r.title or text in r.body or text in r.id]
    return records


def industries(rt: Runtime, principal: Principal) -> set[str]:
    require(principal, *CURATORS)
    return rt.library.industries()


def get(rt: Runtime, principal: Principal, script_id: str) -> ScriptRecord:
    require(principal, *CURATORS)
    found = rt.library.get([script_id]).get(script_id)
    if found is None:
        raise NotFoundError(NO_SCRIPT, ref=script_id)
    return found


def versions(rt: Runtime, principal: Principal, script_id: str) -> list[ScriptVersion]:
    """Every saved version of a script, newest first."""
    require(principal, *CURATORS)
    with rt.db.session() as session:
        return scripts_repo.list_versions(session=session, script_id=script_id)


@dataclass(frozen=True, slots=True)
class ScriptExamples:
    """What retrieval learned about a script: the customer messages it answers and how
    often advisers sent it."""

    script: ScriptRecord
    #: Operators' examples first, then the learned ones, newest first (personal data in
    #: them was masked when they were learned).
    examples: list[ExampleRecord]
    uses: UseCounts

    @property
    def learned(self) -> int:
        return sum(1 for e in self.examples if e.source == "learned")

    @property
    def written(self) -> int:
        return sum(1 for e in self.examples if e.source == "operator")


def examples(rt: Runtime, principal: Principal, script_id: str) -> ScriptExamples:
    """A script's examples and use counts (an archived script's examples are kept, and
    ignored by retrieval until it is approved again)."""
    found = get(rt, principal, script_id)
    with rt.db.session() as session:
        rows = examples_repo.list_examples(session=session, script_id=script_id)
        counts = uses_repo.use_counts(session=session, script_ids=[script_id])
    return ScriptExamples(found, rows, counts.get(script_id, UseCounts()))


def remove_example(
    rt: Runtime, principal: Principal, *, script_id: str, example_id: int
) -> ExampleRecord:
    """Remove a bad example of a script (learned or written); retrieval forgets it at
    once."""
    require(principal, *CURATORS)
    with rt.db.session() as session:
        found = examples_repo.get_example(session=session, example_id=example_id)
        if found is None or found.script_id != script_id:
            raise NotFoundError(NO_EXAMPLE, ref=example_id)
        removed = examples_repo.delete_example(session=session, example_id=example_id)
        if removed is None:  # pragma: no cover - found just above, same transaction
            raise NotFoundError(NO_EXAMPLE, ref=example_id)
        audit.record(
            session,
            principal,
            "script.example.remove",
            "script",
            removed.script_id,
            example=example_id,
            source=removed.source,
        )
    rt.library.triggers.remove([example_id])
    return removed


def sample_values(industry: str) -> dict[str, str]:
    """The imaginary customer of a preview: the script's own industry's, else general."""
    return SAMPLE_VALUES.get(canonical_industry(industry), SAMPLE_VALUES["general"])


def preview(
    rt: Runtime, principal: Principal, record: ScriptRecord, *, deadline_given: bool = False
) -> Preview:
    """The body filled for a sample customer of the script's industry, and the lint
    result, as the operator types. ``deadline_given``: the record's deadline is as the
    operator set it (else, when it has none, the stored script's)."""
    require(principal, *CURATORS)
    today = rt.settings.today()
    with rt.db.session() as session:
        name = shown_name(session, principal, rt.settings)
    deadline = record.deadline
    if deadline is None and not deadline_given and "deadline" in variables_in(record.body):
        stored = rt.library.get([record.id]).get(record.id)
        deadline = stored.deadline if stored else None
    filled = fill(
        record.body,
        {
            **sample_values(record.industry),
            "adviser_name": name,
            "company": rt.settings.assistant.company,
            **date_values(today=today, deadline=deadline),
        },
    )
    issues = lint([ParsedScript(line=1, record=replace(record, deadline=deadline))], today=today)
    return Preview(text=filled.text, missing=tuple(filled.missing), issues=tuple(issues))


def save(
    rt: Runtime,
    principal: Principal,
    *,
    record: ScriptRecord,
    is_new: bool,
    given: frozenset[str] = frozenset({"status"}),
) -> None:
    """Save a script as written (a changed approved script goes back to review when the
    record says draft); a new one must not reuse an id. Of the optional fields
    (``scripts_lib.model.OPTIONAL_COLUMNS``) only those in ``given`` are written: the
    others keep their stored values (the console's form has no variant group)."""
    require(principal, *CURATORS)
    issues = [i for i in lint([ParsedScript(line=1, record=record)]) if i.severity == "error"]
    if issues:
        raise InputError(f"话术 {record.id} 有错误", [str(i) for i in issues])
    with rt.db.session() as session:
        stored = scripts_repo.get_scripts(session=session, ids=[record.id]).get(record.id)
        if is_new and stored is not None:
            raise InputError(f"话术 id {record.id} 已存在")
        industry = as_known(session=session, values=[record.industry]).get(
            record.industry, canonical_industry(record.industry)
        )
        record = keep_unset(replace(record, industry=industry), stored, given)
        scripts_repo.upsert_scripts(session=session, records=[record])
        audit.record(session, principal, "script.save", "script", record.id)
    rt.library.sync()


def set_status(rt: Runtime, principal: Principal, *, script_id: str, status: str) -> ScriptRecord:
    """Draft, approve or archive a script (only approved scripts are suggested)."""
    require(principal, *CURATORS)
    if status not in STATUSES:
        raise InputError(f"状态只能是 {', '.join(STATUSES)} 之一")
    record = rt.library.set_status(script_id, status)
    if record is None:
        raise NotFoundError(NO_SCRIPT, ref=script_id)
    with rt.db.session() as session:
        audit.record(session, principal, f"script.{status}", "script", script_id)
    return record


def plan_import(rt: Runtime, principal: Principal, *, path: Path) -> ImportPlan:
    """What importing a file would do, before anything is written: how many scripts are
    new, updated and unchanged, and the file's warnings (``InputError`` with every
    error when it cannot be imported). ``siyu scripts import --dry-run`` and the
    console's upload report show it."""
    require(principal, *CURATORS)
    today = rt.settings.today()
    plan = rt.library.plan_import(path, today=today)
    with rt.db.session() as session:
        warned: set[str] = set()
        for record, line in zip(plan.records, plan.lines, strict=True):
            if record.industry in warned:
                continue
            warned.add(record.industry)
            for warning in unused_warnings(session, [record.industry], what="话术"):
                plan.warnings.append(LintIssue(line, record.id, "industry", warning, "warning"))
    plan.warnings.sort(key=lambda issue: issue.line)  # as the file reads (stable: per line too)
    return plan


def import_file(
    rt: Runtime,
    principal: Principal,
    *,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
) -> scripts_repo.ImportStats:
    """Import a CSV / XLSX / YAML file, all or nothing. Columns the file does not have
    keep what the library holds (a file without ``status`` never approves an archived or
    draft script again)."""
    require(principal, *CURATORS)
    stats = rt.library.import_file(path, progress=progress)
    with rt.db.session() as session:
        audit.record(
            session,
            principal,
            "script.import",
            "script",
            "",
            added=stats.added,
            updated=stats.updated,
        )
    return stats


#: Script tables the console takes.
UPLOAD_SUFFIXES = (".csv", ".xlsx")
UPLOAD_EXPIRED = "上传已过期或已导入，请重新上传"


@dataclass(frozen=True, slots=True)
class UploadReport:
    """The validation of an uploaded script table: nothing is written yet. ``token``
    confirms the import; None when the file has errors (it is deleted then)."""

    name: str
    fatal: str | None
    issues: tuple[LintIssue, ...]
    errors: int
    count: int
    token: str | None
    #: What confirming would write (new / updated / unchanged); None with errors.
    plan: scripts_repo.ImportStats | None = None


def start_validation(rt: Runtime, principal: Principal, *, filename: str, data: bytes) -> JobStatus:
    """Check an uploaded table's type and size now, and validate it as a job: rows
    counted first, then read and linted. A file with errors is deleted; a clean one waits
    for ``start_import`` (at most ``[web] upload_expiry_hours``)."""
    require(principal, *CURATORS)
    staged = uploads.stage(rt.settings, filename=filename, data=data, suffixes=UPLOAD_SUFFIXES)

    def work(job: JobProgress) -> JobOutcome:
        job.phase("校验文件")
        report: UploadReport | None = None
        try:
            report = _validate(rt, principal, staged)
        finally:
            if report is None or report.token is None:  # rejected: not kept
                uploads.discard(staged.path)
        return JobOutcome(
            message=f"校验完成：共 {report.count} 条，错误 {report.errors}",
            next_url=f"/scripts/upload?job={job.job_id}",
            result=report,
        )

    try:
        return rt.jobs.submit(
            kind="scripts.validate",
            owner=principal.username,
            title=f"校验话术文件 {staged.name}",
            work=work,
        )
    except Exception:
        uploads.discard(staged.path)
        raise


def _validate(rt: Runtime, principal: Principal, staged: uploads.Staged) -> UploadReport:
    def fatal(message: str) -> UploadReport:
        return UploadReport(
            name=staged.name, fatal=message, issues=(), errors=1, count=0, token=None
        )

    try:
        uploads.check_rows(staged, rt.settings)
        parsed = read_scripts(staged.path)
    except InputError as exc:
        return fatal(uploads.without_paths(str(exc), staged.path, staged.name))
    today = rt.settings.today()
    issues = tuple(lint(parsed, today=today))
    errors = sum(1 for i in issues if i.severity == "error")
    token = None if errors else staged.token
    plan = None
    if not errors:  # the counts (and warnings) an import would give, before writing
        found = plan_import(rt, principal, path=staged.path)
        plan, issues = found.stats, tuple(found.warnings)
    return UploadReport(
        name=staged.name,
        fatal=None,
        issues=issues,
        errors=errors,
        count=len(parsed),
        token=token,
        plan=plan,
    )


def start_import(rt: Runtime, principal: Principal, *, token: str) -> JobStatus:
    """Import a validated upload (all or nothing) as a job; the upload is used up."""
    require(principal, *CURATORS)
    path = uploads.claim(rt.settings, token, UPLOAD_SUFFIXES)
    if path is None:
        raise NotFoundError(UPLOAD_EXPIRED)

    def work(job: JobProgress) -> JobOutcome:
        job.phase("写入话术库")
        try:
            stats = import_file(rt, principal, path=path, progress=job.progress)
        finally:
            uploads.discard(path)
        return JobOutcome(
            message=(f"导入完成：新增 {stats.added}，更新 {stats.updated}，未变 {stats.unchanged}"),
            next_url=f"/scripts/upload?job={job.job_id}",
        )

    try:
        return rt.jobs.submit(
            kind="scripts.import", owner=principal.username, title="导入话术", work=work
        )
    except Exception:
        uploads.discard(path)
        raise


def export(
    rt: Runtime,
    principal: Principal,
    *,
    path: Path,
    industry: str | None = None,
    category: str | None = None,
    status: str | None = None,
    chinese: bool = False,
) -> int:
    """Write the chosen scripts to ``path`` in the import format (by its suffix); with
    ``chinese``, Chinese headers and names of categories, stages and statuses."""
    require(principal, *CURATORS)
    with rt.db.session() as session:
        industry = resolve_industry(session, industry)
    n = rt.library.export(
        path, industry=industry, category=category, status=status, chinese=chinese
    )
    with rt.db.session() as session:
        audit.record(
            session,
            principal,
            "script.export",
            "script",
            "",
            count=n,
            format=path.suffix.lstrip(".").lower(),
        )
    return n


def mine_drafts(
    db: Database,
    principal: Principal,
    *,
    min_count: int,
    similarity: float,
    save: bool,
) -> list[Proposal]:
    """Drafts proposed from frequent adviser edits and unmatched adviser messages (sent
    to two customers at least, personal data masked, the customer's name made
    ``{customer_name}``); with ``save`` they are stored (status draft, never approved)."""
    require(principal, *CURATORS)
    proposals = mine_edits(
        db=db, min_count=min_count, similarity=similarity, save=save, redact=_as_template
    )
    if save:
        with db.session() as session:
            audit.record(session, principal, "script.mine", "script", "", count=len(proposals))
    return proposals


def _as_template(text: str, customer_name: str | None) -> str:
    """An adviser's message as the body of a script: personal data masked, the customer's
    own name made the ``{customer_name}`` variable (other braces doubled, literal)."""
    escaped = mask_pii(text).replace("{", "{{").replace("}", "}}")
    return mask_names(escaped, [customer_name], token="{customer_name}")
