"""Hardening of the web console and the accounts (issue 13): ids out of range, login
throttling and user enumeration, request size limits, sessions that can be ended,
account policies, adviser teams, the API docs, security headers and redirects.
In-process (TestClient or a direct ASGI call on the real app, real SQLite); the CLI is
run in-process on the same data directory."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from web_helpers import PASSWORD, add_users, bearer_client, customer_message, login, web_app

from bot.cli import run
from bot.errors import ConfigError, InputError
from bot.pipeline.runtime import Runtime
from bot.services import access
from bot.services import users as users_service
from bot.services.access import cli_principal
from bot.settings import WebSettings
from bot.store import audit as audit_repo
from bot.store import users as users_repo
from bot.web.app import routers
from bot.web.protection import SECURITY_HEADERS

OTHER_PASSWORD = "Lantern orbit 7 pebbles"


class World:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.tokens = add_users(rt)
        customer_message(rt, "adv-a", "wx-h1", "重疾险多少钱", "韩女士")
        self.app = web_app(rt)

    def client(self, user: str | None = None) -> TestClient:
        return bearer_client(self.app, self.tokens[user] if user else None)

    def cli(self, *args: str) -> int:
        return run(["--data-dir", str(self.rt.settings.data_dir), *args])

    def new_user(self, username: str, role: str = "operator", **kw: Any) -> str:
        """A user of these tests alone (the others are shared); returns an API token."""
        with self.rt.db.session() as session:
            users_service.add(
                session,
                cli_principal("test"),
                username=username,
                password=PASSWORD,
                role=role,
                **kw,
            )
            return users_service.issue_token(session, cli_principal("test"), username=username)

    def app_with(self, **web: Any) -> FastAPI:
        """The console with other ``[web]`` settings (same runtime otherwise)."""
        settings = self.rt.settings.model_copy(
            update={"web": self.rt.settings.web.model_copy(update=web)}
        )
        return web_app(dataclasses.replace(self.rt, settings=settings))

    def audit(self, actor: str) -> list[str]:
        with self.rt.db.session() as session:
            entries = audit_repo.list_entries(session=session, actor=actor, limit=200)
        return [e.action for e in entries]


@pytest.fixture(scope="module")
def world(shared_runtime: Runtime) -> World:
    return World(shared_runtime)


def _login_form(client: TestClient) -> str:
    page = client.get("/login")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def _try_login(client: TestClient, csrf: str, username: str, password: str) -> Any:
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf},
        follow_redirects=False,
    )


# ------------------------------------------------------------------ 8: ids out of range
def _int_params(route: APIRoute) -> tuple[set[str], set[str]]:
    """Names of the int path and query parameters of a route."""

    def is_int(annotation: Any) -> bool:
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is typing.Annotated:
            return is_int(args[0])
        return annotation is int or int in args

    def walk(dependant: Dependant) -> Iterator[Dependant]:
        yield dependant
        for sub in dependant.dependencies:
            yield from walk(sub)

    path: set[str] = set()
    query: set[str] = set()
    for d in walk(route.dependant):
        path |= {f.name for f in d.path_params if is_int(f.field_info.annotation)}
        query |= {f.name for f in d.query_params if is_int(f.field_info.annotation)}
    return path, query


def test_ids_beyond_the_database_range_are_refused_not_a_server_error(world: World) -> None:
    """Every route taking an id (path or query string) answers 2^63 with a 4xx, for
    every role (before: OverflowError, 500)."""
    huge = 2**63
    tried = 0
    for user in ("alice", "olivia", "mia"):
        client = TestClient(world.app, raise_server_exceptions=False)
        client.headers["Authorization"] = f"Bearer {world.tokens[user]}"
        for route in (r for router in routers() for r in router.routes):
            if not isinstance(route, APIRoute):
                continue
            path_ints, query_ints = _int_params(route)
            if not path_ints and not query_ints:
                continue
            url = re.sub(
                r"\{(\w+)\}",
                lambda m, ints=path_ints: str(huge) if m.group(1) in ints else "x",  # type: ignore[misc]
                route.path,
            )
            params = {name: str(huge) for name in query_ints}
            for method in route.methods - {"HEAD"}:
                res = client.request(method, url, params=params)
                tried += 1
                assert res.status_code < 500, (user, method, url, params, res.status_code)
    assert tried >= 20
    # the same for an id in a JSON body
    with world.client("mia") as c:
        res = c.post("/api/tags/review", json={"ids": [huge], "status": "confirmed"})
        assert res.status_code == 422


# ------------------------------------------------------------------ 4: login throttling
def test_login_is_throttled_per_account_with_retry_after(world: World) -> None:
    world.new_user("thea")
    app = world.app_with(login_account_failures=3)
    with TestClient(app) as c:
        csrf = _login_form(c)
        for _ in range(3):
            failed = _try_login(c, csrf, "thea", "wrong password 1")
            assert failed.status_code == 401
            assert 'value="thea"' in failed.text  # what was typed stays in the form
        locked = _try_login(c, csrf, "thea", PASSWORD)  # even the right password now
        assert locked.status_code == 429
        assert 0 < int(locked.headers["Retry-After"]) <= 900
        assert "登录失败次数过多" in locked.text
        # another account from the same address is not locked by thea's failures
        assert _try_login(c, csrf, "olivia", PASSWORD).status_code == 303
    assert world.audit("thea").count("login.failed") == 3
    assert world.audit("thea").count("login.throttled") == 1


def test_login_is_throttled_per_client_address(world: World) -> None:
    app = world.app_with(login_address_failures=4)
    with TestClient(app) as c:
        csrf = _login_form(c)
        for i in range(4):  # made-up names: each account stays under its own limit
            assert _try_login(c, csrf, f"ghost{i}", "wrong password").status_code == 401
        res = _try_login(c, csrf, "mia", PASSWORD)
        assert res.status_code == 429 and int(res.headers["Retry-After"]) > 0


def test_a_stranger_cannot_lock_a_user_out_of_their_own_browser(world: World) -> None:
    """Device cookies: a browser that logged in to an account before is counted on its
    own. A stranger's failures lock the account for everyone else, not for the owner's
    browser; the owner's own failures lock only that browser; a cookie of another
    account, or a forged one, counts for nothing."""
    world.new_user("theo")
    world.new_user("tess")
    app = world.app_with(login_account_failures=3)
    with TestClient(app) as mine, TestClient(app) as stranger, TestClient(app) as other:
        csrf = _login_form(mine)
        first = _try_login(mine, csrf, "theo", PASSWORD)
        assert first.status_code == 303
        cookie = first.cookies.get("siyu_session_device")
        assert cookie and "path=/login" in first.headers["set-cookie"].lower()
        assert "httponly" in first.headers["set-cookie"].lower()
        s_csrf = _login_form(stranger)
        for _ in range(3):
            assert _try_login(stranger, s_csrf, "theo", "guess 123456").status_code == 401
        assert _try_login(stranger, s_csrf, "theo", PASSWORD).status_code == 429
        # tess's browser, a forged cookie: the account's lock holds for them
        o_csrf = _login_form(other)
        assert _try_login(other, o_csrf, "tess", PASSWORD).status_code == 303
        assert _try_login(other, _login_form(other), "theo", PASSWORD).status_code == 429
        other.cookies.set("siyu_session_device", cookie[:-2] + "xx", path="/login")
        assert _try_login(other, _login_form(other), "theo", PASSWORD).status_code == 429
        # theo's own browser still logs in
        assert _try_login(mine, _login_form(mine), "theo", PASSWORD).status_code == 303
        # and its own failures lock that browser only
        csrf = _login_form(mine)
        for _ in range(3):
            assert _try_login(mine, csrf, "theo", "typo typo 1").status_code == 401
        assert _try_login(mine, csrf, "theo", PASSWORD).status_code == 429
    assert world.audit("theo").count("login.failed") == 6


def test_device_cookies_can_be_turned_off(world: World) -> None:
    world.new_user("tara")
    app = world.app_with(login_account_failures=2, login_device_days=0)
    with TestClient(app) as mine, TestClient(app) as stranger:
        first = _try_login(mine, _login_form(mine), "tara", PASSWORD)
        assert first.status_code == 303 and "siyu_session_device" not in first.cookies
        csrf = _login_form(stranger)
        for _ in range(2):
            assert _try_login(stranger, csrf, "tara", "guess 123456").status_code == 401
        assert _try_login(mine, _login_form(mine), "tara", PASSWORD).status_code == 429


class RecordingHasher(PasswordHasher):
    """The real argon2 hasher, counting verifications."""

    def __init__(self) -> None:
        super().__init__()
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> typing.Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


def test_an_unknown_or_inactive_user_costs_one_password_verification(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both failures do the work of a wrong password (argon2 verification of a dummy
    hash), so timing does not tell which user names exist."""
    world.new_user("ivy")
    with world.rt.db.session() as session:
        users_service.deactivate(session, cli_principal("test"), username="ivy")
    hasher = RecordingHasher()
    monkeypatch.setattr(access, "_hasher", hasher)
    access._dummy_hash.cache_clear()
    with world.rt.db.session() as session:
        for username in ("olivia", "nobody-here", "ivy"):
            before = hasher.verified
            assert users_service.login(session, username=username, password="wrong") is None
            assert hasher.verified == before + 1, username
    access._dummy_hash.cache_clear()


