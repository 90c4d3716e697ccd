"""Does a big upload (or a login flood) slow everyone else down? Starts `siyu serve` on an
empty data directory, and measures another user's requests (an adviser's `GET /api/me`
and `GET /api/customers`, back to back with a short pause) in three phases:

1. idle: nothing else happens;
2. upload: an operator uploads a 5 MB Markdown document to `/knowledge/upload`; it is
   ingested as a job (read, chunked, written, embedded) while the adviser's requests go
   on — measured for `--seconds` of the job, or until it finishes;
3. logins: 8 anonymous clients post wrong passwords to `/login` in loops (throttled
   after 20 failures by default; with `--no-throttle` every attempt costs an argon2
   verification: the worst case, as from many addresses).

Prints p50 / p95 / max of the adviser's requests per phase, the upload request's own time
and how far the job got. Usage: python bench/web_upload.py [--mb 5] [--seconds 60] [--no-throttle]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

PAUSE_S = 0.05
LOGIN_LOOPS = 8
WORDS = [
    "重疾险",
    "医疗险",
    "意外险",
    "年金险",
    "保费",
    "保额",
    "等待期",
    "犹豫期",
    "免责条款",
    "理赔",
    "续保",
    "退保",
    "现金价值",
    "受益人",
    "投保人",
    "被保险人",
    "健康告知",
    "核保",
    "豁免",
    "保障期限",
    "缴费期限",
    "分红",
    "万能账户",
    "报销",
    "免赔额",
    "住院",
    "门诊",
    "癌症",
    "心脑血管",
    "轻症",
    "中症",
    "重症",
    "身故",
    "全残",
    "家庭",
    "孩子",
    "父母",
    "配偶",
    "预算",
    "收入",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def document(mb: float, seed: int = 7) -> bytes:
    """A Markdown document of about ``mb`` megabytes: sections of varied sentences."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    section = 0
    while size < mb * 1024 * 1024:
        section += 1
        lines = [f"## 第{section}节 {rng.choice(WORDS)}与{rng.choice(WORDS)}"]
        for _ in range(rng.randint(3, 8)):
            words = "、".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9)))
            lines.append(f"关于{words}，第{rng.randint(1, 99)}条规定适用于{rng.choice(WORDS)}。")
        text = "\n".join(lines) + "\n\n"
        parts.append(text)
        size += len(text.encode("utf-8"))
    return "".join(parts).encode("utf-8")


def add_users(data: Path) -> dict[str, str]:
    """An operator and an adviser, each with an API token, before the server starts."""
    from bot.services.access import hash_password, new_api_token, token_digest
    from bot.settings import Settings
    from bot.store import Database
    from bot.store import users as users_repo

    db = Database(Settings.model_validate({"data_dir": str(data)}).database_url)
    tokens = {}
    try:
        db.migrate()
        with db.session() as session:
            password_hash = hash_password(secrets.token_urlsafe(16))
            for username, role, adviser in (("op", "operator", None), ("adv", "adviser", "a1")):
                user = users_repo.create_user(
                    session=session,
                    username=username,
                    password_hash=password_hash,
                    role=role,
                    adviser_id=adviser,
                )
                token = new_api_token()
                users_repo.create_api_token(
                    session=session, user_id=user.id, name="bench", digest=token_digest(token)
                )
                tokens[username] = token
    finally:
        db.dispose()
    return tokens


class Prober:
    """The other user: requests back to back (with a short pause), latencies by phase."""

    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        self.phase = "idle"
        self.samples: dict[str, list[float]] = {}
        self.errors = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        paths = ("/api/me", "/api/customers")
        i = 0
        while not self.stop.is_set():
            started = time.perf_counter()
            res = self.client.get(paths[i % len(paths)])
            elapsed = (time.perf_counter() - started) * 1000
            if res.status_code != 200:
                self.errors += 1
            self.samples.setdefault(self.phase, []).append(elapsed)
            i += 1
            time.sleep(PAUSE_S)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.client.close()


def summary(ms: list[float]) -> str:
    if len(ms) < 2:
        return "no samples"
    q = statistics.quantiles(ms, n=100)
    return f"n={len(ms):5d}  p50 {q[49]:6.1f} ms  p95 {q[94]:6.1f} ms  max {max(ms):7.1f} ms"


