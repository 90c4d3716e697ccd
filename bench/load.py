"""Load: N advisers x M customers each sending messages, retrieval mode (no LLM).

    python bench/load.py [--advisers 4] [--customers 25] [--messages-per-customer 10]
                         [--mode memory|http|both|workers] [--duration SECONDS] [--out FILE]
                         [--postgres-url URL]

memory: one shared runtime (``open_runtime`` on the demo library, as ``siyu demo``
  loads it), one ``MemoryChannel`` per adviser, each adviser in its own thread calling
  ``receive`` for its customers' messages one after another.
http: a real ``siyu serve`` process on 127.0.0.1 (a free port, its own data dir with
  the demo library and one adviser user + API token per adviser, created before it
  starts); one client thread per adviser posting ``POST /api/messages``.

workers (needs --postgres-url, a server where a throw-away database is created): the http
  mode on PostgreSQL and a Chroma server (`chroma run`, started here), once through
  `siyu serve` (one process) and once through `siyu serve --workers 2` on the same
  database, library and traffic shape (other adviser ids); prints both and the ratios.
  CPU and peak RSS are summed over the server's processes.

Customer messages are dev-set messages of the adviser's industry picked with a seed,
with repeats (customers say 「在吗」 twice); every message has a unique msg_id, and a
few are delivered twice (a channel redelivery: must be logged once and not suggested
again). A warm-up phase (its own advisers) is excluded from the figures. Printed per
mode: messages, wall time, throughput (suggested messages/s), latency p50/p95/max
(per ``receive`` call; client-side per HTTP request), the pipeline's own
``latency_ms`` (retrieval + ranking, without logging and storing), CPU use, peak RSS
of the process doing the work (this process / the server's VmHWM), the CPU other
processes used meanwhile (from /proc/stat: was the machine shared?), and a database
check: every sent message logged exactly once, done, with one suggestion.

It prints numbers and never asserts timings; the exit code is 1 only when the
correctness check fails. The demo library is indexed once into bench/out/load-library
(in a child process, so it does not count in this process's RSS) and copied into each
mode's data dir; delete that directory to index again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from common import DEMO, ROOT, demo_knowledge, open_library, peak_rss_mb, percentile, read_jsonl
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from bot.store import Database

INDUSTRIES = ("insurance", "kaoyan")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["女士", "先生", "姐", "哥", "老师", "同学", "小姐", "总"]
DEFAULT_SEED_DIR = Path(__file__).with_name("out") / "load-library"
console = Console(stderr=True)


# ------------------------------------------------------------------ the traffic
@dataclass(frozen=True, slots=True)
class Msg:
    msg_id: str
    contact_id: str
    contact_name: str
    text: str
    industry: str
    redelivery: bool = False


def conversations(
    *,
    adviser_id: str,
    industry: str,
    customers: int,
    pool: list[str],
    rng: random.Random,
    repeat: float,
    redeliver: float,
) -> Iterator[Msg]:
    """One adviser's traffic: round after round, each customer (in a shuffled order)
    says one more thing; with probability ``repeat`` something they said before, with
    ``redeliver`` the channel delivers the previous message again. Never ends."""
    names = [f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}" for _ in range(customers)]
    said: list[list[str]] = [[] for _ in range(customers)]
    serial = 0
    while True:
        order = list(range(customers))
        rng.shuffle(order)
        for c in order:
            text = rng.choice(said[c] if said[c] and rng.random() < repeat else pool)
            said[c].append(text)
            serial += 1
            msg = Msg(
                msg_id=f"{adviser_id}-m{serial}",
                contact_id=f"{adviser_id}-c{c}",
                contact_name=names[c],
                text=text,
                industry=industry,
            )
            yield msg
            if rng.random() < redeliver:
                yield replace(msg, redelivery=True)


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    pipeline_ms: float | None = None
    error: str | None = None


#: Sends one message for an adviser; called from that adviser's thread only.
Sender = Callable[[Msg], Outcome]


@dataclass
class Tally:
    """What one adviser thread did in one phase."""

    latencies_ms: list[float] = field(default_factory=list)
    pipeline_ms: list[float] = field(default_factory=list)
    msg_ids: list[str] = field(default_factory=list)
    redeliveries: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Clock:
    """Time and CPU over one phase."""

    wall_s: float
    #: CPU seconds of this process.
    self_cpu_s: float
    #: CPU seconds of the server process (http mode; 0 otherwise).
    server_cpu_s: float
    #: CPU seconds of the whole machine (/proc/stat; None elsewhere than Linux).
    machine_cpu_s: float | None

    @property
    def others_cores(self) -> float | None:
        """CPUs used on average by every other process: is the machine shared?"""
        if self.machine_cpu_s is None or self.wall_s <= 0:
            return None
        others = self.machine_cpu_s - self.self_cpu_s - self.server_cpu_s
        return max(0.0, others) / self.wall_s


def run_phase(
    senders: list[Sender],
    streams: list[Iterator[Msg]],
    *,
    per_adviser: int | None,
    duration: float | None,
    progress: Progress,
    task: TaskID,
    server_cpu: Callable[[], float] | None = None,
) -> tuple[list[Tally], Clock]:
    """Each adviser's thread sends ``per_adviser`` new messages (or until ``duration``
    seconds have passed). Returns the tallies and the phase's clock; ``server_cpu``
    reads the server's CPU seconds."""
    tallies = [Tally() for _ in senders]
    start = threading.Barrier(len(senders) + 1)
    deadline = 0.0

    def work(send: Sender, stream: Iterator[Msg], tally: Tally) -> None:
        start.wait()
        sent = 0
        for msg in stream:
            if per_adviser is not None and sent >= per_adviser and not msg.redelivery:
                break
            if duration is not None and time.perf_counter() >= deadline:
                break
            t0 = time.perf_counter()
            try:
                outcome = send(msg)
            except Exception as exc:  # a client-side failure (connection refused, ...)
                outcome = Outcome(ok=False, error=f"{type(exc).__name__}: {exc}")
            elapsed = (time.perf_counter() - t0) * 1000
            if not outcome.ok:
                tally.errors.append(f"{msg.msg_id}: {outcome.error}")
            if msg.redelivery:
                tally.redeliveries += 1
                continue
            sent += 1
            tally.msg_ids.append(msg.msg_id)
            tally.latencies_ms.append(elapsed)
            if outcome.pipeline_ms is not None:
                tally.pipeline_ms.append(outcome.pipeline_ms)
            progress.advance(task)

    threads = [
        threading.Thread(target=work, args=(s, st, t), daemon=True)
        for s, st, t in zip(senders, streams, tallies, strict=True)
    ]
    for t in threads:
        t.start()
    machine0, server0, cpu0 = (
        machine_cpu_seconds(),
        server_cpu() if server_cpu else 0.0,
        cpu_seconds(),
    )
    wall0 = time.perf_counter()
    deadline = wall0 + (duration or 0.0)
    start.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall0
    cpu, server, machine = cpu_seconds(), server_cpu() if server_cpu else 0.0, machine_cpu_seconds()
    return tallies, Clock(
        wall_s=wall,
        self_cpu_s=cpu - cpu0,
        server_cpu_s=server - server0,
        machine_cpu_s=None if machine is None or machine0 is None else machine - machine0,
    )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_seconds() -> float | None:
    """Busy CPU seconds of all CPUs since boot (user, nice, system, irq, softirq, steal)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    busy = sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8))
    return busy / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ set-up
def prepare_library(seed_dir: Path) -> None:
    """(child process) Index the demo library in ``seed_dir``; fast when it is there."""
    rt, seconds = open_library(
        seed_dir,
        scripts=DEMO / "scripts.csv",
        tags=DEMO / "tags.yaml",
        knowledge=demo_knowledge(),
    )
    rt.close()
    print(f"demo library ready in {seed_dir} ({seconds:.1f} s)")


def copy_library(seed_dir: Path, data_dir: Path) -> None:
    if data_dir.exists():
        shutil.rmtree(data_dir)
    shutil.copytree(seed_dir, data_dir)


def devset_pools() -> dict[str, list[str]]:
    rows = read_jsonl(Path(__file__).with_name("devset.jsonl"))
    return {i: [r["text"] for r in rows if r["industry"] == i] for i in INDUSTRIES}


@dataclass(frozen=True, slots=True)
class Traffic:
    advisers: list[str]
    streams: list[Iterator[Msg]]


def make_traffic(args: argparse.Namespace, prefix: str, n: int, seed: int) -> Traffic:
    pools = devset_pools()
    advisers = [f"{prefix}{i + 1}" for i in range(n)]
    streams = [
        conversations(
            adviser_id=a,
            industry=INDUSTRIES[i % len(INDUSTRIES)],
            customers=args.customers,
            pool=pools[INDUSTRIES[i % len(INDUSTRIES)]],
            rng=random.Random(f"{seed}-{a}"),
            repeat=args.repeat,
            redeliver=args.redeliver,
        )
        for i, a in enumerate(advisers)
    ]
    return Traffic(advisers=advisers, streams=streams)


# ------------------------------------------------------------------ the check
def check_database(db: Database, advisers: list[str], expected: set[str]) -> dict[str, Any]:
    """Every expected msg_id logged exactly once for these advisers, nothing else
    logged for them, all processed, each with exactly one suggestion."""
    from sqlalchemy import func, select

    from bot.store.models import Message, Suggestion

    with db.session() as session:
        rows = session.execute(
            select(Message.id, Message.msg_id, Message.status).where(
                Message.adviser_id.in_(advisers)
            )
        ).all()
        per_message = {
            message_id: n
            for message_id, n in session.execute(
                select(Suggestion.message_id, func.count())
                .where(Suggestion.adviser_id.in_(advisers))
                .group_by(Suggestion.message_id)
            ).all()
        }
    logged = Counter(r.msg_id for r in rows)
    missing = expected - logged.keys()
    unexpected = logged.keys() - expected
    twice = [m for m, n in logged.items() if n > 1]
    not_done = [r.msg_id for r in rows if r.status != "done"]
    bad_suggestions = [r.msg_id for r in rows if per_message.get(r.id, 0) != 1]
    ok = not (missing or unexpected or twice or not_done or bad_suggestions)
    return {
        "ok": ok,
        "sent": len(expected),
        "logged_rows": len(rows),
        "missing": len(missing),
        "unexpected": len(unexpected),
        "logged_more_than_once": len(twice),
        "not_done": len(not_done),
        "without_exactly_one_suggestion": len(bad_suggestions),
        "examples": sorted(missing)[:3] + sorted(unexpected)[:3] + not_done[:3],
    }


# ------------------------------------------------------------------ figures
def figures(
    mode: str,
    tallies: list[Tally],
    clock: Clock,
    *,
    cpu_s: float,
    warmup: int,
    setup_s: float,
) -> dict[str, Any]:
    wall_s = clock.wall_s
    lat = [x for t in tallies for x in t.latencies_ms]
    pipe = [x for t in tallies for x in t.pipeline_ms]
    sent = len(lat)

    def stats(values: list[float]) -> dict[str, float]:
        if not values:
            return {}
        return {
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "max": max(values),
            "mean": sum(values) / len(values),
        }

    return {
        "mode": mode,
        "messages_sent": sent,
        "redeliveries": sum(t.redeliveries for t in tallies),
        "errors": sum(len(t.errors) for t in tallies),
        "error_examples": [e for t in tallies for e in t.errors][:5],
        "warmup_messages": warmup,
        "setup_s": setup_s,
        "wall_s": wall_s,
        "throughput_msgs_per_s": sent / wall_s if wall_s > 0 else float("nan"),
        "latency_ms": stats(lat),
        "pipeline_latency_ms": stats(pipe),
        "cpu_s": cpu_s,
        "cpu_cores_used": cpu_s / wall_s if wall_s > 0 else None,
        "client_cpu_s": clock.self_cpu_s if mode != "memory" else None,
        "other_processes_cores": clock.others_cores,
    }


def report(result: dict[str, Any]) -> None:
    lat, pipe = result["latency_ms"], result["pipeline_latency_ms"]
    where = "per receive call" if result["mode"] == "memory" else "client-side, per request"
    check = result["check"]
    print(f"== {result['mode']} ==  {result['setup']} (ready in {result['setup_s']:.1f} s)")
    print(
        f"messages sent: {result['messages_sent']} suggested"
        f" (+ {result['redeliveries']} redeliveries, {result['warmup_messages']} warm-up"
        f" not counted), errors: {result['errors']}"
    )
    print(
        f"wall time: {result['wall_s']:.1f} s   throughput:"
        f" {result['throughput_msgs_per_s']:.1f} suggested messages/s"
    )
    if lat:
        print(
            f"latency ({where}): p50 {lat['p50']:.1f} ms  p95 {lat['p95']:.1f} ms"
            f"  max {lat['max']:.1f} ms"
        )
    if pipe:
        print(
            f"  of which suggest pipeline (result.latency_ms): p50 {pipe['p50']:.1f} ms"
            f"  p95 {pipe['p95']:.1f} ms  max {pipe['max']:.1f} ms"
        )
    if result.get("cpu_cores_used") is not None:
        client = (
            f"; the clients in this process {result['client_cpu_s']:.1f} s"
            if result["client_cpu_s"] is not None
            else ""
        )
        print(
            f"CPU: {result['cpu_s']:.1f} s in {result['cpu_of']}"
            f" ({result['cpu_cores_used']:.2f} cores on average){client}"
        )
    others = result["other_processes_cores"]
    if others is not None:
        shared = "shared machine" if others >= 0.1 else "machine to ourselves"
        print(f"other processes meanwhile: {others:.2f} cores on average ({shared})")
    print(f"peak RSS ({result['rss_of']}): {result['peak_rss_mb']:.0f} MB")
    verdict = "OK" if check["ok"] else "FAILED"
    print(
        f"check: {verdict} — {check['sent']} distinct messages sent (incl. warm-up),"
        f" {check['logged_rows']} logged; missing {check['missing']},"
        f" unexpected {check['unexpected']}, logged twice {check['logged_more_than_once']},"
        f" not done {check['not_done']},"
        f" without exactly one suggestion {check['without_exactly_one_suggestion']}"
    )
    if result.get("server_tracebacks"):
        print(f"  server log: {result['server_tracebacks']} tracebacks in {result['server_log']}")
    for e in result["error_examples"]:
        print(f"  error: {e}")


def new_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def phases(
    label: str,
    senders_for: Callable[[list[str]], list[Sender]],
    args: argparse.Namespace,
    server_cpu: Callable[[], float] | None = None,
    prefix: str = "",
) -> tuple[list[Tally], Clock, list[Tally], list[str]]:
    """Warm-up (its own advisers ``w1..``), then the measured phase (``a1..``), the ids
    prefixed by ``prefix``. Returns measured tallies, their clock, warm-up tallies and
    all adviser ids."""
    warm = make_traffic(args, f"{prefix}w", args.advisers, args.seed + 1)
    main = make_traffic(args, f"{prefix}a", args.advisers, args.seed)
    per_warm = max(1, args.warmup // args.advisers) if args.warmup > 0 else 0
    total = None if args.duration else args.advisers * args.customers * args.messages_per_customer
    with new_progress() as progress:
        warm_tallies: list[Tally] = []
        if per_warm:
            wt = progress.add_task(f"{label} warm-up", total=per_warm * args.advisers, rate="")
            warm_tallies, _ = run_phase(
                senders_for(warm.advisers),
                warm.streams,
                per_adviser=per_warm,
                duration=None,
                progress=progress,
                task=wt,
            )
        task = progress.add_task(f"{label} load", total=total, rate="")
        stop = threading.Event()
        t0 = time.perf_counter()

        def rate() -> None:
            while not stop.wait(0.5):
                done = progress.tasks[task].completed
                progress.update(task, rate=f"{done / (time.perf_counter() - t0):.1f} msg/s")

        ticker = threading.Thread(target=rate, daemon=True)
        ticker.start()
        tallies, clock = run_phase(
            senders_for(main.advisers),
            main.streams,
            per_adviser=None if args.duration else args.customers * args.messages_per_customer,
            duration=args.duration,
            progress=progress,
            task=task,
            server_cpu=server_cpu,
        )
        stop.set()
        ticker.join()
        done = progress.tasks[task].completed
        progress.update(task, rate=f"{done / clock.wall_s:.1f} msg/s")
    return tallies, clock, warm_tallies, warm.advisers + main.advisers


# ------------------------------------------------------------------ memory mode
def run_memory(args: argparse.Namespace, seed_dir: Path, work: Path) -> dict[str, Any]:
    from bot.channels.memory import MemoryChannel

    data = work / "memory"
    copy_library(seed_dir, data)
    rt, setup_s = open_library(
        data,
        scripts=DEMO / "scripts.csv",
        tags=DEMO / "tags.yaml",
        knowledge=demo_knowledge(),
        settings_overrides={"embedding": {"query_cache": args.query_cache}},
    )
    try:

        def senders_for(advisers: list[str]) -> list[Sender]:
            return [
                memory_sender(MemoryChannel(rt.assistant.handle, adviser_id=a)) for a in advisers
            ]

        def memory_sender(channel: MemoryChannel) -> Sender:
            def send(msg: Msg) -> Outcome:
                failed = channel.failed_count
                result = channel.receive(
                    msg.contact_id,
                    msg.text,
                    contact_name=msg.contact_name,
                    msg_id=msg.msg_id,
                    industry=msg.industry,
                )
                if channel.failed_count != failed:
                    return Outcome(ok=False, error="the handler raised (see the log)")
                if msg.redelivery:
                    ok = result is None
                    return Outcome(ok=ok, error=None if ok else "redelivery suggested again")
                if result is None or result.suggestion_id is None:
                    return Outcome(ok=False, error="no suggestion")
                if result.mode != "retrieval":
                    return Outcome(ok=False, error=f"mode {result.mode}")
                return Outcome(ok=True, pipeline_ms=result.latency_ms)

            return send

        tallies, clock, warm, advisers = phases("memory", senders_for, args)
        expected = {m for t in tallies + warm for m in t.msg_ids}
        check = check_database(rt.db, advisers, expected)
    finally:
        rt.close()
    result = figures(
        "memory",
        tallies,
        clock,
        cpu_s=clock.self_cpu_s,
        warmup=sum(len(t.msg_ids) for t in warm),
        setup_s=setup_s,
    )
    result |= {
        "setup": f"one runtime in this process, {args.advisers} adviser threads",
        "peak_rss_mb": peak_rss_mb(),
        "rss_of": "this process, ru_maxrss",
        "cpu_of": "this process",
        "check": check,
    }
    return result


# ------------------------------------------------------------------ http mode
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def add_advisers(database_url: str, advisers: list[str]) -> dict[str, str]:
    """An adviser user and an API token per adviser id, before the server starts."""
    from bot.services.access import hash_password, new_api_token, token_digest
    from bot.store import users as users_repo

    db = Database(database_url)
    tokens = {}
    try:
        db.migrate()
        with db.session() as session:
            password_hash = hash_password(secrets.token_urlsafe(16))
            for adviser_id in advisers:
                user = users_repo.create_user(
                    session=session,
                    username=f"load-{adviser_id}",
                    password_hash=password_hash,
                    role="adviser",
                    display_name=f"顾问{adviser_id}",
                    adviser_id=adviser_id,
                    team=None,
                )
                token = new_api_token()
                users_repo.create_api_token(
                    session=session, user_id=user.id, name="load", digest=token_digest(token)
                )
                tokens[adviser_id] = token
    finally:
        db.dispose()
    return tokens


def siyu_command() -> list[str]:
    script = Path(sys.executable).with_name("siyu")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from bot.cli import main; main()"]


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants alive now (Linux /proc): a server and its workers."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for p in tree_pids(pid):
        try:
            total += proc_cpu_seconds(p)
        except OSError:  # ended meanwhile
            continue
    return total


def tree_hwm_mb(pid: int) -> float:
    total = 0.0
    for p in tree_pids(pid):
        try:
            total += vm_hwm_mb(p)
        except OSError:
            continue
    return total


def vm_hwm_mb(pid: int) -> float:
    """Peak resident set size of a live process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(base: str, token: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"siyu serve exited with code {proc.returncode}")
        try:
            res = httpx.get(
                f"{base}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=2
            )
            if res.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"siyu serve not ready after {timeout:.0f} s")