# ------------------------------------------------------------------ 5: body limits
class _Call:
    """One request straight through the ASGI app, counting the body chunks it reads."""

    CHUNK = b"x" * (1 << 20)

    def __init__(self, app: FastAPI, *, path: str, content_type: str, chunks: int) -> None:
        self.app, self.path, self.content_type, self.chunks = app, path, content_type, chunks
        self.reads = 0

    def run(self, content_length: int | None) -> int:
        sent: list[dict[str, Any]] = []
        headers = [(b"content-type", self.content_type.encode())]
        if content_length is not None:
            headers.append((b"content-length", str(content_length).encode()))

        async def receive() -> dict[str, Any]:
            if self.reads < self.chunks:
                self.reads += 1
                return {
                    "type": "http.request",
                    "body": self.CHUNK,
                    "more_body": self.reads < self.chunks,
                }
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }
        asyncio.run(self.app(scope, receive, send))  # type: ignore[arg-type]
        return next(m["status"] for m in sent if m["type"] == "http.response.start")


def test_a_huge_json_body_is_refused_before_it_is_read(world: World) -> None:
    """200 MB of JSON without a token: 413 at once when declared, and after at most the
    limit when streamed without a length (before: read whole, then 401)."""
    declared = _Call(world.app, path="/api/suggest", content_type="application/json", chunks=200)
    assert declared.run(content_length=200 * (1 << 20)) == 413
    assert declared.reads == 0
    streamed = _Call(world.app, path="/api/suggest", content_type="application/json", chunks=200)
    assert streamed.run(content_length=None) == 413
    assert streamed.reads <= 2  # the limit is 1 MB: the second megabyte passes it


