"""A request the router cannot read (a query string typed by hand, a number box holding
「1e3」): a page of the console says which field (by its Chinese name) and what it takes,
instead of pydantic's English JSON; 最近天数 out of range is refused on every page taking
it, never silently ignored; the API keeps its JSON with the message in Chinese."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from english import english_leaks, visible_text
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from web_helpers import USERS, add_users, login, web_app

from bot.pipeline.runtime import Runtime
from bot.web.app import routers
from bot.web.deps import MAX_DAYS
from bot.web.validation import FIELD_LABELS

#: The users' display names (web_helpers.USERS): data, shown as they are.
NAMES = {name.title() for name in USERS}


@pytest.fixture(scope="module")
def app_tokens(shared_runtime: Runtime) -> tuple[TestClient, dict[str, str]]:
    tokens = add_users(shared_runtime)
    return TestClient(web_app(shared_runtime)), tokens


def _browser(app_tokens: tuple[TestClient, dict[str, str]], user: str) -> TestClient:
    """A logged-in browser (session cookie, no token)."""
    client = TestClient(app_tokens[0].app)
    login(client, user)
    return client


BAD_QUERIES = [
    # (user, path, the field's name on the page, what it takes, what was typed)
    ("olivia", "/scripts/effectiveness?days=1e3", "最近天数", f"0 到 {MAX_DAYS} 之间的整数", "1e3"),
    ("olivia", "/scripts/effectiveness?days=-5", "最近天数", f"0 到 {MAX_DAYS} 之间的整数", "-5"),
    ("olivia", "/scripts/effectiveness?days=99999", "最近天数", f"0 到 {MAX_DAYS}", "99999"),
    ("mia", "/scripts/effectiveness?by=adviser&days=-1", "最近天数", "之间的整数", "-1"),
    ("mia", "/manager/kpis?days=-3", "最近天数", f"1 到 {MAX_DAYS} 之间的整数", "-3"),
    ("mia", "/manager/kpis?days=99999", "最近天数", f"1 到 {MAX_DAYS} 之间的整数", "99999"),
    ("mia", "/manager/kpis?weeks=abc", "最近周数", "要一个整数", "abc"),
    ("olivia", "/campaigns/report?since=2026-13-01", "开始日期", "要一个日期", "2026-13-01"),
    ("mia", "/campaigns/referrals?until=tomorrow", "结束日期", "要一个日期", "tomorrow"),
    ("alice", "/sidebar?customer_id=abc", "客户", "要一个整数", "abc"),
]


@pytest.mark.parametrize(("user", "path", "label", "expected", "typed"), BAD_QUERIES)
def test_a_bad_query_string_is_a_chinese_page_naming_the_field(
    app_tokens: tuple[TestClient, dict[str, str]],
    user: str,
    path: str,
    label: str,
    expected: str,
    typed: str,
) -> None:
    res = _browser(app_tokens, user).get(path)
    assert res.status_code == 422
    assert res.headers["content-type"].startswith("text/html"), res.text[:200]
    assert '<h1>输入有误 <small class="muted">422</small></h1>' in res.text  # not a bare 422
    shown = re.search(r'<p class="error message">([^<]*)</p>', res.text)
    assert shown, res.text[:500]
    assert shown.group(1).startswith(f"{label}：") and expected in shown.group(1)
    assert f"收到「{typed}」" in shown.group(1)
    # the way out: the same page without the query string
    assert f'href="{path.split("?")[0]}"' in res.text
    assert english_leaks(visible_text(res.text), allow=NAMES | {typed}) == []


def test_days_in_range_are_applied_and_empty_boxes_are_not_chosen(
    app_tokens: tuple[TestClient, dict[str, str]],
) -> None:
    olivia = _browser(app_tokens, "olivia")
    # the form as sent with its boxes left empty (before: 422, the date or number unreadable)
    assert olivia.get("/scripts/effectiveness?by=&days=").status_code == 200
    assert olivia.get("/campaigns/report?since=&until=&by=adviser").status_code == 200
    page = olivia.get(f"/scripts/effectiveness?days={MAX_DAYS}")
    assert page.status_code == 200
    assert f'name="days" min="0" max="{MAX_DAYS}"' in page.text
    assert f'value="{MAX_DAYS}"' in page.text
    mia = _browser(app_tokens, "mia")
    assert "近 7 天新增客户" in mia.get("/manager/kpis?days=7").text
    assert "近 30 天新增客户" in mia.get("/manager/kpis?days=").text


def test_the_api_keeps_its_json_with_chinese_messages(
    app_tokens: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = app_tokens
    res = client.get(
        "/api/script-effectiveness?days=0", headers={"Authorization": f"Bearer {tokens['olivia']}"}
    )
    assert res.status_code == 422 and res.headers["content-type"] == "application/json"
    [problem] = res.json()["detail"]
    assert problem["loc"] == ["query", "days"] and problem["type"] == "greater_than_equal"
    assert problem["msg"] == "不能小于 1"


def test_a_field_the_api_does_not_take_is_named_in_chinese(
    app_tokens: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = app_tokens
    res = client.post(
        "/api/events",
        json={"customer": "1", "type": "purchase", "adviser": "adv-b"},
        headers={"Authorization": f"Bearer {tokens['alice']}"},
    )
    assert res.status_code == 422
    [problem] = res.json()["detail"]
    assert problem["loc"] == ["body", "adviser"] and problem["msg"] == "不认识这个字段"


def test_a_form_without_the_pages_script_ends_on_the_chinese_page(
    app_tokens: tuple[TestClient, dict[str, str]],
) -> None:
    """Posted as usual: the error page names the field, with the way back to the form.
    Sent by the page's script (``X-Siyu-Form``), FastAPI's list stays for the script,
    which names the field by its label on the form (bot/web/static/app.js)."""
    alice = _browser(app_tokens, "alice")
    page = alice.get("/campaigns/unattributed")
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert csrf
    form = {"customer_id": "", "code": "X", "csrf_token": csrf.group(1)}
    res = alice.post(
        "/campaigns/unattributed",
        data=form,
        headers={"Referer": "http://testserver/campaigns/unattributed"},
    )
    assert res.status_code == 422 and res.headers["content-type"].startswith("text/html")
    assert "客户：必须填写" in res.text
    assert 'href="/campaigns/unattributed" data-back' in res.text
    res = alice.post(
        "/campaigns/unattributed",
        data=form | {"customer_id": "abc"},
        headers={"X-Siyu-Form": "1"},
    )
    assert res.status_code == 422
    [problem] = res.json()["detail"]
    assert (problem["loc"], problem["type"]) == (["body", "customer_id"], "int_parsing")
    assert problem["msg"] == "要一个整数"


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def test_every_pages_parameter_has_a_chinese_name() -> None:
    """The registry of field names (bot/web/validation.py) covers every parameter of the
    console's pages and forms: a new one without a name fails here."""
    missing = set()
    for route in (r for router in routers() for r in router.routes):
        if not isinstance(route, APIRoute) or route.path.startswith("/api/"):
            continue
        for d in _walk(route.dependant):
            for field in (*d.query_params, *d.path_params, *d.body_params):
                if field.alias not in FIELD_LABELS:
                    missing.add((route.path, field.alias))
    assert missing == set()


@pytest.mark.parametrize(
    "body", [b'{"contact_id": "wx-1", "text": ', b"[" * 100_000 + b"]" * 100_000]
)
def test_a_body_the_api_cannot_parse_is_answered_in_chinese(
    app_tokens: tuple[TestClient, dict[str, str]], body: bytes
) -> None:
    """Malformed or deeply nested JSON answered FastAPI's English 「There was an error
    parsing the body」."""
    client, tokens = app_tokens
    res = client.post(
        "/api/messages",
        content=body,
        headers={"Authorization": f"Bearer {tokens['alice']}", "Content-Type": "application/json"},
    )
    assert res.status_code in (400, 422), res.text
    detail = res.json()["detail"]
    said = detail if isinstance(detail, str) else " ".join(e["msg"] for e in detail)
    assert said and not english_leaks(said), res.text
