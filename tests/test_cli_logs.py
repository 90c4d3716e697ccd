"""Log records as an operator reads them in the terminal (bot/cli/logs.py)."""

from __future__ import annotations

import logging
import re
import sys

from bot.cli.logs import OperatorFormatter

STAMP = r"\d\d-\d\d \d\d:\d\d:\d\d"


def record(
    level: int, message: str, *args: object, name: str = "bot.channels.inbox", exc: bool = False
) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("database is locked\n(detail on a second line)")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord(name, level, __file__, 1, message, args, exc_info)


def test_an_operator_line_is_the_time_the_level_in_chinese_and_the_message() -> None:
    fmt = OperatorFormatter()
    info = fmt.format(record(logging.INFO, "[%s] 已登录微信「%s」", "林晓（ins_lin）", "顾问小王"))
    assert re.fullmatch(rf"{STAMP} \[林晓（ins_lin）\] 已登录微信「顾问小王」", info)
    warning = fmt.format(record(logging.WARNING, "[default] 连接断开；0.5 秒后重连"))
    assert re.fullmatch(rf"{STAMP} 警告 \[default\] 连接断开；0.5 秒后重连", warning)
    error = fmt.format(record(logging.ERROR, "收件箱：写入失败"))
    assert re.fullmatch(rf"{STAMP} 错误 收件箱：写入失败", error)
    assert re.fullmatch(rf"{STAMP} 严重错误 x", fmt.format(record(logging.CRITICAL, "x")))


def test_an_operator_line_is_one_line_without_a_traceback() -> None:
    """An exception is its type and first line (no traceback: that is --debug; a database
    error's later lines hold SQL parameters); a message that spans lines is folded; a
    library's line says which library it is from."""
    fmt = OperatorFormatter()
    failed = fmt.format(record(logging.ERROR, "记录失败", exc=True))
    assert "\n" not in failed and "Traceback" not in failed
    assert failed.endswith("错误 记录失败：RuntimeError: database is locked")
    folded = fmt.format(record(logging.WARNING, "第一行\n第二行"))
    assert folded.endswith("警告 第一行 第二行")
    library = fmt.format(record(logging.WARNING, "Connection lost", name="grpclib.protocol"))
    assert library.endswith("警告 Connection lost（grpclib.protocol）")


def test_a_masked_traceback_stays_masked() -> None:
    """The channel's secret mask writes the masked traceback to ``exc_text``: the line
    takes it from there, never from the exception itself."""
    fmt = OperatorFormatter()
    rec = record(logging.ERROR, "连接失败", exc=True)
    rec.exc_text = "Traceback (most recent call last):\nRuntimeError: bad token ***\nmore"
    assert fmt.format(rec).endswith("错误 连接失败：RuntimeError: bad token ***")
