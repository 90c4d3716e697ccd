"""Long work off the request: ingesting a document, importing or validating a script
table, rebuilding the indexes. A job runs on the process's job thread (one at a time, so
long work takes at most one core's worth of Python while requests are served), reports
its progress, and is looked up by id while it runs and for a while after.

Jobs live in the process: a restart forgets them. The work itself keeps the store
consistent when a job dies — SQL is written in one transaction, and the indexes are
derived data that the next sync repairs (bot/pipeline/kb.py) — so a dead job leaves
nothing half-written.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot.errors import EXPECTED_ERRORS, Conflict

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed"]
#: Finished jobs are kept this long, and at most ``MAX_JOBS`` jobs in all.
KEEP_FINISHED = timedelta(hours=1)
MAX_JOBS = 200
#: Jobs waiting for the job thread at most; more is refused (``JobsBusy``).
MAX_QUEUED = 20
#: What a job that failed unexpectedly says (the details go to the log).
INTERNAL_ERROR = "任务出错，未写入任何内容；详情见服务器日志"
CANCELLED = "服务正在停止，任务已取消"


class JobsBusy(Conflict):
    """Too many jobs are waiting already, or the process is stopping."""


class JobCancelled(Exception):
    """The registry is closing: the job stops at its next progress report."""


@dataclass(frozen=True, slots=True)
class JobStatus:
    """A snapshot of a job."""

    id: str
    kind: str
    #: Who started it (a user name); only they see it.
    owner: str
    #: What it does, in Chinese (shown to the user).
    title: str
    state: JobState
    #: The current phase, in Chinese ("建立索引").
    phase: str = ""
    done: int = 0
    total: int = 0
    #: The outcome (done) or the error (failed), in Chinese.
    message: str = ""
    #: Where the user goes when it is done (a path of the app), if anywhere.
    next_url: str | None = None
    #: What the work returned (e.g. a validation report).
    result: Any = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What finished work reports."""

    message: str
    next_url: str | None = None
    result: Any = None


class JobProgress:
    """Handed to the work: report the phase and progress. Raises ``JobCancelled`` when
    the registry is closing, so long work stops at its next report."""

    def __init__(self, jobs: Jobs, job_id: str) -> None:
        self._jobs = jobs
        self._id = job_id

    @property
    def job_id(self) -> str:
        return self._id

    def phase(self, text: str, total: int = 0) -> None:
        self._jobs._update(self._id, phase=text, done=0, total=total)

    def progress(self, done: int, total: int) -> None:
        self._jobs._update(self._id, done=done, total=total)


Work = Callable[[JobProgress], JobOutcome]


class Jobs:
    """The registry and its job thread (started on the first job)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, JobStatus] = OrderedDict()
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False

    def submit(self, *, kind: str, owner: str, title: str, work: Work) -> JobStatus:
        with self._lock:
            if self._closing:
                raise JobsBusy(CANCELLED)
            self._forget_old()
            queued = sum(1 for j in self._jobs.values() if j.state == "queued")
            if queued >= MAX_QUEUED:
                raise JobsBusy("排队的任务太多，请稍后再试")
            job = JobStatus(
                id=secrets.token_hex(8), kind=kind, owner=owner, title=title, state="queued"
            )
            self._jobs[job.id] = job
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siyu-job")
            self._executor.submit(self._run, job.id, work)
        return job

    def get(self, job_id: str) -> JobStatus | None:
        with self._lock:
            return self._jobs.get(job_id)

    def close(self) -> None:
        """Stop: queued jobs are dropped, the running one stops at its next progress
        report; nothing is waited for."""
        with self._lock:
            self._closing = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    # -- the job thread ---------------------------------------------------------------

    def _run(self, job_id: str, work: Work) -> None:
        try:
            self._update(job_id, state="running")
            outcome = work(JobProgress(self, job_id))
        except JobCancelled:
            self._finish(job_id, state="failed", message=CANCELLED)
        except EXPECTED_ERRORS as exc:
            self._finish(job_id, state="failed", message=str(exc))
        except Exception:
            log.exception("job %s failed", job_id)
            self._finish(job_id, state="failed", message=INTERNAL_ERROR)
        else:
            self._finish(
                job_id,
                state="done",
                message=outcome.message,
                next_url=outcome.next_url,
                result=outcome.result,
            )

    def _update(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            if self._closing:
                raise JobCancelled()
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, **changes)

    def _finish(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, finished_at=datetime.now(UTC), **changes)

    def _forget_old(self) -> None:
        cutoff = datetime.now(UTC) - KEEP_FINISHED
        for job_id, job in list(self._jobs.items()):
            if job.finished_at is not None and job.finished_at < cutoff:
                del self._jobs[job_id]
        while len(self._jobs) > MAX_JOBS:
            oldest = next((k for k, j in self._jobs.items() if j.finished), None)
            if oldest is None:
                break
            del self._jobs[oldest]
