"""``siyu kb``: the knowledge base — ingest documents, rebuild the indexes, search, list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    bar,
    err,
    out,
    principal,
    progress,
    runtime,
    styled,
)
from bot.cli.tables import show
from bot.labels import ANY_INDUSTRY_LABEL, DOCUMENT_KIND_LABELS, industry_label, label

app = typer.Typer(help="知识库：导入文档、重建索引、检索。")


@app.command("ingest")
def kb_ingest(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(metavar="文件或目录", help="文件或目录（.md、.txt、.csv、.xlsx）。")
    ],
    industry: Annotated[str | None, typer.Option(help="这些文档适用的行业（默认：全部）。")] = None,
) -> None:
    """导入文档；没变的文件跳过，变了的替换其分段。文档按文件名识别：
    同名文件再次导入（来自任何目录，或在控制台上传）会替换原文档。"""
    from bot.services import knowledge

    with runtime(ctx) as rt, progress() as bars:
        report = knowledge.ingest(
            rt, principal(ctx), path=path, industry=industry, progress=bar(bars, "嵌入")
        )
    for warning in report.warnings:
        err.print(styled("[yellow]注意[/] {}", warning), highlight=False)
    out.print(
        f"新增 {len(report.added)} · 更新 {len(report.updated)} · 未变 {len(report.unchanged)}"
        f" · 写入 {report.chunks_written} 段"
    )


@app.command("rebuild")
def kb_rebuild(ctx: typer.Context) -> None:
    """从数据库重建知识库、话术和标签的索引。"""
    from bot.services import knowledge

    with runtime(ctx) as rt, progress() as bars:
        k, s = knowledge.rebuild(
            rt,
            principal(ctx),
            knowledge_progress=bar(bars, "知识库"),
            scripts_progress=bar(bars, "话术"),
        )
    out.print(f"知识库：{k.added} 段 · 话术：{s.added} 条")


@app.command("search")
def kb_search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="要查的问题或关键词。")],
    industry: Annotated[str | None, typer.Option(help="只查这个行业的文档（及通用文档）。")] = None,
    k: Annotated[int, typer.Option("-k", help="返回多少段。")] = 5,
) -> None:
    """检索知识库（混合检索：向量 + BM25）。"""
    from bot.services import knowledge

    with runtime(ctx) as rt:
        hits = knowledge.search(rt, principal(ctx), query=query, k=k, industry=industry)
    table = Table("分", "来源", "内容")
    for h in hits:
        table.add_row(f"{h.score:.4f}", f"{h.source}\n{h.section}", h.text)
    show(table, empty="知识库里没有找到相关内容（用 siyu kb list 看已导入的文档）")


@app.command("list")
def kb_list(ctx: typer.Context) -> None:
    """列出已导入的文档（名称、ID、当前版本的来源）。"""
    from bot.services import knowledge

    with runtime(ctx) as rt, rt.db.session() as session:
        docs = knowledge.documents(session, principal(ctx))
    table = Table()
    table.add_column("编号", no_wrap=True)
    for name in ("文档", "类型", "行业", "段数"):
        table.add_column(name, overflow="fold")
    table.add_column("来自", overflow="fold")
    for d in docs:
        kind = label(DOCUMENT_KIND_LABELS, d.kind)
        industry = industry_label(d.industry) if d.industry else ANY_INDUSTRY_LABEL
        table.add_row(str(d.id), d.source, kind, industry, str(d.chunks), d.origin)
    show(table, empty="知识库里还没有文档。导入：siyu kb ingest 文件或文件夹")


@app.command("delete")
def kb_delete(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="文档名称（如 售后政策.txt）或 ID。")],
) -> None:
    """删除一份文档：其分段从数据库和两个索引中移除。"""
    from bot.services import knowledge

    with runtime(ctx) as rt:
        found = knowledge.delete(rt, principal(ctx), ref=ref)
    out.print(f"已删除文档 {found.source}（#{found.id}，{found.chunks} 段）")
