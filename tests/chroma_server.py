"""A real Chroma server for the tests of ``vectors.mode = "http"``: the ``chroma`` CLI that
ships with the chromadb wheel, on 127.0.0.1 at a free port, data in a temp dir. Started once
per session (a few hundred ms), killed at teardown; tests isolate themselves by collection
prefix."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from knowledge.settings import VectorSettings

STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int

    def settings(self, prefix: str | None = None) -> VectorSettings:
        """Settings of a client of this server, with a collection prefix of its own."""
        return VectorSettings(
            mode="http",
            host=self.host,
            port=self.port,
            collection_prefix=prefix or f"t{uuid.uuid4().hex[:10]}",
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chroma_cli() -> str:
    beside = Path(sys.executable).with_name("chroma")
    found = str(beside) if beside.exists() else shutil.which("chroma")
    if not found:
        pytest.skip("the `chroma` CLI (chromadb wheel) is not installed")
    return found


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    path = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    log_path = path / "server.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [
                _chroma_cli(),
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--path",
                str(path / "data"),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        url = f"http://127.0.0.1:{port}/api/v2/heartbeat"
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"chroma run exited ({proc.returncode}): {log_path.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"chroma run not ready in {STARTUP_TIMEOUT_S} s: {log_path.read_text()[-2000:]}"
                )
            time.sleep(0.1)
        yield ChromaServer("127.0.0.1", port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
