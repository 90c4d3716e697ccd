"""Chat-history import: a team's archive logged into profiles, tags and the learned
examples of the script library (bot/pipeline/history.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.errors import InputError, PermissionDenied
from bot.pipeline.history import (
    DEFAULT_ADVISER,
    DEFAULT_CHANNEL,
    HistoryLine,
    HistoryReport,
    Progress,
    import_history,
    naive_warning,
    read_history,
)
from bot.pipeline.runtime import Runtime
from bot.services import audit
from bot.services.access import Principal, require, scope_of
from bot.services.industries import unused_warnings

#: Longest industry name (``customers.industry``).
MAX_INDUSTRY_CHARS = 50
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
    if industry:
        lines = [
            h
            if h.row.industry
            else HistoryLine(h.line, h.row.model_copy(update={"industry": industry}), h.zoned)
            for h in lines
        ]
    with rt.db.session() as session:
        scope = scope_of(session, principal)
        warnings = unused_warnings(
            session,
            {h.row.industry for h in lines},
            what="聊天记录",
            uses=("scripts", "documents", "taxonomy"),
        )
    advisers = {h.row.adviser_id or DEFAULT_ADVISER for h in lines}
    outside = sorted(a for a in advisers if not scope.allows(a))
    if outside:
        raise PermissionDenied(OTHER_TEAM.format(advisers=", ".join(outside[:5])))
    report = import_history(rt, lines, channel=channel, dry_run=dry_run, progress=progress)
    naive = naive_warning(lines, rt.settings.zone)
    report = replace(report, warnings=(*warnings, *([naive] if naive else [])))
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
