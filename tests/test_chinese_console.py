"""Issue 15's check on console pages: a page as a user sees it, through the same
``english_leaks`` as the CLI (tests/test_chinese_text.py) — the login page, the adviser's
sidebar, and every list page of each role."""

from __future__ import annotations

import pytest
from english import english_leaks, visible_text
from fastapi.testclient import TestClient
from web_helpers import USERS, add_users, customer_message, login, web_app

from bot.pipeline.runtime import Runtime

#: The users' display names (web_helpers.USERS): data, shown as they are.
NAMES = {name.title() for name in USERS}


@pytest.fixture(scope="module")
def console(shared_runtime: Runtime) -> TestClient:
    add_users(shared_runtime)
    customer_message(shared_runtime, "adv-a", "wx-zh", "重疾险一年多少钱？我家有孩子", "周女士")
    return TestClient(web_app(shared_runtime))


def test_the_login_page_is_chinese(console: TestClient) -> None:
    page = console.get("/login")
    assert page.status_code == 200
    assert english_leaks(visible_text(page.text)) == []


@pytest.mark.parametrize("path", ["/sidebar", "/sidebar/inbox"])
def test_the_advisers_sidebar_is_chinese(console: TestClient, path: str) -> None:
    login(console, "alice")
    page = console.get(path)
    assert page.status_code == 200
    assert "周女士" in page.text or path == "/sidebar"
    assert english_leaks(visible_text(page.text), allow=NAMES) == []


#: Data the test users carry, shown as it is: their team and the name of their API token
#: (an adviser's id is shown nowhere: 顾问人设 and 我的人设 showed it beside the name).
DATA = {"east", "test"}

ROLE_PAGES = [
    ("alice", "/channel"),
    ("alice", "/account/tokens"),
    ("alice", "/advisers/adv-a/persona"),
    ("olivia", "/scripts/new"),
    ("olivia", "/scripts"),
    ("olivia", "/knowledge"),
    ("olivia", "/scripts/effectiveness"),
    ("olivia", "/campaigns"),
    ("mia", "/manager"),
    ("mia", "/manager/tags"),
    ("mia", "/manager/merges"),
    ("mia", "/manager/kpis"),
    ("mia", "/advisers"),
    ("mia", "/advisers/adv-a/persona"),
    ("mia", "/campaigns/unattributed"),
    ("mia", "/channel"),
    ("mia", "/campaigns/report"),
    ("mia", "/campaigns/segments"),
]


@pytest.mark.parametrize(("user", "path"), ROLE_PAGES)
def test_each_roles_pages_are_chinese(shared_runtime: Runtime, user: str, path: str) -> None:
    if not _has_users(shared_runtime):
        add_users(shared_runtime)
    client = TestClient(web_app(shared_runtime))
    login(client, user)
    page = client.get(path)
    assert page.status_code == 200, path
    assert english_leaks(visible_text(page.text), allow=NAMES | DATA) == []


def _has_users(rt: Runtime) -> bool:
    from bot.store import users as users_repo

    with rt.db.session() as session:
        return users_repo.get_user_by_username(session=session, username="alice") is not None
