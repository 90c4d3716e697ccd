"""Following the change feed: what another process changes in the shared state reaches
this process's memory within ``[cluster] poll_seconds`` plus the refresh itself.

Every change of the script library, the knowledge base or the tag taxonomy bumps its
topic's version in the same transaction (bot/store/changes.py), whichever process makes
it: a console worker, ``siyu bot``, a CLI command. ``ChangeFollower`` reads the versions
every ``poll_seconds`` (one small query) and refreshes only the topics whose version
moved: scripts -> the script index, its in-memory vectors and the script cache;
knowledge -> the knowledge index and its chunks; tags -> the tagger. It also reads the
newest message id, so that the ranking statistics are refreshed after
``[ranking] refresh_every_messages`` messages logged by any process, not only this one.

A refresh reads the vectors the changing process stored and writes nothing to the
vector store (``HybridIndex.refresh``). A failed refresh (the database or the Chroma
server unreachable) is retried at the next poll.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from bot.store import Database
from bot.store import changes as changes_repo
from bot.store import messages as messages_repo
from bot.vocab import ChangeTopic
from knowledge import SyncStats

log = logging.getLogger(__name__)

#: Called with the newest message id every poll (the ranking statistics' trigger).
MessagesHook = Callable[[int], None]


class ChangeFollower:
    """Polls the change feed on a daemon thread and refreshes what changed."""

    def __init__(
        self,
        *,
        db: Database,
        poll_seconds: float,
        refreshers: Mapping[ChangeTopic, Callable[[], None]],
        on_messages: MessagesHook | None = None,
    ) -> None:
        self._db = db
        self._poll_seconds = poll_seconds
        self._refreshers = dict(refreshers)
        self._on_messages = on_messages
        self._seen: dict[ChangeTopic, int] = {}
        self._failing: set[ChangeTopic] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Refreshes done per topic (for the health page and tests).
        self.refreshes: dict[ChangeTopic, int] = dict.fromkeys(self._refreshers, 0)
        #: Seconds the last refresh of each topic took.
        self.last_refresh_s: dict[ChangeTopic, float] = {}

    @property
    def versions(self) -> dict[ChangeTopic, int]:
        """The version of each topic this process has loaded."""
        with self._lock:
            return dict(self._seen)

    def mark_loaded(self) -> None:
        """Take the current versions as loaded. Call it *before* loading the state at
        start-up: a change committed during the load is then refreshed at the first poll
        (never missed; at worst loaded twice)."""
        with self._db.session() as session:
            found = changes_repo.versions(session=session)
        with self._lock:
            self._seen = dict(found)

    def check(self) -> list[ChangeTopic]:
        """One poll: refresh the topics whose version moved; returns them."""
        with self._db.session() as session:
            found = changes_repo.versions(session=session)
            newest_message = messages_repo.latest_id(session=session)
        refreshed: list[ChangeTopic] = []
        for topic, refresh in self._refreshers.items():
            version = found.get(topic, 0)
            with self._lock:
                if self._seen.get(topic) == version:
                    continue
            started = time.perf_counter()
            try:
                refresh()
            except Exception:
                if topic not in self._failing:
                    log.exception("refreshing %s after another process changed it failed", topic)
                    self._failing.add(topic)
                continue  # the version stays unseen: tried again at the next poll
            if topic in self._failing:
                log.warning("refreshing %s works again", topic)
                self._failing.discard(topic)
            with self._lock:
                self._seen[topic] = version
            self.refreshes[topic] = self.refreshes.get(topic, 0) + 1
            self.last_refresh_s[topic] = time.perf_counter() - started
            refreshed.append(topic)
        if self._on_messages is not None:
            self._on_messages(newest_message)
        return refreshed

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="change-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        down = False
        while not self._stop.wait(self._poll_seconds):
            try:
                self.check()
            except Exception as exc:  # the database is unreachable: try at the next poll
                if not down:
                    log.warning("reading the change feed failed: %s", str(exc).splitlines()[0])
                down = True
                continue
            if down:
                log.warning("reading the change feed works again")
            down = False


def changed_vectors(db: Database, topic: ChangeTopic, stats: SyncStats) -> None:
    """After a sync that wrote to the vector store, bump ``topic`` again: processes that
    refreshed when the change was committed (before its vectors were stored) refresh
    once more and then keep every vector in memory."""
    if stats.embedded or stats.removed or stats.relabeled:
        with db.session() as session:
            changes_repo.bump(session=session, topic=topic)
