"""Chat-history import: a team's archive logged into profiles, tags and the learned
examples of the script library (bot/pipeline/history.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.domain import UNASSIGNED_ADVISER
from bot.errors import InputError, PermissionDenied
from bot.pipeline.history import (
    DEFAULT_CHANNEL,
    HistoryLine,
    HistoryReport,
    Progress,
    import_history,
    naive_warning,
    read_history,
    repeat_warning,
    shared_warning,
)
from bot.pipeline.runtime import Runtime
from bot.services import audit
from bot.services.access import Principal, require, scope_of
from bot.services.advisers import advisers_as_known, new_advisers_warning
from bot.services.industries import unused_warnings
from bot.store.industries import LIBRARY_USES, as_known

#: Longest industry name (``customers.industry``).
MAX_INDUSTRY_CHARS = 50
#: Advisers the file names that nobody knows yet (created by the import).
#: Messages of customers erased before (``siyu customers forget``): never brought back.
ERASED = "{count} 条消息属于已删除（被遗忘）的客户，没有导入"
#: A manager's file names an adviser outside their team.
OTHER_TEAM = "文件里有不属于你团队的顾问：{advisers}"


def import_file(
    rt: Runtime,
    principal: Principal,
    *,
    path: Path,
    channel: str = DEFAULT_CHANNEL,
    dry_run: bool = False,
    progress: Progress | None = None,
    lines: list[HistoryLine] | None = None,
    industry: str = "",
) -> HistoryReport:
    """Validate the whole file (``lines``: already read by ``read_history``), then
    (unless ``dry_run``) log its messages in time order, idempotent on ``msg_id``.
    ``industry``: of the rows that name none (an archive of one line of business).
    Managers import their team's chats; the audit log keeps the counts."""
    require(principal, "manager")
    industry = industry.strip()
    if len(industry) > MAX_INDUSTRY_CHARS:
        raise InputError(f"行业最长 {MAX_INDUSTRY_CHARS} 个字符")
    if lines is None:
        lines = read_history(path, zone=rt.settings.zone)
    with rt.db.session() as session:
        industries = as_known(session=session, values=[industry, *(h.row.industry for h in lines)])
        known_ids, new_advisers = advisers_as_known(session, {h.row.adviser_id for h in lines})
        lines = [_as_stored(h, industries, known_ids, default=industry) for h in lines]
        scope = scope_of(session, principal)
        warnings = unused_warnings(
            session,
            {h.row.industry for h in lines},
            what="聊天记录",
            uses=LIBRARY_USES,
        )
    advisers = {h.row.adviser_id or UNASSIGNED_ADVISER for h in lines}
    outside = sorted(a for a in advisers if not scope.allows(a))
    if outside:
        raise PermissionDenied(OTHER_TEAM.format(advisers=", ".join(outside[:5])))
    if not dry_run:  # kept when the run is stopped or killed before its end
        with rt.db.session() as session:
            audit.record(
                session,
                principal,
                "history.import.started",
                "message",
                "",
                file=path.name,
                lines=len(lines),
            )
    report = import_history(rt, lines, channel=channel, dry_run=dry_run, progress=progress)
    said = (
        *warnings,
        repeat_warning(lines),
        ERASED.format(count=report.erased) if report.erased else None,
        new_advisers_warning(new_advisers),
        shared_warning(report.shared),
        naive_warning(lines, rt.settings.zone, dry_run=dry_run),
    )
    report = replace(report, warnings=tuple(w for w in said if w))
    if not dry_run:
        with rt.db.session() as session:
            audit.record(
                session,
                principal,
                "history.import",
                "message",
                "",
                file=path.name,
                lines=report.lines,
                logged=report.logged,
                skipped=report.skipped,
                uses=report.uses,
            )
    return report


def _as_stored(
    line: HistoryLine, industries: dict[str, str], advisers: dict[str, str], *, default: str
) -> HistoryLine:
    """``line`` with its industry (``--industry`` for none) and adviser as the store names
    them (``as_known``, ``advisers_as_known``); the same line when nothing changes."""
    update: dict[str, str] = {}
    industry = industries.get(line.row.industry or default, "")
    if industry != line.row.industry:
        update["industry"] = industry
    if line.row.adviser_id in advisers:
        update["adviser_id"] = advisers[line.row.adviser_id]
    return replace(line, row=line.row.model_copy(update=update)) if update else line
