"""``siyu kb``: the knowledge base — ingest documents, rebuild the indexes, search, list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    bar,
    out,
    principal,
    progress,
    runtime,
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
    """Ingest documents; unchanged files are skipped, changed ones replace their chunks."""
    from bot.services import knowledge

    with runtime(ctx) as rt, progress() as bars:
        report = knowledge.ingest(
            rt, principal(ctx), path=path, industry=industry, progress=bar(bars, "嵌入")
        )
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
    """List ingested documents."""
    from bot.services import knowledge

    with runtime(ctx) as rt, rt.db.session() as session:
        docs = knowledge.documents(session, principal(ctx))
    table = Table("来源", "类型", "行业", "段数")
    for d in docs:
        table.add_row(d.source, d.kind, d.industry or "-", str(d.chunks))
    out.print(table)
