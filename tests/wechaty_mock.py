"""Drives tests/wechaty_server/server.mjs: a real Node Wechaty puppet-service server on
127.0.0.1 backed by wechaty-puppet-mock (installed by `make wechaty-server`)."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

SERVER_DIR = Path(__file__).parent / "wechaty_server"
TOKEN = "insecure_siyu_test"
ADVISER = "adviser-wxid"


def server_available() -> str | None:
    """None when the server can run here, else why not."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (SERVER_DIR / "node_modules" / "wechaty-puppet-service").is_dir():
        return "run `make wechaty-server` (npm ci in tests/wechaty_server)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MockWeChat:
    """One server process; ``restart()`` kills it and starts a fresh one on the same port.
    ``adviser``: the mock account's WeChat id; ``autologin=False``: the account logs in
    only on the "login" command (a "scan" can be shown first)."""

    def __init__(self, port: int, *, adviser: str = ADVISER, autologin: bool = True) -> None:
        self.port = port
        self.adviser = adviser
        self.autologin = autologin
        self.proc: subprocess.Popen[str] | None = None
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._seq = 0
        self.started_in = 0.0

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> None:
        t0 = time.perf_counter()
        env = os.environ | {
            "WECHATY_LOG": "error",
            "MOCK_ADVISER_ID": self.adviser,
            "MOCK_AUTOLOGIN": "1" if self.autologin else "0",
        }
        self.proc = subprocess.Popen(
            ["node", "server.mjs", str(self.port), TOKEN],
            cwd=SERVER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            env=env,
            start_new_session=True,
        )
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        self.wait_for(lambda e: e["event"] == "ready", timeout=timeout)
        self.started_in = time.perf_counter() - t0

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def pause(self) -> None:
        """SIGSTOP: the process stops answering; its sockets stay open (half-open)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def restart(self) -> None:
        """A fresh server (and mock world) on the same port; old events are dropped."""
        self.stop()
        self.events = queue.Queue()
        self.seen = []
        self.start()

    def command(self, op: str, timeout: float = 10, **args: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self._seq += 1
        seq = self._seq
        self.proc.stdin.write(json.dumps({"seq": seq, "op": op, **args}) + "\n")
        self.proc.stdin.flush()
        ack = self.wait_for(lambda e: e["event"] == "ack" and e.get("seq") == seq, timeout)
        if "error" in ack:
            raise RuntimeError(ack["error"])
        return ack

    def wait_for(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        """The first event (already seen or new) matching ``predicate``."""
        for event in self.seen:
            if predicate(event):
                self.seen.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no matching event from the mock server; saw {self.seen}")
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if predicate(event):
                return event
            self.seen.append(event)

    def sent(self) -> list[dict[str, Any]]:
        """Drain and return the 'sent' events (texts the bot sent)."""
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                break
        out = [e for e in self.seen if e["event"] == "sent"]
        self.seen = [e for e in self.seen if e["event"] != "sent"]
        return out


class SiyuBot:
    """A real ``siyu bot`` (or any ``siyu`` command) process; its stdout and stderr go to
    files so a test can wait for lines and read everything it printed."""

    def __init__(self, args: list[str], *, env: dict[str, str], workdir: Path) -> None:
        import sys

        self.out_path = workdir / f"siyu-{time.monotonic_ns()}.out"
        self.err_path = self.out_path.with_suffix(".err")
        self._out = self.out_path.open("w", encoding="utf-8")
        self._err = self.err_path.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from bot.cli import main; main()", *args],
            stdout=self._out,
            stderr=self._err,
            env=os.environ | {"PYTHONUNBUFFERED": "1", "COLUMNS": "200"} | env,
            cwd=workdir,
        )

    @property
    def output(self) -> str:
        return self.out_path.read_text(encoding="utf-8") + self.err_path.read_text(encoding="utf-8")

    def wait_for(self, needle: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            if self.proc.poll() is not None:
                raise AssertionError(f"siyu exited ({self.proc.returncode}):\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {needle!r} in the output:\n{self.output}")
            time.sleep(0.05)

    def terminate(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.wait(10)

    def wait(self, timeout: float = 60) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self._out.close()
            self._err.close()
        return code
