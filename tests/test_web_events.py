"""The live event stream (``GET /api/events``) follows the login and the scope it was
opened with: served by uvicorn and read over real HTTP, on real SQLite.

A stream closes, without sending another message, once its session ends (logout in
another session, a password change, deactivation) or its API token is revoked — at the
next event (the module's server keeps the longest keep-alive interval, so only the
event can have closed it), or within ``[web] events_keepalive_s`` when none comes — and
a manager's stream judges each event by the team of that moment (bot/services/live.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import load_small_library
from web_helpers import PASSWORD, EventStream, customer_message, login, serving, web_app

from bot.pipeline.runtime import Runtime, open_runtime
from bot.services import users
from bot.services.access import cli_principal, hash_password, new_api_token, token_digest
from bot.settings import MAX_EVENTS_KEEPALIVE_S, Settings
from bot.store import inbox as inbox_repo
from bot.store import users as users_repo

pytestmark = pytest.mark.slow

#: Short, so that a quiet stream notices a deactivation quickly.
QUIET_KEEPALIVE_S = 0.2
#: A request's time limit: httpx's 5 s default is too short on a loaded machine (a login hashes
#: a password with argon2 while other test workers run); a bound on failure, not a timing.
LOADED_S = 30.0
_numbers = itertools.count(1)


@dataclass(frozen=True)
class Served:
    rt: Runtime
    base: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir: Path = tmp_path_factory.mktemp("events") / "data"
    settings = {"data_dir": str(data_dir), "web": {"events_keepalive_s": MAX_EVENTS_KEEPALIVE_S}}
    rt = open_runtime(Settings.model_validate(settings))
    load_small_library(rt)
    try:
        with serving(web_app(rt)) as base:
            yield Served(rt, base)
    finally:
        rt.close()


@dataclass(frozen=True)
class Person:
    username: str
    token: str
    adviser_id: str | None


def person(rt: Runtime, role: str, team: str | None) -> Person:
    """A new console user (an adviser gets an adviser id of their own) with a token."""
    n = next(_numbers)
    username = f"{role}{n}"
    adviser_id = f"adv-{n}" if role == "adviser" else None
    with rt.db.session() as session:
        user = users_repo.create_user(
            session=session,
            username=username,
            password_hash=hash_password(PASSWORD),
            role=role,
            adviser_id=adviser_id,
            team=team,
        )
        token = new_api_token()
        users_repo.create_api_token(
            session=session, user_id=user.id, name="t", digest=token_digest(token)
        )
    return Person(username, token, adviser_id)


@pytest.fixture
def clients() -> Iterator[ExitStack]:
    """Closes the HTTP clients and event streams a test opens."""
    with ExitStack() as stack:
        yield stack


def logged_in(clients: ExitStack, base: str, who: Person) -> tuple[httpx.Client, str]:
    """A client logged in as ``who`` through the login form, and its CSRF token."""
    client = clients.enter_context(httpx.Client(base_url=base, timeout=LOADED_S))
    return client, login(client, who.username)  # type: ignore[arg-type]


def writes(served: Served, adviser: Person, text: str) -> int:
    """A new customer of ``adviser`` writes; the customer's id."""
    contact = f"{adviser.username}-{text}"
    customer_message(served.rt, adviser.adviser_id or "", contact, f"重疾险多少钱，{contact}")
    with served.rt.db.session() as session:
        rows = inbox_repo.conversation_list(
            session=session, adviser_ids=(adviser.adviser_id or "",), viewer="x"
        )
    return next(r.customer_id for r in rows if r.name == contact)


@pytest.mark.parametrize("ended_by", ["logout", "password"])
def test_a_session_ended_elsewhere_closes_the_stream_before_the_next_message(
    served: Served, clients: ExitStack, ended_by: str
) -> None:
    lin = person(served.rt, "adviser", "north")
    browser, _ = logged_in(clients, served.base, lin)
    stream = clients.enter_context(EventStream(served.base, cookies=browser.cookies))
    first = writes(served, lin, "c-before")
    seen = stream.next_message()
    assert seen is not None and seen["customer_id"] == first  # the stream works

    if ended_by == "logout":  # in another session of the same user
        other, csrf = logged_in(clients, served.base, lin)
        res = other.post("/logout", headers={"x-csrf-token": csrf}, follow_redirects=False)
        assert res.status_code == 303
    else:
        with served.rt.db.session() as session:
            users.set_password(
                session, cli_principal("t"), username=lin.username, password="new horse staple 9"
            )
    assert browser.get("/api/me").status_code == 401
    writes(served, lin, "c-after")
    assert stream.next_message() is None, "a message reached a stream whose session ended"
    assert stream.closed.is_set()
    assert browser.get("/api/events").status_code == 401  # the browser's reconnect


