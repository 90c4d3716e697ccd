"""The screenshots of the README's Chinese quick start (docs/img/), taken from a small
team's console: an adviser (李明), an operator (王芳) and a manager (陈静).

By default they are written to test-artifacts/docs-*.png (the test checks the pages);
regenerate the committed ones with ``make docs-img`` (``SIYU_DOCS_IMG=1``), which writes
docs/img/*.png, reduced to 256 colours to stay small."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from conftest import RuntimeFactory
from web_helpers import PASSWORD, browser_login, customer_message, web_app

from bot.pipeline.runtime import Runtime
from bot.services.access import hash_password
from bot.store import advisers as advisers_repo
from bot.store import customers as customers_repo
from bot.store import inbox as inbox_repo
from bot.store import users as users_repo

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 360, "height": 760}
TEAM = {
    "li": ("adviser", "adv_li", "华东一组", "李明"),
    "wang": ("operator", None, None, "王芳"),
    "chen": ("manager", None, "华东一组", "陈静"),
}
CITY_SCRIPT = (
    "id,title,category,stage,industry,tags,body\n"
    "INS-CITY-1,同城理赔服务,after_sales,retain,insurance,理赔;同城,"
    "{customer_name}，我们在{city}有理赔服务点，材料可以当面交给我。\n"
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]
playwright_sync = pytest.importorskip("playwright.sync_api")


def _team(rt: Runtime, tmp: Path) -> None:
    csv = tmp / "city.csv"
    csv.write_text(CITY_SCRIPT, encoding="utf-8")
    rt.library.import_file(csv)
    with rt.db.session() as session:  # users first: the adviser joins the team
        for username, (role, adviser_id, team, name) in TEAM.items():
            users_repo.create_user(
                session=session,
                username=username,
                password_hash=hash_password(PASSWORD),
                role=role,
                display_name=name,
                adviser_id=adviser_id,
                team=team,
            )
        advisers_repo.set_persona(session=session, adviser_id="adv_li", persona_name="李明")
    customer_message(rt, "adv_li", "wx-zhang", "重疾险一年大概多少钱？", "张女士")
    customer_message(rt, "adv_li", "wx-liu", "孩子的重疾险怎么买？太贵了有没有优惠", "刘先生")
    customer_message(rt, "adv_li", "wx-zhao", "理赔服务点在哪里？材料能当面交吗", "赵女士")
    with rt.db.session() as session:
        for phone, name in (("13800138000", "张女士"), ("+86 138-0013-8000", "张女士（企业微信）")):
            customers_repo.find_or_create_customer(
                session=session,
                identity_kind="phone",
                identity_value=phone,
                name=name,
                adviser_id="adv_li",
            )


def _customer(rt: Runtime, name: str) -> int:
    with rt.db.session() as session:
        rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="-")
    return next(r.customer_id for r in rows if r.name == name)


def _shot(page: object, name: str) -> Path:
    """Save the viewport; into docs/img with SIYU_DOCS_IMG=1 (256 colours), else into
    test-artifacts/docs-NAME.png."""
    if os.environ.get("SIYU_DOCS_IMG") == "1":
        path = ROOT / "docs" / "img" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))  # type: ignore[attr-defined]
        from PIL import Image

        with Image.open(path) as im:
            small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        small.save(path, optimize=True)
    else:
        path = ROOT / "test-artifacts" / f"docs-{name}.png"
        path.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(path))  # type: ignore[attr-defined]
    return path


def test_quick_start_screenshots(make_runtime: RuntimeFactory, tmp_path: Path) -> None:
    import uvicorn

    rt = make_runtime()
    _team(rt, tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(
            web_app(rt), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    base = f"http://127.0.0.1:{port}"
    try:
        with playwright_sync.sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
            )

            def page_for(user: str, viewport: dict[str, int]) -> object:
                context = browser.new_context(viewport=viewport, base_url=base, locale="zh-CN")
                return browser_login(context, user)

            zhao = _customer(rt, "赵女士")
            page = page_for("li", WIDE)
            page.goto(f"/sidebar?customer_id={zhao}")  # type: ignore[attr-defined]
            page.wait_for_selector("#suggestions mark.blank")  # type: ignore[attr-defined]
            assert "李明" in page.inner_text("#suggestions")  # type: ignore[attr-defined]
            _shot(page, "adviser-sidebar")
            page.context.close()  # type: ignore[attr-defined]

            page = page_for("li", NARROW)
            page.goto(f"/sidebar?customer_id={_customer(rt, '张女士')}")  # type: ignore[attr-defined]
            page.wait_for_selector("#suggestions article.suggestion")  # type: ignore[attr-defined]
            _shot(page, "adviser-360")
            page.context.close()  # type: ignore[attr-defined]

            page = page_for("wang", WIDE)
            assert page.url.endswith("/scripts")  # type: ignore[attr-defined]
            _shot(page, "operator-scripts")
            page.goto("/scripts/INS-CITY-1/edit")  # type: ignore[attr-defined]
            page.wait_for_selector("#preview-text")  # type: ignore[attr-defined]
            _shot(page, "operator-editor")
            page.context.close()  # type: ignore[attr-defined]

            page = page_for("chen", WIDE)
            assert page.url.endswith("/manager")  # type: ignore[attr-defined]
            assert page.locator("#queues li").count() == 6  # type: ignore[attr-defined]
            _shot(page, "manager-home")
            page.goto("/manager/tags")  # type: ignore[attr-defined]
            assert "顾问 李明" in page.inner_text("ul.review")  # type: ignore[attr-defined]
            _shot(page, "manager-tags")
            page.context.close()  # type: ignore[attr-defined]
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
