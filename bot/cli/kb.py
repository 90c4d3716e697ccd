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

app = typer.Typer(help="The knowledge base: ingest documents, rebuild, search.")


@app.command("ingest")
def kb_ingest(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file or folder (.md, .txt, .csv, .xlsx).")],
    industry: Annotated[
        str | None, typer.Option(help="Industry these documents apply to (default: all).")
    ] = None,
) -> None:
    """Ingest documents; unchanged files are skipped, changed ones replace their chunks.
    A document is known by its file name: the same name again (from any folder, or
    uploaded in the console) replaces it."""
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
    """Rebuild the knowledge, script and tag indexes from the database."""
    from bot.services import knowledge

    with runtime(ctx) as rt, progress() as bars:
        k, s = knowledge.rebuild(
            rt,
            principal(ctx),
            knowledge_progress=bar(bars, "知识库"),
            scripts_progress=bar(bars, "话术"),
        )
    out.print(f"knowledge: {k.added} chunks · scripts: {s.added}")


@app.command("search")
def kb_search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument()],
    industry: Annotated[str | None, typer.Option()] = None,
    k: Annotated[int, typer.Option("-k", help="How many passages.")] = 5,
) -> None:
    """Search the knowledge base (hybrid: embeddings + BM25)."""
    from bot.services import knowledge

    with runtime(ctx) as rt:
        hits = knowledge.search(rt, principal(ctx), query=query, k=k, industry=industry)
    table = Table("分", "来源", "内容")
    for h in hits:
        table.add_row(f"{h.score:.4f}", f"{h.source}\n{h.section}", h.text)
    out.print(table)


@app.command("list")
def kb_list(ctx: typer.Context) -> None:
    """List ingested documents (name, id, where the current version came from)."""
    from bot.services import knowledge

    with runtime(ctx) as rt, rt.db.session() as session:
        docs = knowledge.documents(session, principal(ctx))
    table = Table()
    table.add_column("id", no_wrap=True)
    for name in ("文档", "类型", "行业", "段数"):
        table.add_column(name, overflow="fold")
    table.add_column("来自", overflow="fold")
    for d in docs:
        table.add_row(str(d.id), d.source, d.kind, d.industry or "全部", str(d.chunks), d.origin)
    out.print(table)


@app.command("delete")
def kb_delete(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="The document's name (e.g. 售后政策.txt) or id.")],
) -> None:
    """Delete a document: its chunks leave the database and both indexes."""
    from bot.services import knowledge

    with runtime(ctx) as rt:
        found = knowledge.delete(rt, principal(ctx), ref=ref)
    out.print(f"已删除文档 {found.source}（#{found.id}，{found.chunks} 段）")
