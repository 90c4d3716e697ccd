"""The capture journal: each event id is appended to a file the moment it arrives, before
the inbox's database write (a few milliseconds later, longer when the database is busy).

A process killed in between (``kill -9``, the OOM killer) leaves the ids in the file (the
kernel has them); the next start adds them to the inbox. The file holds ids and times
only, never customer text, and is emptied whenever everything captured so far is in the
database. A machine crash can still lose what the kernel had not written to disk.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import datetime
from pathlib import Path

from bot.store.channel_inbox import NewEvent

log = logging.getLogger(__name__)

PREFIX = "capture-"
#: The journal is emptied only once it is at least this big (a truncate per batch is
#: cheap, but pointless for a few lines).
TRUNCATE_BYTES = 64 * 1024


class CaptureJournal:
    """One process's journal file in ``directory``."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / f"{PREFIX}{os.getpid()}.jsonl"
        if self.path.exists():  # left by an earlier process with our pid (a container's 1)
            earlier = f"{PREFIX}{os.getpid()}-earlier-{os.urandom(4).hex()}.jsonl"
            self.path.rename(directory / earlier)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size

    def append(self, event: NewEvent) -> None:
        """Synchronous and short (one write system call)."""
        line = json.dumps(
            [event.account, event.kind, event.event_id, event.received_at.isoformat()],
            ensure_ascii=False,
        )
        data = (line + "\n").encode("utf-8")
        os.write(self._fd, data)
        self._size += len(data)

    def all_committed(self) -> None:
        """Everything appended so far is in the database."""
        if self._size >= TRUNCATE_BYTES:
            os.ftruncate(self._fd, 0)
            self._size = 0

    def close(self, *, committed: bool) -> None:
        os.close(self._fd)
        if committed:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def recover(self) -> tuple[list[NewEvent], list[Path]]:
        """Events in the journals of processes that are gone (never this one's, nor a
        running one's), and those files (delete them once the events are stored)."""
        events: list[NewEvent] = []
        files: list[Path] = []
        for path in sorted(self.directory.glob(f"{PREFIX}*.jsonl")):
            if path == self.path or _alive(path):
                continue
            files.append(path)
            for number, line in enumerate(path.read_text("utf-8", errors="replace").splitlines()):
                try:
                    account, kind, event_id, at = json.loads(line)
                    events.append(NewEvent(account, kind, event_id, datetime.fromisoformat(at)))
                except (ValueError, TypeError):
                    log.warning(
                        "收件箱日志文件 %s 第 %d 行读不出，已跳过"
                        "（那条消息若还没写入数据库，就补不上了）",
                        path.name,
                        number + 1,
                    )
        return events, files


def _alive(path: Path) -> bool:
    """The journal's process still runs (its pid is in the name; same host)."""
    try:
        pid = int(path.stem.removeprefix(PREFIX))
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
