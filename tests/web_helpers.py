"""Helpers for the web console tests: users of each role, a logged-in TestClient."""

from __future__ import annotations

import re

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


def customer_message(rt: Runtime, adviser_id: str, contact: str, text: str, name: str = "") -> int:
    """A customer writes through the in-memory channel; returns the suggestion id."""
    channel = MemoryChannel(rt.assistant.handle, adviser_id=adviser_id, adviser_name=adviser_id)
    result = channel.receive(contact, text, contact_name=name or contact)
    assert result is not None and result.suggestion_id is not None
    return result.suggestion_id
