"""``siyu scripts``: the script library (话术库): import, export, list, lint, status, drafts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    bar,
    database,
    err,
    local_time,
    out,
    principal,
    progress,
    runtime,
    styled,
)
from bot.cli.tables import show
from bot.errors import InputError
from bot.labels import choices, code_of, industry_label
from scripts_lib import category_code, status_code
from scripts_lib.model import CATEGORY_LABELS, STAGE_LABELS, STATUS_LABELS, ScriptRecord

app = typer.Typer(help="话术库：导入、导出、列出、检查。")


@app.command("import")
def scripts_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV、XLSX 或 YAML 文件。")],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="只统计会新增 / 更新 / 不变的条数。"),
    ] = False,
) -> None:
    """导入话术（全有或全无：有一行错就什么都不写入）。文件里没有的列（status、
    variant_group、deadline）保持话术库里的值。"""
    from bot.services import scripts

    with runtime(ctx) as rt:
        plan = scripts.plan_import(rt, principal(ctx), path=path)
        for issue in plan.warnings:
            err.print(styled("[yellow]警告[/] {}", issue), highlight=False)
        if dry_run:
            counts = plan.stats
            out.print(
                f"将新增 {counts.added} · 将更新 {counts.updated} · 未变 {counts.unchanged}"
                "（试运行，未写入）"
            )
            return
        with progress() as bars:
            stats = scripts.import_file(
                rt, principal(ctx), path=path, progress=bar(bars, "索引话术")
            )
    out.print(f"新增 {stats.added} · 更新 {stats.updated} · 未变 {stats.unchanged}")


#: The filters of ``scripts list`` and ``scripts export``.
IndustryFilter = Annotated[str | None, typer.Option(help="只要这个行业的话术（如 保险）。")]
CategoryFilter = Annotated[str | None, typer.Option(help="只要这个分类（如 报价）。")]
StatusFilter = Annotated[
    str | None,
    typer.Option(help="只要这个状态：draft / approved / archived（草稿 / 已审核 / 已归档）。"),
]


def filter_codes(category: str | None, status: str | None) -> tuple[str | None, str | None]:
    """The codes of ``--category`` and ``--status``, given as codes or Chinese names (报价,
    价格, 草稿 …, as the import reads them); an unknown one is refused, never a silent
    empty list."""
    return (
        _code(category, category_code, CATEGORY_LABELS, "分类"),
        _code(status, status_code, STATUS_LABELS, "状态"),
    )


def _code(
    value: str | None, read: Callable[[str], str], labels: dict[str, str], what: str
) -> str | None:
    if value is None:
        return None
    code = read(value)
    if code not in labels:
        raise InputError(f"未知的{what}「{value.strip()}」；可用：{choices(labels)}")
    return code


@app.command("export")
def scripts_export(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="目标 .csv、.xlsx 或 .yaml 文件。")],
    industry: IndustryFilter = None,
    category: CategoryFilter = None,
    status: StatusFilter = None,
    chinese_headers: Annotated[
        bool,
        typer.Option(
            "--chinese-headers",
            help="中文表头（编号,标题,分类…）和中文的分类 / 阶段 / 状态名；导入两种都能读。",
        ),
    ] = False,
) -> None:
    """按导入格式导出话术（默认用代码：导出再导入完全一致）。"""
    from bot.services import scripts

    category, status = filter_codes(category, status)
    with runtime(ctx) as rt:
        n = scripts.export(
            rt,
            principal(ctx),
            path=path,
            industry=industry,
            category=category,
            status=status,
            chinese=chinese_headers,
        )
    out.print(f"{n} 条话术已写入 {path}")


@app.command("list")
def scripts_list(
    ctx: typer.Context,
    industry: IndustryFilter = None,
    category: CategoryFilter = None,
    status: StatusFilter = None,
) -> None:
    """列出话术。"""
    from bot.services import scripts

    category, status = filter_codes(category, status)
    with runtime(ctx) as rt:
        records = scripts.list_scripts(
            rt, principal(ctx), industry=industry, category=category, status=status
        )
    given = [
        f"--{n}"
        for n, v in (("industry", industry), ("category", category), ("status", status))
        if v
    ]
    if given:
        empty = f"没有符合条件的话术（去掉 {'、'.join(given)} 看全部）"
    else:
        empty = "话术库是空的。导入：siyu scripts import 话术文件（CSV、XLSX 或 YAML）"
    show(script_table(records), empty=empty)
    if records:
        out.print(f"共 {len(records)} 条话术")


def script_table(records: Sequence[ScriptRecord]) -> Table:
    """The script list: the id is never wrapped or cut (it is what other commands take);
    on a narrow terminal the title folds instead."""
    table = Table()
    table.add_column("编号", no_wrap=True, min_width=max((len(r.id) for r in records), default=2))
    table.add_column("标题", overflow="fold", ratio=1, min_width=6)
    for name in ("分类", "阶段"):
        table.add_column(name, no_wrap=True)
    table.add_column("行业", overflow="fold")
    for name in ("状态", "版本"):
        table.add_column(name, no_wrap=True)
    for r in records:
        table.add_row(
            r.id,
            r.title,
            CATEGORY_LABELS.get(r.category, r.category),
            STAGE_LABELS.get(r.stage, r.stage),
            industry_label(r.industry),
            STATUS_LABELS.get(r.status, r.status),
            str(r.version),
        )
    return table


@app.command("lint")
def scripts_lint(
    path: Annotated[Path, typer.Argument(help="CSV、XLSX 或 YAML 文件。")],
) -> None:
    """检查话术文件但不导入；有错误时退出码为 1。"""
    from scripts_lib import lint, read_scripts

    issues = lint(read_scripts(path))
    for issue in issues:
        style = "red" if issue.severity == "error" else "yellow"
        severity = "错误" if issue.severity == "error" else "警告"
        out.print(styled(f"[{style}]{{}}[/] {{}}", severity, issue), highlight=False)
    errors = sum(1 for i in issues if i.severity == "error")
    out.print(f"{errors} 个错误，{len(issues) - errors} 个警告")
    if errors:
        raise typer.Exit(1)


@app.command("status")
def scripts_status(
    ctx: typer.Context,
    script_id: Annotated[str, typer.Argument(help="话术编号（见 siyu scripts list）。")],
    status: Annotated[
        str, typer.Argument(help=("draft（草稿）、approved（已审核）或 archived（已归档）。"))
    ],
) -> None:
    """修改话术状态（只有已审核的话术会被建议）。"""
    from bot.services import scripts

    code = code_of(STATUS_LABELS, status)
    if code is None:  # before the slow start of the runtime
        raise InputError(f"状态只能是 {choices(STATUS_LABELS)} 之一")
    with runtime(ctx) as rt:
        scripts.set_status(rt, principal(ctx), script_id=script_id, status=code)
    out.print(f"{script_id}：{STATUS_LABELS[code]}")


@app.command("examples")
def scripts_examples(
    ctx: typer.Context,
    script_id: Annotated[str, typer.Argument(help="话术编号（见 siyu scripts list）。")],
    remove: Annotated[
        list[int] | None,
        typer.Option("--remove", help="删除这条例句（编号见列表；可重复）。"),
    ] = None,
) -> None:
    """一条话术对应的客户消息——从顾问的回复中学到（聊天、导入聊天记录），
    或写在导入文件的 examples 列——以及用过的次数。检索会为相似的消息建议这条话术。"""
    from bot.services import scripts

    with runtime(ctx) as rt:
        who = principal(ctx)
        for example_id in remove or ():
            scripts.remove_example(rt, who, script_id=script_id, example_id=example_id)
            out.print(f"已删除例句 {example_id}")
        found = scripts.examples(rt, who, script_id)
        zone = rt.settings.timezone
    title = f"{found.script.id} {found.script.title}"
    table = Table("编号", "来源", "例句", "客户发送时间", "加入时间", title=title)
    for e in found.examples:
        source = "学到" if e.source == "learned" else "运营"
        sent = local_time(e.sent_at, zone, "%Y-%m-%d %H:%M") if e.sent_at else "—"
        table.add_row(str(e.id), source, e.text, sent, local_time(e.created_at, zone, "%Y-%m-%d"))
    show(
        table,
        empty=f"{title} 还没有例句：顾问用这条话术回复客户后会学到（聊天，"
        "或 siyu history import 聊天记录），也可以写在导入文件的 examples 列",
    )
    state = STATUS_LABELS.get(found.script.status, found.script.status)
    status = "" if found.script.status == "approved" else f"（{state}：检索不使用）"
    out.print(
        f"使用 {found.uses.total} 次（其中推荐后使用 {found.uses.shown} 次）"
        f" · 学到例句 {found.learned} 条 · 运营例句 {found.written} 条{status}"
    )


@app.command("mine-edits")
def scripts_mine_edits(
    ctx: typer.Context,
    min_count: Annotated[int, typer.Option(help="相似消息至少多少条才成组。")] = 3,
    similarity: Annotated[
        float, typer.Option(help="相似度不低于此值（0-1）的文本归为一组。")
    ] = 0.8,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只显示草稿。")] = False,
) -> None:
    """从顾问常见的改写、以及常发但没有匹配到话术的消息中，
    提出话术草稿（状态为草稿，不会自动审核）。"""
    from bot.services import scripts

    if min_count < 1 or not 0 < similarity <= 1:
        raise InputError("--min-count 必须 >= 1，--similarity 需在 (0, 1] 之间")
    with database(ctx) as (db, _settings):
        proposals = scripts.mine_drafts(
            db, principal(ctx), min_count=min_count, similarity=similarity, save=not dry_run
        )
    table = Table("草稿", "来源", "次数", "正文", title="话术草稿")
    for p in proposals:
        source = f"改写 {p.based_on}" if p.based_on else "未匹配话术"
        table.add_row(p.record.id, source, str(p.count), p.record.body)
    show(
        table,
        empty=f"没有新的话术草稿（至少 {min_count} 条相似的顾问改写或未匹配话术的消息才成一组，"
        "已提过的不再提出；可调低 --min-count、--similarity）",
    )
    if not proposals:
        return
    verb = "将新增" if dry_run else "已新增"
    out.print(f"{verb} {len(proposals)} 条草稿（状态：草稿）；审核后才会被推荐")
