"""``siyu tags``: the tag taxonomy and the review of suggested customer tags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import err, out, principal, runtime, styled

app = typer.Typer(help="The tag taxonomy and the review of suggested customer tags.")


@app.command("import")
def tags_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Taxonomy YAML.")],
) -> None:
    """Import the tag taxonomy (tags missing from the file are deactivated)."""
    from bot.services import tags

    with runtime(ctx) as rt:
        stats = tags.import_taxonomy(rt, principal(ctx), path=path)
    for warning in stats.warnings:
        err.print(styled("[yellow]注意[/] {}", warning), highlight=False)
    out.print(
        f"{stats.categories} categories · 新增 {stats.added} · 更新 {stats.updated}"
        f" · 停用 {stats.deactivated}"
    )


@app.command("list")
def tags_list(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="suggested, confirmed or rejected.")
    ] = "suggested",
) -> None:
    """List customer tags (default: those waiting for review)."""
    from bot.services import tags

    with runtime(ctx) as rt, rt.db.session() as session:
        rows = tags.customer_tags(session, principal(ctx), status=status)
    table = Table("id", "客户", "标签", "状态", "依据")
    for r in rows:
        table.add_row(
            str(r.id), r.customer_name, f"{r.tag.category}/{r.tag.name}", r.status, r.evidence
        )
    out.print(table)


@app.command("review")
def tags_review(
    ctx: typer.Context,
    reviewer: Annotated[
        str | None,
        typer.Option(help="Who is reviewing (default: the global --actor or your login)."),
    ] = None,
    confirm: Annotated[
        list[int] | None, typer.Option("--confirm", help="Confirm this id (repeatable).")
    ] = None,
    reject: Annotated[
        list[int] | None, typer.Option("--reject", help="Reject this id (repeatable).")
    ] = None,
) -> None:
    """Confirm or reject suggested tags: by id with --confirm/--reject, else one by one."""
    from bot.services import tags

    who = principal(ctx, reviewer)
    with runtime(ctx) as rt:
        if confirm or reject:
            with rt.db.session() as session:
                for tid in confirm or []:
                    tags.review(session, who, customer_tag_id=tid, status="confirmed")
                for tid in reject or []:
                    tags.review(session, who, customer_tag_id=tid, status="rejected")
            out.print(f"confirmed {len(confirm or [])}, rejected {len(reject or [])}")
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
            out.print(f"  依据: {row.evidence}", highlight=False)
            answer = typer.prompt("确认 y / 拒绝 n / 跳过 s / 退出 q", default="s").strip().lower()
            if answer == "q":
                break
            if answer in ("y", "n"):
                with rt.db.session() as session:
                    tags.review(
                        session,
                        who,
                        customer_tag_id=row.id,
                        status="confirmed" if answer == "y" else "rejected",
                    )