def test_uploads_have_their_own_limit(world: World) -> None:
    """A 3 MB body is too big as JSON but fine as a multipart upload (10 MB)."""
    size = 3 * (1 << 20)
    as_json = _Call(world.app, path="/knowledge/upload", content_type="application/json", chunks=3)
    assert as_json.run(content_length=size) == 413
    upload = _Call(
        world.app,
        path="/knowledge/upload",
        content_type="multipart/form-data; boundary=xyz",
        chunks=3,
    )
    assert upload.run(content_length=size) != 413
    small = world.app_with(max_upload_bytes=1 << 20)
    assert (
        _Call(
            small,
            path="/knowledge/upload",
            content_type="multipart/form-data; boundary=x",
            chunks=3,
        ).run(content_length=size)
        == 413
    )
    with world.client("olivia") as c:
        res = c.post("/api/scripts/preview", content=b"[" + b"1," * 600_000 + b"1]")
        assert res.status_code == 413 and "请求体过大" in res.json()["detail"]
    # the limit an upload is told is the file's (it said 1.0625 MB, the room for the
    # form around the file counted in)
    with TestClient(small) as c:
        res = c.post(
            "/knowledge/upload",
            files={"file": ("big.csv", b"x" * (2 << 20), "text/csv")},
        )
        assert res.status_code == 413 and "（上限 1 MB）" in res.json()["detail"]