def test_deactivation_closes_quiet_streams_of_cookie_and_token(
    make_runtime: Callable[..., Runtime], clients: ExitStack
) -> None:
    rt = make_runtime(load=False, web={"events_keepalive_s": QUIET_KEEPALIVE_S})
    mia = person(rt, "manager", "south")
    base = clients.enter_context(serving(web_app(rt)))
    browser, _ = logged_in(clients, base, mia)
    by_cookie = clients.enter_context(EventStream(base, cookies=browser.cookies))
    by_token = clients.enter_context(EventStream(base, token=mia.token))
    with rt.db.session() as session:
        users.deactivate(session, cli_principal("t"), username=mia.username)
    # No event comes: each closes at its next keep-alive (QUIET_KEEPALIVE_S).
    assert by_cookie.closed.wait(30), "the cookie stream outlived the deactivation"
    assert by_token.closed.wait(30), "the token stream outlived the deactivation"
    assert by_cookie.next_message(0) is None and by_token.next_message(0) is None


def test_a_revoked_token_closes_the_stream(served: Served, clients: ExitStack) -> None:
    lin = person(served.rt, "adviser", "north")
    headers = {"Authorization": f"Bearer {lin.token}"}
    api = clients.enter_context(
        httpx.Client(base_url=served.base, headers=headers, timeout=LOADED_S)
    )
    stream = clients.enter_context(EventStream(served.base, token=lin.token))
    first = writes(served, lin, "t-before")
    seen = stream.next_message()
    assert seen is not None and seen["customer_id"] == first
    (token,) = api.get("/api/tokens").json()
    assert api.delete(f"/api/tokens/{token['id']}").status_code == 204
    writes(served, lin, "t-after")
    assert stream.next_message() is None, "a message reached a stream whose token was revoked"
    assert stream.closed.is_set()


def test_a_team_move_changes_what_a_managers_open_stream_shows(
    served: Served, clients: ExitStack
) -> None:
    mia = person(served.rt, "manager", "east2")
    lin = person(served.rt, "adviser", "east2")  # moves out of mia's team
    kai = person(served.rt, "adviser", "east2")  # stays
    bo = person(served.rt, "adviser", "west2")  # moves in
    browser, _ = logged_in(clients, served.base, mia)
    stream = clients.enter_context(EventStream(served.base, cookies=browser.cookies))
    lins = writes(served, lin, "m-lin-1")
    seen = stream.next_message()
    assert seen is not None and seen["customer_id"] == lins

    with served.rt.db.session() as session:
        users.set_team(session, cli_principal("t"), adviser_id=lin.adviser_id or "", team="west2")
        users.set_team(session, cli_principal("t"), adviser_id=bo.adviser_id or "", team="east2")
    assert browser.get(f"/api/customers/{lins}").status_code == 404
    writes(served, lin, "m-lin-2")  # no longer mia's
    bos = writes(served, bo, "m-bo")  # now mia's
    kais = writes(served, kai, "m-kai")  # still mia's
    shown = [stream.next_message(), stream.next_message()]
    assert [m and m["customer_id"] for m in shown] == [bos, kais]
    assert not stream.closed.is_set()


def test_a_message_reaches_the_stream_of_the_customers_adviser_not_the_receiving_account(
    served: Served, clients: ExitStack
) -> None:
    """A customer of lin's writes to bo's account (they added both): the message is on
    lin's customer, so lin's stream shows it — and bo's does not, since bo cannot open
    that customer (the same rule as ``GET /api/customers/{id}``)."""
    lin = person(served.rt, "adviser", "north3")
    bo = person(served.rt, "adviser", "north3")
    lins = writes(served, lin, "o-lin")
    lin_stream = clients.enter_context(EventStream(served.base, token=lin.token))
    bo_stream = clients.enter_context(EventStream(served.base, token=bo.token))
    customer_message(served.rt, bo.adviser_id or "", f"{lin.username}-o-lin", "还在吗，想问问理赔")
    seen = lin_stream.next_message()
    assert seen is not None and seen["customer_id"] == lins
    with httpx.Client(
        base_url=served.base, headers={"Authorization": f"Bearer {bo.token}"}, timeout=LOADED_S
    ) as c:
        assert c.get(f"/api/customers/{lins}").status_code == 404
    bos = writes(served, bo, "o-bo")  # bo's own customer: the next thing bo's stream shows
    shown = bo_stream.next_message()
    assert shown is not None and shown["customer_id"] == bos
