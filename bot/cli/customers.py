"""``siyu customers``: profiles, OneID (import, merge, undo), lifecycle, data-subject requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    Actor,
    NowOpt,
    database,
    err,
    local_time,
    out,
    parse_now,
    principal,
    runtime,
    styled,
)

if TYPE_CHECKING:
    from bot.store.db import Purged

app = typer.Typer(help="Customer profiles.")


@app.command("list")
def customers_list(
    ctx: typer.Context,
    adviser: Annotated[str | None, typer.Option(help="Only this adviser's customers.")] = None,
) -> None:
    """List customers, most recently active first."""
    from bot.services import customers

    with runtime(ctx) as rt, rt.db.session() as session:
        rows = customers.list_customers(session, principal(ctx), adviser_id=adviser)
    tz = rt.settings.timezone
    table = Table("id", "姓名", "顾问", "行业", "阶段", "最近消息")
    for c in rows:
        last = local_time(c.last_message_at, tz)
        table.add_row(str(c.id), c.name, c.adviser_id or "-", c.industry or "-", c.stage, last)
    out.print(table)


@app.command("show")
def customers_show(ctx: typer.Context, customer_id: Annotated[int, typer.Argument()]) -> None:
    """Show one customer's profile: identities, tags, profile fields, where they came
    from, next-best actions, timeline."""
    from bot.cli.render import growth_lines, profile_panel
    from bot.services import customers

    with runtime(ctx) as rt:
        who = principal(ctx)
        with rt.db.session() as session:
            profile = customers.profile(session, who, customer_id)
        extra = growth_lines(rt, who, customer_id)
        out.print(profile_panel(profile, timezone=rt.settings.timezone, extra=extra))


@app.command("import")
def customers_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV or XLSX file (format in the README).")],
    actor: Actor = None,
) -> None:
    """Import customers and identities (all-or-nothing: one bad line and nothing is written)."""
    from bot.services import customers

    with database(ctx) as (db, settings), db.session() as session:
        stats = customers.import_file(
            session, principal(ctx, actor), path=path, timezone=settings.timezone
        )
    for warning in stats.warnings:
        err.print(styled("[yellow]注意[/] {}", warning), highlight=False)
    out.print(
        f"新建 {stats.created} · 更新 {stats.updated} · 身份 +{stats.identities_added}"
        f" · 标签 +{stats.tags_added} · 资料字段 {stats.fields_set}"
        f" · 介绍人 {stats.referrals} · 渠道归因 {stats.attributed}"
    )


@app.command("export-table")
def customers_export_table(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Output .csv or .xlsx (the import format).")],
    adviser: Annotated[str | None, typer.Option(help="Only this adviser's customers.")] = None,
    segment: Annotated[str | None, typer.Option(help="Only this segment's customers.")] = None,
    actor: Actor = None,
) -> None:
    """Customers with their profile fields, referrer and entry code, in the format
    `siyu customers import` reads (audited)."""
    from bot.services import customers

    with database(ctx) as (db, _), db.session() as session:
        n = customers.export_table(
            session, principal(ctx, actor), path=path, adviser_id=adviser, segment=segment
        )
    out.print(f"{n} 位客户已导出到 {path}")


@app.command("merge")
def customers_merge(
    ctx: typer.Context,
    keep: Annotated[int, typer.Argument(help="Customer id to keep.")],
    merge: Annotated[int, typer.Argument(help="Customer id merged into it.")],
    actor: Actor = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
) -> None:
    """Merge customer MERGE into KEEP (identities, messages, tags, events, orders …)."""
    from bot.services import merges

    with database(ctx) as (db, _), db.session() as session:
        record = merges.merge(
            session, principal(ctx, actor), keep_id=keep, merge_id=merge, reason=reason
        )
    moved = ", ".join(f"{k} {v}" for k, v in record.moved.items() if v)
    out.print(f"merge {record.id}: {merge} → {keep} ({moved or 'nothing to move'})")
    out.print(f"undo: siyu customers unmerge {record.id}")


@app.command("unmerge")
def customers_unmerge(
    ctx: typer.Context,
    merge_id: Annotated[int, typer.Argument(help="Id printed by `customers merge`.")],
    actor: Actor = None,
) -> None:
    """Undo a merge: the moved rows go back, both profiles are as they were."""
    from bot.services import merges

    with database(ctx) as (db, _), db.session() as session:
        record = merges.undo(session, principal(ctx, actor), merge_id=merge_id)
    out.print(f"merge {record.id} undone: {record.merged_id} split from {record.kept_id}")


@app.command("merges")
def customers_merges(
    ctx: typer.Context,
    customer: Annotated[int | None, typer.Option(help="Only merges of this customer.")] = None,
) -> None:
    """List merges (with the undone ones)."""
    from bot.services import merges

    with database(ctx) as (db, settings), db.session() as session:
        rows = merges.history(session, principal(ctx), customer_id=customer)
    tz = settings.timezone
    table = Table("id", "保留", "并入", "操作人", "时间", "撤销", "原因")
    for r in rows:
        when = local_time(r.created_at, tz)
        undone = local_time(r.undone_at, tz)
        table.add_row(str(r.id), str(r.kept_id), str(r.merged_id), r.actor, when, undone, r.reason)
    out.print(table)


@app.command("merge-suggestions")
def customers_merge_suggestions(ctx: typer.Context) -> None:
    """Profiles sharing a phone number or unionid (never merged automatically)."""
    from bot.services import merges

    with database(ctx) as (db, _), db.session() as session:
        found = merges.suggestions(session, principal(ctx))
    if not found:
        out.print("没有建议合并的客户 no merge suggestions")
        return
    table = Table("保留 keep", "并入 merge", "依据 evidence", "命令 command")
    for s in found:
        table.add_row(
            f"{s.keep_id} {s.keep_name}",
            f"{s.merge_id} {s.merge_name}",
            "; ".join(s.evidence),
            f"siyu customers merge {s.keep_id} {s.merge_id}",
        )
    out.print(table)


@app.command("lifecycle")
def customers_lifecycle(ctx: typer.Context, now: NowOpt = None) -> None:
    """Recompute every customer's lifecycle stage from messages, events and orders."""
    from bot.services import customers

    with database(ctx) as (db, settings), db.session() as session:
        counts = customers.refresh_lifecycles(
            session,
            principal(ctx),
            now=parse_now(now, settings.timezone),
            silent_after_days=settings.followups.silent_after_days,
        )
    out.print(" · ".join(f"{k} {v}" for k, v in counts.items()))


