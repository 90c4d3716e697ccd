"""``siyu followups``: follow-up reminders (SOP rules) — run the rules, list today's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import (
    NowOpt,
    database,
    local_time,
    out,
    parse_now,
    principal,
    styled,
)
from bot.errors import InputError

app = typer.Typer(help="Follow-up reminders (SOP rules): run the rules, list today's.")


@app.command("run")
def followups_run(
    ctx: typer.Context,
    rules: Annotated[
        Path | None, typer.Option(help="Rules YAML (default: followups.rules_file).")
    ] = None,
    now: NowOpt = None,
) -> None:
    """Fire the rules due today; safe to run as often as you like (once per occurrence)."""
    from bot.services import followups

    with database(ctx) as (db, settings):
        path = rules or (
            Path(settings.followups.rules_file) if settings.followups.rules_file else None
        )
        if path is None:
            raise InputError("no rules: set followups.rules_file in the config or pass --rules")
        with db.session() as session:
            stats = followups.run_rules(
                session,
                principal(ctx),
                path=path,
                now=parse_now(now, settings.timezone),
                settings=settings,
            )
    out.print(
        f"提醒 {stats.reminders} · 标记沉默 {stats.marked_silent} · 已处理 {stats.already_done}"
    )


@app.command("list")
def followups_list(
    ctx: typer.Context,
    adviser: Annotated[str | None, typer.Option(help="Only this adviser's reminders.")] = None,
    now: NowOpt = None,
) -> None:
    """Today's open reminders (and overdue ones) with the suggested script filled in."""
    from bot.services import followups

    with database(ctx) as (db, settings), db.session() as session:
        rows = followups.reminders(
            session,
            principal(ctx),
            now=parse_now(now, settings.timezone),
            settings=settings,
            adviser_id=adviser,
        )
    if not rows:
        out.print("今天没有待办提醒 no reminders due")
        return
    for r in rows:
        f = r.follow_up
        day = local_time(f.due_at, settings.timezone, "%Y-%m-%d")
        out.print(
            styled(
                "[bold]#{}[/] {} · 客户 {} {} · 顾问 {} · {}",
                f.id,
                day,
                f.customer_id,
                f.customer_name,
                f.adviser_id or "-",
                f.rule or "",
            ),
            highlight=False,
        )
        out.print(f"  {r.note}", highlight=False)
        if r.script:
            out.print(f"  话术 {f.script_id}: {r.script}", highlight=False)
