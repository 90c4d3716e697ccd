"""A small OpenAI-compatible server on 127.0.0.1 for tests; the real ``openai`` client
talks to it over real HTTP.

It implements ``POST /v1/chat/completions``, ``POST /v1/embeddings`` and ``GET /v1/models``,
records every completion request (parsed body, raw bytes, headers) and answers according to
``stub.behaviour``:

- ``"ok"``: a reply (``stub.reply``) citing [1]; a request for tags (the tag prompt of
  bot/pipeline/prompts.py) gets ``stub.tag_reply`` instead;
- ``"cite_invalid"``: a reply citing [1] and [9];
- ``"slow"``: holds the answer for ``stub.delay_s`` (a minute: longer than any client
  deadline in the tests), then answers "ok";
- ``"trickle"``: sends the headers at once, then the body one byte every 0.1 s (each read
  is quick, the whole answer is not: only a deadline on the whole call catches it);
- ``"error500"``: HTTP 500 with an OpenAI-style error body;
- ``"garbage"``: HTTP 200, ``application/json``, a body that is not JSON;
- ``"empty"``: a completion with ``choices: []``.

Embeddings are deterministic hashed character uni/bigrams (``EMBED_DIM`` dimensions, so
texts sharing characters are close); each request's body and headers are appended to
``stub.embedding_requests``; ``stub.embedding_status`` (200 by default) makes it fail.

Use the ``openai_stub`` fixture; ``free_port()`` gives a port nobody listens on.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

EMBED_DIM = 48
BEHAVIOURS = ("ok", "cite_invalid", "slow", "trickle", "error500", "garbage", "empty")
STUB_MODEL = "stub-model"
OK_REPLY = "您好！这款产品的等待期是90天[1]，有其他问题随时问我～"
CITE_INVALID_REPLY = "您好！等待期是90天[1]，每年保费3000元[9]。"


class OpenAIStub:
    """The server, its recordings and its behaviour (set ``behaviour`` any time)."""

    def __init__(self) -> None:
        self.behaviour = "ok"
        self.reply = OK_REPLY
        self.tag_reply = '{"tags": []}'
        self.delay_s = 60.0
        #: Late answers (slow, trickle) sent in full: 0 proves a client gave up before them.
        self.late_answers_sent = 0
        self.requests: list[dict[str, Any]] = []
        self.raw_bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []  # names lower-cased
        self.embedding_requests: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.embedding_status = 200
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What goes into ``LLMSettings.base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; handlers still waiting (slow, trickle) give up at once."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def record(self, raw: bytes, headers: dict[str, str]) -> dict[str, Any]:
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        with self._lock:
            self.raw_bodies.append(raw)
            self.headers.append(headers)
            self.requests.append(body)
        return body if isinstance(body, dict) else {}

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False when the server is stopping."""
        return not self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: OpenAIStub

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that give up (timeouts are the point of some tests) are not errors."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: no access log on stderr."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            models = {"object": "list", "data": [_model_entry()]}
            self._send_json(200, models)
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request"}})

    def do_POST(self) -> None:
        if self.path.rstrip("/") == "/v1/embeddings":
            self._embeddings()
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request"}})
            return
        stub = self.server.stub
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = stub.record(raw, {k.lower(): v for k, v in self.headers.items()})
        behaviour = stub.behaviour
        model = str(body.get("model") or STUB_MODEL)
        if behaviour == "ok":
            reply = stub.tag_reply if _asks_for_tags(body) else stub.reply
            self._send_json(200, _completion(model, reply))
        elif behaviour == "cite_invalid":
            self._send_json(200, _completion(model, CITE_INVALID_REPLY))
        elif behaviour == "slow":
            if stub.wait(stub.delay_s):
                self._send_json(200, _completion(model, stub.reply))
                stub.late_answers_sent += 1
        elif behaviour == "trickle":
            self._trickle(_encode(_completion(model, stub.reply)))
        elif behaviour == "error500":
            error = {"error": {"message": "stub failure", "type": "server_error", "code": None}}
            self._send_json(500, error)
        elif behaviour == "garbage":
            self._send(200, b"<html>502 Bad Gateway</html>", "application/json")
        elif behaviour == "empty":
            self._send_json(200, _completion(model, None))
        else:
            raise ValueError(f"unknown behaviour {behaviour!r}; one of {BEHAVIOURS}")

    def _embeddings(self) -> None:
        stub = self.server.stub
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw)
        stub.embedding_requests.append((body, {k.lower(): v for k, v in self.headers.items()}))
        if stub.embedding_status != 200:
            error = {"error": {"message": "stub failure", "type": "server_error", "code": None}}
            self._send_json(stub.embedding_status, error)
            return
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": _hash_vector(t)}
            for i, t in reversed(list(enumerate(texts)))  # any order: clients sort by index
        ]
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        self._send_json(
            200, {"object": "list", "data": data, "model": body["model"], "usage": usage}
        )

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, _encode(payload), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first

    def _trickle(self, body: bytes) -> None:
        stub = self.server.stub
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            for index in range(len(body)):
                if not stub.wait(0.1):
                    return
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
            stub.late_answers_sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass


def _hash_vector(text: str) -> list[float]:
    vector = [0.0] * EMBED_DIM
    for n in (1, 2):
        for i in range(max(1, len(text) - n + 1)):
            vector[zlib.crc32(text[i : i + n].encode("utf-8")) % EMBED_DIM] += 1.0
    return vector


def _model_entry() -> dict[str, Any]:
    return {"id": STUB_MODEL, "object": "model", "created": 0, "owned_by": "stub"}


def _completion(model: str, content: str | None) -> dict[str, Any]:
    choices = []
    if content is not None:
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        )
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for "connection refused")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def openai_stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    """A running ``OpenAIStub`` (behaviour "ok"), stopped after the test."""
    # A proxy configured in the environment must not see requests to the stub.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    stub = OpenAIStub()
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()


def _asks_for_tags(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or [{}]
    return "客户标签助手" in str(messages[0].get("content", ""))
