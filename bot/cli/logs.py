"""Log records in the terminal. By default they are written for operators: the local time,
the level in Chinese when it needs attention (警告 / 错误), the message, one line each and
no traceback (an exception is its last line). With ``--debug``: the developer's format
(full time, level, logger) with tracebacks.

``siyu bot`` and ``siyu serve --with-bot`` also show the channel's INFO lines (connected,
logged in, request accepted …): ``show_channel_lines``."""

from __future__ import annotations

import logging
import sys

DEBUG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The operator's time stamp: the date without the year, the time to the second.
TIME_FORMAT = "%m-%d %H:%M:%S"
LEVEL_LABELS = {logging.WARNING: "警告", logging.ERROR: "错误", logging.CRITICAL: "严重错误"}
#: Loggers whose messages are ours (the others are libraries': their name is shown).
OUR_LOGGERS = ("bot", "knowledge", "scripts_lib")
#: The channel's loggers (bot.channels.*).
CHANNEL_LOGGER = "bot.channels"


class OperatorFormatter(logging.Formatter):
    """``12-07 14:03:22 警告 [林晓（ins_lin）] 与 puppet service 的连接断开：…；0.5 秒后重连``."""

    def __init__(self) -> None:
        super().__init__(datefmt=TIME_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        parts = [self.formatTime(record, self.datefmt)]
        label = LEVEL_LABELS.get(record.levelno)
        if label is None and record.levelno > logging.ERROR:
            label = LEVEL_LABELS[logging.CRITICAL]
        if label:
            parts.append(label)
        text = record.getMessage()
        if record.name.split(".")[0] not in OUR_LOGGERS:
            text = f"{text}（{record.name}）"
        cause = self._cause(record)
        if cause and cause not in text:
            text = f"{text}：{cause}"
        parts.append(" ".join(text.split()))  # one line, whatever the message held
        return " ".join(parts)

    def _cause(self, record: logging.LogRecord) -> str:
        """The exception as ``RuntimeError: first line`` (a database error's later lines
        hold the statement and its parameters: customer text). From ``exc_text`` when it is
        set: the channel's secret mask (bot.channels.wechaty) leaves the masked traceback
        there."""
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return ""
        kind = type(exc)
        names = {kind.__name__, f"{kind.__module__}.{kind.__qualname__}"}
        if record.exc_text:
            for line in reversed(record.exc_text.splitlines()):
                head, colon, rest = line.partition(":")
                if colon and head in names:
                    return f"{kind.__name__}:{rest}".strip()
            return kind.__name__
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"{kind.__name__}: {first}" if first else kind.__name__


def configure(*, debug: bool) -> None:
    """The root logger's handler on stderr: DEBUG and the developer's format with
    ``debug``, else WARNING for operators."""
    handler = logging.StreamHandler(sys.stderr)
    if debug:
        handler.setFormatter(logging.Formatter(DEBUG_FORMAT))
    else:
        handler.setFormatter(OperatorFormatter())
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler])


def show_channel_lines() -> None:
    """The channel's INFO lines too (where the root shows less): what an operator watching
    ``siyu bot`` wants to see happen."""
    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger(CHANNEL_LOGGER).setLevel(logging.INFO)
