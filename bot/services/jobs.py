"""Jobs started from the console (bot/pipeline/jobs.py): each is seen only by the user
who started it (and the command line's administrator); anyone else's does not exist."""

from __future__ import annotations

from bot.errors import NotFoundError
from bot.pipeline.jobs import JobStatus
from bot.pipeline.runtime import Runtime
from bot.services.access import Principal

NO_JOB = "任务不存在或已过期"


def get(rt: Runtime, principal: Principal, job_id: str) -> JobStatus:
    job = rt.jobs.get(job_id)
    if job is None or not (principal.is_admin or job.owner == principal.username):
        raise NotFoundError(NO_JOB, ref=job_id)
    return job
