"""``siyu followups``: follow-up reminders (SOP rules) — run the rules, list today's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from bot.cli.common import (
    NowOpt,
    database,
    out,
    parse_now,
)
from bot.errors import InputError

if TYPE_CHECKING:
    pass

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
    from bot.crm.followups import load_rules, run_rules

    with database(ctx) as (db, settings):
        path = rules or (
            Path(settings.followups.rules_file) if settings.followups.rules_file else None
        )
        if path is None:
            raise InputError("no rules: set followups.rules_file in the config or pass --rules")
        parsed = load_rules(path)
        with db.session() as session:
            stats = run_rules(
                session=session,
                rules=parsed,
                now=parse_now(now, settings.timezone),
                timezone=settings.timezone,
                catch_up_days=settings.followups.catch_up_days,
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
    from bot.crm.followups import due_reminders

    with database(ctx) as (db, settings), db.session() as session:
        a = settings.assistant
        rows = due_reminders(
            session=session,
            now=parse_now(now, settings.timezone),
            timezone=settings.timezone,
            adviser_id=adviser,
            adviser_name=a.adviser_name,
            company=a.company,
            default_product=a.default_product,
        )
    tz = ZoneInfo(settings.timezone)
    if not rows:
        out.print("今天没有待办提醒 no reminders due")
        return
    for r in rows:
        f = r.follow_up
        day = f.due_at.astimezone(tz).strftime("%Y-%m-%d")
        out.print(
            f"[bold]#{f.id}[/] {day} · 客户 {f.customer_id} {f.customer_name}"
            f" · 顾问 {f.adviser_id or '-'} · {f.rule or ''}",
            highlight=False,
        )
        out.print(f"  {r.note}", highlight=False)
        if r.script:
            out.print(f"  话术 {f.script_id}: {r.script}", highlight=False)
