"""Helpers for the web console tests: users of each role, a logged-in TestClient."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.channels.memory import MemoryChannel
from bot.pipeline.runtime import Runtime
from bot.services.access import hash_password, new_api_token, token_digest
from bot.store import users as users_repo
from bot.web.app import create_app

SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"

#: username -> (role, adviser_id, team)
USERS = {
    "alice": ("adviser", "adv-a", "east"),
    "bob": ("adviser", "adv-b", "west"),
    "olivia": ("operator", None, None),
    "mia": ("manager", None, "east"),
    "max": ("manager", None, None),
}


def add_users(rt: Runtime) -> dict[str, str]:
    """Create the users above; returns an API token per username."""
    tokens = {}
    with rt.db.session() as session:
        for username, (role, adviser_id, team) in USERS.items():
            user = users_repo.create_user(
                session=session,
                username=username,
                password_hash=hash_password(PASSWORD),
                role=role,
                display_name=username.title(),
                adviser_id=adviser_id,
                team=team,
            )
            token = new_api_token()
            users_repo.create_api_token(
                session=session, user_id=user.id, name="test", digest=token_digest(token)
            )
            tokens[username] = token
    return tokens


def web_app(rt: Runtime) -> FastAPI:
    return create_app(rt, secret=SECRET)


def bearer_client(app: FastAPI, token: str | None = None) -> TestClient:
    """An in-process client, authenticated with an API token when one is given."""
    client = TestClient(app)
    if token:
        client.headers["Authorization"] = f"Bearer {token}"
    return client


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    res = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert res.status_code == 303, res.text
    home = client.get(res.headers["location"])
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text)
    assert found
    return found.group(1)


def browser_login(context: Any, username: str, password: str = PASSWORD) -> Any:
    """A new page of a Playwright browser ``context`` logged in as ``username`` through
    the login form (waits for the console's top bar)."""
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("header.top nav")
    return page


def customer_message(rt: Runtime, adviser_id: str, contact: str, text: str, name: str = "") -> int:
    """A customer writes through the in-memory channel; returns the suggestion id."""
    channel = MemoryChannel(rt.assistant.handle, adviser_id=adviser_id, adviser_name=adviser_id)
    result = channel.receive(contact, text, contact_name=name or contact)
    assert result is not None and result.suggestion_id is not None
    return result.suggestion_id


#: A job started by a test gives up after this long (a failure, not a timing bound).
JOB_DEADLINE_S = 300


def job_id_of(response: Any) -> str:
    """The id of the job a POST started: the 303 points at (or was followed to)
    ``/jobs/<id>``."""
    where = response.headers.get("location") or str(response.url)
    found = re.search(r"/jobs/([0-9a-f]{16})", where)
    assert found, (response.status_code, where, response.text[:300])
    return found.group(1)


def finish_job(client: TestClient, response: Any) -> dict[str, Any]:
    """Wait for the job a POST started to finish; its status (done or failed)."""
    job = job_id_of(response)
    deadline = time.monotonic() + JOB_DEADLINE_S
    while True:
        status: dict[str, Any] = client.get(f"/api/jobs/{job}").json()
        if status["state"] in ("done", "failed"):
            return status
        assert time.monotonic() < deadline, f"job {job} did not finish: {status}"
        time.sleep(0.05)


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a thread of this process); its base URL."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class EventStream:
    """A live event stream (``GET /api/events``) of a served app, read over real HTTP on
    a thread of its own: the ``message`` events it delivers, and whether it closed."""

    def __init__(self, base: str, *, token: str | None = None, cookies: Any = None) -> None:
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.opened = threading.Event()
        self.closed = threading.Event()
        self.status: int | None = None
        self._stop = threading.Event()
        self._socket: socket.socket | None = None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(
            base_url=base, headers=headers, cookies=cookies, timeout=httpx.Timeout(30, read=None)
        )
        threading.Thread(target=self._read, daemon=True).start()
        assert self.opened.wait(30), "the event stream did not open"
        assert self.status == 200, self.status

    def _read(self) -> None:
        try:
            with self._client.stream("GET", "/api/events") as response:
                self.status = response.status_code
                self._socket = response.extensions["network_stream"].get_extra_info("socket")
                kind = None
                for line in response.iter_lines():
                    self.opened.set()  # the first line (retry:) comes once subscribed
                    if self._stop.is_set():
                        break
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: ") and kind == "message":
                        self.messages.put(json.loads(line.removeprefix("data: ")))
        except httpx.HTTPError:
            pass  # the server went away (the test is over)
        finally:
            self.closed.set()
            self.opened.set()
            self._client.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        """Hang up."""
        self._stop.set()
        if self._socket is not None and not self.closed.is_set():
            with contextlib.suppress(OSError):  # closed meanwhile
                self._socket.shutdown(socket.SHUT_RDWR)  # wakes the reading thread
        assert self.closed.wait(30), "the event stream did not hang up"

    def next_message(self, timeout_s: float = 30.0) -> dict[str, Any] | None:
        """The next message event; None when the stream closed first (or none came within
        ``timeout_s``, a failure bound)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                return self.messages.get(timeout=0.05)
            except queue.Empty:
                if self.closed.is_set() and self.messages.empty():
                    return None
        return None
