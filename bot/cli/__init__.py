"""The ``siyu`` command line. Errors become one red line and exit code 1; tracebacks
only with ``--debug``. Heavy modules are imported inside the commands, so ``--help``
is instant."""

from __future__ import annotations

import os

# The bundled embedding model is fast only with a single BLAS thread, and that must be
# set before numpy is first imported (DESIGN.md); nothing above this line imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from bot.errors import SiyuError

if TYPE_CHECKING:
    from bot.pipeline.runtime import Runtime
    from bot.settings import Settings

app = typer.Typer(
    help="Siyu Copilot 思语: reply, ice-breaker and tag suggestions for private-domain sales.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
scripts_app = typer.Typer(help="The script library (话术库): import, export, list, lint.")
kb_app = typer.Typer(help="The knowledge base: ingest documents, rebuild, search.")
tags_app = typer.Typer(help="The tag taxonomy and the review of suggested customer tags.")
customers_app = typer.Typer(help="Customer profiles.")
app.add_typer(scripts_app, name="scripts")
app.add_typer(kb_app, name="kb")
app.add_typer(tags_app, name="tags")
app.add_typer(customers_app, name="customers")
# The web console (issue #4): implementation in bot/cli/web.py, heavy imports deferred.
from bot.cli.web import serve_command, users_app  # noqa: E402

app.command("serve")(serve_command)
# The Wechaty channel (issue #3): bot/cli/wechaty.py, the SDK loads in the command.
from bot.cli.wechaty import bot_command  # noqa: E402

app.command("bot")(bot_command)
app.add_typer(users_app, name="users")
# OneID, follow-ups, segments, reports (issue #6): implementation in bot/cli/crm.py.
from bot.cli.crm import (  # noqa: E402
    followups_app,
    register_customer_commands,
    report_app,
    segments_app,
)

register_customer_commands(customers_app)
app.add_typer(followups_app, name="followups")
app.add_typer(segments_app, name="segments")
app.add_typer(report_app, name="report")
# Script effectiveness, A/B variants, conversion events (issue #5): bot/cli/effectiveness.py.
from bot.cli.effectiveness import events_app, register_effectiveness_commands  # noqa: E402

register_effectiveness_commands(report_app=report_app, scripts_app=scripts_app)
app.add_typer(events_app, name="events")

out = Console()
err = Console(stderr=True)


@dataclass
class Options:
    config: Path | None
    data_dir: Path | None
    debug: bool

    def settings(self) -> Settings:
        from bot.settings import load_settings

        return load_settings(self.config, data_dir=self.data_dir)


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", envvar="SIYU_CONFIG", help="TOML settings file."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="SIYU_DATA_DIR",
            help="Directory holding all state (default ./.siyu).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Verbose logs and tracebacks.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = Options(config=config, data_dir=data_dir, debug=debug)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


@contextmanager
def _runtime(ctx: typer.Context) -> Iterator[Runtime]:
    """Open the runtime with a progress bar while the indexes catch up with SQL."""
    from bot.pipeline.runtime import open_runtime

    settings: Settings = ctx.obj.settings()
    with _progress() as progress:
        tasks: dict[str, Any] = {}

        def on_progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = progress.add_task(f"索引 {name}", total=total)
            progress.update(tasks[name], completed=done, total=total)

        runtime = open_runtime(settings, progress=on_progress)
    try:
        yield runtime
    finally:
        runtime.close()


def _bar(progress: Progress, description: str) -> Any:
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return update


# --------------------------------------------------------------------------- suggest
@app.command()
def suggest(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Option("--text", "-t", help="A customer message.")] = None,
    input: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            help='JSONL file, one {"id", "text", "industry"[, "customer"]} per line.',
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="With --input: write results here (default stdout)."),
    ] = None,
    industry: Annotated[str | None, typer.Option(help="Industry of the library to use.")] = None,
    customer: Annotated[
        int | None, typer.Option(help="Customer id: fills variables from the profile.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Suggest scripts, knowledge, tags (and a draft when an LLM is configured)."""
    if (text is None) == (input is None):
        raise SiyuError("give exactly one of --text or --input")
    with _runtime(ctx) as rt:
        if text is not None:
            result = rt.assistant.suggest(text, industry=industry, customer_id=customer)
            if as_json:
                out.print_json(json.dumps(result.to_json(), ensure_ascii=False))
            else:
                from bot.cli.render import suggestion_panel

                out.print(suggestion_panel(result))
            return
        assert input is not None
        _suggest_batch(rt, input, output, industry)


def _suggest_batch(rt: Runtime, path: Path, output: Path | None, industry: str | None) -> None:
    from bot.errors import InputError

    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError as exc:
        raise InputError(f"file not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text") from exc
    items: list[dict[str, Any]] = []
    problems = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {n}: not JSON ({exc.msg})")
            continue
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            problems.append(f'line {n}: needs a "text" string')
            continue
        items.append(item)
    if problems:
        raise InputError(f"{path.name}: {len(problems)} bad lines, nothing processed", problems)
    sink = output.open("w", encoding="utf-8") if output else sys.stdout
    try:
        with _progress() as progress:
            task = progress.add_task("建议", total=len(items))
            for item in items:
                result = rt.assistant.suggest(
                    item["text"],
                    industry=item.get("industry") or industry,
                    customer_id=item.get("customer"),
                )
                row = {"id": item.get("id")} | result.to_json()
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                progress.advance(task)
    finally:
        if output:
            sink.close()
    if output:
        err.print(f"{len(items)} results written to {output}")


# --------------------------------------------------------------------------- chat / demo
@app.command()
def chat(
    ctx: typer.Context,
    industry: Annotated[str | None, typer.Option(help="Industry of the library.")] = None,
    name: Annotated[str, typer.Option(help="The customer's name.")] = "测试客户",
    contact: Annotated[str, typer.Option(help="The customer's contact id.")] = "console-customer",
) -> None:
    """Console channel: type as the customer, see the suggestions (logged to the profile)."""
    from bot.channels.console import run_console

    with _runtime(ctx) as rt:
        run_console(rt, console=out, industry=industry, name=name, contact_id=contact)


@app.command()
def demo(ctx: typer.Context) -> None:
    """Load the shipped demo data and play a short conversation with three customers."""
    from bot.cli.demo import run_demo

    with _runtime(ctx) as rt:
        run_demo(rt, console=out, progress=_progress)


# --------------------------------------------------------------------------- scripts
@scripts_app.command("import")
def scripts_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV, XLSX or YAML file.")],
) -> None:
    """Import scripts (all-or-nothing: one bad row and nothing is written)."""
    with _runtime(ctx) as rt, _progress() as progress:
        stats = rt.library.import_file(path, progress=_bar(progress, "索引话术"))
    out.print(f"新增 {stats.added} · 更新 {stats.updated} · 未变 {stats.unchanged}")


@scripts_app.command("export")
def scripts_export(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Target .csv, .xlsx or .yaml file.")],
    industry: Annotated[str | None, typer.Option()] = None,
    category: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Export scripts in the import format."""
    with _runtime(ctx) as rt:
        n = rt.library.export(path, industry=industry, category=category, status=status)
    out.print(f"{n} scripts written to {path}")


@scripts_app.command("list")
def scripts_list(
    ctx: typer.Context,
    industry: Annotated[str | None, typer.Option()] = None,
    category: Annotated[str | None, typer.Option()] = None,
    status: Annotated[str | None, typer.Option()] = None,
) -> None:
    """List scripts."""
    with _runtime(ctx) as rt:
        records = rt.library.list_scripts(industry=industry, category=category, status=status)
    table = Table("id", "标题", "分类", "阶段", "行业", "状态", "版本")
    for r in records:
        table.add_row(r.id, r.title, r.category, r.stage, r.industry, r.status, str(r.version))
    out.print(table)
    out.print(f"{len(records)} scripts")


@scripts_app.command("lint")
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


@scripts_app.command("status")
def scripts_status(
    ctx: typer.Context,
    script_id: Annotated[str, typer.Argument()],
    status: Annotated[str, typer.Argument(help="draft, approved or archived.")],
) -> None:
    """Change a script's status (only approved scripts are suggested)."""
    from bot.errors import InputError, NotFoundError
    from scripts_lib.model import STATUSES

    if status not in STATUSES:
        raise InputError(f"status must be one of {', '.join(STATUSES)}")
    with _runtime(ctx) as rt:
        if rt.library.set_status(script_id, status) is None:
            raise NotFoundError(f"script {script_id} not found")
    out.print(f"{script_id}: {status}")


# --------------------------------------------------------------------------- knowledge
@kb_app.command("ingest")
def kb_ingest(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A file or folder (.md, .txt, .csv, .xlsx).")],
    industry: Annotated[
        str | None, typer.Option(help="Industry these documents apply to (default: all).")
    ] = None,
) -> None:
    """Ingest documents; unchanged files are skipped, changed ones replace their chunks."""
    with _runtime(ctx) as rt, _progress() as progress:
        report = rt.kb.ingest(path, industry=industry, progress=_bar(progress, "嵌入"))
    out.print(
        f"新增 {len(report.added)} · 更新 {len(report.updated)} · 未变 {len(report.unchanged)}"
        f" · 写入 {report.chunks_written} 段"
    )


@kb_app.command("rebuild")
def kb_rebuild(ctx: typer.Context) -> None:
    """Rebuild the knowledge, script and tag indexes from the database."""
    with _runtime(ctx) as rt, _progress() as progress:
        k = rt.kb.rebuild(progress=_bar(progress, "知识库"))
        s = rt.library.rebuild(progress=_bar(progress, "话术"))
        rt.reload_tags()
    out.print(f"knowledge: {k.added} chunks · scripts: {s.added}")


@kb_app.command("search")
def kb_search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument()],
    industry: Annotated[str | None, typer.Option()] = None,
    k: Annotated[int, typer.Option("-k", help="How many passages.")] = 5,
) -> None:
    """Search the knowledge base (hybrid: embeddings + BM25)."""
    with _runtime(ctx) as rt:
        hits = rt.kb.search(query, k=k, industry=industry)
    table = Table("分", "来源", "内容")
    for h in hits:
        table.add_row(f"{h.score:.4f}", f"{h.source}\n{h.section}", h.text)
    out.print(table)