def login_loops(base: str, stop: threading.Event, counts: list[int]) -> None:
    with httpx.Client(base_url=base, timeout=120) as client:
        page = client.get("/login").text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found
        n = 0
        while not stop.is_set():
            client.post(
                "/login",
                data={
                    "username": f"nobody{n % 50}",
                    "password": "wrong password",
                    "csrf_token": found.group(1),
                },
            )
            n += 1
        counts.append(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=5.0, help="size of the uploaded document")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each loaded phase")
    parser.add_argument("--idle-seconds", type=float, default=15.0)
    parser.add_argument(
        "--no-throttle",
        action="store_true",
        help="turn login throttling off, so that every login costs an argon2 check",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="siyu-bench-upload-"))
    data = work / "data"
    tokens = add_users(data)
    config = work / "serve.toml"
    # The upload limit just above the document; with --no-throttle every login attempt
    # costs an argon2 check (as from many addresses).
    limit = int(args.mb * 1024 * 1024) + 1024 * 1024
    throttle = (
        "login_account_failures = 1000\nlogin_address_failures = 100000\n"
        if args.no_throttle
        else ""
    )
    config.write_text(f"[web]\n{throttle}max_upload_bytes = {limit}\n", encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("SIYU_CONFIG", "SIYU_DATABASE_URL")}
    env |= {"SIYU_WEB_SECRET": secrets.token_hex(32), "OPENBLAS_NUM_THREADS": "1"}
    siyu = Path(sys.executable).with_name("siyu")
    cmd = [str(siyu), "--config", str(config), "--data-dir", str(data), "serve"]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    log = (work / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work)
    prober: Prober | None = None
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"siyu serve did not start; see {work / 'serve.log'}")
            time.sleep(0.3)

        prober = Prober(base, tokens["adv"])
        prober.thread.start()
        time.sleep(args.idle_seconds)

        body = document(args.mb)
        operator = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {tokens['op']}"}, timeout=600
        )
        prober.phase = "upload"
        started = time.perf_counter()
        res = operator.post(
            "/knowledge/upload",
            files={"file": ("bench.md", body, "text/markdown")},
            follow_redirects=False,
        )
        upload_ms = (time.perf_counter() - started) * 1000
        found = re.search(r"/jobs/([0-9a-f]+)", res.headers.get("location", ""))
        if found is None:
            raise SystemExit(f"upload refused: HTTP {res.status_code} {res.text[:300]}")
        job_id = found.group(1)
        status: dict[str, Any] = {}
        until = time.monotonic() + args.seconds
        while time.monotonic() < until:
            status = operator.get(f"/api/jobs/{job_id}").json()
            if status["state"] in ("done", "failed"):
                break
            prober.phase = f"upload: {status['phase'] or status['state']}"
            time.sleep(0.5)
        prober.phase = "after-upload"

        stop = threading.Event()
        counts: list[int] = []
        loops = [
            threading.Thread(target=login_loops, args=(base, stop, counts))
            for _ in range(LOGIN_LOOPS)
        ]
        prober.phase = "logins"
        for t in loops:
            t.start()
        time.sleep(args.seconds / 2)
        stop.set()
        for t in loops:
            t.join(timeout=60)
        prober.phase = "done"
        prober.close()

        print(f"document: {len(body) / 1024 / 1024:.1f} MB Markdown")
        print(f"POST /knowledge/upload answered in {upload_ms:.0f} ms (the ingest is a job)")
        progress = f"{status.get('done')} / {status.get('total')}"
        print(
            f"job after {args.seconds:.0f} s: {status.get('state')} — {status.get('phase')}"
            f" {progress} {status.get('message', '')}"
        )
        print(f"logins tried by {LOGIN_LOOPS} loops: {sum(counts)}")
        print("another user's requests (GET /api/me, /api/customers):")
        during = [
            ms for phase, got in prober.samples.items() if phase.startswith("upload") for ms in got
        ]
        print(f"  {'idle':24s} {summary(prober.samples.get('idle', []))}")
        print(f"  {'during the upload':24s} {summary(during)}")
        for phase, got in prober.samples.items():
            if phase.startswith("upload: "):
                print(f"    {phase[8:]:22s} {summary(got)}")
        label = "8 login loops" + (" (no throttle)" if args.no_throttle else "")
        print(f"  {label:24s} {summary(prober.samples.get('logins', []))}")
        print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
        if prober.errors:
            print(f"  errors: {prober.errors}")
        operator.close()
    finally:
        if prober is not None:
            prober.stop.set()
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


if __name__ == "__main__":
    main()
