"""``siyu followups``: follow-up reminders (SOP rules) — run the rules, list today's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import (
    NowOpt,
    adviser_names,
    database,
    local_time,
    out,
    parse_now,
    principal,
    styled,
)
from bot.errors import InputError

app = typer.Typer(help="跟进提醒（SOP 规则）：运行规则、列出今天的提醒。")


@app.command("run")
def followups_run(
    ctx: typer.Context,
    rules: Annotated[
        Path | None, typer.Option(help="规则 YAML 文件（默认：配置 followups.rules_file）。")
    ] = None,
    now: NowOpt = None,
) -> None:
    """触发今天到期的规则；可以随时重复运行（每次提醒只触发一次）。"""
    from bot.services import followups

    with database(ctx) as (db, settings):
        path = rules or (
            Path(settings.followups.rules_file) if settings.followups.rules_file else None
        )
        if path is None:
            raise InputError("没有规则：请在配置里设置 followups.rules_file，或用 --rules 指定")
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
    adviser: Annotated[str | None, typer.Option(help="只看这位顾问的提醒。")] = None,
    now: NowOpt = None,
) -> None:
    """今天待办的提醒（以及逾期的），附填好变量的建议话术。"""
    from bot.services import followups

    with database(ctx) as (db, settings), db.session() as session:
        rows = followups.reminders(
            session,
            principal(ctx),
            now=parse_now(now, settings.timezone),
            settings=settings,
            adviser_id=adviser,
        )
        names = adviser_names(session, principal(ctx))  # as colleagues know them
    if not rows:
        out.print("今天没有待办提醒")
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
                names.get(f.adviser_id, f.adviser_id) if f.adviser_id else "-",
                f.rule or "",
            ),
            highlight=False,
        )
        out.print(f"  {r.note}", highlight=False)
        if r.script:
            out.print(f"  话术 {f.script_id}: {r.script}", highlight=False)
