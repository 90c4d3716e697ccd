"""The ``siyu`` command line: the root command, its global options and the command groups
(one module each in this package). Errors become one red line and exit code 1;
tracebacks only with ``--debug``. Heavy modules are imported inside the commands, so
``--help`` is instant."""

from __future__ import annotations

import os

# The bundled embedding model is fast only with a single BLAS thread, and that must be
# set before numpy is first imported; nothing above this line imports numpy.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli import (
    actions,
    advisers,
    campaigns,
    customers,
    events,
    fields,
    followups,
    history,
    kb,
    logs,
    referrals,
    report,
    scripts,
    segments,
    serve,
    suggest,
    tags,
    users,
    zh,
)
from bot.cli import bot as bot_cli
from bot.cli.common import Options, err, styled
from bot.errors import EXPECTED_ERRORS
from knowledge.text import echo

zh.install()

app = typer.Typer(
    help="Siyu Copilot 思语：为私域销售顾问建议回复、破冰话术和客户标签。",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("suggest")(suggest.suggest)
app.command("chat")(suggest.chat)
app.command("demo")(suggest.demo)
app.command("serve")(serve.serve_command)
app.command("bot")(bot_cli.bot_command)
app.add_typer(scripts.app, name="scripts")
app.add_typer(kb.app, name="kb")
app.add_typer(tags.app, name="tags")
app.add_typer(customers.app, name="customers")
app.add_typer(followups.app, name="followups")
app.add_typer(segments.app, name="segments")
app.add_typer(report.app, name="report")
app.add_typer(events.app, name="events")
app.add_typer(history.app, name="history")
app.add_typer(users.app, name="users")
app.add_typer(campaigns.app, name="campaigns")
app.add_typer(referrals.app, name="referrals")
app.add_typer(fields.app, name="fields")
app.add_typer(actions.app, name="actions")
app.add_typer(advisers.app, name="advisers")


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", envvar="SIYU_CONFIG", help="TOML 配置文件。"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="SIYU_DATA_DIR",
            help="存放全部数据的目录（默认 ./.siyu）。",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="输出详细日志，出错时显示调用栈。")
    ] = False,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor",
            envvar="SIYU_ACTOR",
            help="谁在执行命令，记入审计日志（默认：你的登录名）。",
        ),
    ] = None,
) -> None:
    logs.configure(debug=debug)
    ctx.obj = Options(config=config, data_dir=data_dir, debug=debug, actor=actor)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code. User errors are one line on stderr and code 1,
    usage errors code 2; a traceback only with ``--debug``."""
    args = sys.argv[1:] if argv is None else argv
    try:
        code = app(args=args, standalone_mode=False, prog_name="siyu")
    except EXPECTED_ERRORS as exc:
        ref = getattr(exc, "ref", None)
        detail = f"{exc}：{echo(str(ref), 80)}" if ref is not None else str(exc)
        err.print(styled("[bold red]错误：[/]{}", detail), highlight=False, soft_wrap=True)
        if "--debug" in args:
            raise
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        err.print("已中止")
        return 130
    except typer.TyperException as exc:  # usage errors from the (vendored) click layer
        _show_usage_error(exc)
        return int(getattr(exc, "exit_code", 2))
    except SystemExit as exc:  # e.g. a closed stdout pipe while printing help
        return exc.code if isinstance(exc.code, int) else 1
    # In non-standalone mode click returns the code of a typer.Exit instead of raising.
    return code if isinstance(code, int) else 0


def _show_usage_error(exc: typer.TyperException) -> None:
    """A usage error as the parser reports it, in Chinese: the usage line, the error, and
    where to find the help."""
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        err.print(ctx.get_usage(), highlight=False, soft_wrap=True)
        err.print(f"用 '{ctx.command_path} --help' 查看帮助。", highlight=False)
    format_message = getattr(exc, "format_message", None)
    message = format_message() if format_message is not None else str(exc)
    err.print(styled("[bold red]错误：[/]{}", zh.usage_error(message)), highlight=False)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
