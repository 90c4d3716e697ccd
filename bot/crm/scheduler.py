"""Runs the follow-up rules periodically inside ``siyu serve`` and ``siyu bot``.

Every such process has a scheduler, but only the one holding the ``followups`` lock
(bot/store/locks.py: a PostgreSQL advisory lock, or a file lock next to a SQLite file)
runs the rules; the others stand by and try to take the lock at each interval, so when
the holder stops or dies another process takes over within one interval.
``siyu followups run`` runs the rules once, lock or not: the rules are idempotent (an
occurrence fires once), the lock only saves the work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from bot.crm.followups import RunStats, load_rules, run_rules
from bot.settings import Settings
from bot.store import Database
from bot.store.locks import RunnerLock, runner_lock

log = logging.getLogger(__name__)


#: The lock only one process of a deployment holds (bot/store/locks.py).
LOCK_NAME = "followups"
#: What a process's scheduler does: runs the rules, stands by for the holder, or nothing
#: (no rules file).
Role = Literal["running", "standby", "off"]


class FollowupScheduler:
    """A daemon thread that fires the rules every ``followups.interval_minutes`` while
    this process holds the ``followups`` lock."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lock: RunnerLock | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._lock = lock if lock is not None else runner_lock(db, LOCK_NAME)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="followups", daemon=True)
        self.runs = 0  # successful runs
        self.attempts = 0  # runs tried while holding the lock

    @property
    def enabled(self) -> bool:
        return bool(self._settings.followups.rules_file)

    @property
    def role(self) -> Role:
        if not self.enabled or not self._thread.is_alive():
            return "off"
        return "running" if self._lock.held else "standby"

    def start(self) -> None:
        if self.enabled:
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def run_once(self) -> RunStats:
        fs = self._settings.followups
        rules = load_rules(Path(fs.rules_file))
        with self._db.session() as session:
            stats = run_rules(
                session=session,
                rules=rules,
                now=self._clock(),
                timezone=self._settings.timezone,
                catch_up_days=fs.catch_up_days,
            )
        self.runs += 1
        return stats

    def _loop(self) -> None:
        interval = self._settings.followups.interval_minutes * 60
        try:
            while not self._stop.is_set():
                if self._take_turn():
                    self.attempts += 1
                    try:
                        stats = self.run_once()
                        log.info(
                            "follow-up rules: %d reminders, %d silent",
                            stats.reminders,
                            stats.marked_silent,
                        )
                    except Exception:  # a bad rules file must not stop the console or the bot
                        log.exception("follow-up rules failed; next try in %.0f s", interval)
                self._stop.wait(interval)
        finally:
            self._lock.release()

    def _take_turn(self) -> bool:
        """Hold the lock (take it if free): True when this process runs the rules."""
        was = self._lock.held
        try:
            holds = self._lock.acquire()
        except Exception:  # an unreachable database: stand by, try again next interval
            log.exception("cannot take the follow-up lock")
            return False
        if holds != was:
            log.warning(
                "follow-up rules: %s",
                "this process runs them" if holds else "another process runs them",
            )
        return holds
