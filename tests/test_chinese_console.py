"""Issue 15's check on console pages: a page rendered for a user, passed through the same
``english_leaks`` as the CLI (tests/test_chinese_text.py)."""

from __future__ import annotations

import pytest
from english import english_leaks, visible_text
from fastapi.testclient import TestClient
from web_helpers import add_users, customer_message, web_app

from bot.pipeline.runtime import Runtime


@pytest.fixture(scope="module")
def console(shared_runtime: Runtime) -> TestClient:
    add_users(shared_runtime)
    customer_message(shared_runtime, "adv-a", "wx-zh", "重疾险一年多少钱？我家有孩子", "周女士")
    return TestClient(web_app(shared_runtime))


def test_the_login_page_is_chinese(console: TestClient) -> None:
    page = console.get("/login")
    assert page.status_code == 200
    assert english_leaks(visible_text(page.text)) == []