@kb_app.command("list")
def kb_list(ctx: typer.Context) -> None:
    """List ingested documents."""
    from bot.store import documents

    with _runtime(ctx) as rt, rt.db.session() as session:
        docs = documents.list_documents(session=session)
    table = Table("来源", "类型", "行业", "段数")
    for d in docs:
        table.add_row(d.source, d.kind, d.industry or "-", str(d.chunks))
    out.print(table)


# --------------------------------------------------------------------------- tags
@tags_app.command("import")
def tags_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Taxonomy YAML.")],
) -> None:
    """Import the tag taxonomy (tags missing from the file are deactivated)."""
    from bot.pipeline.tagging import parse_taxonomy
    from bot.store import tags

    categories = parse_taxonomy(path)
    with _runtime(ctx) as rt:
        with rt.db.session() as session:
            stats = tags.replace_taxonomy(session=session, categories=categories)
        rt.reload_tags()
    out.print(
        f"{stats.categories} categories · 新增 {stats.added} · 更新 {stats.updated}"
        f" · 停用 {stats.deactivated}"
    )


@tags_app.command("list")
def tags_list(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="suggested, confirmed or rejected.")
    ] = "suggested",
) -> None:
    """List customer tags (default: those waiting for review)."""
    from bot.store import tags

    with _runtime(ctx) as rt, rt.db.session() as session:
        rows = tags.list_customer_tags(session=session, status=status)
    table = Table("id", "客户", "标签", "状态", "依据")
    for r in rows:
        table.add_row(
            str(r.id), r.customer_name, f"{r.tag.category}/{r.tag.name}", r.status, r.evidence
        )
    out.print(table)


