"""What the live event stream's re-check costs (bot/services/live.py, ``visible``): an
open ``GET /api/events`` stream runs it once before each batch of events it sends and
once per keep-alive.

Builds a store (SQLite file in a temporary directory, or ``--url`` PostgreSQL) with
``--advisers`` advisers in teams of ten, a manager of one team and an adviser user, each
with an API token, and times ``visible`` in a fresh session (as the stream does, minus
the hop to a worker thread, measured apart) for: a keep-alive (no events), one event,
and a batch of 20, for an adviser and a manager, by session cookie and by token. Prints
p50 / p95 per call. Usage: python bench/live_recheck.py [--advisers 200] [--n 2000]
[--url postgresql://…]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.pipeline.live import LiveEvent  # noqa: E402
from bot.services import live, users  # noqa: E402
from bot.services.access import Principal, new_api_token, token_digest, user_principal  # noqa: E402
from bot.store import Database  # noqa: E402
from bot.store import users as users_repo  # noqa: E402

TEAM_SIZE = 10
#: Any argon2 hash will do: nobody logs in here.
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFy"


def _user(
    db: Database, username: str, role: str, adviser_id: str | None, team: str | None
) -> tuple[Principal, str]:
    with db.session() as session:
        user = users_repo.create_user(
            session=session,
            username=username,
            password_hash=HASH,
            role=role,
            adviser_id=adviser_id,
            team=team,
        )
        token = new_api_token()
        users_repo.create_api_token(
            session=session, user_id=user.id, name="b", digest=token_digest(token)
        )
    return user_principal(user), token


def _timed(n: int, call: Callable[[], object]) -> str:
    spent = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        spent.append(time.perf_counter() - start)
    spent.sort()
    p50 = statistics.median(spent) * 1e6
    p95 = spent[int(0.95 * (len(spent) - 1))] * 1e6
    return f"p50 {p50:7.0f} µs  p95 {p95:7.0f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advisers", type=int, default=200)
    parser.add_argument("--n", type=int, default=2000, help="calls per case")
    parser.add_argument("--url", default="", help="PostgreSQL URL (default: a SQLite file)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.url or f"sqlite:///{tmp}/bench.db")
        db.migrate()
        for i in range(args.advisers):
            _user(db, f"adv{i}", "adviser", f"a{i}", f"team{i // TEAM_SIZE}")
        viewers = {
            "adviser": _user(db, "adviser-viewer", "adviser", "a0", "team0"),
            "manager": _user(db, "manager-viewer", "manager", None, "team0"),
        }
        one = [LiveEvent(kind="message", adviser_id="a3", customer_id=1)]
        batch = [
            LiveEvent(kind="message", adviser_id=f"a{i % args.advisers}", customer_id=i)
            for i in range(20)
        ]
        print(f"{db.engine.dialect.name}, {args.advisers} advisers, {args.n} calls per case")
        for role, (principal, token) in viewers.items():
            credentials = {
                "cookie": users.Credential(user_id=principal.user_id, session_version=0),
                "token": users.Credential(token=token),
            }
            for how, credential in credentials.items():
                for label, events in (("keep-alive", []), ("1 event", one), ("20 events", batch)):

                    def check(
                        credential: users.Credential = credential,
                        principal: Principal = principal,
                        events: list[LiveEvent] = events,
                    ) -> object:
                        with db.session() as session:
                            shown = live.visible(session, credential, principal, events)
                        assert shown is not None
                        return shown

                    print(f"  {role:8} {how:7} {label:11} {_timed(args.n, check)}")

        async def hop() -> None:
            from fastapi.concurrency import run_in_threadpool

            start = time.perf_counter()
            for _ in range(args.n):
                await run_in_threadpool(lambda: None)
            each = (time.perf_counter() - start) / args.n * 1e6
            print(f"  hop to a worker thread (run_in_threadpool): {each:.0f} µs")

        asyncio.run(hop())
        db.engine.dispose()


if __name__ == "__main__":
    main()
