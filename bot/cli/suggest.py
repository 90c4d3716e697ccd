"""``siyu suggest``, ``siyu chat`` and ``siyu demo``: the pipeline from the terminal."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.channels.console import ConsoleChannel
from bot.cli.common import (
    err,
    out,
    principal,
    progress,
    runtime,
    styled,
)
from bot.cli.render import suggestion_panel
from bot.errors import EXPECTED_ERRORS, InputError, SiyuError
from bot.labels import industry_label
from bot.pipeline.history import TOO_DEEP
from knowledge.errors import os_reason

if TYPE_CHECKING:
    from rich.console import Console

    from bot.pipeline.runtime import Runtime
    from bot.services.access import Principal


def suggest(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Option("--text", "-t", help="一条客户消息。")] = None,
    input: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            help='JSONL 文件，每行一个 {"id", "text", "industry"[, "customer"]}。',
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="与 --input 一起用：结果写到这里（默认：标准输出）。"),
    ] = None,
    industry: Annotated[str | None, typer.Option(help="使用哪个行业的话术库。")] = None,
    customer: Annotated[int | None, typer.Option(help="客户 ID：用其画像填充变量。")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象。")] = False,
) -> None:
    """建议话术、知识和标签（配置了大模型时还有回复草稿）。"""
    if (text is None) == (input is None):
        raise SiyuError("--text 和 --input 只能给一个，也必须给一个")
    from bot.services import suggestions

    with runtime(ctx) as rt:
        if text is not None:
            result = suggestions.suggest(
                rt, principal(ctx), text=text, industry=industry, customer_id=customer
            )
            if as_json:
                typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
            else:
                out.print(suggestion_panel(result))
            if not result.scripts and not rt.library.list_scripts(status="approved"):
                err.print(  # run from another folder, the store is an empty one
                    f"提示：这个数据目录（{rt.settings.data_dir}）的话术库是空的："
                    "先运行 siyu demo 或 siyu scripts import，或用 --data-dir 指到你们的数据目录",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
            return
        assert input is not None
        _suggest_batch(rt, principal(ctx), input, output, industry)


#: ``--input`` given a message rather than a file.
NOT_A_FILE = "（--input 读 JSONL 文件；一条消息请用 --text）"
#: Repeated ids warned about one by one at most (then counted).
MAX_REPEATS_SHOWN = 5


def _suggest_batch(
    rt: Runtime, who: Principal, path: Path, output: Path | None, industry: str | None
) -> None:
    """Every line checked first (JSON, text, industry, customer: all problems with their
    line numbers, nothing suggested on error); the results are written to a file next to
    ``output`` and renamed over it at the end, so a failure leaves no half-written file."""
    from bot.services import suggestions

    items, repeated = _batch_items(rt, who, path, industry)
    for warning in repeated[:MAX_REPEATS_SHOWN]:
        err.print(styled("[yellow]注意[/] {}（结果仍按行序逐行写出）", warning), highlight=False)
    if len(repeated) > MAX_REPEATS_SHOWN:
        err.print(f"……另有 {len(repeated) - MAX_REPEATS_SHOWN} 行的 id 重复")
    if output is not None and output.is_dir():
        raise InputError(f"{output} 是文件夹：--output 要给一个文件名")
    if output is not None and not output.parent.is_dir():
        raise InputError(f"文件夹不存在：{output.parent}")
    partial = output.with_name(f".{output.name}.partial") if output else None
    sink = partial.open("w", encoding="utf-8") if partial else sys.stdout
    try:
        with progress() as bars:
            task = bars.add_task("建议", total=len(items))
            for item in items:
                result = suggestions.suggest(
                    rt,
                    who,
                    text=item["text"],
                    industry=item.get("industry") or industry,
                    customer_id=item.get("customer"),
                )
                row = {"id": item.get("id")} | result.to_json()
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                bars.advance(task)
    except BaseException:
        if partial:
            sink.close()
            partial.unlink(missing_ok=True)
        raise
    if output and partial:
        sink.close()
        partial.replace(output)
        err.print(f"{len(items)} 条结果已写入 {output}")


def _batch_items(
    rt: Runtime, who: Principal, path: Path, industry: str | None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The lines of a ``suggest --input`` file, or an ``InputError`` listing every bad one;
    with a warning per line whose ``id`` an earlier line has (its results are ambiguous)."""
    from bot.services.access import check_customer
    from bot.services.industries import resolve

    if path.is_dir():
        raise InputError(f"{path} 是文件夹：--input 要给一个 JSONL 文件")
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError as exc:
        raise InputError(f"找不到文件：{path}{NOT_A_FILE}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} 不是 UTF-8 文本") from exc
    except OSError as exc:
        raise InputError(f"无法读取 {path}：{os_reason(exc)}") from exc
    items: list[dict[str, Any]] = []
    problems = []
    repeated: list[str] = []
    first_line: dict[str, int] = {}
    with rt.db.session() as session:
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"第 {n} 行：不是合法的 JSON（第 {exc.colno} 列）")
                continue
            except RecursionError:  # the parser recurses once per level: [[[[… deep
                problems.append(f"第 {n} 行：{TOO_DEEP}")
                continue
            problem = _batch_problem(item)
            if problem is None:
                try:  # an unknown industry or customer stops the batch before it starts
                    resolve(session, item.get("industry") or industry)
                    if item.get("customer") is not None:
                        check_customer(session, who, item["customer"])
                except EXPECTED_ERRORS as exc:
                    ref = getattr(exc, "ref", None)  # the id asked for, as the CLI shows it
                    problem = f"{exc}：{ref}" if ref is not None else str(exc)
            if problem is not None:
                problems.append(f"第 {n} 行：{problem}")
                continue
            items.append(item)
            if item.get("id") is not None:
                key = json.dumps(item["id"], ensure_ascii=False, sort_keys=True)
                if key in first_line:
                    repeated.append(f"第 {n} 行的 id {key} 与第 {first_line[key]} 行重复")
                first_line.setdefault(key, n)
    if problems:
        raise InputError(f"{path.name}：{len(problems)} 行有错，没有处理任何消息", problems)
    return items, repeated