@tags_app.command("review")
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

    with _runtime(ctx) as rt:
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


# --------------------------------------------------------------------------- customers
@customers_app.command("list")
def customers_list(
    ctx: typer.Context,
    adviser: Annotated[str | None, typer.Option(help="Only this adviser's customers.")] = None,
) -> None:
    """List customers, most recently active first."""
    from bot.store import customers

    with _runtime(ctx) as rt, rt.db.session() as session:
        rows = customers.list_customers(session=session, adviser_id=adviser)
    table = Table("id", "姓名", "顾问", "行业", "阶段", "最近消息")
    for c in rows:
        last = c.last_message_at.strftime("%Y-%m-%d %H:%M") if c.last_message_at else "-"
        table.add_row(str(c.id), c.name, c.adviser_id or "-", c.industry or "-", c.stage, last)
    out.print(table)


@customers_app.command("show")
def customers_show(ctx: typer.Context, customer_id: Annotated[int, typer.Argument()]) -> None:
    """Show one customer's profile: identities, tags, timeline."""
    from bot.cli.render import profile_panel
    from bot.store import customers

    with _runtime(ctx) as rt:
        with rt.db.session() as session:
            profile = customers.customer_profile(session=session, customer_id=customer_id)
        out.print(profile_panel(profile, timezone=rt.settings.timezone))


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code. User errors are one line on stderr and code 1,
    usage errors code 2; a traceback only with ``--debug``."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args, standalone_mode=False, prog_name="siyu")
    except SiyuError as exc:
        err.print(f"[bold red]错误 error:[/] {exc}", highlight=False)
        if "--debug" in args:
            raise
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("aborted")
        return 130
    except typer.TyperException as exc:  # usage errors from the (vendored) click layer
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err.print(str(exc))
        return int(getattr(exc, "exit_code", 2))
    except SystemExit as exc:  # e.g. a closed stdout pipe while printing help
        return exc.code if isinstance(exc.code, int) else 1
    # In non-standalone mode click returns the code of a typer.Exit instead of raising.
    return code if isinstance(code, int) else 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