def run_http(args: argparse.Namespace, seed_dir: Path, work: Path) -> dict[str, Any]:
    from bot.settings import Settings

    data = work / "http"
    copy_library(seed_dir, data)
    config = work / "serve.toml"
    config.write_text(f"[embedding]\nquery_cache = {args.query_cache}\n", encoding="utf-8")
    return drive_server(
        args,
        label="http",
        config=config,
        data_dir=data,
        database_url=Settings.model_validate({"data_dir": str(data)}).database_url,
        work=work,
    )


def drive_server(
    args: argparse.Namespace,
    *,
    label: str,
    config: Path,
    data_dir: Path,
    database_url: str,
    work: Path,
    workers: int = 1,
    prefix: str = "",
) -> dict[str, Any]:
    """Start `siyu serve` (``workers`` processes), send the traffic through
    ``POST /api/messages``, stop it and check its database."""
    import httpx

    warm_ids = [f"{prefix}w{i + 1}" for i in range(args.advisers)]
    main_ids = [f"{prefix}a{i + 1}" for i in range(args.advisers)]
    tokens = add_advisers(database_url, warm_ids + main_ids)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("SIYU_CONFIG", "SIYU_DATABASE_URL")}
    env |= {"SIYU_WEB_SECRET": secrets.token_hex(32), "OPENBLAS_NUM_THREADS": "1"}
    log_path = work / f"serve-{label.replace(' ', '-')}.log"
    cmd = [*siyu_command(), "--config", str(config), "--data-dir", str(data_dir)]
    cmd += ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    started = time.perf_counter()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    clients: list[httpx.Client] = []
    try:
        wait_ready(base, tokens[main_ids[0]], proc, timeout=600)
        setup_s = time.perf_counter() - started

        def senders_for(advisers: list[str]) -> list[Sender]:
            out = []
            for a in advisers:
                client = httpx.Client(
                    base_url=base, headers={"Authorization": f"Bearer {tokens[a]}"}, timeout=120
                )
                clients.append(client)
                out.append(http_sender(client))
            return out

        def http_sender(client: httpx.Client) -> Sender:
            def send(msg: Msg) -> Outcome:
                res = client.post(
                    "/api/messages",
                    json={
                        "msg_id": msg.msg_id,
                        "contact_id": msg.contact_id,
                        "contact_name": msg.contact_name,
                        "text": msg.text,
                        "industry": msg.industry,
                    },
                )
                want = 200 if msg.redelivery else 201
                if res.status_code != want:
                    return Outcome(ok=False, error=f"HTTP {res.status_code}: {res.text[:200]}")
                body = res.json()
                if body.get("duplicate") != msg.redelivery:
                    return Outcome(ok=False, error=f"duplicate={body.get('duplicate')}")
                if msg.redelivery:
                    return Outcome(ok=True)
                suggestion = body.get("suggestion")
                if not suggestion:
                    return Outcome(ok=False, error="no suggestion")
                if suggestion.get("mode") != "retrieval":
                    return Outcome(ok=False, error=f"mode {suggestion.get('mode')}")
                return Outcome(ok=True, pipeline_ms=float(suggestion["latency_ms"]))

            return send

        tallies, clock, warm, advisers = phases(
            label,
            senders_for,
            args,
            server_cpu=lambda: tree_cpu_seconds(proc.pid),
            prefix=prefix,
        )
        server_rss = tree_hwm_mb(proc.pid)
        processes = len(tree_pids(proc.pid))
    finally:
        for client in clients:
            client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    server_tracebacks = log_text.count("Traceback (most recent call last)")
    # The server is gone: its database is what we check.
    from bot.services.messages import api_source_id

    db = Database(database_url)
    try:
        # The API namespaces msg ids by the token's adviser (adviser "a1" sent "a1-m7").
        expected = {api_source_id(m.split("-", 1)[0], m) for t in tallies + warm for m in t.msg_ids}
        check = check_database(db, advisers, expected)
    finally:
        db.dispose()
    result = figures(
        label,
        tallies,
        clock,
        cpu_s=clock.server_cpu_s,
        warmup=sum(len(t.msg_ids) for t in warm),
        setup_s=setup_s,
    )
    result |= {
        "setup": f"`siyu serve --workers {workers}` pid {proc.pid} on {base},"
        f" {args.advisers} httpx client threads",
        "workers": workers,
        "peak_rss_mb": server_rss,
        "rss_of": f"server pid {proc.pid} and its {processes - 1} child processes, VmHWM summed",
        "cpu_of": "the server's processes",
        "server_log": str(log_path),
        "server_tracebacks": server_tracebacks,
        "check": check,
    }
    return result


