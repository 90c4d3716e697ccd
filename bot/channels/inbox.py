"""The durable inbox: log first, then process per contact in arrival order.

A channel account (``InboxSource``) hands every message / friend-request *event id* to
``Inbox.capture`` the moment it arrives, synchronously, before any payload is fetched.
A writer task stores captured ids in ``channel_inbox`` (bot.store.channel_inbox) in
batches, a few milliseconds later; from then on nothing is lost if the process dies.
Three stages then work from that table, each bounded (``[wechaty] inbox_window`` rows in
memory per account; the rest wait in the database):

1. **resolve** (asyncio, the puppet service): payloads are fetched concurrently and
   converted by the source, then *released in arrival order*: a row whose payload is not
   ready yet holds the rows behind it for at most ``payload_hold_s`` (then they go on and
   it follows when it comes). Released rows are ``ready`` with their ``contact_key``
   (the contact of a 1:1 chat or the room).
2. **log** (a thread pool): one lane per contact, strictly in order: the message is
   logged (``messages``) and outcomes recorded; a friend request runs the new-contact
   flow. A customer text or a new friend is then ``logged``, everything else ``done``.
3. **suggest** (``suggest_workers`` threads): one lane per contact, in order; the note to
   the adviser follows. A new friend is *greeted* here: the request accepted (when the
   account does that) and the welcome sent, tried like the rest and parked at stage
   ``greet`` after ``max_attempts``; while the account is offline the greeting waits.
   Logging never waits for this stage.

A failure in any stage is retried after ``retry_initial_s`` doubling up to
``retry_interval_s`` while the contact's lane waits (order is kept); after
``max_attempts`` tries the row is *parked* with its error and payload, the lane goes on,
and ``siyu bot --status`` lists it (``--requeue`` puts it back). One warning line per
failed try, the traceback only at ``--debug``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bot.channels.base import reason
from bot.channels.journal import CaptureJournal
from bot.domain import IncomingMessage, SuggestionResult
from bot.errors import ChannelError
from bot.pipeline.assistant import Received
from bot.pipeline.newcontacts import NewContact, Welcome
from bot.services.channel_status import KIND_LABELS, STAGE_LABELS
from bot.settings import WechatySettings
from bot.store import Database
from bot.store import channel_accounts as accounts_repo
from bot.store import channel_inbox as inbox_repo
from bot.store.channel_inbox import InboxItem, NewEvent
from knowledge.errors import one_line

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Concurrent payload fetches per account.
RESOLVE_CONCURRENCY = 16
#: Threads logging messages (SQLite serialises writers anyway; PostgreSQL gains a little).
LOG_WORKERS = 2
#: Captured ids written per transaction.
WRITE_BATCH = 1000
#: Seconds between sweeps for rows put back by an operator (``--requeue``).
SWEEP_S = 30.0
#: Seconds between deletions of processed rows older than ``inbox_keep_days``.
PURGE_S = 3600.0
#: A suggestion waits at most this long for logging to be idle (logging goes first: both
#: need the interpreter, and a suggestion is 30-50 ms of it; past this, suggestions go on
#: under steady load instead of starving).
LOGGING_FIRST_MAX_WAIT_S = 2.0
#: Seconds between looks at the connection while a greeting waits for it.
GREET_WAIT_S = 0.5
#: Notes about new friends kept in memory until their greeting is done (per account).
NOTES_KEPT = 1000


class NotConnected(ChannelError):
    """The account is not connected: the payload cannot be fetched now (not a failure)."""


# --------------------------------------------------------------------------- payloads
def message_payload(message: IncomingMessage) -> dict[str, Any]:
    data = asdict(message)
    data["sent_at"] = message.sent_at.isoformat()
    return {"message": data}


def message_from(payload: dict[str, Any]) -> IncomingMessage:
    data = dict(payload["message"])
    data["sent_at"] = datetime.fromisoformat(data["sent_at"])
    known = {f.name for f in fields(IncomingMessage)}
    return IncomingMessage(**{k: v for k, v in data.items() if k in known})


def contact_payload(contact: NewContact, *, receive: bool, may_send: bool) -> dict[str, Any]:
    data = asdict(contact)
    data["at"] = contact.at.isoformat()
    return {"contact": data, "receive": receive, "may_send": may_send}


def contact_from(payload: dict[str, Any]) -> tuple[NewContact, bool, bool]:
    data = dict(payload["contact"])
    data["at"] = datetime.fromisoformat(data["at"])
    known = {f.name for f in fields(NewContact)}
    contact = NewContact(**{k: v for k, v in data.items() if k in known})
    return contact, bool(payload.get("receive")), bool(payload.get("may_send"))


# --------------------------------------------------------------------------- boundaries
@dataclass(frozen=True, slots=True)
class Resolved:
    """A fetched and converted event: its ordering lane and payload; ``contact_key``
    None means it is never logged (a note to the adviser's note target, …)."""

    contact_key: str | None
    payload: dict[str, Any] | None = None


class InboxSource(ABC):
    """One channel account, as the inbox sees it."""

    account: str
    #: The account as people read it in log lines (「林晓（ins_lin）」; empty: ``account``).
    shown: str = ""

    @abstractmethod
    def connected(self) -> bool:
        """Logged in: payloads can be fetched and notes sent."""

    @abstractmethod
    async def resolve(self, kind: str, event_id: str) -> Resolved:
        """Fetch and convert one event; ``NotConnected`` when that cannot be tried now."""

    @abstractmethod
    async def after_suggest(self, message: IncomingMessage, result: SuggestionResult) -> None:
        """A customer message got suggestions (the note to the adviser)."""

    @abstractmethod
    async def accept_request(self, contact: NewContact) -> bool:
        """Accept the friend request ``contact`` sent, if the account does that on its own
        (False: it does not; the adviser accepts on the phone). ``NotConnected`` when it
        cannot be tried now."""

    @abstractmethod
    async def after_new_contact(self, contact: NewContact, welcome: Welcome) -> None:
        """A new friend was recorded and accepted: the welcome message, the note.
        ``NotConnected`` when it cannot be tried now."""


class InboxPipeline(ABC):
    """The synchronous pipeline behind the inbox (runs in worker threads)."""

    @abstractmethod
    def log(self, message: IncomingMessage) -> Received:
        """Log (never suggest); ``Received.pending``: a suggestion is due."""

    @abstractmethod
    def suggest(self, message: IncomingMessage, *, message_id: int) -> SuggestionResult | None:
        """Suggest for a logged message (None: nothing was due any more)."""

    @abstractmethod
    def new_contact(self, contact: NewContact, may_send: bool) -> Welcome:
        """Record a new friend."""


@dataclass
class FlowStats:
    """Counters of one account, since the process started."""

    captured: int = 0
    logged: int = 0
    suggested: int = 0
    skipped: int = 0
    parked: int = 0
    failures: int = 0
    last_captured_at: datetime | None = None
    #: Milliseconds from capture to the inbox's commit, of the last 10,000 events: the
    #: window in which a hard kill loses an event.
    write_lag_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def done(self, *, logged: int = 0, suggested: int = 0) -> None:
        """Count work committed, from the worker thread that committed it (a stop that
        cancels the waiting lane still counts it)."""
        with self._lock:
            self.logged += logged
            self.suggested += suggested


# --------------------------------------------------------------------------- the inbox
class Inbox:
    """The durable inbox of every account of one process, sharing one pipeline."""

    def __init__(
        self,
        *,
        db: Database,
        pipeline: InboxPipeline,
        settings: WechatySettings,
        journal_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``journal_dir``: where the capture journal lives (bot.channels.journal; None:
        no journal, the database write is the first durable copy)."""
        self._db = db
        self._journal = CaptureJournal(journal_dir) if journal_dir is not None else None
        self._pipeline = pipeline
        self.settings = settings
        self._clock = clock
        self._flows: dict[str, _AccountFlow] = {}
        self._captured: deque[NewEvent] = deque()
        self._capture_wake: asyncio.Event | None = None
        self._db_pool = ThreadPoolExecutor(1, thread_name_prefix="siyu-inbox")
        # The writer of captured events has a thread of its own: never queued behind
        # other bookkeeping (its delay is the window in which a hard kill loses events).
        self._capture_pool = ThreadPoolExecutor(1, thread_name_prefix="siyu-capture")
        self._log_pool = ThreadPoolExecutor(LOG_WORKERS, thread_name_prefix="siyu-log")
        self._suggest_pool = ThreadPoolExecutor(
            settings.suggest_workers, thread_name_prefix="siyu-suggest"
        )

    # ------------------------------------------------------------------ wiring
    def attach(self, source: InboxSource) -> None:
        if source.account in self._flows:
            raise ValueError(f"account {source.account} attached twice")
        self._flows[source.account] = _AccountFlow(self, source)

    def logging_busy(self) -> bool:
        """Some account has rows waiting to be resolved or logged."""
        return any(
            f.log.count or any(p.resolved is not None for p in f.resolve.window.values())
            for f in self._flows.values()
        )

    async def logging_first(self) -> None:
        """Wait (boundedly) until no account has rows waiting to be logged."""
        deadline = self._clock() + LOGGING_FIRST_MAX_WAIT_S
        while self.logging_busy() and self._clock() < deadline:
            await asyncio.sleep(0.02)

    def stats(self, account: str) -> FlowStats:
        return self._flows[account].stats

    def shown(self, account: str) -> str:
        """The account as people read it (its source's ``shown``, else its key)."""
        flow = self._flows.get(account)
        return (flow.source.shown if flow is not None else "") or account

    def capture(self, account: str, kind: str, event_id: str) -> None:
        """Called synchronously by the source for each event, in arrival order, before
        anything slow; never blocks (the writer stores it a few milliseconds later)."""
        now = datetime.now(UTC)
        event = NewEvent(account=account, kind=kind, event_id=event_id, received_at=now)
        if self._journal is not None:
            try:
                self._journal.append(event)
            except OSError as exc:  # a full disk: the database write still follows
                log.error(
                    "写收件箱日志文件失败（%s）：消息照常写入数据库，但进程此刻被强行结束会丢失"
                    "刚收到的消息；请检查磁盘空间",
                    one_line(exc),
                )
        self._captured.append(event)
        flow = self._flows.get(account)
        if flow is not None:
            flow.stats.captured += 1
            flow.stats.last_captured_at = now
        if self._capture_wake is not None:
            self._capture_wake.set()

    async def db(self, fn: Callable[[], T]) -> T:
        """Run a short database call on the inbox's own thread (never on the loop)."""
        return await asyncio.get_running_loop().run_in_executor(self._db_pool, fn)

    async def save_account_state(self, account: str, **values: Any) -> None:
        """Record an account's live state (``channel_accounts``); failures are logged."""
        now = datetime.now(UTC)

        def write() -> None:
            with self._db.session() as session:
                accounts_repo.save_state(session=session, account=account, now=now, **values)

        try:
            await self.db(write)
        except Exception as exc:
            log.warning(
                "[%s] 保存账号状态失败（控制台显示的状态可能过时）：%s",
                self.shown(account),
                reason(exc),
            )

    # ------------------------------------------------------------------ running
    async def run(self, stop: asyncio.Event) -> None:
        """Write captured events and process every account's rows until ``stop``; then
        write what was captured and stop (unfinished rows stay in the database)."""
        self._capture_wake = asyncio.Event()
        await self._recover_journals()
        await self._announce_backlog()
        if self._captured:
            self._capture_wake.set()
        tasks = [asyncio.create_task(self._writer(stop), name="inbox-writer")]
        tasks.append(asyncio.create_task(self._housekeeping(stop), name="inbox-housekeeping"))
        for flow in self._flows.values():
            tasks.extend(flow.start(stop))
        try:
            await stop.wait()
        finally:
            for task in tasks[1:]:
                task.cancel()
            self._capture_wake.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(tasks[0], 10)
            for task in tasks[1:]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for flow in self._flows.values():
                await flow.cancel_lanes()
            await asyncio.to_thread(self.close)

    async def _recover_journals(self) -> None:
        """Events a killed process had captured but not stored (bot.channels.journal)."""
        if self._journal is None:
            return
        events, files = self._journal.recover()
        if not files:
            return

        def store() -> int:
            return sum(
                self._write(events[start : start + WRITE_BATCH])
                for start in range(0, len(events), WRITE_BATCH)
            )

        loop = asyncio.get_running_loop()
        added = await loop.run_in_executor(self._capture_pool, store)
        for path in files:
            path.unlink(missing_ok=True)
        if added:  # the others were stored before the stop: nothing was missing
            log.warning(
                "收件箱：上次被强行结束的进程有 %d 条收到的消息还没写入数据库"
                "（其日志文件共 %d 条），现已补上，会照常处理",
                added,
                len(events),
            )

    def counts(self) -> dict[str, inbox_repo.AccountCounts]:
        """Each account's unfinished and parked rows (from the database: any process's)."""
        with self._db.session() as session:
            return inbox_repo.counts(session=session)

    async def _announce_backlog(self) -> None:
        """What the previous run left unfinished (and parked), one line per account."""
        try:
            counts = await self.db(self.counts)
        except Exception as exc:  # only a line to show: the work itself goes on
            log.warning("收件箱：读取积压的消息数失败：%s", reason(exc))
            return
        for account in self._flows:
            c = counts.get(account)
            if c is None or not (c.backlog or c.parked):
                continue
            parts = []
            if c.backlog:
                parts.append(f"{c.backlog} 条消息上次没处理完，登录后接着处理")
            if c.parked:
                parts.append(
                    f"{c.parked} 条处理失败的消息已搁置（siyu bot --status 查看，--requeue 重试）"
                )
            log.info("[%s] 收件箱里有 %s", self.shown(account), "；另有 ".join(parts))

    def close(self) -> None:
        """Wait for the worker threads (call from a thread, never the event loop)."""
        for pool in (self._log_pool, self._suggest_pool, self._db_pool, self._capture_pool):
            pool.shutdown(wait=True, cancel_futures=True)
        if self._journal is not None:
            self._journal.close(committed=not self._captured)

    async def _writer(self, stop: asyncio.Event) -> None:
        assert self._capture_wake is not None
        while True:
            if not self._captured:
                if stop.is_set():
                    return
                self._capture_wake.clear()
                await self._capture_wake.wait()
                continue
            batch = [self._captured.popleft() for _ in range(min(WRITE_BATCH, len(self._captured)))]
            try:
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(self._capture_pool, self._write, batch)
            except Exception as exc:
                # Never dropped while running: back to the front, in order, tried again.
                # (Only ids wait here; the database is what bounds the inbox.)
                self._captured.extendleft(reversed(batch))
                log.error(
                    "收到的 %d 条消息写入收件箱失败：%s；1 秒后重试",
                    len(self._captured),
                    reason(exc),
                )
                log.debug("inbox write failure", exc_info=True)
                if stop.is_set():
                    if self._journal is not None:
                        log.error(
                            "停止时还有 %d 条收到的消息没写入数据库：已留在收件箱日志文件里，"
                            "下次启动时补上",
                            len(self._captured),
                        )
                    else:
                        log.error(
                            "停止时还有 %d 条收到的消息没写入数据库，这些消息丢失了",
                            len(self._captured),
                        )
                    return
                await asyncio.sleep(1.0)
                continue
            if self._journal is not None and not self._captured:
                self._journal.all_committed()
            written = datetime.now(UTC)
            for event in batch:
                flow = self._flows.get(event.account)
                if flow is not None:
                    lag = (written - event.received_at).total_seconds() * 1000
                    flow.stats.write_lag_ms.append(lag)
            for account in {e.account for e in batch}:
                flow = self._flows.get(account)
                if flow is not None:
                    flow.resolve.more()

    def _write(self, batch: list[NewEvent]) -> int:
        """Store a batch of captured events; returns how many were new."""
        with self._db.session() as session:
            return len(inbox_repo.add_events(session=session, events=batch))

    async def _housekeeping(self, stop: asyncio.Event) -> None:
        keep = self.settings.inbox_keep_days
        last_purge = -PURGE_S
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SWEEP_S)
            if stop.is_set():
                return
            for flow in self._flows.values():
                flow.sweep()

            def link() -> int:
                with self._db.session() as session:
                    return inbox_repo.link_parked(session=session)

            try:
                await self.db(link)
            except Exception as exc:
                log.warning(
                    "收件箱：把搁置的消息关联到客户失败（%.0f 秒后再试）：%s", SWEEP_S, reason(exc)
                )
            if keep and self._clock() - last_purge >= PURGE_S:
                last_purge = self._clock()
                before = datetime.now(UTC) - timedelta(days=keep)

                def purge(before: datetime = before) -> int:
                    with self._db.session() as session:
                        return inbox_repo.purge_finished(session=session, before=before)

                try:
                    purged = await self.db(purge)
                    if purged:
                        log.info(
                            "收件箱：删除了 %d 条 %d 天前就处理完的记录"
                            "（[wechaty] inbox_keep_days）",
                            purged,
                            keep,
                        )
                except Exception as exc:
                    log.warning("收件箱：清理旧记录失败（一小时后再试）：%s", reason(exc))

    # ------------------------------------------------------------------ shared helpers
    def retry_delay(self, attempts: int) -> float:
        s = self.settings
        return float(min(s.retry_initial_s * 2 ** max(attempts - 1, 0), s.retry_interval_s))

    async def record_failure(self, item: InboxItem, stage: str, exc: BaseException) -> bool:
        """Count a failed try of ``item`` at ``stage``; True when it is now parked."""
        flow = self._flows[item.account]
        flow.stats.failures += 1
        error = reason(exc)
        attempts = item.attempts + 1
        park = attempts >= self.settings.max_attempts
        now = datetime.now(UTC)

        def write() -> int:
            with self._db.session() as session:
                return inbox_repo.record_failure(
                    session=session, item_id=item.id, stage=stage, error=error, park=park, now=now
                )

        try:
            await self.db(write)
        except Exception as db_exc:  # the database itself is failing: try again later
            log.warning(
                "[%s] 记录处理失败时数据库也出错了：%s；稍后重试",
                self.shown(item.account),
                reason(db_exc),
            )
            return False
        what = f"{KIND_LABELS.get(item.kind, item.kind)} {item.event_id}"
        step = STAGE_LABELS.get(stage, stage)
        if park:
            flow.stats.parked += 1
            log.error(
                "[%s] %s 在「%s」这一步试了 %d 次仍失败，已搁置：%s；"
                "排除原因后用 siyu bot --requeue 重试（siyu bot --status 查看）",
                self.shown(item.account),
                what,
                step,
                attempts,
                error,
            )
        else:
            log.warning(
                "[%s] %s 在「%s」这一步失败（第 %d 次，共 %d 次；%g 秒后重试）：%s",
                self.shown(item.account),
                what,
                step,
                attempts,
                self.settings.max_attempts,
                self.retry_delay(attempts),
                error,
            )
        log.debug("failure details", exc_info=exc)
        return park


# --------------------------------------------------------------------------- per account
class _AccountFlow:
    def __init__(self, inbox: Inbox, source: InboxSource) -> None:
        self.inbox = inbox
        self.source = source
        self.account = source.account
        self.stats = FlowStats()
        self.resolve = _ResolveStage(self)
        self.log = _LaneStage(self, "log", "ready", self._log_one)
        self.suggest = _LaneStage(self, "suggest", "logged", self._suggest_one)
        #: The note to the adviser about a new friend, until the greeting is done (kept in
        #: memory only: after a restart the greeting goes without it).
        self.notes: dict[int, SuggestionResult] = {}

    def start(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        return [
            asyncio.create_task(self.resolve.run(stop), name=f"resolve-{self.account}"),
            asyncio.create_task(self.log.load_loop(stop), name=f"log-{self.account}"),
            asyncio.create_task(self.suggest.load_loop(stop), name=f"suggest-{self.account}"),
        ]

    def sweep(self) -> None:
        """Look for rows put back by an operator (or missed): a full scan of each stage."""
        self.resolve.more(full=True)
        self.log.more()
        self.suggest.more()

    async def cancel_lanes(self) -> None:
        for stage in (self.log, self.suggest):
            await stage.cancel()
        await self.resolve.cancel()

    def in_memory(self) -> set[int]:
        return set(self.resolve.window) | self.log.ids | self.suggest.ids

    # ------------------------------------------------------------------ log stage
    async def _log_one(self, item: InboxItem) -> InboxItem | None:
        """Log one row; returns the row for the suggest stage, or None when done."""
        loop = asyncio.get_running_loop()
        assert item.payload is not None
        if item.kind == "friendship":
            contact, _, may_send = contact_from(item.payload)
            return await loop.run_in_executor(
                self.inbox._log_pool, self._new_contact, item, contact, may_send
            )
        message = message_from(item.payload)
        received, now = await loop.run_in_executor(
            self.inbox._log_pool, self._log_message, item, message
        )
        if not received.pending:
            return None
        return replace(
            item,
            status="logged",
            message_id=received.message_id,
            customer_id=received.customer_id,
            logged_at=now,
            attempts=0,
        )

    def _log_message(self, item: InboxItem, message: IncomingMessage) -> tuple[Received, datetime]:
        received = self.inbox._pipeline.log(message)
        now = datetime.now(UTC)
        with self.inbox._db.session() as session:
            inbox_repo.mark_logged(
                session=session,
                item_id=item.id,
                message_id=received.message_id,
                customer_id=received.customer_id,
                done=not received.pending,
                now=now,
            )
        self.stats.done(logged=received.created)
        return received, now

    def _new_contact(self, item: InboxItem, contact: NewContact, may_send: bool) -> InboxItem:
        """Record a new friend; the row then waits (``logged``) for the greeting — the
        acceptance and the welcome — which the suggest stage tries until it is done, so a
        request is not left unanswered by a failure or a restart."""
        assert item.payload is not None
        welcome = self.inbox._pipeline.new_contact(contact, may_send)
        # Every request is greeted, a repeated one too (the customer asked again, or a
        # first try recorded the contact and failed after): it is accepted; the welcome
        # and the note come with the first record only.
        payload = item.payload | {
            "welcome": {"text": welcome.auto_text, "script_id": welcome.auto_script_id}
        }
        if welcome.created and welcome.result is not None:
            self.notes[item.id] = welcome.result
            while len(self.notes) > NOTES_KEPT:  # of greetings parked: dropped, oldest first
                self.notes.pop(next(iter(self.notes)))
        now = datetime.now(UTC)
        with self.inbox._db.session() as session:
            inbox_repo.mark_logged(
                session=session,
                item_id=item.id,
                message_id=None,
                customer_id=welcome.customer_id,
                done=False,
                now=now,
                payload=payload,
            )
        self.stats.done(logged=1)
        return replace(
            item,
            status="logged",
            customer_id=welcome.customer_id,
            payload=payload,
            logged_at=now,
            attempts=0,
        )

    # ------------------------------------------------------------------ suggest stage
    async def _suggest_one(self, item: InboxItem) -> InboxItem | None:
        if item.kind == "friendship":
            await self._greet(item)
            return None
        assert item.payload is not None and item.message_id is not None
        message = message_from(item.payload)
        await self.inbox.logging_first()
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(
            self.inbox._suggest_pool, self._suggest_message, item, message
        )
        if result is not None:
            try:
                await self.source.after_suggest(message, result)
            except Exception as exc:  # a convenience: the suggestions are in the console
                log.warning(
                    "[%s] 消息 %s 的建议没能发给顾问（建议在控制台里）：%s",
                    self.inbox.shown(self.account),
                    item.event_id,
                    reason(exc),
                )
        return None

    async def _greet(self, item: InboxItem) -> None:
        """Accept a new friend's request (when the account does) and send the welcome.

        While the account is not connected the contact's lane waits (not a failed try);
        each call to the account is bounded by ``check_timeout_s``. The acceptance is
        recorded once it is done (a kill just before that accepts again at the next start:
        at least once); the welcome is recorded *before* it is sent and un-recorded only
        when the account refused to send it (``ChannelError``): a kill, a timeout or a
        failure after sending never sends it twice, and may not send it at all — at most
        once, as a repeated automatic message is what gets an account restricted."""
        assert item.payload is not None
        payload = dict(item.payload)
        contact, receive, _ = contact_from(payload)
        greeting = payload.get("welcome") or {}
        timeout = self.inbox.settings.check_timeout_s

        async def save() -> None:
            await self.inbox.db(lambda: self._save_payload(item.id, payload))

        try:
            while True:
                while not self.source.connected():
                    await asyncio.sleep(GREET_WAIT_S)
                try:
                    if receive and not payload.get("accepted"):
                        accepted = await asyncio.wait_for(
                            self.source.accept_request(contact), timeout
                        )
                        if accepted:
                            payload["accepted"] = True
                            await save()
                    text = greeting.get("text")
                    if text and not payload.get("welcomed"):
                        payload["welcomed"] = True
                        await save()
                    else:
                        text = None
                    welcome = Welcome(
                        created=True,
                        customer_id=item.customer_id,
                        result=self.notes.get(item.id),
                        auto_text=text,
                        auto_script_id=greeting.get("script_id"),
                    )
                    try:
                        await asyncio.wait_for(
                            self.source.after_new_contact(contact, welcome), timeout
                        )
                    except ChannelError:
                        if text:  # refused, not sent (a timeout may have sent it: kept)
                            payload["welcomed"] = False
                            await save()
                        raise
                    break
                except NotConnected:
                    continue  # dropped meanwhile: wait for the connection again
        finally:
            item.payload.update(payload)  # a retry starts from what was done
        self.notes.pop(item.id, None)
        now = datetime.now(UTC)

        def done() -> None:
            with self.inbox._db.session() as session:
                inbox_repo.mark_done(session=session, item_id=item.id, now=now)

        await self.inbox.db(done)

    def _save_payload(self, item_id: int, payload: dict[str, Any]) -> None:
        with self.inbox._db.session() as session:
            inbox_repo.save_payload(session=session, item_id=item_id, payload=payload)

    def _suggest_message(
        self, item: InboxItem, message: IncomingMessage
    ) -> SuggestionResult | None:
        assert item.message_id is not None
        result = self.inbox._pipeline.suggest(message, message_id=item.message_id)
        with self.inbox._db.session() as session:
            inbox_repo.mark_done(session=session, item_id=item.id, now=datetime.now(UTC))
        self.stats.done(suggested=1)
        return result


@dataclass
class _Pending:
    item: InboxItem
    since: float
    resolved: Resolved | None = None
    task: asyncio.Task[None] | None = None
    next_at: float = 0.0
    aside: bool = False


class _ResolveStage:
    """Fetch payloads concurrently, release them in arrival order."""

    def __init__(self, flow: _AccountFlow) -> None:
        self.flow = flow
        self.window: dict[int, _Pending] = {}
        self.cursor = 0
        self._dirty = True  # the first load is the recovery of the previous run's rows
        self._full = True
        self._wake = asyncio.Event()
        self._sem = asyncio.Semaphore(RESOLVE_CONCURRENCY)

    def more(self, *, full: bool = False) -> None:
        self._dirty = True
        self._full = self._full or full
        self._wake.set()

    async def cancel(self) -> None:
        tasks = [p.task for p in self.window.values() if p.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def run(self, stop: asyncio.Event) -> None:
        inbox = self.flow.inbox
        while not stop.is_set():
            # Cleared before the work, never after: a fetch finishing while this round
            # awaits the database must wake the next round.
            self._wake.clear()
            try:
                await self._load()
                now = inbox._clock()
                if self.flow.source.connected():
                    for p in self.window.values():
                        if p.task is None and p.resolved is None and p.next_at <= now:
                            p.task = asyncio.create_task(self._fetch(p))
                await self._release(now)
            except Exception as exc:  # the database failed: log once per round, go on
                log.warning(
                    "[%s] 读写收件箱失败：%s；1 秒后重试",
                    self.flow.inbox.shown(self.flow.account),
                    reason(exc),
                )
                log.debug("inbox resolve failure", exc_info=True)
                self._dirty = True
                await asyncio.sleep(1.0)
            if self._dirty and len(self.window) < self.flow.inbox.settings.inbox_window:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._timeout())

    def _timeout(self) -> float:
        """Until the next retry or hold deadline is due (at most a second)."""
        now = self.flow.inbox._clock()
        hold = self.flow.inbox.settings.payload_hold_s
        due = [1.0]
        for p in self.window.values():
            if p.resolved is None and p.task is None:
                due.append(p.next_at - now)
                if not p.aside:
                    due.append(p.since + hold - now)
        return max(0.01, min(due))

    async def _load(self) -> None:
        room = self.flow.inbox.settings.inbox_window - len(self.window)
        if not self._dirty or room <= 0:
            return
        self._dirty = False
        full, self._full = self._full, False
        account = self.flow.account
        exclude = self.flow.in_memory() if full else set()
        after = 0 if full else self.cursor

        def load() -> list[InboxItem]:
            with self.flow.inbox._db.session() as session:
                return inbox_repo.unfinished(
                    session=session,
                    account=account,
                    status="received",
                    exclude=exclude,
                    after_id=after,
                    limit=room,
                )

        rows = await self.flow.inbox.db(load)
        now = self.flow.inbox._clock()
        for item in rows:
            if item.id not in self.window:
                self.window[item.id] = _Pending(item=item, since=now)
            self.cursor = max(self.cursor, item.id)
        if len(rows) >= room:
            self._dirty = True

    async def _fetch(self, p: _Pending) -> None:
        source = self.flow.source
        timeout = self.flow.inbox.settings.check_timeout_s
        try:
            async with self._sem:
                p.resolved = await asyncio.wait_for(
                    source.resolve(p.item.kind, p.item.event_id), timeout
                )
        except NotConnected:
            pass  # not a try: fetched once the account is back
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            parked = await self.flow.inbox.record_failure(p.item, "resolve", exc)
            p.item = replace(p.item, attempts=p.item.attempts + 1)
            if parked:
                self.window.pop(p.item.id, None)
            else:
                p.next_at = self.flow.inbox._clock() + self.flow.inbox.retry_delay(p.item.attempts)
        finally:
            p.task = None
            self._wake.set()

    async def _release(self, now: float) -> None:
        hold = self.flow.inbox.settings.payload_hold_s
        released: list[_Pending] = []
        for row_id in sorted(self.window):
            p = self.window[row_id]
            if p.resolved is not None:
                released.append(p)
                continue
            if p.aside:
                continue
            if p.item.attempts > 0 and now - p.since >= hold:
                p.aside = True
                log.warning(
                    "[%s] %s %s 的内容 %.1f 秒后还取不到：后面的消息先处理，它取到后再补上",
                    self.flow.inbox.shown(self.flow.account),
                    KIND_LABELS.get(p.item.kind, p.item.kind),
                    p.item.event_id,
                    now - p.since,
                )
                continue
            break
        if not released:
            return
        ready = [
            (p.item.id, p.resolved.contact_key, p.resolved.payload or {})
            for p in released
            if p.resolved is not None and p.resolved.contact_key is not None
        ]
        skipped = [
            p.item.id for p in released if p.resolved is not None and p.resolved.contact_key is None
        ]
        stamp = datetime.now(UTC)

        def write() -> None:
            with self.flow.inbox._db.session() as session:
                inbox_repo.mark_ready(session=session, rows=ready, now=stamp)
                inbox_repo.mark_skipped(session=session, ids=skipped, now=stamp)

        await self.flow.inbox.db(write)
        for p in released:
            self.window.pop(p.item.id, None)
        self.flow.stats.skipped += len(skipped)
        self.flow.log.offer(
            [
                replace(
                    p.item,
                    status="ready",
                    contact_key=p.resolved.contact_key,
                    payload=p.resolved.payload or {},
                    attempts=0,
                )
                for p in released
                if p.resolved is not None and p.resolved.contact_key is not None
            ]
        )


class _LaneStage:
    """Rows in one status, processed one contact lane at a time, in id order."""

    def __init__(
        self,
        flow: _AccountFlow,
        name: str,
        status: str,
        work: Callable[[InboxItem], Any],
    ) -> None:
        self.flow = flow
        self.name = name
        self.status = status
        self._work = work
        self.lanes: dict[str, deque[InboxItem]] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.ids: set[int] = set()
        self._overflow = True  # the first load is the recovery of the previous run's rows
        self._dirty = True
        self._wake = asyncio.Event()

    @property
    def count(self) -> int:
        return len(self.ids)

    def more(self) -> None:
        """Rows of this stage wait in the database: load them, oldest first."""
        self._overflow = True
        self._dirty = True
        self._wake.set()

    def offer(self, items: list[InboxItem]) -> None:
        """Rows that reached this stage (already so in the database), in id order."""
        if not items:
            return
        window = self.flow.inbox.settings.inbox_window
        if self._overflow or self.count + len(items) > window:
            self.more()  # they wait in the database; the loader takes them in order
            return
        for item in items:
            self._add(item)

    def _add(self, item: InboxItem) -> None:
        if item.id in self.ids:
            return
        key = item.contact_key or ""
        self.ids.add(item.id)
        self.lanes.setdefault(key, deque()).append(item)
        if key not in self.tasks:
            self.tasks[key] = asyncio.create_task(self._lane(key), name=f"{self.name}-lane")

    async def cancel(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def load_loop(self, stop: asyncio.Event) -> None:
        window = self.flow.inbox.settings.inbox_window
        while not stop.is_set():
            self._wake.clear()
            if self._overflow and self.count < window:
                try:
                    await self._load(window - self.count)
                except Exception as exc:
                    log.warning(
                        "[%s] 读取收件箱失败：%s；1 秒后重试",
                        self.flow.inbox.shown(self.flow.account),
                        reason(exc),
                    )
                    await asyncio.sleep(1.0)
                    continue
            if self._overflow and self.count < window:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)

    async def _load(self, room: int) -> None:
        """The oldest rows of this stage not in memory (rows reach a stage out of id
        order too: one released late, one put back by an operator)."""
        self._dirty = False
        account, status = self.flow.account, self.status
        exclude = set(self.ids)

        def load() -> list[InboxItem]:
            with self.flow.inbox._db.session() as session:
                return inbox_repo.unfinished(
                    session=session, account=account, status=status, exclude=exclude, limit=room
                )

        rows = await self.flow.inbox.db(load)
        for item in rows:
            self._add(item)
        if len(rows) < room and not self._dirty:
            self._overflow = False

    async def _lane(self, key: str) -> None:
        queue = self.lanes[key]
        inbox = self.flow.inbox
        try:
            while queue:
                item = queue[0]
                try:
                    follow = await self._work(item)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    greeting = item.kind == "friendship" and self.name == "suggest"
                    stage = "greet" if greeting else self.name
                    parked = await inbox.record_failure(item, stage, exc)
                    if not parked:
                        queue[0] = replace(item, attempts=item.attempts + 1)
                        await asyncio.sleep(inbox.retry_delay(item.attempts + 1))
                        continue
                    follow = None
                queue.popleft()
                self.ids.discard(item.id)
                if follow is not None:
                    self.flow.suggest.offer([follow])
                if self._overflow:
                    self._wake.set()
        finally:
            self.tasks.pop(key, None)
            self.lanes.pop(key, None)
            for item in queue:  # cancelled with work left: it stays in the database
                self.ids.discard(item.id)
