"""The words of the command-line frame in Chinese: the ``--help`` page's usage line, panel
titles and notes (Typer's ``rich_utils`` settings, which Typer exposes for this), the help
option's own line, and the usage errors of the parser.

Typer writes these in English and translates them with nothing of ours; ``install()``
sets them once, when the root command is built (bot/cli/__init__.py). The commands' own
help texts are written in Chinese where they are declared."""

from __future__ import annotations

import inspect
import re
from typing import Any

import typer
from rich.text import Text
from typer import rich_utils

HELP_OPTION_TEXT = "显示本帮助并退出。"

#: The usage line's words, as the parser writes them -> as shown.
_USAGE_WORDS = (
    ("Usage: ", "用法："),
    ("[OPTIONS]", "[选项]"),
    ("COMMAND [ARGS]...", "命令 [参数]..."),
)

#: The parser's usage errors (typer's vendored click: ``typer._click.exceptions``, ``.core``)
#: -> Chinese.
_USAGE_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^Missing argument '(.+?)'\.(.*)$", r"缺少参数 \1。\2"),
        (r"^Missing option '(.+?)'\.(.*)$", r"缺少选项 \1。\2"),
        (r"^Missing parameter '?(.+?)'?\.(.*)$", r"缺少参数 \1。\2"),
        (r"^No such option: (\S+)(?: Did you mean (\S+)\?)?.*$", r"没有这个选项：\1"),
        (
            r"^No such command '(.+?)'\. Did you mean '(.+?)'\?$",
            r"没有这个命令：\1（是不是要用 \2？）",
        ),
        (r"^No such command '(.+?)'\.$", r"没有这个命令：\1"),
        (r"^Missing command\.$", "缺少命令。"),
        (r"^Got unexpected extra argument(?:s|\(s\))? \((.*)\)$", r"多余的参数：\1"),
        (r"^Option '(.+?)' requires an argument\.$", r"选项 \1 需要一个值。"),
        (r"^Option '(.+?)' requires (\d+) arguments\.$", r"选项 \1 需要 \2 个值。"),
        (r"^Invalid value for '(.+?)': (.*)$", r"\1 的值无效：\2"),
        (r"^Invalid value: (.*)$", r"值无效：\1"),
    )
)

#: Typer's value errors (the part after "Invalid value for …: ").
_VALUE_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"'(.*)' is not a valid integer\.?", r"「\1」不是整数"),
        (r"'(.*)' is not a valid float\.?", r"「\1」不是数字"),
        (r"'(.*)' is not a valid boolean\.?", r"「\1」不是 true 或 false"),
        (r"'(.*)' is not one of (.*)\.", r"「\1」只能是 \2 之一"),
        (r"'(.*)' is not (.*)\.", r"「\1」只能是 \2"),
        (r"(?:File|Path|Directory) '(.*)' does not exist\.", r"「\1」不存在"),
        (r"(?:File|Path) '(.*)' is a directory\.", r"「\1」是目录，不是文件"),
        (r"Directory '(.*)' is a file\.", r"「\1」是文件，不是目录"),
        # the same checks as Typer words them through pydantic
        (r"Input should be a valid integer[^.]*\.?", "要一个整数"),
        (r"Input should be a valid number[^.]*\.?", "要一个数字"),
        (r"Input should be a valid boolean[^.]*\.?", "要 true 或 false"),
        (r"Input should be greater than or equal to (\S+?)\.?$", r"不能小于 \1"),
        (r"Input should be less than or equal to (\S+?)\.?$", r"不能大于 \1"),
        (r"Input should be greater than (\S+?)\.?$", r"要大于 \1"),
        (r"Input should be less than (\S+?)\.?$", r"要小于 \1"),
    )
)


def install() -> None:
    """Set Typer's help frame to Chinese (idempotent)."""
    rich_utils.ARGUMENTS_PANEL_TITLE = "参数"
    rich_utils.OPTIONS_PANEL_TITLE = "选项"
    rich_utils.COMMANDS_PANEL_TITLE = "命令"
    rich_utils.ERRORS_PANEL_TITLE = "错误"
    rich_utils.ABORTED_TEXT = "已中止。"
    rich_utils.DEFAULT_STRING = "[默认：{}]"
    rich_utils.ENVVAR_STRING = "[环境变量：{}]"
    rich_utils.REQUIRED_LONG_STRING = "[必填]"
    rich_utils.DEPRECATED_STRING = "（已弃用）"
    rich_utils.RICH_HELP = "用 [blue]'{command_path} {help_option}'[/] 查看帮助。"
    command: Any = typer.core.TyperCommand.__mro__[1]  # the vendored click Command
    if getattr(command, "_siyu_chinese", False):
        return
    command_help = rich_utils._make_command_help

    def whole_command_help(*, help_text: str, markup_mode: Any) -> Any:
        shown = command_help(help_text=one_paragraph(help_text), markup_mode=markup_mode)
        if isinstance(shown, Text):
            shown.overflow = "fold"  # a line of Chinese has no space to wrap at: never cut
        return shown

    rich_utils._make_command_help = whole_command_help
    get_usage = command.get_usage
    get_help_option = command.get_help_option

    def chinese_usage(self: Any, ctx: Any) -> str:
        return usage_line(get_usage(self, ctx))

    def chinese_help_option(self: Any, ctx: Any) -> Any:
        option = get_help_option(self, ctx)
        if option is not None:
            option.help = HELP_OPTION_TEXT
        return option

    command.get_usage = chinese_usage
    command.get_help_option = chinese_help_option
    option: Any = typer.core.TyperOption
    type_of = option.display_type_rich

    def no_type_for_a_flag(self: Any, ctx: Any) -> Any:
        # a flag takes no value: 「--json <bool>」 read as if it wanted `--json true`
        return None if getattr(self, "is_flag", False) else type_of(self, ctx)

    option.display_type_rich = no_type_for_a_flag
    command._siyu_chinese = True


def one_paragraph(help_text: str) -> str:
    """A command's help with the line breaks of its first paragraph (where its docstring
    was wrapped in the source) joined: no space between Chinese characters, one beside a
    Latin word. Typer keeps them in a commands panel, so the list showed half lines."""
    first, *rest = inspect.cleandoc(help_text).split("\n\n")
    joined = re.sub(
        r"(.)\n(.)",
        lambda m: m[1] + ("" if _cjk(m[1]) or _cjk(m[2]) else " ") + m[2],
        first,
    )
    return "\n\n".join([joined, *rest])


def _cjk(char: str) -> bool:
    return not char.isascii() and not char.isspace()


def usage_line(text: str) -> str:
    for english, chinese in _USAGE_WORDS:
        text = text.replace(english, chinese)
    return text


def usage_error(message: str) -> str:
    """A parser's usage error in Chinese (unchanged when it is not one it knows)."""
    for pattern, replacement in _USAGE_ERRORS:
        found = pattern.match(message.strip())
        if found:
            message = found.expand(replacement).strip()
            break
    for pattern, replacement in _VALUE_ERRORS:
        message = pattern.sub(replacement, message)
    return message
