"""``siyu scripts``: the script library (话术库): import, export, list, lint, status, drafts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    bar,
    database,
    out,
    principal,
    progress,
    runtime,
)
from bot.errors import InputError

app = typer.Typer(help="The script library (话术库): import, export, list, lint.")


@app.command("import")
def scripts_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV, XLSX or YAML file.")],
) -> None:
    """Import scripts (all-or-nothing: one bad row and nothing is written)."""
    from bot.services import scripts

    with runtime(ctx) as rt, progress() as bars:
        stats = scripts.import_file(rt, principal(ctx), path=path, progress=bar(bars, "索引话术"))
    out.print(f"新增 {stats.added} · 更新 {stats.updated} · 未变 {stats.unchanged}")


@app.command("export")
def scripts_export(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Target .csv, .xlsx or .yaml file.")],
    industry: Annotated[str | None, typer.Option()] = None,
    category: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Export scripts in the import format."""
    from bot.services import scripts

    with runtime(ctx) as rt:
        n = scripts.export(
            rt, principal(ctx), path=path, industry=industry, category=category, status=status
        )
    out.print(f"{n} scripts written to {path}")


@app.command("list")
def scripts_list(
    ctx: typer.Context,
    industry: Annotated[str | None, typer.Option()] = None,
    category: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option()] = None,
) -> None:
    """List scripts."""
    from bot.services import scripts

    with runtime(ctx) as rt:
        records = scripts.list_scripts(
            rt, principal(ctx), industry=industry, category=category, status=status
        )
    table = Table("id", "标题", "分类", "阶段", "行业", "状态", "版本")
    for r in records:
        table.add_row(r.id, r.title, r.category, r.stage, r.industry, r.status, str(r.version))
    out.print(table)
    out.print(f"{len(records)} scripts")


@app.command("lint")
def scripts_lint(
    path: Annotated[Path, typer.Argument(help="CSV, XLSX or YAML file.")],
) -> None:
    """Check a script file without importing it; exit 1 if it has errors."""
    from scripts_lib import lint, read_scripts

    issues = lint(read_scripts(path))
    for issue in issues:
        style = "red" if issue.severity == "error" else "yellow"
        out.print(f"[{style}]{issue.severity}[/] {issue}", highlight=False)
    errors = sum(1 for i in issues if i.severity == "error")
    out.print(f"{errors} errors, {len(issues) - errors} warnings")
    if errors:
        raise typer.Exit(1)


@app.command("status")
def scripts_status(
    ctx: typer.Context,
    script_id: Annotated[str, typer.Argument()],
    status: Annotated[str, typer.Argument(help="draft, approved or archived.")],
) -> None:
    """Change a script's status (only approved scripts are suggested)."""
    from bot.services import scripts
    from scripts_lib.model import STATUSES

    if status not in STATUSES:  # before the slow start of the runtime
        raise InputError(f"status must be one of {', '.join(STATUSES)}")
    with runtime(ctx) as rt:
        scripts.set_status(rt, principal(ctx), script_id=script_id, status=status)
    out.print(f"{script_id}: {status}")


@app.command("mine-edits")
def scripts_mine_edits(
    ctx: typer.Context,
    min_count: Annotated[int, typer.Option(help="Smallest group of similar messages.")] = 3,
    similarity: Annotated[
        float, typer.Option(help="Texts at least this similar (0-1) are grouped.")
    ] = 0.8,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the drafts.")] = False,
) -> None:
    """Propose script drafts (status draft, never approved) from frequent adviser edits
    and frequent adviser messages that matched no script."""
    from bot.services import scripts

    if min_count < 1 or not 0 < similarity <= 1:
        raise InputError("--min-count must be >= 1 and --similarity within (0, 1]")
    with database(ctx) as (db, _settings):
        proposals = scripts.mine_drafts(
            db, principal(ctx), min_count=min_count, similarity=similarity, save=not dry_run
        )
    table = Table(
        "草稿 draft", "来源 source", "次数 n", "正文 body", title="话术草稿 proposed drafts"
    )
    for p in proposals:
        source = f"改写 {p.based_on}" if p.based_on else "未匹配 unmatched"
        table.add_row(p.record.id, source, str(p.count), p.record.body)
    out.print(table)
    verb = "将新增" if dry_run else "已新增"
    out.print(f"{verb} {len(proposals)} 条草稿 (status draft)；审核后才会被推荐")
