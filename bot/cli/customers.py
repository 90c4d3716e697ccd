"""``siyu customers``: profiles, OneID (import, merge, undo), lifecycle, data-subject requests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    NO_CUSTOMERS,
    Actor,
    NowOpt,
    adviser_names,
    database,
    err,
    local_time,
    out,
    parse_now,
    principal,
    runtime,
    styled,
)
from bot.cli.tables import show
from bot.labels import (
    LIFECYCLE_LABELS,
    RECORD_LABELS,
    STAGE_LABELS,
    counted,
    industry_label,
    label,
)

if TYPE_CHECKING:
    from bot.store.db import Purged

app = typer.Typer(help="客户档案。")


@app.command("list")
def customers_list(
    ctx: typer.Context,
    adviser: Annotated[str | None, typer.Option(help="只看这位顾问的客户。")] = None,
) -> None:
    """列出客户，最近有互动的在前。"""
    from bot.services import customers

    with runtime(ctx) as rt, rt.db.session() as session:
        rows = customers.list_customers(session, principal(ctx), adviser_id=adviser)
        names = adviser_names(session, principal(ctx))
    tz = rt.settings.timezone
    table = Table("编号", "姓名", "顾问", "行业", "阶段", "最近消息")
    for c in rows:
        last = local_time(c.last_message_at, tz)
        table.add_row(
            str(c.id),
            c.name or "-",
            names.get(c.adviser_id or "", c.adviser_id or "-"),
            industry_label(c.industry),
            label(STAGE_LABELS, c.stage),
            last,
        )
    show(table, empty="没有符合条件的客户（去掉 --adviser 看全部）" if adviser else NO_CUSTOMERS)


@app.command("show")
def customers_show(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(help="客户 ID（见 siyu customers list）。")],
) -> None:
    """查看一位客户的档案：身份、标签、画像字段、来源、下一步建议、时间线。"""
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
    path: Annotated[Path, typer.Argument(help="CSV 或 XLSX 文件（格式见 README）。")],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="只检查（与导入时相同，逐行报错）并计数，不写入。"),
    ] = False,
    actor: Actor = None,
) -> None:
    """导入客户和身份（全有或全无：有一行错就什么都不写入）。"""
    from bot.services import customers

    with database(ctx) as (db, settings), db.session() as session:
        stats = customers.import_file(
            session,
            principal(ctx, actor),
            path=path,
            timezone=settings.timezone,
            dry_run=dry_run,
        )
    for warning in stats.warnings:
        err.print(styled("[yellow]注意[/] {}", warning), highlight=False)
    will = "将" if dry_run else ""
    out.print(
        f"{will}新建 {stats.created} · {will}更新 {stats.updated} · 未变 {stats.unchanged}"
        f" · 身份 +{stats.identities_added} · 标签 +{stats.tags_added}"
        f" · 资料字段 {stats.fields_set} · 介绍人 {stats.referrals}"
        f" · 渠道归因 {stats.attributed}" + ("（试运行，未写入）" if dry_run else "")
    )


@app.command("export-table")
def customers_export_table(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="输出 .csv 或 .xlsx 文件（导入格式）。")],
    adviser: Annotated[str | None, typer.Option(help="只看这位顾问的客户。")] = None,
    segment: Annotated[str | None, typer.Option(help="只导出这个分群的客户。")] = None,
    actor: Actor = None,
) -> None:
    """导出客户及画像字段、介绍人和渠道码，
    格式与 `siyu customers import` 读取的相同（记入审计）。"""
    from bot.services import customers

    with database(ctx) as (db, settings), db.session() as session:
        n = customers.export_table(
            session,
            principal(ctx, actor),
            path=path,
            adviser_id=adviser,
            segment=segment,
            timezone=settings.timezone,
        )
    out.print(f"{n} 位客户已导出到 {path}")


@app.command("merge")
def customers_merge(
    ctx: typer.Context,
    keep: Annotated[int, typer.Argument(help="保留的客户 ID。")],
    merge: Annotated[int, typer.Argument(help="被合并进去的客户 ID。")],
    actor: Actor = None,
    reason: Annotated[str, typer.Option(help="原因（记入审计日志）。")] = "",
) -> None:
    """把客户 merge 合并到 keep（身份、消息、标签、事件、订单 …）。"""
    from bot.services import merges

    with database(ctx) as (db, _), db.session() as session:
        record = merges.merge(
            session, principal(ctx, actor), keep_id=keep, merge_id=merge, reason=reason
        )
    moved = counted(record.moved, RECORD_LABELS)
    out.print(f"合并 {record.id}：客户 {merge} → 客户 {keep}（{moved or '没有要移动的记录'}）")
    out.print(f"撤销：siyu customers unmerge {record.id}")


@app.command("unmerge")
def customers_unmerge(
    ctx: typer.Context,
    merge_id: Annotated[int, typer.Argument(help="`customers merge` 输出的合并编号。")],
    actor: Actor = None,
) -> None:
    """撤销一次合并：移过去的记录移回，两份档案恢复原样。"""
    from bot.services import merges

    with database(ctx) as (db, _), db.session() as session:
        record = merges.undo(session, principal(ctx, actor), merge_id=merge_id)
    out.print(f"已撤销合并 {record.id}：客户 {record.merged_id} 已从客户 {record.kept_id} 分出")


@app.command("merges")
def customers_merges(
    ctx: typer.Context,
    customer: Annotated[int | None, typer.Option(help="只看这位客户的合并记录。")] = None,
) -> None:
    """列出合并记录（包括已撤销的）。"""
    from bot.services import merges

    with database(ctx) as (db, settings), db.session() as session:
        rows = merges.history(session, principal(ctx), customer_id=customer)
    tz = settings.timezone
    table = Table("编号", "保留", "并入", "操作人", "时间", "撤销", "原因")
    for r in rows:
        when = local_time(r.created_at, tz)
        undone = local_time(r.undone_at, tz)
        table.add_row(str(r.id), str(r.kept_id), str(r.merged_id), r.actor, when, undone, r.reason)
    if customer is not None:
        empty = f"客户 {customer} 没有合并记录"
    else:
        empty = "还没有合并记录（建议合并的客户：siyu customers merge-suggestions）"
    show(table, empty=empty)


@app.command("merge-suggestions")
def customers_merge_suggestions(ctx: typer.Context) -> None:
    """共用手机号或 unionid 的档案（从不自动合并）。"""
    from bot.services import merges

    with database(ctx) as (db, _), db.session() as session:
        found = merges.suggestions(session, principal(ctx))
    table = Table("保留", "并入", "依据", "命令")
    for s in found:
        table.add_row(
            f"{s.keep_id} {s.keep_name}",
            f"{s.merge_id} {s.merge_name}",
            "; ".join(s.evidence),
            f"siyu customers merge {s.keep_id} {s.merge_id}",
        )
    show(table, empty="没有建议合并的客户")


@app.command("lifecycle")
def customers_lifecycle(ctx: typer.Context, now: NowOpt = None) -> None:
    """根据消息、事件和订单重新计算每位客户的生命周期阶段。"""
    from bot.services import customers

    with database(ctx) as (db, settings), db.session() as session:
        counts = customers.refresh_lifecycles(
            session,
            principal(ctx),
            now=parse_now(now, settings.timezone),
            silent_after_days=settings.followups.silent_after_days,
        )
    out.print(" · ".join(f"{label(LIFECYCLE_LABELS, k)} {v}" for k, v in counts.items()))


@app.command("export")
def customers_export(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(help="客户 ID。")],
    output: Annotated[
        Path | None, typer.Option("--out", help="把 JSON 写到这里（默认：标准输出）。")
    ] = None,
    actor: Actor = None,
) -> None:
    """导出关于一个人的全部数据，JSON 格式（导出记入审计）。"""
    from bot.services import privacy

    with database(ctx) as (db, _), db.session() as session:
        data = privacy.export_everything(session, principal(ctx, actor), customer_id)
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    if output is None:
        typer.echo(text)
    else:
        from knowledge.files import replace_atomically

        def write(tmp: Path) -> None:
            tmp.write_text(text + "\n", encoding="utf-8")

        # whole or not at all; a folder that is not there is an error, not a traceback
        replace_atomically(output, write)
        out.print(f"客户 {customer_id} 的数据已导出到 {output}")


@app.command("forget")
def customers_forget(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(help="客户 ID。")],
    yes: Annotated[bool, typer.Option("--yes", help="不再询问确认。")] = False,
    actor: Actor = None,
) -> None:
    """删除一个人的个人数据和消息；匿名的汇总（漏斗、成交金额、话术统计）保留。记入审计；不可撤销。"""
    from bot.services import privacy

    if not yes and not sys.stdin.isatty():  # a script's run: never wait on its pipe
        raise typer.BadParameter("不在终端里运行时要加 --yes 确认删除（删除不可撤销）")
    if not yes:
        typer.confirm(f"永久删除客户 {customer_id} 的个人数据？", abort=True)
    with runtime(ctx) as rt:  # the examples learned from them leave the index too
        forgotten = privacy.forget_everywhere(
            rt,
            principal(ctx, actor),
            customer_id,
            full=rt.settings.privacy.erase_vacuum == "full",
        )
    done = counted(forgotten.counts, RECORD_LABELS)
    out.print(f"客户 {customer_id} 的数据已删除（{done or '没有其他数据'}）")
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
