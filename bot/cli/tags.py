"""``siyu tags``: the tag taxonomy and the review of suggested customer tags."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    out,
    runtime,
)

if TYPE_CHECKING:
    pass

app = typer.Typer(help="The tag taxonomy and the review of suggested customer tags.")


@app.command("import")
def tags_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Taxonomy YAML.")],
) -> None:
    """Import the tag taxonomy (tags missing from the file are deactivated)."""
    from bot.pipeline.tagging import parse_taxonomy
    from bot.store import tags

    categories = parse_taxonomy(path)
    with runtime(ctx) as rt:
        with rt.db.session() as session:
            stats = tags.replace_taxonomy(session=session, categories=categories)
        rt.reload_tags()
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
    from bot.store import tags

    with runtime(ctx) as rt, rt.db.session() as session:
        rows = tags.list_customer_tags(session=session, status=status)
    table = Table("id", "客户", "标签", "状态", "依据")
    for r in rows:
        table.add_row(
            str(r.id), r.customer_name, f"{r.tag.category}/{r.tag.name}", r.status, r.evidence
        )
    out.print(table)


@app.command("review")
def tags_review(
    ctx: typer.Context,
    reviewer: Annotated[str, typer.Option(help="Who is reviewing.")] = "manager",
    confirm: Annotated[
        list[int] | None, typer.Option("--confirm", help="Confirm this id (repeatable).")
    ] = None,
    reject: Annotated[
        list[int] | None, typer.Option("--reject", help="Reject this id (repeatable).")
    ] = None,
) -> None:
    """Confirm or reject suggested tags: by id with --confirm/--reject, else one by one."""
    from bot.store import tags

    with runtime(ctx) as rt:
        if confirm or reject:
            with rt.db.session() as session:
                for tid in confirm or []:
                    tags.review_customer_tag(
                        session=session, customer_tag_id=tid, status="confirmed", reviewer=reviewer
                    )
                for tid in reject or []:
                    tags.review_customer_tag(
                        session=session, customer_tag_id=tid, status="rejected", reviewer=reviewer
                    )
            out.print(f"confirmed {len(confirm or [])}, rejected {len(reject or [])}")
            return
        with rt.db.session() as session:
            pending = tags.list_customer_tags(session=session, status="suggested")
        if not pending:
            out.print("没有待确认的标签")
            return
        for row in pending:
            out.print(f"[bold]{row.customer_name}[/] → {row.tag.category}/{row.tag.name}")
            out.print(f"  依据: {row.evidence}", highlight=False)
            answer = typer.prompt("确认 y / 拒绝 n / 跳过 s / 退出 q", default="s").strip().lower()
            if answer == "q":
                break
            if answer in ("y", "n"):
                with rt.db.session() as session:
                    tags.review_customer_tag(
                        session=session,
                        customer_tag_id=row.id,
                        status="confirmed" if answer == "y" else "rejected",
                        reviewer=reviewer,
                    )