@app.command("export")
def customers_export(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(help="Customer id.")],
    output: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (default: stdout).")
    ] = None,
    actor: Actor = None,
) -> None:
    """Everything held about one person, as JSON (the export is audit-logged)."""
    from bot.services import privacy

    with database(ctx) as (db, _), db.session() as session:
        data = privacy.export_everything(session, principal(ctx, actor), customer_id)
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        out.print(f"customer {customer_id} exported to {output}")


@app.command("forget")
def customers_forget(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(help="Customer id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    actor: Actor = None,
) -> None:
    """Erase one person's personal data and messages; anonymous aggregates (funnel,
    revenue, script statistics) stay. Audit-logged; cannot be undone."""
    from bot.services import privacy

    if not yes:
        typer.confirm(f"erase customer {customer_id}'s personal data for good?", abort=True)
    with runtime(ctx) as rt:  # the examples learned from them leave the index too
        forgotten = privacy.forget_everywhere(
            rt,
            principal(ctx, actor),
            customer_id,
            full=rt.settings.privacy.erase_vacuum == "full",
        )
    done = ", ".join(f"{k} {v}" for k, v in forgotten.counts.items() if v)
    out.print(f"customer {customer_id} forgotten ({done or 'nothing else held'})")
    out.print(_purged_note(forgotten.purged))


def _purged_note(purged: Purged) -> str:
    """What became of the erased text in the database files, in Chinese."""
    if purged.backend == "sqlite":
        if purged.complete:
            return "数据库文件已清理：已删除内容已清零，预写日志已清空。"
        return (
            "警告：另一进程正在读取数据库，预写日志暂未清空；停止其他进程后再运行一次 forget 即可。"
        )
    if purged.backend == "postgresql":
        tables = len(purged.tables)
        if purged.full and not purged.complete:
            return (
                f"警告：已重写 {tables} 张表（VACUUM FULL），但有早于删除的事务仍在运行，"
                "部分已删除内容可能仍留在数据文件中；稍后再运行一次 forget 即可。"
            )
        if purged.full:
            return f"数据库文件已清理：已重写 {tables} 张表（VACUUM FULL）。"
        return (
            f"已对 {tables} 张表执行 VACUUM；已删除文本可能仍残留在数据文件的空闲空间，"
            '如需彻底清除请设置 privacy.erase_vacuum = "full"。'
        )
    return "注意：此数据库类型不支持清理数据文件，已删除内容可能仍残留在文件中。"
