"""The words of the command-line frame in Chinese: the ``--help`` page's usage line, panel
titles and notes (Typer's ``rich_utils`` settings, which Typer exposes for this), the help
option's own line, what each option's value and each argument is (``--file 文件``, not
Typer's ``<path>``), and the usage errors of the parser.

Typer writes these in English and translates them with nothing of ours; ``install()``
sets them once, when the root command is built (bot/cli/__init__.py). The commands' own
help texts are written in Chinese where they are declared."""

from __future__ import annotations

import inspect
import re
from typing import Any, get_args

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

#: What a parameter's value is, by the parameter's name in the code: the word ``--help``
#: shows beside an option (``--tag 标签``) and as an argument (``siyu customers show
#: 客户ID``, 「缺少参数 客户ID」). A parameter not listed gets the word of its type
#: (``_TYPE_WORDS``); a declaration's own ``metavar`` wins over both.
METAVARS: dict[str, str] = {
    "actor": "名字",
    "added": "人数",
    "adviser": "顾问ID",
    "adviser_id": "顾问ID",
    "amount": "金额",
    "by": "分组",
    "campaign": "活动",
    "category": "分类",
    "channel": "渠道",
    "code": "渠道码",
    "config": "文件",
    "confirm": "编号",
    "contact": "联系人ID",
    "converted": "人数",
    "cost": "金额",
    "csv_path": "文件",
    "customer": "客户",
    "customer_id": "客户ID",
    "data_dir": "目录",
    "days": "天数",
    "description": "说明",
    "end": "日期",
    "file": "文件",
    "filters": "条件",
    "host": "地址",
    "industry": "行业",
    "input": "文件",
    "k": "段数",
    "keep": "保留的客户ID",
    "merge": "并入的客户ID",
    "merge_id": "合并编号",
    "min_count": "条数",
    "min_orders": "单数",
    "min_suggested": "次数",
    "min_ticket": "金额",
    "msg_id": "消息ID",
    "name": "名称",
    "note": "备注",
    "now": "时间",
    "order_id": "订单号",
    "output": "文件",
    "password": "密码",
    "path": "文件",
    "png_path": "文件",
    "port": "端口",
    "product": "产品",
    "query": "问题",
    "reason": "原因",
    "ref": "文档",
    "referrer": "介绍人",
    "reject": "编号",
    "remove": "编号",
    "revenue": "金额",
    "reviewer": "名字",
    "role": "角色",
    "rules": "文件",
    "script_id": "话术编号",
    "segment": "分群",
    "signature": "签名",
    "similarity": "相似度",
    "since": "日期",
    "stage": "阶段",
    "start": "日期",
    "status": "状态",
    "tag": "标签",
    "team": "团队",
    "text": "消息",
    "time": "时间",
    "tone": "语气",
    "type": "类型",
    "until": "日期",
    "username": "登录名",
    "values": "字段=值",
    "welcome": "话术编号",
    "workers": "进程数",
}

#: The word of a value by its type, for a parameter ``METAVARS`` does not name.
_TYPE_WORDS = {str: "文本", int: "整数", float: "数字", bool: "true|false"}

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

    def chinese_value(self: Any, ctx: Any) -> Any:
        # a flag takes no value: 「--json <bool>」 read as if it wanted `--json true`
        if getattr(self, "is_flag", False):
            return None
        return self.metavar or metavar(self, many=bool(getattr(self, "multiple", False)))

    option.display_type_rich = chinese_value
    argument: Any = typer.core.TyperArgument
    # An argument is shown by what it is (the usage line, the arguments panel, a usage
    # error): 「siyu customers import [选项] {文件}」, not {path} with <path> beside it.
    argument.display_name_raw = property(lambda self: self.metavar or metavar(self))
    argument.display_type_rich = lambda self, ctx: None
    command._siyu_chinese = True


def metavar(param: Any, *, many: bool = False) -> str:
    """The Chinese word for what ``param`` takes (``METAVARS``, else its type's word);
    ``many``: an option given more than once (``--confirm 编号…``)."""
    word = METAVARS.get(param.name or "") or _type_word(param.type_descriptor)
    return f"{word}…" if many else word


def _type_word(desc: Any) -> str:
    if desc.choices is not None:  # the values themselves are what to write
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
    if desc.is_path:
        return "目录" if desc.path_type == "dir" else "文件"
    if desc.is_datetime:
        return "时间"
    annotation = desc.annotation
    if desc.is_list:
        (annotation,) = get_args(annotation) or (str,)
    return _TYPE_WORDS.get(annotation, "值")


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