# ------------------------------------------------------------------ 7: sessions end
def test_logout_ends_every_copy_of_the_session(world: World) -> None:
    world.new_user("lou")
    first = TestClient(world.app)
    csrf = login(first, "lou")
    copied = TestClient(world.app)
    copied.cookies.set("siyu_session", first.cookies["siyu_session"])
    assert copied.get("/api/me").json()["username"] == "lou"
    res = first.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert res.status_code == 303
    assert copied.get("/api/me").status_code == 401
    assert first.get("/api/me").status_code == 401
    assert "logout" in world.audit("lou")
    login(first, "lou")  # logging in again works
    assert first.get("/api/me").status_code == 200


def test_deactivate_password_and_revoke_tokens_from_the_cli(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    token = world.new_user("dora")
    browser = TestClient(world.app)
    login(browser, "dora")
    api = bearer_client(world.app, token)
    assert browser.get("/api/me").status_code == 200 and api.get("/api/me").status_code == 200

    assert world.cli("users", "deactivate", "dora") == 0
    capsys.readouterr()
    assert world.cli("users", "list") == 0
    listed = {
        line.split("│")[1].strip(): line
        for line in capsys.readouterr().out.splitlines()
        if "│" in line
    }
    assert "已停用" in listed["dora"] and any(
        "正常" in line for name, line in listed.items() if name != "dora"
    )
    assert browser.get("/api/me").status_code == 401
    assert api.get("/api/me").status_code == 401
    csrf = _login_form(browser)
    assert _try_login(browser, csrf, "dora", PASSWORD).status_code == 401

    assert world.cli("users", "activate", "dora") == 0
    capsys.readouterr()
    assert world.cli("users", "list") == 0
    dora = next(line for line in capsys.readouterr().out.splitlines() if "│ dora " in line)
    assert "正常" in dora and "已停用" not in dora
    assert api.get("/api/me").status_code == 200  # tokens work again
    assert browser.get("/api/me").status_code == 401  # the old session stays ended
    login(browser, "dora")

    assert world.cli("users", "password", "dora", "--password", "password") == 1  # weak
    assert world.cli("users", "password", "dora", "--password", OTHER_PASSWORD) == 0
    assert browser.get("/api/me").status_code == 401
    csrf = _login_form(browser)
    assert _try_login(browser, csrf, "dora", PASSWORD).status_code == 401
    login(browser, "dora", OTHER_PASSWORD)

    assert world.cli("users", "revoke-tokens", "dora") == 0
    assert api.get("/api/me").status_code == 401
    assert world.cli("users", "deactivate", "nobody-at-all") == 1
    assert {"user.deactivate", "user.activate", "user.password", "token.revoke_all"} <= set(
        _all_actions(world)
    )


def _all_actions(world: World) -> list[str]:
    with world.rt.db.session() as session:
        return [e.action for e in audit_repo.list_entries(session=session, limit=500)]


# ------------------------------------------------------------------ 12: policies
@pytest.mark.parametrize("password", ["password", "12345678", "qwertyuiop", "aaaaaaaaaa"])
def test_common_and_simple_passwords_are_refused(password: str) -> None:
    with pytest.raises(InputError, match="密码"):
        access.hash_password(password)


def test_a_password_made_of_the_user_name_is_refused() -> None:
    with pytest.raises(InputError, match="密码"):
        access.hash_password("wangxiaoming2024", user_inputs=("wangxiaoming",))
    assert access.hash_password(OTHER_PASSWORD).startswith("$argon2")


@pytest.mark.parametrize("username", ["", " ", "<script>", "a b", "x" * 65, 'o"neil'])
def test_empty_and_markup_user_names_are_refused(world: World, username: str) -> None:
    code = world.cli("users", "add", username, "--role", "operator", "--password", PASSWORD)
    assert code == 1
    with world.rt.db.session() as session:
        assert users_repo.get_user_by_username(session=session, username=username) is None


@pytest.mark.parametrize(
    "secret",
    ["a" * 36, "your-secret-here-0123456789abcdef0123", "abcdefghijklmnopqrstuvwxyz0123456789"],
)
def test_low_entropy_web_secrets_are_refused(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_WEB_SECRET", secret)
    with pytest.raises(ConfigError):
        WebSettings(secret_env="T_WEB_SECRET").secret()
    monkeypatch.setenv("T_WEB_SECRET", secrets.token_hex(32))
    assert WebSettings(secret_env="T_WEB_SECRET").secret()


# ------------------------------------------------------------------ 13: adviser teams
def test_adding_a_user_never_moves_an_adviser_to_another_team(world: World) -> None:
    assert (
        world.cli(
            "users",
            "add",
            "tom",
            "--role",
            "adviser",
            "--adviser-id",
            "adv-t",
            "--team",
            "east",
            "--password",
            PASSWORD,
        )
        == 0
    )
    code = world.cli(
        "users", "add", "tom_phone", "--role", "adviser", "--adviser-id", "adv-t",
        "--team", "west", "--password", PASSWORD,
    )  # fmt: skip
    assert code == 1
    with world.rt.db.session() as session:
        assert "adv-t" in users_repo.team_adviser_ids(session=session, team="east")
        assert users_repo.get_user_by_username(session=session, username="tom_phone") is None
    # joining without a team takes the adviser's
    assert (
        world.cli(
            "users",
            "add",
            "tom_pad",
            "--role",
            "adviser",
            "--adviser-id",
            "adv-t",
            "--password",
            PASSWORD,
        )
        == 0
    )
    # the explicit command moves the adviser and their users, audited
    assert world.cli("--actor", "root", "users", "team", "adv-t", "west") == 0
    with world.rt.db.session() as session:
        assert "adv-t" in users_repo.team_adviser_ids(session=session, team="west")
        assert "adv-t" not in users_repo.team_adviser_ids(session=session, team="east")
        tom = users_repo.get_user_by_username(session=session, username="tom_pad")
        assert tom is not None and tom.team == "west"
    assert "adviser.team" in world.audit("root")
    assert world.cli("users", "team", "adv-nobody", "west") == 1


# ------------------------------------------------------------------ 16: docs, headers, redirects
def test_api_docs_need_a_login_unless_made_public(world: World) -> None:
    with TestClient(world.app) as anonymous:
        assert anonymous.get("/openapi.json").status_code == 401
        docs = anonymous.get("/docs", follow_redirects=False)
        assert docs.status_code == 303 and docs.headers["location"].startswith("/login")
    with world.client("alice") as c:
        assert c.get("/openapi.json").json()["info"]["title"] == "思语 Siyu Copilot"
        page = c.get("/docs").text
        assert "<script>" not in page.replace('<script src="', "")  # no inline script
    with TestClient(world.app_with(public_docs=True)) as anonymous:
        assert anonymous.get("/openapi.json").status_code == 200
        assert anonymous.get("/docs").status_code == 200


@pytest.mark.parametrize(
    "path", ["/login", "/api/me", "/static/app.css", "/nowhere", "/sidebar", "/docs"]
)
def test_every_response_carries_the_security_headers(world: World, path: str) -> None:
    with TestClient(world.app) as c:
        res = c.get(path, follow_redirects=False)
    for name, value in SECURITY_HEADERS:
        assert res.headers.get(name.decode()) == value.decode(), (path, name)
    assert "script-src 'self'" in res.headers["content-security-policy"]


def test_status_change_redirects_only_within_the_app(world: World) -> None:
    with TestClient(world.app) as c:
        csrf = login(c, "olivia")
        cases = {
            ("https://evil.example/phish", ""): "/scripts",
            ("", "//evil.example/x"): "/scripts",
            ("", "/\t/evil.example"): "/scripts",
            ("", "https://evil.example"): "/scripts",
            ("https://evil.example/", "/scripts?industry=insurance"): (
                "/scripts?industry=insurance"
            ),
        }
        for (referer, next_), expected in cases.items():
            res = c.post(
                "/scripts/INS-ICE-1/status",
                data={"status": "approved", "csrf_token": csrf, "next": next_},
                headers={"Referer": referer} if referer else {},
                follow_redirects=False,
            )
            assert res.status_code == 303
            assert res.headers["location"] == expected, (referer, next_)
