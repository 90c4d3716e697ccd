"""``GET /healthz``: whether this process is up, for the reverse proxy, systemd and the
people running several processes (docs/DEPLOYMENT.md). No login; no customer data."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request

from bot.pipeline.live import PostgresBroadcaster
from bot.web import schemas
from bot.web.deps import runtime_of

router = APIRouter()


@router.get("/healthz", response_model=schemas.Health, tags=["health"])
def healthz(request: Request) -> schemas.Health:
    """This process: its id, whether it runs the follow-up rules (`running`), stands by
    for the process that does (`standby`) or has none (`off`), the version of the script
    library, knowledge and taxonomy it serves, and whether it receives the other
    processes' live updates."""
    rt = runtime_of(request)
    events = rt.events
    return schemas.Health(
        status="ok",
        pid=os.getpid(),
        followups=rt.followups.role if rt.followups is not None else "off",
        followup_runs=rt.followups.runs if rt.followups is not None else 0,
        versions=rt.changes.versions if rt.changes is not None else {},
        live_across_processes=isinstance(events, PostgresBroadcaster) and events.listening,
    )
