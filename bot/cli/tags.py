"""``siyu tags``: the tag taxonomy, the review of suggested customer tags, and tags added
by hand (one, or a file of them)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from typer.core import TyperCommand

from bot.cli.common import bar, err, out, principal, progress, runtime, styled
from bot.cli.tables import show
from bot.labels import TAG_STATUS_LABELS, choices, code_of, label

app = typer.Typer(help="标签体系和建议标签的审核。")


@app.command("import")
def tags_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="标签体系 YAML 文件。")],
) -> None:
    """导入标签体系（文件里没有的标签会停用）。"""
    from bot.services import tags

    with runtime(ctx) as rt:
        stats = tags.import_taxonomy(rt, principal(ctx), path=path)
    for warning in stats.warnings:
        err.print(styled("[yellow]注意[/] {}", warning), highlight=False)
    out.print(
        f"{stats.categories} 个分类 · 新增 {stats.added} · 更新 {stats.updated}"
        f" · 未变 {stats.unchanged} · 停用 {stats.deactivated}"
    )


@app.command("list")
def tags_list(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(help=("suggested（待确认）、confirmed（已确认）或 rejected（已拒绝）。")),
    ] = "suggested",
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help=(
                "以 JSON 列表输出，每条为 {id, customer_id, tag, category, status, evidence, "
                "source_msg_id}。"
            ),
        ),
    ] = False,
) -> None:
    """列出客户标签（默认：待审核的）。"""
    from bot.services import tags

    if status is not None:
        status = code_of(TAG_STATUS_LABELS, status)
        if status is None:
            raise typer.BadParameter(f"--status 只能是 {choices(TAG_STATUS_LABELS)}")
    with runtime(ctx) as rt, rt.db.session() as session:
        rows = tags.customer_tags(
            session, principal(ctx), status=status, limit=None if as_json else 200
        )
        # what an empty list says: no tag with this status, or no taxonomy to find any by
        taxonomy = bool(rows) or as_json or bool(tags.taxonomy(session, principal(ctx)))
    if as_json:
        listed: list[dict[str, Any]] = [
            {
                "id": r.id,
                "customer_id": r.customer_id,
                "tag": r.tag.name,
                "category": r.tag.category,
                "status": r.status,
                "evidence": r.evidence,
                "source_msg_id": r.source_msg_id,
            }
            for r in rows
        ]
        typer.echo(json.dumps(listed, ensure_ascii=False))
        return
    table = Table("编号", "客户", "标签", "状态", "依据")
    for r in rows:
        table.add_row(
            str(r.id),
            r.customer_name,
            f"{r.tag.category}/{r.tag.name}",
            label(TAG_STATUS_LABELS, r.status),
            r.evidence,
        )
    empty = f"没有{label(TAG_STATUS_LABELS, status)}的标签" if status else "还没有客户标签"
    if not taxonomy:
        empty += "：还没有标签体系。导入：siyu tags import 标签体系.yaml"
    show(table, empty=empty)


class _ManyValues(TyperCommand):
    """``--confirm 1 2 3 --reject 4 5`` (or ``--confirm 1,2,3``): each of ``MANY`` takes
    every value up to the next option (click options take one value each, so the values
    are spread over repeated options before parsing)."""

    MANY = ("--confirm", "--reject")

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        spread: list[str] = []
        current: str | None = None
        empty = False  # ``current`` has had no value yet: passed on bare, click reports it
        for arg in args:
            if arg.startswith("-") and not _is_number(arg):
                if empty and current is not None:
                    spread.append(current)
                name, equals, value = arg.partition("=")
                current = name if name in self.MANY else None
                empty = current is not None and not equals
                if current is None:
                    spread.append(arg)
                elif equals:
                    spread += [f"{current}={v}" for v in _values(value)]
                continue
            if current is not None:
                spread += [x for v in _values(arg) for x in (current, v)]
                empty = False
            else:
                spread.append(arg)
        if empty and current is not None:
            spread.append(current)
        return super().parse_args(ctx, spread)


def _values(arg: str) -> list[str]:
    """``1,2,3`` (or 「1，2，3」) as its values; ``1`` as itself (an empty one kept for
    click to refuse)."""
    values = [v.strip() for v in re.split(r"[,，]", arg) if v.strip()]
    return values or [arg]


def _is_number(arg: str) -> bool:
    return arg.lstrip("-").isdigit()


#: ``tags review`` without ids, not at a terminal: nobody would answer its questions.
NOT_A_TERMINAL = (
    "没有给出 --confirm 或 --reject：逐条审核只能在终端里进行；"
    "脚本里请写 siyu tags review --confirm 编号 … --reject 编号 …"
)


@app.command("review", cls=_ManyValues)
def tags_review(
    ctx: typer.Context,
    reviewer: Annotated[
        str | None,
        typer.Option(help="谁在审核（默认：全局 --actor 或你的登录名）。"),
    ] = None,
    confirm: Annotated[
        list[int] | None,
        typer.Option("--confirm", help="确认这些编号：--confirm 1 2 3（或重复给出）。"),
    ] = None,
    reject: Annotated[
        list[int] | None,
        typer.Option("--reject", help="拒绝这些编号：--reject 4 5（或重复给出）。"),
    ] = None,
) -> None:
    """确认或拒绝建议的标签：用 --confirm/--reject 按编号处理（全有或全无），
    否则逐条处理。标签识别会从每个决定中学习。"""
    from bot.services import tags

    who = principal(ctx, reviewer)
    if not (confirm or reject) and not sys.stdin.isatty():  # never wait on a script's pipe
        raise typer.BadParameter(NOT_A_TERMINAL)
    with runtime(ctx) as rt:
        if confirm or reject:
            with rt.db.session() as session:
                changed = tags.overturned(session, who, confirm=confirm or [], reject=reject or [])
            tags.review(rt, who, confirm=confirm or [], reject=reject or [])
            said = f"已确认 {len(set(confirm or []))} 个，已拒绝 {len(set(reject or []))} 个"
            if changed:
                said += f"（其中 {changed} 个推翻了之前的决定）"
            out.print(said)
            return
        with rt.db.session() as session:
            pending = tags.customer_tags(session, who, status="suggested")
        if not pending:
            out.print("没有待确认的标签")
            return
        for row in pending:
            out.print(
                styled("[bold]{}[/] → {}/{}", row.customer_name, row.tag.category, row.tag.name)
            )
            out.print(f"  依据：{row.evidence}", highlight=False)
            answer = typer.prompt("确认 y / 拒绝 n / 跳过 s / 退出 q", default="s").strip().lower()
            if answer == "q":
                break
            if answer == "y":
                tags.review(rt, who, confirm=[row.id])
            elif answer == "n":
                tags.review(rt, who, reject=[row.id])


@app.command("add")
def tags_add(
    ctx: typer.Context,
    customer: Annotated[
        str | None,
        typer.Option(
            help="客户 ID，或其任一身份（微信号、contact_id …）；'#5'（加引号）只表示客户 ID 5。"
        ),
    ] = None,
    tag: Annotated[str | None, typer.Option(help="标签名；名称不唯一时写 分类/标签。")] = None,
    msg_id: Annotated[
        str | None,
        typer.Option("--msg-id", help="体现该标签的客户消息 ID。"),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="CSV / XLSX 文件，表头 customer,tag,msg_id：一次添加多条。"),
    ] = None,
    actor: Annotated[
        str | None,
        typer.Option("--actor", help="谁在添加（默认：全局 --actor 或你的登录名）。"),
    ] = None,
) -> None:
    """补上系统漏掉的标签（直接确认）；带 --msg-id 时标签识别会从该消息学习。
    --file 一次添加多条，全有或全无，每个问题都给出行号。"""
    from bot.services import tags

    who = principal(ctx, actor)
    if file is not None:
        if customer or tag or msg_id:
            raise typer.BadParameter("--file 不能与 --customer、--tag、--msg-id 一起用")
        with runtime(ctx) as rt, progress() as bars:
            stats = tags.add_file(rt, who, path=file, progress=bar(bars, "添加标签"))
        out.print(f"新增 {stats.added} · 已有 {stats.already}")
        if stats.ignored_columns:
            err.print(
                f"提示：没有读取未知的列 {'、'.join(stats.ignored_columns)}"
                "（只读 customer、tag、msg_id 三列；消息 ID 列写错时，标签会不带消息添加）",
                highlight=False,
            )
        return
    if not customer or not tag:
        raise typer.BadParameter("请给 --customer 和 --tag，或者给 --file")
    with runtime(ctx) as rt:
        record, added = tags.add(rt, who, tags.TagLabel(customer=customer, tag=tag, msg_id=msg_id))
    state = "已添加" if added else "客户已有此标签"
    name, number = record.customer_name, record.customer_id
    who_ = f"{name}（客户 {number}）" if name else f"客户 {number}"
    out.print(f"{state}：{who_} → {record.tag.category}/{record.tag.name}（标签记录 {record.id}）")
