"""Notes to the adviser's own note target (``[wechaty] notify_contact_id``, e.g.
文件传输助手): the compact text of one note (plain: WeChat shows no markup), and the sender
that coalesces and rate-limits them.

A burst of customer messages must not become a burst of sends from the adviser's account
(the pattern WeChat restricts): notes are sent at least ``note_min_interval_s`` apart and
at most ``notes_per_hour`` an hour; whatever arrives meanwhile goes into the next note
(at most ``note_max_items`` in full, the rest counted). SDK-free: the channel passes the
coroutine that sends."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from bot.domain import SuggestionResult
from bot.labels import CATEGORY_LABELS
from knowledge.errors import one_line
from knowledge.text import clip

#: The compact note pushed to the adviser's own note target (``[wechaty] notify_contact_id``).
ADVISER_NOTE_HEAD = "【思语】{who}：{text}"
ADVISER_NOTE_SCRIPT = "{n}. [{category}] {text}"
ADVISER_NOTE_REPLY = "草拟：{text}"
ADVISER_NOTE_TAGS = "标签：{tags}"
ADVISER_NOTE_MAX_CHARS = 120


def adviser_note(who: str, text: str, result: SuggestionResult) -> str:
    """A few lines for a chat window: the customer's words, the ranked scripts, the draft
    and the suggested tags. Plain text (WeChat shows no markup)."""
    lines = [ADVISER_NOTE_HEAD.format(who=who or "客户", text=clip(text, 40) or "（无）")]
    for n, s in enumerate(result.scripts, start=1):
        category = CATEGORY_LABELS.get(s.category, s.category)
        lines.append(
            ADVISER_NOTE_SCRIPT.format(
                n=n, category=category, text=clip(s.text, ADVISER_NOTE_MAX_CHARS)
            )
        )
    if result.reply:
        lines.append(ADVISER_NOTE_REPLY.format(text=clip(result.reply, ADVISER_NOTE_MAX_CHARS)))
    if result.tags:
        lines.append(ADVISER_NOTE_TAGS.format(tags="、".join(t.name for t in result.tags)))
    return "\n".join(lines)


log = logging.getLogger(__name__)

#: User-facing texts of a coalesced note.
NOTE_MORE = "……另有 {n} 条消息的建议，请到控制台查看"
NOTE_SEPARATOR = "\n\n"
#: Notes kept while the account cannot send (disconnected, hourly limit): beyond this
#: the oldest are only counted.
MAX_PENDING_FACTOR = 20


class NoteSender:
    """One account's notes. ``add`` from the event loop; ``run`` sends."""

    def __init__(
        self,
        *,
        send: Callable[[str], Awaitable[None]],
        connected: Callable[[], bool],
        min_interval_s: float,
        per_hour: int,
        max_items: int,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
    ) -> None:
        """``name``: the account as people read it, in the line a failed send logs."""
        self._send = send
        self._name = name
        self._connected = connected
        self._min_interval = min_interval_s
        self._per_hour = per_hour
        self._max_items = max_items
        self._clock = clock
        self._pending: deque[str] = deque()
        self._omitted = 0
        self._sent_at: deque[float] = deque()
        self._wake = asyncio.Event()
        self.sent = 0
        self.coalesced = 0

    def add(self, text: str) -> None:
        self._pending.append(text)
        if len(self._pending) > self._max_items * MAX_PENDING_FACTOR:
            self._pending.popleft()
            self._omitted += 1
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending) + self._omitted

    def wait_s(self) -> float:
        """Seconds until the limits allow the next note (0: now)."""
        now = self._clock()
        while self._sent_at and now - self._sent_at[0] >= 3600:
            self._sent_at.popleft()
        wait = 0.0
        if self._sent_at:
            wait = max(wait, self._sent_at[-1] + self._min_interval - now)
        if len(self._sent_at) >= self._per_hour:
            wait = max(wait, self._sent_at[0] + 3600 - now)
        return wait

    def take(self) -> str | None:
        """The note to send now, all that is pending coalesced, counted against the
        limits; None when nothing is pending or the limits say wait."""
        if not self._pending or self.wait_s() > 0:
            return None
        self._sent_at.append(self._clock())
        items = [self._pending.popleft() for _ in range(min(self._max_items, len(self._pending)))]
        rest = len(self._pending) + self._omitted
        self._pending.clear()
        self._omitted = 0
        if rest:
            items.append(NOTE_MORE.format(n=rest))
        if len(items) > 1:
            self.coalesced += 1
        return NOTE_SEPARATOR.join(items)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if not self._pending or not self._connected():
                self._wake.clear()
                await _wait_any(stop, self._wake, timeout=1.0)
                continue
            wait = self.wait_s()
            if wait > 0:
                await _wait_any(stop, None, timeout=wait)
                continue
            text = self.take()
            if text is None:
                continue
            try:
                await self._send(text)
                self.sent += 1
            except Exception as exc:
                # The suggestions are in the console; a note is a convenience: not retried.
                log.warning(
                    "[%s] 给顾问发建议提醒失败，不再重发（建议在控制台里）：%s",
                    self._name or "?",
                    one_line(exc),
                )


async def _wait_any(stop: asyncio.Event, other: asyncio.Event | None, *, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if other is not None:
        waiters.append(asyncio.ensure_future(other.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