# ------------------------------------------------------------------ workers mode
def start_chroma(path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`chroma run` (the chromadb wheel's server) on a free port; waits until it answers."""
    import httpx

    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    log = (path / "chroma.log").open("wb")
    proc = subprocess.Popen(
        [str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).is_success:
                return proc, port
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("chroma run did not answer within 60 s")


def run_workers(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    """One `siyu serve` process, then `--workers 2`, on one PostgreSQL database and one
    Chroma server."""
    import uuid

    from sqlalchemy import create_engine, make_url, text

    if not args.postgres_url:
        raise SystemExit("--mode workers needs --postgres-url (a server; a database is created)")
    name = f"siyu_load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(args.postgres_url).set(database=name).render_as_string(hide_password=False)
    chroma_dir = work / "chroma-server"
    chroma_dir.mkdir(parents=True, exist_ok=True)
    chroma, port = start_chroma(chroma_dir)
    results = []
    try:
        config = work / "workers.toml"
        config.write_text(
            f"[store]\nurl = {json.dumps(url)}\n"
            f'[vectors]\nmode = "http"\nhost = "127.0.0.1"\nport = {port}\n'
            f"[embedding]\nquery_cache = {args.query_cache}\n",
            encoding="utf-8",
        )
        console.print("indexing the demo library into PostgreSQL and the Chroma server …")
        rt, _ = open_library(
            work / "workers-setup",
            scripts=DEMO / "scripts.csv",
            tags=DEMO / "tags.yaml",
            knowledge=demo_knowledge(),
            settings_overrides={
                "store": {"url": url},
                "vectors": {"mode": "http", "host": "127.0.0.1", "port": port},
            },
        )
        rt.close()
        for workers in (1, 2):
            results.append(
                drive_server(
                    args,
                    label=f"http {workers} worker{'s' if workers > 1 else ''}",
                    config=config,
                    data_dir=work / f"workers-{workers}",
                    database_url=url,
                    work=work,
                    workers=workers,
                    prefix=f"n{workers}",
                )
            )
    finally:
        chroma.terminate()
        chroma.wait(30)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return results


def ratios(one: dict[str, Any], two: dict[str, Any]) -> dict[str, float]:
    """Two workers against one: throughput and p95 latency."""
    return {
        "throughput": two["throughput_msgs_per_s"] / one["throughput_msgs_per_s"],
        "p95": two["latency_ms"]["p95"] / one["latency_ms"]["p95"],
    }


# ------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--advisers", type=int, default=4, help="advisers (threads); default 4")
    ap.add_argument("--customers", type=int, default=25, help="customers per adviser; default 25")
    ap.add_argument(
        "--messages-per-customer", type=int, default=10, help="messages each; default 10"
    )
    ap.add_argument("--mode", choices=["memory", "http", "both", "workers"], default="both")
    ap.add_argument(
        "--postgres-url",
        default=None,
        help="--mode workers: a PostgreSQL server URL (a throw-away database is created)",
    )
    ap.add_argument(
        "--duration",
        type=float,
        default=None,
        help="send for this many seconds per mode instead of a fixed number of messages",
    )
    ap.add_argument("--warmup", type=int, default=40, help="warm-up messages (not counted)")
    ap.add_argument("--repeat", type=float, default=0.2, help="chance a customer repeats")
    ap.add_argument("--redeliver", type=float, default=0.02, help="chance of a redelivery")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--query-cache",
        type=int,
        default=0,
        help="[embedding] query_cache of the runtime; default 0 (off): the dev set has only"
        " 112 distinct texts, so the product's cache (4096) would serve nearly every message",
    )
    ap.add_argument("--workdir", type=Path, default=None, help="data dirs (default: temp dir)")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default: workdir)")
    ap.add_argument("--keep-data", action="store_true", help="keep the data dirs")
    ap.add_argument("--library", type=Path, default=DEFAULT_SEED_DIR, help=argparse.SUPPRESS)
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prepare:
        prepare_library(args.library)
        return
    if min(args.advisers, args.customers, args.messages_per_customer) < 1:
        ap.error("--advisers, --customers and --messages-per-customer must be at least 1")

    work = args.workdir or Path(tempfile.mkdtemp(prefix="siyu-load-"))
    work.mkdir(parents=True, exist_ok=True)
    out = args.out or work / "results.json"
    load_before = os.getloadavg()
    started = time.perf_counter()
    if args.mode != "workers":
        # Indexing in a child process keeps its memory out of this process's peak RSS.
        subprocess.run(
            [sys.executable, __file__, "--prepare", "--library", str(args.library)],
            check=True,
            cwd=ROOT,
        )
    results = []
    for mode in ("memory", "http"):
        if args.mode in (mode, "both"):
            results.append((run_memory if mode == "memory" else run_http)(args, args.library, work))
    if args.mode == "workers":
        results = run_workers(args, work)
    print(
        f"load: {args.advisers} advisers x {args.customers} customers,"
        + (
            f" {args.duration:.0f} s per mode"
            if args.duration
            else f" {args.messages_per_customer} messages each"
        )
        + f"; retrieval mode (no LLM), demo library, query cache {args.query_cache}; "
        + f"{os.cpu_count()} CPUs"
    )
    for result in results:
        report(result)
    compared = ratios(results[0], results[1]) if args.mode == "workers" else None
    if compared is not None:
        print(
            f"two workers / one: throughput x{compared['throughput']:.2f},"
            f" p95 latency x{compared['p95']:.2f} (PostgreSQL, one Chroma server)"
        )
    load_after = os.getloadavg()
    print(
        f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}"
        f" (counts this benchmark's own threads); total {time.perf_counter() - started:.0f} s"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "cpus": os.cpu_count(),
                "loadavg_before": load_before,
                "loadavg_after": load_after,
                "results": results,
                "two_workers_over_one": compared,
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"results: {out}")
    if not args.keep_data:
        for mode in ("memory", "http", "workers-1", "workers-2", "workers-setup"):
            shutil.rmtree(work / mode, ignore_errors=True)
    if not all(r["check"]["ok"] and not r["errors"] for r in results):
        print("correctness check FAILED", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
