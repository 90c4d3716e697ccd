"""The Wechaty channel under a burst, through the real puppet service.

    python bench/channel_burst.py [--accounts 1,10] [--messages 200] [--contacts 10]
                                  [--llm-delay 1.0 --llm-messages 40] [--out FILE]

For each account count N: N Node puppet-service servers backed by wechaty-puppet-mock
(tests/wechaty_server, `make wechaty-server`), one real ``siyu bot`` process serving all N
accounts (``[[wechaty.accounts]]``) over the demo library (retrieval mode, query cache
off), and, once every account is logged in, a burst of ``--messages`` customer messages
per account across ``--contacts`` contacts, emitted at once by each server (texts from
the dev set). Printed per run, from the bot's own tables:

- messages/s logged and suggested (all accounts together), from the first delivery to
  the last row logged / suggested;
- delivery -> captured by the bot, and delivery -> logged, p50 / p95 / max (delivery is
  the server's timestamp on the message; same clock); capture -> committed to the inbox,
  p95 (from the bot's summary at its stop: the window in which a hard kill loses events);
- the bot process's RSS after login (idle) and its peak (VmHWM), and its CPU seconds;
- a check: every message logged exactly once, in per-contact order, all suggested;
- the machine's 1-minute load average at the end (was the machine shared?).

``--llm-delay S`` adds a run with one account whose suggestions wait S seconds for an
LLM (the test suite's OpenAI-compatible stub, "slow"): logging must not wait for them.

It prints numbers and never asserts timings; the exit code is 1 only when the check
fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from common import ROOT, percentile, read_jsonl
from load import DEFAULT_SEED_DIR, copy_library, proc_cpu_seconds, siyu_command, vm_hwm_mb

sys.path.insert(0, str(ROOT / "tests"))

from openai_stub import OpenAIStub
from wechaty_mock import TOKEN, MockWeChat, free_port, server_available

from bot.store import Database
from bot.store.records import aware


def vm_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_config(path: Path, servers: list[MockWeChat], llm: str | None, workers: int) -> None:
    lines = [
        "[embedding]",
        "query_cache = 0",
        "[wechaty]",
        'notify_contact_id = "filehelper"',
        f"suggest_workers = {workers}",
        "reconnect_initial_s = 0.2",
    ]
    if llm:
        lines[:0] = ["[llm]", f'base_url = "{llm}"', 'model = "stub-model"', "timeout_s = 30"]
    for n, server in enumerate(servers):
        lines += [
            "[[wechaty.accounts]]",
            f'adviser_id = "a{n + 1}"',
            f'endpoint = "{server.endpoint}"',
            'token_env = "BENCH_PUPPET_TOKEN"',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def wait_logged_in(db: Database, n: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    from sqlalchemy import func, select

    from bot.store.models import ChannelAccount

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"siyu bot exited with code {proc.returncode}")
        try:
            with db.session() as session:
                done = session.scalar(
                    select(func.count())
                    .select_from(ChannelAccount)
                    .where(ChannelAccount.state == "logged_in")
                )
            if done == n:
                return
        except Exception:
            pass  # the bot is still creating the tables
        time.sleep(0.2)
    raise RuntimeError(f"not all {n} accounts logged in after {timeout:.0f} s")


def inbox_rows(db: Database) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from bot.store.models import ChannelInbox, Message

    with db.session() as session:
        found = session.execute(
            select(
                ChannelInbox.event_id,
                ChannelInbox.status,
                ChannelInbox.received_at,
                ChannelInbox.logged_at,
                ChannelInbox.updated_at,
                Message.id,
                Message.sent_at,
            )
            .outerjoin(Message, Message.id == ChannelInbox.message_id)
            .where(ChannelInbox.kind == "message")
        ).all()
    return [
        {
            "event_id": r[0],
            "status": r[1],
            "received_at": aware(r[2]),
            "logged_at": aware(r[3]) if r[3] else None,
            "updated_at": aware(r[4]),
            "message_row": r[5],
            "sent_at": aware(r[6]) if r[6] else None,
        }
        for r in found
    ]


def run(
    args: argparse.Namespace, work: Path, accounts: int, *, messages: int, llm_delay: float = 0
) -> dict[str, Any]:
    label = f"{accounts} account(s)" + (f", LLM {llm_delay:g} s" if llm_delay else "")
    print(f"--- {label}: {messages} messages per account", flush=True)
    data = work / f"data-{accounts}-{int(llm_delay * 1000)}"
    copy_library(args.library, data)
    servers = [MockWeChat(free_port(), adviser=f"wxid-a{n + 1}") for n in range(accounts)]
    stub = None
    if llm_delay:
        stub = OpenAIStub()
        stub.behaviour, stub.delay_s = "slow", llm_delay
        stub.start()
    config = work / f"bot-{accounts}.toml"
    write_config(config, servers, stub.base_url if stub else None, args.suggest_workers)
    texts = [r["text"] for r in read_jsonl(Path(__file__).with_name("devset.jsonl"))]
    proc: subprocess.Popen[bytes] | None = None
    db = Database(f"sqlite:///{data / 'siyu.db'}")
    log_path = work / f"bot-{accounts}-{int(llm_delay * 1000)}.log"
    log = log_path.open("wb")
    try:
        for server in servers:
            server.start()
        env = os.environ | {
            "BENCH_PUPPET_TOKEN": TOKEN,
            "SIYU_LLM_API_KEY": "bench",
            "OPENBLAS_NUM_THREADS": "1",
        }
        proc = subprocess.Popen(
            [*siyu_command(), "--config", str(config), "--data-dir", str(data), "bot"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=work,
        )
        started = time.perf_counter()
        wait_logged_in(db, accounts, proc, timeout=120)
        login_s = time.perf_counter() - started
        time.sleep(1.0)
        idle_rss = vm_rss_mb(proc.pid)
        cpu_before = proc_cpu_seconds(proc.pid)
        contacts = [f"k{i}" for i in range(args.contacts)]
        per_contact = max(1, messages // len(contacts))
        acks: list[dict[str, Any]] = [{} for _ in servers]

        def burst(i: int, server: MockWeChat) -> None:
            server.command("contact", id="filehelper", name="文件传输助手")
            acks[i] = server.command(
                "burst",
                timeout=60,
                contacts=contacts,
                per_contact=per_contact,
                prefix=f"a{i + 1}",
                seed=i + 1,
                texts=texts[i::3] or texts,
            )

        threads = [threading.Thread(target=burst, args=(i, s)) for i, s in enumerate(servers)]
        burst_at = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expected = {mid for ack in acks for mid in ack["ids"]}
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            rows = inbox_rows(db)
            if sum(r["status"] == "done" for r in rows) >= len(expected):
                break
            time.sleep(0.25)
        wall = time.perf_counter() - burst_at
        cpu = proc_cpu_seconds(proc.pid) - cpu_before
        peak = vm_hwm_mb(proc.pid)
        rows = [r for r in inbox_rows(db) if r["event_id"] in expected]
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        log.close()
        for server in servers:
            server.stop()
        if stub is not None:
            stub.stop()
    logged = [r for r in rows if r["logged_at"] is not None and r["sent_at"] is not None]
    first = min(r["sent_at"] for r in logged)
    to_captured = [(r["received_at"] - r["sent_at"]).total_seconds() * 1000 for r in logged]
    to_logged = [(r["logged_at"] - r["sent_at"]).total_seconds() * 1000 for r in logged]
    done = [r for r in rows if r["status"] == "done"]
    last_logged = max(r["logged_at"] for r in logged)
    last_done = max((r["updated_at"] for r in done), default=first)
    order_ok = check_order(db, acks)
    # The bot's own summary at its stop: capture -> committed to the inbox, p95 per account.
    durable = [
        float(m) for m in re.findall(r"收到到写入收件箱 p95 (\d+) ms", log_path.read_text("utf-8"))
    ]
    result = {
        "accounts": accounts,
        "llm_delay_s": llm_delay,
        "messages": len(expected),
        "logged": len(logged),
        "suggested": len(done),
        "exactly_once": len({r["message_row"] for r in logged}) == len(expected),
        "per_contact_order": order_ok,
        "login_s": round(login_s, 2),
        "wall_s": round(wall, 2),
        "logged_per_s": round(len(logged) / _seconds(first, last_logged), 1),
        "suggested_per_s": round(len(done) / _seconds(first, last_done), 1),
        "delivery_to_captured_ms": _spread(to_captured),
        "delivery_to_logged_ms": _spread(to_logged),
        "capture_to_inbox_commit_p95_ms": max(durable) if durable else None,
        "idle_rss_mb": round(idle_rss),
        "peak_rss_mb": round(peak),
        "cpu_s": round(cpu, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, ensure_ascii=False), flush=True)
    db.dispose()
    if not args.keep_data:
        shutil.rmtree(data, ignore_errors=True)
    return result


def check_order(db: Database, acks: list[dict[str, Any]]) -> bool:
    """Each contact's messages were logged in the order the server emitted them."""
    from sqlalchemy import select

    from bot.store.models import Message

    with db.session() as session:
        order = {
            m: i for i, m in enumerate(session.scalars(select(Message.msg_id).order_by(Message.id)))
        }
    for ack in acks:
        by_contact: dict[str, list[int]] = {}
        for mid in ack["ids"]:
            contact = mid.rsplit("-", 1)[0]
            by_contact.setdefault(contact, []).append(order.get(mid, -1))
        for positions in by_contact.values():
            if positions != sorted(positions) or -1 in positions:
                return False
    return True


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 1e-3)


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 1),
        "p95": round(percentile(values, 95), 1),
        "max": round(max(values), 1) if values else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--accounts", default="1,10", help="account counts to run; default 1,10")
    ap.add_argument("--messages", type=int, default=200, help="messages per account; default 200")
    ap.add_argument("--contacts", type=int, default=10, help="contacts per account; default 10")
    ap.add_argument("--suggest-workers", type=int, default=2, help="[wechaty] suggest_workers")
    ap.add_argument("--llm-delay", type=float, default=0.0, help="also a run with a slow LLM")
    ap.add_argument("--llm-messages", type=int, default=40, help="messages of that run")
    ap.add_argument("--timeout", type=float, default=600, help="seconds to wait per run")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default: workdir)")
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("--library", type=Path, default=DEFAULT_SEED_DIR, help=argparse.SUPPRESS)
    args = ap.parse_args()
    missing = server_available()
    if missing:
        sys.exit(f"the puppet-service test server is not available: {missing}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="siyu-channel-"))
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("load.py")),
            "--prepare",
            "--library",
            str(args.library),
        ],
        check=True,
        cwd=ROOT,
    )
    results = [
        run(args, work, int(n), messages=args.messages) for n in args.accounts.split(",") if n
    ]
    if args.llm_delay:
        results.append(run(args, work, 1, messages=args.llm_messages, llm_delay=args.llm_delay))
    out = args.out or work / "channel_burst.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"results: {out}")
    ok = all(
        r["exactly_once"] and r["per_contact_order"] and r["suggested"] == r["messages"]
        for r in results
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
