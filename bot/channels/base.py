"""The channel boundary: a channel turns vendor events into ``IncomingMessage`` and hands
them to one handler; it can also send text (to the adviser's note target, or a welcome
message when that is explicitly enabled)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import StatementError

from bot.domain import IncomingMessage, SuggestionResult
from bot.errors import ChannelError
from knowledge.errors import one_line

log = logging.getLogger(__name__)

Handler = Callable[[IncomingMessage], SuggestionResult | None]

#: Failed messages kept for a retry (beyond this, the oldest are dropped, with a log line).
MAX_RETRY_QUEUE = 10_000


def reason(exc: BaseException) -> str:
    """One line for a failure, stored and logged: a database error is its driver's
    first line (SQLAlchemy's text adds the statement and its parameters: customer text);
    a ``ChannelError`` its own message (a sentence for people, in Chinese)."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        first = (str(exc.orig).strip().splitlines() or [""])[0]
        return f"{type(exc.orig).__name__}: {first}"
    if isinstance(exc, ChannelError):  # ours, already a sentence for people
        return one_line(exc)
    if isinstance(exc, TimeoutError):  # a call to the account took longer than allowed
        return "超时：没有在限定时间内完成（[wechaty] check_timeout_s）"
    return f"{type(exc).__name__}: {one_line(exc)}"


@dataclass
class Backoff:
    """Exponential reconnect delays: ``initial``, doubling up to ``maximum``."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    _next: float = 0.0

    def next_delay(self) -> float:
        delay = self._next or self.initial
        self._next = min(delay * self.factor, self.maximum)
        return min(delay, self.maximum)

    def reset(self) -> None:
        self._next = 0.0


class Channel(ABC):
    """Base class: owns the error handling around the handler; subclasses deliver."""

    name: str = "channel"

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._failed: deque[IncomingMessage] = deque()
        self._failed_lock = threading.Lock()

    def dispatch(self, message: IncomingMessage) -> SuggestionResult | None:
        """Give one message to the handler. A failure is logged, never raised into the
        channel's receive loop; the message is kept for ``retry_failed`` (the handler is
        idempotent on ``msg_id``, so a message that was logged before failing is safe)."""
        try:
            return self._handler(message)
        except Exception as exc:
            log.error(
                "处理消息 %s（%s 通道）失败，稍后重试：%s", message.msg_id, self.name, reason(exc)
            )
            log.debug("dispatch failure", exc_info=exc)
            with self._failed_lock:
                if len(self._failed) >= MAX_RETRY_QUEUE:
                    lost = self._failed.popleft()
                    log.error(
                        "待重试的消息已满 %d 条：最早的消息 %s 不再重试",
                        MAX_RETRY_QUEUE,
                        lost.msg_id,
                    )
                self._failed.append(message)
            return None

    @property
    def failed_count(self) -> int:
        return len(self._failed)

    def retry_failed(self) -> int:
        """Dispatch the messages that failed again; returns how many succeeded now."""
        with self._failed_lock:
            batch = list(self._failed)
            self._failed.clear()
        done = 0
        for message in batch:
            before = len(self._failed)
            self.dispatch(message)
            done += len(self._failed) == before
        return done

    @abstractmethod
    def send(self, contact_id: str, text: str) -> None:
        """Send ``text`` to a contact on this channel."""
