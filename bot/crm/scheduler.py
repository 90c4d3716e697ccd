"""Runs the follow-up rules periodically inside ``siyu serve`` and ``siyu bot``.

``siyu followups run`` does the same once; both are idempotent (an occurrence fires once),
so running the scheduler in several processes is harmless, only wasteful.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.crm.followups import RunStats, load_rules, run_rules
from bot.settings import Settings
from bot.store import Database

log = logging.getLogger(__name__)


class FollowupScheduler:
    """A daemon thread that fires the rules every ``followups.interval_minutes``."""

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._settings = settings
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="followups", daemon=True)
        self.runs = 0  # successful runs
        self.attempts = 0

    @property
    def enabled(self) -> bool:
        return bool(self._settings.followups.rules_file)

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
        while not self._stop.is_set():
            self.attempts += 1
            try:
                stats = self.run_once()
                log.info(
                    "follow-up rules: %d reminders, %d silent", stats.reminders, stats.marked_silent
                )
            except Exception:  # a bad rules file must not stop the console or the bot
                log.exception("follow-up rules failed; next try in %.0f s", interval)
            self._stop.wait(interval)