def _batch_problem(item: object) -> str | None:
    if not isinstance(item, dict) or not isinstance(item.get("text"), str):
        return '需要字符串 "text"'
    if not isinstance(item.get("industry") or "", str):
        return '"industry" 必须是字符串'
    customer = item.get("customer")
    if customer is not None and (
        isinstance(customer, bool) or not isinstance(customer, int) or not 0 < customer < 2**63
    ):
        return '"customer" 必须是客户 ID（正整数）'
    return None


def chat(
    ctx: typer.Context,
    industry: Annotated[str | None, typer.Option(help="话术库的行业。")] = None,
    name: Annotated[str, typer.Option(help="客户的名字。")] = "测试客户",
    contact: Annotated[str, typer.Option(help="客户的联系人 ID。")] = "console-customer",
) -> None:
    """控制台通道：以客户身份输入，查看建议（记入客户档案）。"""
    with runtime(ctx) as rt:
        run_console(rt, console=out, industry=industry, name=name, contact_id=contact)


def demo(
    ctx: typer.Context,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="数据目录里有你们自己的标签体系、资料字段、改过的演示话术或人设时也运行（会被演示的覆盖）。",
        ),
    ] = False,
) -> None:
    """加载自带的演示数据，演示与三位客户的简短对话（再次运行时重新开始；
    数据目录里有你们自己的设置时不运行，以免覆盖）。"""
    from bot.cli.demo import run_demo

    with runtime(ctx) as rt:
        run_demo(rt, principal(ctx), console=out, progress=progress, force=force)


EXIT_WORDS = {"/quit", "/exit", "/q"}
HELP_WORDS = {"/help", "/h", "/?"}
#: A chat command: a slash and Latin letters (``/help``). Anything else, 「/微笑」 too,
#: is the customer's message.
COMMAND = re.compile(r"/[A-Za-z?]+")
CHAT_HELP = (
    "输入客户说的话，回车发送，下面会给出建议（消息记在客户档案里）。\n"
    "命令（不会记录为客户消息）：/help 显示本说明 · /quit 退出（也可 /exit、/q、Ctrl-D）"
)


def run_console(
    runtime: Runtime, *, console: Console, industry: str | None, name: str, contact_id: str
) -> None:
    from bot.services.industries import resolve

    with runtime.db.session() as session:
        industry = resolve(session, industry)
    assumed = industry or runtime.assistant.default_industry()
    shown = industry_label(assumed) if assumed else "不限行业"
    channel = ConsoleChannel(runtime.assistant.handle, console=console)
    console.print(f"你是客户「{name}」（{shown}）。输入消息回车发送，/help 查看命令，/quit 退出。")
    while True:
        try:
            text = console.input(styled("[bold blue]客户> [/]"))
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        command = text.strip()
        if command in EXIT_WORDS:
            break
        if command in HELP_WORDS:
            console.print(CHAT_HELP)
            continue
        if COMMAND.fullmatch(command):
            unknown = styled("[yellow]未知命令 {}[/]，输入 /help 查看可用命令（未发送）", command)
            console.print(unknown)
            continue
        if not command:
            continue
        result = channel.receive(text, contact_id=contact_id, contact_name=name, industry=industry)
        if result is None:
            console.print(styled("[red]处理失败，消息已记录，稍后重试[/]"))
            continue
        console.print(suggestion_panel(result))
