"""``siyu fields``: profile fields as data (the fields file), a customer's values, and the
values stated in messages waiting for review."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import Actor, database, out, principal
from bot.cli.tables import show
from bot.errors import InputError
from bot.labels import TAG_STATUS_LABELS, code_of, industry_label

app = typer.Typer(help="画像字段（预算、职业 …）：字段文件、字段值、审核。")

STATUS_LABELS = TAG_STATUS_LABELS
#: How profile fields come to be (the sentence of an empty list).
IMPORT_FIELDS = "导入：siyu fields import 字段文件.yaml（格式见 README）"


@app.command("import")
def fields_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="画像字段 YAML 文件（格式见 README）。")],
    actor: Actor = None,
) -> None:
    """用文件里的画像字段替换现有字段（客户已有的值保留）。"""
    from bot.services import fields

    with database(ctx) as (db, _), db.session() as session:
        stats = fields.import_fields(session, principal(ctx, actor), path=path)
    out.print(
        f"新增 {stats.added} · 更新 {stats.updated} · 未变 {stats.unchanged}"
        f" · 停用 {stats.deactivated}"
    )


@app.command("list")
def fields_list(ctx: typer.Context) -> None:
    """已声明的画像字段。"""
    from bot.crm.fields import TYPE_LABELS
    from bot.services import fields

    with database(ctx) as (db, _), db.session() as session:
        rows = fields.list_fields(session, principal(ctx))
    table = Table("字段", "类型", "单位", "行业", "选项", "提示词", "说明")
    for f in rows:
        table.add_row(
            f.name,
            TYPE_LABELS.get(f.type, f.type),
            f.unit or "-",
            industry_label(f.industry),
            "、".join(f.choices) or "-",
            "、".join(f.keywords) or "-",
            f.description,
        )
    show(table, empty=f"还没有画像字段。{IMPORT_FIELDS}")


@app.command("show")
def fields_show(
    ctx: typer.Context,
    customer: Annotated[int, typer.Argument(help="客户 ID（见 siyu customers list）。")],
) -> None:
    """一位客户的画像字段值。"""
    from bot.services import fields

    with database(ctx) as (db, _), db.session() as session:
        rows = fields.of_customer(session, principal(ctx), customer)
    table = Table("字段", "值", "来源", "依据")
    sources = {"manual": "手动", "import": "导入", "message": "消息"}
    for v in rows:
        table.add_row(
            v.spec.name,
            v.text or "-",
            sources.get(v.value.source, v.value.source) if v.value else "",
            v.value.evidence if v.value else "",
        )
    show(table, empty=f"客户 {customer} 的行业还没有画像字段。{IMPORT_FIELDS}")


@app.command("set")
def fields_set(
    ctx: typer.Context,
    customer: Annotated[int, typer.Argument(help="客户 ID。")],
    values: Annotated[list[str], typer.Argument(help="字段=值 …（值为空则清除该字段）。")],
    actor: Actor = None,
) -> None:
    """设置客户的画像字段，如 `siyu fields set 12 预算=5000 职业=教师`。"""
    from bot.services import fields

    parsed: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"格式是 字段=值，不是 {item!r}")
        parsed[name.strip()] = value
    with database(ctx) as (db, _), db.session() as session:
        saved = fields.set_values(
            session, principal(ctx, actor), customer_id=customer, values=parsed
        )
    out.print(f"客户 {customer}：已保存 {len(saved)} 个字段，清空 {len(parsed) - len(saved)} 个")


@app.command("suggestions")
def fields_suggestions(
    ctx: typer.Context,
    customer: Annotated[int | None, typer.Option(help="只看这位客户的。")] = None,
    status: Annotated[
        str,
        typer.Option(
            help=("suggested（待确认）、confirmed（已确认）、rejected（已拒绝）或 all（全部）。")
        ),
    ] = ("suggested"),
) -> None:
    """从消息里识别出的字段值（和介绍人），附依据。"""
    from bot.services import fields

    # a code or the Chinese name its help gives (已确认, 全部), as `tags list --status`
    status = (
        "all" if status.strip() in ("all", "全部") else code_of(STATUS_LABELS, status) or status
    )
    if status not in (*STATUS_LABELS, "all"):
        raise InputError(
            "--status 只能是 suggested（待确认）、confirmed（已确认）、rejected（已拒绝）"
            "或 all（全部）"
        )
    with database(ctx) as (db, _), db.session() as session:
        rows = fields.suggestions(
            session,
            principal(ctx),
            customer_id=customer,
            status=None if status == "all" else status,
        )
    table = Table("编号", "客户", "字段", "值", "状态", "依据")
    for s in rows:
        table.add_row(
            str(s.id),
            f"{s.customer_name} #{s.customer_id}",
            fields.label(s.field),
            s.shown,
            STATUS_LABELS.get(s.status, s.status),
            s.evidence,
        )
    whose = f"客户 {customer} " if customer is not None else ""
    if status == "all":
        empty = f"{whose}还没有从消息里识别出的字段值"
    else:
        empty = f"{whose}没有{STATUS_LABELS[status]}的字段值"
    show(table, empty=empty)


@app.command("review")
def fields_review(
    ctx: typer.Context,
    confirm: Annotated[list[int] | None, typer.Option("--confirm", help="要确认的编号。")] = None,
    reject: Annotated[list[int] | None, typer.Option("--reject", help="要拒绝的编号。")] = None,
    actor: Actor = None,
) -> None:
    """确认（写入字段）或拒绝建议的字段值，可一次多个。"""
    from bot.services import fields

    if not confirm and not reject:
        raise InputError("请给出 --confirm 或 --reject 的 id")
    with database(ctx) as (db, _), db.session() as session:
        who = principal(ctx, actor)
        for sid in confirm or []:
            fields.review(session, who, suggestion_id=sid, status="confirmed")
        for sid in reject or []:
            fields.review(session, who, suggestion_id=sid, status="rejected")
    out.print(f"已确认 {len(confirm or [])} · 已拒绝 {len(reject or [])}")
