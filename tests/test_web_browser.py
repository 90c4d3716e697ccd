"""Browser tests: Playwright drives Debian's chromium against the app served by uvicorn
on 127.0.0.1 (a thread of this process, so the in-memory channel shares the runtime).
Screenshots of every page, at 360 px (WeCom chat toolbar) and full width, are saved in
test-artifacts/ for a person to look at."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from web_helpers import PASSWORD, add_users, browser_login, customer_message, serving, web_app

from bot.channels.memory import MemoryChannel
from bot.pipeline.runtime import Runtime
from bot.store import audit as audit_repo
from bot.store import tags as tags_repo

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NARROW = {"width": 360, "height": 720}
WIDE = {"width": 1280, "height": 800}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

playwright_sync = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    def __init__(self, rt: Runtime, base: str) -> None:
        self.rt = rt
        self.base = base


@pytest.fixture(scope="module")
def served(shared_runtime: Runtime) -> Iterator[Served]:
    import uvicorn

    rt = shared_runtime
    add_users(rt)
    customer_message(rt, "adv-a", "wx-zhang", "你好，想了解一下保险", "张女士")
    customer_message(rt, "adv-a", "wx-liu", "孩子的重疾险怎么买？", "刘先生")
    port = _free_port()
    config = uvicorn.Config(
        web_app(rt),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield Served(rt, f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def driver(served: Served) -> Iterator[object]:
    """Playwright, once for the module (a second one in the same thread is refused)."""
    with playwright_sync.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(driver: object) -> Iterator[object]:
    b = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)  # type: ignore[attr-defined]
    yield b
    b.close()


def _page(browser: object, served: Served, viewport: dict[str, int], user: str) -> object:
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport=viewport, base_url=served.base, locale="zh-CN"
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.base)
    return browser_login(context, user)


def _shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def _customer_id(rt: Runtime, name: str) -> int:
    from bot.store import inbox

    with rt.db.session() as session:
        rows = inbox.conversation_list(session=session, adviser_ids=None, viewer="-")
    return next(r.customer_id for r in rows if r.name == name)


def test_adviser_sees_a_live_suggestion_and_uses_it(browser: object, served: Served) -> None:
    rt = served.rt
    zhang = _customer_id(rt, "张女士")
    page = _page(browser, served, WIDE, "alice")
    page.goto(f"/sidebar?customer_id={zhang}")  # type: ignore[attr-defined]
    page.wait_for_selector("#live-status.ok")  # type: ignore[attr-defined]
    page.wait_for_selector("#suggestions article.suggestion")  # type: ignore[attr-defined]

    # A customer message arrives through the in-memory channel: no reload.
    assert "重疾险" not in page.inner_text("#tag-list")  # type: ignore[attr-defined]
    sid = customer_message(rt, "adv-a", "wx-zhang", "重疾险一年保费多少钱？", "张女士")
    page.wait_for_selector(f'#suggestions[data-suggestion="{sid}"]')  # type: ignore[attr-defined]
    page.wait_for_selector("#timeline >> text=重疾险一年保费多少钱")  # type: ignore[attr-defined]
    # the tag it suggested is on the profile too (it showed only after a reload)
    page.wait_for_selector("#tag-list >> text=重疾险")  # type: ignore[attr-defined]
    _shot(page, "adviser-sidebar-wide")

    first = page.locator("#suggestions article.suggestion").first  # type: ignore[attr-defined]
    first.locator("button.use").click()
    first.locator(".done").wait_for()
    assert "已记录" in first.locator(".done").inner_text()

    second = page.locator("#suggestions article.suggestion").nth(1)  # type: ignore[attr-defined]
    second.locator("button.editbtn").click()
    second.locator("textarea.edit").fill("张女士您好，我改了一下这条话术。")
    second.locator("button.use-edited").click()
    second.locator(".done").wait_for()
    assert "修改后采用" in second.locator(".done").inner_text()
    _shot(page, "adviser-sidebar-used")

    with rt.db.session() as session:
        actions = [
            (e.action, e.target_id)
            for e in audit_repo.list_entries(session=session, actor="alice", limit=50)
        ]
    assert ("suggestion.adopted", str(sid)) in actions
    assert ("suggestion.edited", str(sid)) in actions

    # Another customer writes: the conversation list updates live with an unread badge.
    customer_message(rt, "adv-a", "wx-liu", "分期可以吗？", "刘先生")
    page.wait_for_selector("#inbox .badge")  # type: ignore[attr-defined]
    page.context.close()  # type: ignore[attr-defined]


def test_adviser_sidebar_at_toolbar_width(browser: object, served: Served) -> None:
    from datetime import UTC, datetime

    from bot.store import followups as followups_repo

    zhang = _customer_id(served.rt, "张女士")
    now = datetime.now(UTC)
    with served.rt.db.session() as session:
        followups_repo.record_occurrence(
            session=session,
            rule="birthday-care",
            customer_id=zhang,
            occurs_on=now.date(),
            action="remind",
            due_at=now,
            adviser_id="adv-a",
            note="张女士 下月生日，送上关怀",
            script_id="INS-WEL-1",
        )
    page = _page(browser, served, NARROW, "alice")
    page.goto("/sidebar")  # type: ignore[attr-defined]
    page.wait_for_selector("#inbox li")  # type: ignore[attr-defined]
    assert "张女士您好" in page.inner_text("#reminders .script")  # type: ignore[attr-defined]
    _shot(page, "adviser-list-360")
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]  # type: ignore[attr-defined]
    page.goto(f"/sidebar?customer_id={zhang}")  # type: ignore[attr-defined]
    page.wait_for_selector("#suggestions article.suggestion")  # type: ignore[attr-defined]
    _shot(page, "adviser-detail-360")
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= NARROW["width"], "the sidebar scrolls sideways at 360 px"
    page.context.close()  # type: ignore[attr-defined]


BAD_CSV = (
    "id,title,category,stage,industry,tags,body\n"
    "B-1,欢迎,welcome,acquire,general,,{customer_name}您好，欢迎！\n"
    "B-2,坏行,nonsense,acquire,general,,您好\n"
)


def test_operator_uploads_a_csv_with_a_bad_row(
    browser: object, served: Served, tmp_path: Path
) -> None:
    csv = tmp_path / "scripts.csv"
    csv.write_text(BAD_CSV, encoding="utf-8")
    for viewport, suffix in ((WIDE, "wide"), (NARROW, "360")):
        page = _page(browser, served, viewport, "olivia")
        page.goto("/scripts")  # type: ignore[attr-defined]
        _shot(page, f"operator-scripts-{suffix}")
        page.goto("/scripts/new")  # type: ignore[attr-defined]
        page.fill("textarea[name=body]", "{customer_name}您好，{oops}")  # type: ignore[attr-defined]
        page.wait_for_selector("#preview-issues >> text=oops")  # type: ignore[attr-defined]
        assert "王女士您好" in page.inner_text("#preview-text")  # type: ignore[attr-defined]
        _shot(page, f"operator-editor-{suffix}")
        page.goto("/scripts/upload")  # type: ignore[attr-defined]
        page.set_input_files("input[type=file]", str(csv))  # type: ignore[attr-defined]
        page.click("form[action='/scripts/upload'] button[type=submit]")  # type: ignore[attr-defined]
        report = page.wait_for_selector("#report")  # type: ignore[attr-defined]
        text = report.inner_text()
        assert "错误 1" in text and "nonsense" in text and "未写入任何内容" in text
        _shot(page, f"operator-upload-report-{suffix}")
        page.goto("/knowledge")  # type: ignore[attr-defined]
        _shot(page, f"operator-knowledge-{suffix}")
        page.context.close()  # type: ignore[attr-defined]
    assert not served.rt.library.get(["B-1"])


def _edit_script(rt: Runtime) -> None:
    """Save a second version of a script (for the history diff)."""
    from dataclasses import replace

    from bot.store import scripts as scripts_repo

    record = rt.library.get(["INS-ICE-1"])["INS-ICE-1"]
    with rt.db.session() as session:
        scripts_repo.upsert_scripts(
            session=session,
            records=[
                replace(record, title="破冰：家庭情况", body=record.body + "我们还有家庭保障方案。")
            ],
        )


def test_manager_approves_a_tag(browser: object, served: Served) -> None:
    rt = served.rt
    with rt.db.session() as session:
        before = tags_repo.list_customer_tags(session=session, status="suggested")
    assert before
    page = _page(browser, served, NARROW, "mia")
    page.goto("/manager/tags")  # type: ignore[attr-defined]
    _shot(page, "manager-tags-360")
    page.locator("ul.review li.card").first.locator("button.ok").click()  # type: ignore[attr-defined]
    page.wait_for_selector("text=已处理 1 个标签")  # type: ignore[attr-defined]
    with rt.db.session() as session:
        confirmed = tags_repo.list_customer_tags(session=session, status="confirmed")
    assert [t.id for t in confirmed] == [before[0].id]
    assert confirmed[0].reviewer == "mia"
    _edit_script(rt)
    page.goto("/manager/kpis")  # type: ignore[attr-defined]
    page.wait_for_selector("svg.chart")  # type: ignore[attr-defined]
    _shot(page, "manager-kpis-360")
    page.goto("/scripts/INS-ICE-1/edit")  # type: ignore[attr-defined]
    page.wait_for_selector("#diff ins")  # type: ignore[attr-defined]
    _shot(page, "script-history-360")
    for path in ("/manager/kpis", "/scripts/INS-ICE-1/edit"):
        page.goto(path)  # type: ignore[attr-defined]
        width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert width <= NARROW["width"], f"{path} scrolls sideways at 360 px"
    page.context.close()  # type: ignore[attr-defined]
    wide = _page(browser, served, WIDE, "mia")
    wide.goto("/manager/tags")  # type: ignore[attr-defined]
    _shot(wide, "manager-tags-wide")
    wide.goto("/manager/kpis")  # type: ignore[attr-defined]
    assert wide.locator("svg.chart").count() == 7  # type: ignore[attr-defined]
    _shot(wide, "manager-kpis-wide")
    wide.goto("/scripts/INS-ICE-1/edit")  # type: ignore[attr-defined]
    assert "家庭保障方案" in wide.inner_text("#diff ins")  # type: ignore[attr-defined]
    _shot(wide, "script-history-wide")
    wide.goto("/docs")  # type: ignore[attr-defined]
    wide.wait_for_selector(".swagger-ui .opblock")  # type: ignore[attr-defined]
    _shot(wide, "api-docs-wide")
    wide.context.close()  # type: ignore[attr-defined]


def test_no_page_breaks_the_content_security_policy(
    browser: object, served: Served, tmp_path: Path
) -> None:
    """Every page works under the console's CSP (scripts and styles from the app only):
    no violation is reported on any page, Swagger UI renders, and an upload goes through
    its job page (progress polled by app.js) to the knowledge page."""
    page = _page(browser, served, WIDE, "mia")
    problems: list[str] = []
    page.on(  # type: ignore[attr-defined]
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.on("pageerror", lambda e: problems.append(str(e)))  # type: ignore[attr-defined]
    zhang = _customer_id(served.rt, "张女士")
    for path in (
        "/sidebar",
        f"/sidebar?customer_id={zhang}",
        "/scripts",
        "/scripts/new",
        "/scripts/INS-ICE-1/edit",
        "/scripts/effectiveness",
        "/scripts/upload",
        "/knowledge",
        "/manager",
        "/manager/tags",
        "/manager/merges",
        "/manager/kpis",
        "/account/tokens",
        "/campaigns",
        "/campaigns/report",
        "/campaigns/unattributed",
        "/campaigns/referrals",
        "/campaigns/segments",
        "/advisers",
    ):
        page.goto(path)  # type: ignore[attr-defined]
        page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]
    page.goto("/docs")  # type: ignore[attr-defined]
    page.wait_for_selector(".swagger-ui .opblock")  # type: ignore[attr-defined]

    doc = tmp_path / "csp.md"
    doc.write_text("# 续保\n到期前30天提醒续保。\n", encoding="utf-8")
    page.goto("/knowledge")  # type: ignore[attr-defined]
    page.set_input_files("input[type=file]", str(doc))  # type: ignore[attr-defined]
    page.click("form[action='/knowledge/upload'] button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url("**/knowledge?job=*")  # type: ignore[attr-defined]
    assert "已导入 csp.md" in page.inner_text("p.success")  # type: ignore[attr-defined]
    _shot(page, "operator-knowledge-uploaded-wide")
    page.context.close()  # type: ignore[attr-defined]
    assert problems == []


def test_campaigns_and_the_profile_card_at_toolbar_width(
    browser: object, served: Served, tmp_path: Path
) -> None:
    """A manager adds a campaign and sets a target on the pages; an adviser fills a
    profile field, attributes the customer and sees the next-best action and their own
    numbers — all at 360 px without sideways scrolling."""
    from bot.crm.next_actions import RulesSource
    from bot.services import fields as fields_service
    from bot.services.access import cli_principal

    rt = served.rt
    (tmp_path / "fields.yaml").write_text(
        "fields:\n  - {name: 预算, type: money, unit: 元/年, keywords: [预算]}\n"
        "  - {name: 收入区间, type: choice, choices: [10万以下, 10万以上]}\n",
        encoding="utf-8",
    )
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - {id: r, when: [预算>=3000], product: 百万医疗险, script: INS-PRC-1,"
        " reason: '年预算 {预算}'}\n",
        encoding="utf-8",
    )
    with rt.db.session() as session:
        fields_service.import_fields(session, cli_principal("t"), path=tmp_path / "fields.yaml")
    previous, rt.assistant.rules = rt.assistant.rules, RulesSource(tmp_path / "rules.yaml")
    try:
        page = _page(browser, served, NARROW, "mia")
        page.goto("/campaigns")  # type: ignore[attr-defined]
        page.fill("#add-campaign input[name=name]", "双十二直播")  # type: ignore[attr-defined]
        page.fill("#add-campaign input[name=channel]", "直播")  # type: ignore[attr-defined]
        page.fill("#add-campaign input[name=cost]", "1200")  # type: ignore[attr-defined]
        page.click("#add-campaign button[type=submit]")  # type: ignore[attr-defined]
        page.wait_for_selector("text=活动已创建")  # type: ignore[attr-defined]
        row = page.locator("#code-table tbody tr").first  # type: ignore[attr-defined]
        code = row.locator("td.code").inner_text()
        row.locator("input[name=added]").fill("8")
        row.locator("button").click()
        # the page reloaded with the target (「text=8」 also matched a code holding an 8,
        # before the reload, which then cut the next navigation short)
        page.wait_for_selector("#code-table td:text-is('8')")  # type: ignore[attr-defined]
        _shot(page, "campaign-360")
        page.goto("/campaigns/report")  # type: ignore[attr-defined]
        page.wait_for_selector("svg.chart")  # type: ignore[attr-defined]
        _shot(page, "campaign-report-360")
        for path in ("/campaigns", "/campaigns/report", "/campaigns/unattributed"):
            page.goto(path)  # type: ignore[attr-defined]
            width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
            assert width <= NARROW["width"], f"{path} scrolls sideways at 360 px"
        page.context.close()  # type: ignore[attr-defined]

        zhang = _customer_id(rt, "张女士")
        page = _page(browser, served, NARROW, "alice")
        page.goto(f"/sidebar?customer_id={zhang}")  # type: ignore[attr-defined]
        page.fill("#fields-form input[name='field:预算']", "5千")  # type: ignore[attr-defined]
        page.select_option("#fields-form select", "10万以上")  # type: ignore[attr-defined]
        page.click("#fields-form button[type=submit]")  # type: ignore[attr-defined]
        page.wait_for_selector("article.next-action")  # type: ignore[attr-defined]
        assert "年预算 5000 元/年" in page.inner_text("article.next-action")  # type: ignore[attr-defined]
        assert page.input_value("#fields-form input[name='field:预算']") == "5000"  # type: ignore[attr-defined]
        page.select_option("#attribution-form select", code)  # type: ignore[attr-defined]
        page.click("#attribution-form button")  # type: ignore[attr-defined]
        page.wait_for_selector("#origin + dl >> text=双十二直播")  # type: ignore[attr-defined]
        _shot(page, "adviser-profile-growth-360")
        width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert width <= NARROW["width"], "the profile card scrolls sideways at 360 px"
        page.goto("/sidebar")  # type: ignore[attr-defined]
        page.click("#my-numbers summary")  # type: ignore[attr-defined]
        assert "双十二直播" in page.inner_text("#my-numbers")  # type: ignore[attr-defined]
        _shot(page, "adviser-numbers-360")
        page.context.close()  # type: ignore[attr-defined]
    finally:
        rt.assistant.rules = previous


CITY_SCRIPT = (
    "id,title,category,stage,industry,tags,body\n"
    "INS-CITY-1,同城理赔服务,after_sales,retain,insurance,理赔;同城,"
    "我们在{city}有理赔服务点，理赔材料可以当面交给我。\n"
)


def _outcome_texts(rt: Runtime, customer_id: int) -> list[str]:
    from bot.store import outcomes as outcomes_repo

    with rt.db.session() as session:
        rows = outcomes_repo.list_outcomes(session=session, customer_id=customer_id)
    return [o.final_text or "" for o in rows]


def test_blanks_are_filled_on_the_card_before_use(
    browser: object, served: Served, tmp_path: Path
) -> None:
    """A card holding 【待填:城市】 shows the blank highlighted; 使用 refuses until the
    adviser types the city, which then fills the card and is saved on the profile — at
    1280 px and at 360 px."""
    from bot.store import customers as customers_repo

    rt = served.rt
    csv = tmp_path / "city.csv"
    csv.write_text(CITY_SCRIPT, encoding="utf-8")
    rt.library.import_file(csv)
    for viewport, suffix, contact, name, city in (
        (WIDE, "wide", "wx-zhao", "赵女士", "杭州"),
        (NARROW, "360", "wx-qian", "钱先生", "宁波"),
    ):
        customer_message(rt, "adv-a", contact, "同城理赔服务点在哪里？材料能当面交吗", name)
        cid = _customer_id(rt, name)
        page = _page(browser, served, viewport, "alice")
        page.goto(f"/sidebar?customer_id={cid}")  # type: ignore[attr-defined]
        card = page.locator("#suggestions article.suggestion", has_text="同城理赔服务")  # type: ignore[attr-defined]
        card.wait_for()
        assert card.locator("mark.blank").inner_text() == "【待填:城市】"
        _shot(page, f"adviser-blank-{suffix}")
        card.locator("button.use").click()
        card.locator(".done.error").wait_for()
        assert "还有未填写的内容：城市" in card.locator(".done").inner_text()
        assert not [t for t in _outcome_texts(rt, cid) if "理赔服务点" in t]
        card.locator("input[data-blank='城市']").fill(city)
        assert card.locator("mark.blank").count() == 0
        assert f"我们在{city}有理赔服务点" in card.locator(".text").inner_text()
        card.locator("button.use").click()
        page.wait_for_function(  # type: ignore[attr-defined]
            "() => document.querySelector('#suggestions article.suggestion[data-recorded]')"
        )
        assert "已记录：采用" in card.locator(".done").inner_text()
        _shot(page, f"adviser-blank-filled-{suffix}")
        width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert width <= viewport["width"]
        # after a reload the card still says it was used, and the city saved on the
        # profile fills it (it came back as 【待填:城市】, not marked as used)
        page.reload()  # type: ignore[attr-defined]
        card.locator(".done").wait_for()
        assert card.get_attribute("data-recorded") == "adopted"
        assert "已记录：采用" in card.locator(".done").inner_text()
        assert card.locator("mark.blank").count() == 0
        assert f"我们在{city}有理赔服务点" in card.locator(".text").inner_text()
        page.context.close()  # type: ignore[attr-defined]
        assert f"我们在{city}有理赔服务点，理赔材料可以当面交给我。" in _outcome_texts(rt, cid)
        with rt.db.session() as session:
            assert customers_repo.get_customer(session=session, customer_id=cid).city == city


def test_timeline_labels_and_newest_message_at_toolbar_width(
    browser: object, served: Served
) -> None:
    """At 360 px the timeline keeps its 客户 / 我 labels (only the header's name is
    hidden) and opens on the newest message."""
    rt = served.rt
    for i in range(14):
        customer_message(rt, "adv-a", "wx-sun", f"第 {i + 1} 个问题：保费可以分期吗", "孙女士")
    customer_message(rt, "adv-a", "wx-sun", "最后一条：什么时候能生效？", "孙女士")
    cid = _customer_id(rt, "孙女士")
    for viewport, suffix in ((NARROW, "360"), (WIDE, "wide")):
        page = _page(browser, served, viewport, "alice")
        page.goto(f"/sidebar?customer_id={cid}")  # type: ignore[attr-defined]
        timeline = page.locator("#timeline")  # type: ignore[attr-defined]
        timeline.scroll_into_view_if_needed()
        assert page.locator("#timeline .who").first.is_visible()  # type: ignore[attr-defined]
        assert page.locator("#timeline .who").first.inner_text() == "客户"  # type: ignore[attr-defined]
        at_end = page.evaluate(  # type: ignore[attr-defined]
            "(() => { const t = document.getElementById('timeline');"
            " return t.scrollHeight > t.clientHeight"
            " && t.scrollTop + t.clientHeight >= t.scrollHeight - 2; })()"
        )
        assert at_end, "the timeline does not open on the newest message"
        assert page.locator("#timeline li", has_text="最后一条").last.is_visible()  # type: ignore[attr-defined]
        if viewport is NARROW:
            assert not page.locator("header.top .who").is_visible()  # type: ignore[attr-defined]
        timeline.screenshot(path=str(ARTIFACTS / f"adviser-timeline-{suffix}.png"))
        page.context.close()  # type: ignore[attr-defined]


def test_library_favourites_more_notes_and_tags_on_the_sidebar(
    browser: object, served: Served
) -> None:
    """The adviser searches the whole library and stars a script, asks for more
    suggestions, writes a note and adds a tag by hand — at 360 px and 1280 px."""
    rt = served.rt
    for viewport, suffix in ((WIDE, "wide"), (NARROW, "360")):
        name = f"周同学（{suffix}）"
        customer_message(rt, "adv-a", f"wx-zhou-{suffix}", "考研全程班多少钱？能分期吗", name)
        cid = _customer_id(rt, name)
        page = _page(browser, served, viewport, "alice")
        page.goto(f"/sidebar?customer_id={cid}")  # type: ignore[attr-defined]
        page.wait_for_selector("#suggestions article.suggestion")  # type: ignore[attr-defined]
        before = page.locator("#suggestions article.suggestion").count()  # type: ignore[attr-defined]
        page.click("#more-suggestions")  # type: ignore[attr-defined]
        page.wait_for_selector("#suggestions article.suggestion.more")  # type: ignore[attr-defined]
        assert page.locator("#suggestions article.suggestion").count() > before  # type: ignore[attr-defined]
        _shot(page, f"adviser-more-{suffix}")

        page.click("#library summary")  # type: ignore[attr-defined]
        page.fill("#library-form input[name=q]", "分期")  # type: ignore[attr-defined]
        page.select_option("#library-form select", "pricing")  # type: ignore[attr-defined]
        page.click("#library-form button[type=submit]")  # type: ignore[attr-defined]
        item = page.locator("#library-results article[data-script='KY-PRC-1']")  # type: ignore[attr-defined]
        item.wait_for()
        assert "12800" in item.inner_text()
        if item.get_attribute("data-favourite") != "1":
            item.locator("button.star").click()
            page.wait_for_selector(
                "#library-results article[data-script='KY-PRC-1'][data-favourite='1']"
            )  # type: ignore[attr-defined]
        page.fill("#library-form input[name=q]", "")  # type: ignore[attr-defined]
        page.select_option("#library-form select", "")  # type: ignore[attr-defined]
        page.check("#library-form input[name=favourites]")  # type: ignore[attr-defined]
        page.click("#library-form button[type=submit]")  # type: ignore[attr-defined]
        page.wait_for_function(  # type: ignore[attr-defined]
            "() => document.querySelectorAll('#library-results article').length === 1"
        )
        assert page.locator("#library-results article").get_attribute("data-script") == "KY-PRC-1"  # type: ignore[attr-defined]
        item.locator("button.copy-script").click()
        item.locator(".done", has_text="已复制").wait_for()
        _shot(page, f"adviser-library-{suffix}")

        page.fill("#note-form textarea", f"周末再联系（{suffix}）")  # type: ignore[attr-defined]
        page.click("#note-form button")  # type: ignore[attr-defined]
        page.wait_for_selector(f"#note-list >> text=周末再联系（{suffix}）")  # type: ignore[attr-defined]
        page.fill("#tag-form input[name=tag]", "价格敏感度/价格敏感")  # type: ignore[attr-defined]
        page.click("#tag-form button")  # type: ignore[attr-defined]
        page.wait_for_selector("#profile .tag.confirmed >> text=价格敏感")  # type: ignore[attr-defined]
        page.locator("#notes").scroll_into_view_if_needed()  # type: ignore[attr-defined]
        _shot(page, f"adviser-notes-tags-{suffix}")
        width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert width <= viewport["width"], "the sidebar scrolls sideways"
        page.context.close()  # type: ignore[attr-defined]


def test_manager_home_merge_confirm_and_undo_and_review_filters(
    browser: object, served: Served
) -> None:
    """/manager is a page with today's queues; merging asks in a dialog and the page
    offers an undo; the review queue filters by adviser and names advisers."""
    from bot.store import customers as customers_repo

    rt = served.rt
    with rt.db.session() as session:
        keep, _ = customers_repo.find_or_create_customer(
            session=session,
            identity_kind="phone",
            identity_value="13600136000",
            name="吴先生",
            adviser_id="adv-a",
        )
        dup, _ = customers_repo.find_or_create_customer(
            session=session,
            identity_kind="phone",
            identity_value="+86 136-0013-6000",
            name="吴先生（企业微信）",
            adviser_id="adv-a",
        )
    for viewport, suffix in ((WIDE, "wide"), (NARROW, "360")):
        page = _page(browser, served, viewport, "mia")
        assert page.url.endswith("/manager")  # type: ignore[attr-defined]
        assert page.locator("#queues li").count() == 6  # type: ignore[attr-defined]
        _shot(page, f"manager-home-{suffix}")
        page.goto("/manager/tags?adviser=adv-a")  # type: ignore[attr-defined]
        assert page.locator("#tag-filters select[name=adviser]").input_value() == "adv-a"  # type: ignore[attr-defined]
        for who in page.locator("ul.review .adviser").all_inner_texts():  # type: ignore[attr-defined]
            assert who == "顾问 Alice"
        _shot(page, f"manager-tags-filtered-{suffix}")
        width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert width <= viewport["width"]
        page.goto("/manager/kpis")  # type: ignore[attr-defined]
        assert "成交率 = 成交 ÷ 新增" in page.inner_text("#funnel-caption")  # type: ignore[attr-defined]
        page.context.close()  # type: ignore[attr-defined]

    page = _page(browser, served, WIDE, "mia")
    page.goto("/manager/merges")  # type: ignore[attr-defined]
    row = page.locator("#merge-suggestions li", has_text="吴先生（企业微信）")  # type: ignore[attr-defined]
    row.locator("button").click()
    dialog = page.locator("#confirm-dialog")  # type: ignore[attr-defined]
    dialog.wait_for()
    assert "确定把「吴先生（企业微信）」并入「吴先生」吗？" in dialog.inner_text()
    _shot(page, "manager-merge-confirm-wide")
    dialog.locator("button.cancel").click()  # cancelled: nothing merged
    assert not dialog.is_visible()
    with rt.db.session() as session:
        assert (
            customers_repo.get_customer(session=session, customer_id=dup.id).merged_into_id is None
        )
    row.locator("button").click()
    dialog.locator("button.ok-button").click()
    page.wait_for_selector("#merged-banner")  # type: ignore[attr-defined]
    with rt.db.session() as session:
        assert (
            customers_repo.get_customer(session=session, customer_id=dup.id).merged_into_id
            == keep.id
        )
    _shot(page, "manager-merged-wide")
    page.click("#merged-banner button")  # type: ignore[attr-defined]
    page.wait_for_selector("#undone-banner")  # type: ignore[attr-defined]
    with rt.db.session() as session:
        assert (
            customers_repo.get_customer(session=session, customer_id=dup.id).merged_into_id is None
        )
    _shot(page, "manager-merge-undone-wide")
    page.context.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("viewport", "suffix"), [(NARROW, "360"), (WIDE, "wide")])
def test_a_refused_form_says_why_beside_it_and_keeps_what_was_typed(
    browser: object, served: Served, viewport: dict[str, int], suffix: str
) -> None:
    """A console form refused by the server used to end on an error page; now the reason
    is shown at the top of the form, the page stays, and what was typed is still there."""
    page = _page(browser, served, viewport, "mia")
    page.goto("/manager/tags")  # type: ignore[attr-defined]
    form = page.locator("#add-form")  # type: ignore[attr-defined]
    form.locator("input[name=customer]").fill("wx-zhang")
    form.locator("input[name=tag]").fill("不存在的标签")
    form.locator("button").click()
    alert = form.locator(".form-error[role=alert]")
    alert.wait_for()
    assert "标签不存在" in alert.inner_text()
    assert page.url.endswith("/manager/tags")  # type: ignore[attr-defined]
    assert form.locator("input[name=customer]").input_value() == "wx-zhang"
    assert form.locator("input[name=tag]").input_value() == "不存在的标签"
    _shot(page, f"form-refused-{suffix}")
    width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert width <= viewport["width"]
    form.locator("input[name=tag]").fill("价格敏感")
    with page.expect_navigation():  # type: ignore[attr-defined]
        form.locator("button").click()  # on to the customer's messages
    form.locator("label.choice", has_text="都不是").locator("input").check()
    with page.expect_navigation():  # type: ignore[attr-defined]
        form.locator("button.primary").click()
    assert page.locator("#add-form .form-error").count() == 0  # type: ignore[attr-defined]
    with served.rt.db.session() as session:
        added = tags_repo.list_customer_tags(session=session, status="confirmed")
    assert any(t.tag.name == "价格敏感" and t.source == "manual" for t in added)
    page.context.close()  # type: ignore[attr-defined]


def test_the_script_editor_says_what_is_wrong_where_it_can_be_seen(
    browser: object, served: Served
) -> None:
    """At 360 px the refusal was scrolled under the sticky header, and the editor's own
    check results came back as 「提交没有成功（400）」."""
    page = _page(browser, served, NARROW, "olivia")
    page.goto("/scripts/new")  # type: ignore[attr-defined]
    form = page.locator("#script-form")  # type: ignore[attr-defined]
    form.locator("input[name=id]").fill("GEN-NEW-360")
    form.locator("input[name=title]").fill("新话术")
    form.locator("textarea[name=body]").fill("您好{不存在的变量}")
    form.locator("button[type=submit]").first.click()
    alert = form.locator(".form-error[role=alert]")
    alert.wait_for()
    assert "内容：未知的变量 {不存在的变量}" in alert.inner_text()
    header = page.locator("header.top").bounding_box()  # type: ignore[attr-defined]
    box = alert.bounding_box()
    assert header is not None and box is not None
    assert box["y"] >= header["y"] + header["height"], "the refusal is under the header"
    assert box["y"] + box["height"] <= NARROW["height"], "the refusal is below the screen"
    assert form.locator("textarea[name=body]").input_value() == "您好{不存在的变量}"
    _shot(page, "script-refused-360")
    # a field the server could not read is named by its label, with its limit
    form.locator("input[name=title]").fill("长" * 201)
    form.locator("textarea[name=body]").fill("您好")
    form.locator("button[type=submit]").first.click()
    form.locator(".form-error", has_text="标题").wait_for()  # the page's CSP: no string eval
    assert alert.inner_text().strip() == "标题：最多 200 个字"
    page.context.close()  # type: ignore[attr-defined]


def test_the_script_editor_approves_and_asks_before_dropping_unsaved_edits(
    browser: object, served: Served
) -> None:
    """Before, the editor had no approve or archive button: an operator reviewing a draft
    went back to the list to find it. Now the editor's status bar does it, and with
    unsaved edits it asks first (it acts on the saved version)."""
    from dataclasses import replace

    from bot.store import scripts as scripts_repo

    rt = served.rt
    record = replace(rt.library.get(["INS-ICE-1"])["INS-ICE-1"], id="INS-EDIT-STATUS")
    with rt.db.session() as session:
        scripts_repo.upsert_scripts(session=session, records=[replace(record, status="draft")])
    page = _page(browser, served, NARROW, "olivia")
    page.goto("/scripts/INS-EDIT-STATUS/edit")  # type: ignore[attr-defined]
    bar = page.locator("#status-form")  # type: ignore[attr-defined]
    assert "当前状态 草稿" in bar.inner_text() and "审核通过后才会推荐" in bar.inner_text()
    _shot(page, "script-editor-status-360")
    with page.expect_navigation():  # type: ignore[attr-defined]
        bar.locator("button", has_text="审核通过").click()
    assert page.url.endswith("/scripts/INS-EDIT-STATUS/edit")  # type: ignore[attr-defined]
    assert rt.library.get(["INS-EDIT-STATUS"])["INS-EDIT-STATUS"].status == "approved"
    assert "正在推荐给顾问" in bar.inner_text() and bar.locator("button").count() == 1
    # an unsaved edit: archiving asks, and 取消 changes nothing
    page.locator("#script-form textarea[name=body]").fill("改过但没保存的内容")  # type: ignore[attr-defined]
    bar.locator("button", has_text="归档").click()
    dialog = page.locator("#confirm-dialog")  # type: ignore[attr-defined]
    dialog.wait_for()
    assert "修改还没有保存" in dialog.inner_text()
    dialog.locator("button", has_text="取消").click()
    assert rt.library.get(["INS-EDIT-STATUS"])["INS-EDIT-STATUS"].status == "approved"
    bar.locator("button", has_text="归档").click()
    with page.expect_navigation():  # type: ignore[attr-defined]
        dialog.locator("button.ok-button").click()
    saved = rt.library.get(["INS-EDIT-STATUS"])["INS-EDIT-STATUS"]
    assert saved.status == "archived" and saved.body == record.body  # the saved version
    assert "当前状态 已归档" in bar.inner_text()
    page.context.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("viewport", "suffix"), [(NARROW, "narrow"), (WIDE, "wide")])
def test_an_adviser_scans_the_login_qr_code_on_the_wechat_accounts_page(
    browser: object, served: Served, viewport: dict[str, int], suffix: str
) -> None:
    """Their account waits for a scan: every page says so, and 微信账号 shows the code and
    a friend request that could not be accepted."""
    from datetime import UTC, datetime

    from bot.store import channel_accounts as accounts_repo
    from bot.store import channel_inbox as inbox_repo

    rt = served.rt
    now = datetime.now(UTC)
    with rt.db.session() as session:
        accounts_repo.save_state(
            session=session,
            account="wx-alice",
            now=now,
            adviser_id="adv-a",
            state="waiting_scan",
            qr_code="https://login.weixin.qq.com/l/browser-test",
        )
        (parked,) = inbox_repo.add_events(
            session=session,
            events=[inbox_repo.NewEvent("wx-alice", "friendship", f"f-{suffix}", now)],
        )
        contact = {"adviser_id": "adv-a", "contact_id": "c-new", "alias": "新客户小周"}
        contact["hello"] = "我是看了直播加你的，想问问少儿重疾"
        inbox_repo.mark_ready(
            session=session, rows=[(parked, "c-new", {"contact": contact})], now=now
        )
        inbox_repo.record_failure(
            session=session,
            item_id=parked,
            stage="greet",
            error="通过好友请求失败：UNAVAILABLE: puppet offline",
            park=True,
            now=now,
        )
    try:
        page = _page(browser, served, viewport, "alice")
        banner = page.locator("p.banner")  # type: ignore[attr-defined]
        assert "微信账号 Alice（wx-alice） 等待扫码登录" in banner.inner_text()  # a name, the key
        banner.locator("a").click()
        qr = page.locator("svg.qr")  # type: ignore[attr-defined]
        qr.wait_for()
        box = qr.bounding_box()
        assert (
            box is not None and box["width"] >= 150 and box["x"] + box["width"] <= viewport["width"]
        )
        accounts = page.locator("#account-table").inner_text()  # type: ignore[attr-defined]
        assert "等待扫码登录" in accounts  # the reason, also at 360 px (说明 is hidden there)
        assert "请用 Alice 的微信扫码登录" in page.inner_text("#qr-wx-alice h2")  # type: ignore[attr-defined]
        row = page.locator("#parked-table tbody tr").first  # type: ignore[attr-defined]
        assert "好友请求" in row.inner_text() and "通过好友并发欢迎语" in row.inner_text()
        wrap = page.locator(".table-wrap").last.bounding_box()  # type: ignore[attr-defined]
        assert wrap is not None and wrap["x"] + wrap["width"] <= viewport["width"]
        _shot(page, f"adviser-channel-qr-{suffix}")
        page.context.close()  # type: ignore[attr-defined]
    finally:
        with rt.db.session() as session:
            inbox_repo.mark_done(session=session, item_id=parked, now=datetime.now(UTC))
        with rt.db.session() as session:
            accounts_repo.save_state(
                session=session,
                account="wx-alice",
                now=datetime.now(UTC),
                state="logged_in",
                qr_code=None,
            )


VARIANTS_CSV = """id,title,category,stage,industry,tags,body,status,variant_group
INS-PRC-A,重疾险价格（算到每天）,pricing,convert,insurance,价格;重疾,安心保重疾险一年多少钱？30岁每年4680元，每天不到13元。,approved,ins-price
INS-PRC-B,重疾险价格（对比保额）,pricing,convert,insurance,价格;重疾,安心保重疾险一年多少钱？每年4680元就有50万保额。,approved,ins-price
"""


def test_script_tables_at_toolbar_width(
    browser: object, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    """At 360 px: on 话术效果 the 话术 column was ~45 px (「GEN- / ICE- / 001」 one group
    per line) and the A/B table widened the page to 396 px; on 话术库 状态 and the
    buttons were off the screen. Now every table scrolls in its own box, the script
    column keeps its id on one line, and 话术库 shows 标题 (with the id), 状态 and 操作
    on the screen; at full width nothing is hidden."""
    rt = make_runtime()
    add_users(rt)
    (tmp_path / "variants.csv").write_text(VARIANTS_CSV, encoding="utf-8")
    rt.library.import_file(tmp_path / "variants.csv")
    for contact, text in (("wx-v1", "重疾险一年多少钱"), ("wx-v2", "在吗")):
        customer_message(rt, "adv-a", contact, text, contact)
    with serving(web_app(rt)) as base:
        here = Served(rt, base)
        page = _page(browser, here, NARROW, "olivia")
        page.goto("/scripts/effectiveness")  # type: ignore[attr-defined]
        _shot(page, "script-effectiveness-360")
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]  # type: ignore[attr-defined]
        unwrapped = page.evaluate(  # type: ignore[attr-defined]
            "[...document.querySelectorAll('table')].filter(t => !t.closest('.table-wrap')).length"
        )
        assert unwrapped == 0
        assert page.locator("table.variants").count() == 1  # type: ignore[attr-defined]
        lead = page.locator("table.list tbody td:first-child").first.bounding_box()  # type: ignore[attr-defined]
        assert lead is not None and lead["width"] >= 110, lead
        lines = page.evaluate(  # type: ignore[attr-defined]
            "[...document.querySelectorAll('a.id')]"
            ".map(a => [a.textContent, a.getClientRects().length])"
        )
        assert lines and all(n == 1 for _, n in lines), lines
        page.goto("/scripts")  # type: ignore[attr-defined]
        _shot(page, "scripts-360")
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]  # type: ignore[attr-defined]
        row = page.locator("table.list tbody tr").first  # type: ignore[attr-defined]
        for what in (".pill", "td.ops a", "td.ops button"):
            box = row.locator(what).first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= NARROW["width"], what
        assert row.locator("code.narrow-only").is_visible()  # the id, under the title
        page.context.close()  # type: ignore[attr-defined]
        page = _page(browser, here, WIDE, "olivia")
        page.goto("/scripts")  # type: ignore[attr-defined]
        heads = page.locator("table.list thead th")  # type: ignore[attr-defined]
        shown = [h.inner_text() for h in heads.all() if h.is_visible()]
        assert shown == ["编号", "标题", "分类", "行业", "状态", "内容", "操作"]
        assert not page.locator("code.narrow-only").first.is_visible()  # type: ignore[attr-defined]
        _shot(page, "scripts-wide")
        page.context.close()  # type: ignore[attr-defined]


EXAMPLES_CSV = """id,title,category,stage,industry,tags,body,examples
INS-PRC-X,重疾险价格,pricing,convert,insurance,价格,每年4680元。,给老公买个重疾大概多少钱呀;保费怎么算
"""


def test_script_examples_stay_readable_at_toolbar_width(
    browser: object, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    """At 360 px the editor's 客户例句 table gave the example itself ~40 px (three
    characters a line) beside 来源 and a time that never wraps: the source and the time
    now go under the example there, and the example has the row's width."""
    rt = make_runtime()
    add_users(rt)
    (tmp_path / "examples.csv").write_text(EXAMPLES_CSV, encoding="utf-8")
    rt.library.import_file(tmp_path / "examples.csv")
    with serving(web_app(rt)) as base:
        for viewport, suffix in ((NARROW, "360"), (WIDE, "wide")):
            page = _page(browser, Served(rt, base), viewport, "olivia")
            page.goto("/scripts/INS-PRC-X/edit#examples")  # type: ignore[attr-defined]
            _shot(page, f"script-examples-{suffix}")
            width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
            assert width <= viewport["width"]
            row = page.locator("#examples tbody tr", has_text="给老公买个重疾")  # type: ignore[attr-defined]
            box = row.locator("td").first.bounding_box()
            assert box is not None and box["width"] >= 180, box
            box = row.locator("button").bounding_box()
            assert box is not None and box["x"] + box["width"] <= viewport["width"]
            shown = row.inner_text()
            assert "运营" in shown and "加入于" in shown, shown  # the source and the time
            page.context.close()  # type: ignore[attr-defined]


def _growth_data(rt: Runtime) -> None:
    """A campaign where Alice reached 1 of a target of 12 new customers (a short bar, its
    target tick far right), and a referral: the campaign report's and the referral
    report's charts have something to draw."""
    from datetime import timedelta

    from bot.services import campaigns as campaigns_service
    from bot.services import referrals as referrals_service
    from bot.services.access import cli_principal
    from bot.store.campaigns import CampaignSpec

    admin = cli_principal("test")
    customer_message(rt, "adv-a", "wx-he", "你好，直播里说的重疾险", "何女士")
    customer_message(rt, "adv-a", "wx-lu", "朋友介绍来的，想了解医疗险", "陆先生")
    customer_message(rt, "adv-b", "wx-ma", "在吗", "马先生")
    he, lu = _customer_id(rt, "何女士"), _customer_id(rt, "陆先生")
    with rt.db.session() as session:
        _, codes = campaigns_service.create(
            session,
            admin,
            spec=CampaignSpec(
                "表单测试活动1280-94974", "直播", rt.settings.today() - timedelta(30)
            ),
            settings=rt.settings,
            advisers=["adv-a", "adv-b"],
        )
        campaigns_service.set_targets(
            session,
            admin,
            campaign="表单测试活动1280-94974",
            adviser_id="adv-a",
            added=12,
            converted=None,
            revenue=None,
        )
        mine = next(c.code for c in codes if c.adviser_id == "adv-a")
        campaigns_service.attribute(session, admin, customer_id=he, code=mine)
        referrals_service.set_referrer(session, admin, customer_id=lu, referrer=str(he))


#: How many CSS pixels each viewBox unit of every chart on the page takes.
CHART_SCALES = (
    "[...document.querySelectorAll('svg.chart')]"
    ".map(s => s.getBoundingClientRect().width / s.viewBox.baseVal.width)"
)


@pytest.mark.parametrize(("viewport", "suffix"), [(NARROW, "360"), (WIDE, "wide")])
def test_charts_read_alike_and_a_target_tick_crosses_no_number(
    browser: object,
    make_runtime: Callable[..., Runtime],
    viewport: dict[str, int],
    suffix: str,
) -> None:
    """活动效果: the red tick of a target crossed 「1人 / 12（8%）」 beside a short bar. 转介绍:
    its two charts, stretched to half a page each, drew their text half again as large
    as 数据's and 活动效果's. Now the number starts after the tick, and every chart is
    drawn at one scale on every page (shrunk alike on a phone)."""
    rt = make_runtime()
    add_users(rt)
    _growth_data(rt)
    with serving(web_app(rt)) as base:
        page = _page(browser, Served(rt, base), viewport, "max")
        scales: dict[str, list[float]] = {}
        for path in ("/manager/kpis", "/campaigns/report", "/campaigns/referrals"):
            page.goto(path)  # type: ignore[attr-defined]
            scales[path] = page.evaluate(CHART_SCALES)  # type: ignore[attr-defined]
            assert scales[path], path
            _shot(page, f"charts{path.replace('/', '-')}-{suffix}")
        every = [s for found in scales.values() for s in found]
        assert max(every) / min(every) < 1.02, scales
        assert max(every) <= 1.0, "a chart is drawn larger than its own size"

        page.goto("/campaigns/report")  # type: ignore[attr-defined]
        chart = page.locator("svg.targets")  # type: ignore[attr-defined]
        ticks = [t.bounding_box() for t in chart.locator("line.chart-target").all()]
        notes = [
            (n.text_content(), n.bounding_box()) for n in chart.locator("text.chart-value").all()
        ]
        assert ticks and len(notes) == 2, notes  # Alice's row (target 12) and Bob's
        for tick in ticks:
            assert tick is not None
            (text, box), *_ = [
                (t, b)
                for t, b in notes
                if b and b["y"] < tick["y"] + tick["height"] and tick["y"] < b["y"] + b["height"]
            ]
            assert text == "1人 / 12（8%）"
            assert tick["x"] + tick["width"] <= box["x"], "the target tick crosses the number"
            svg = chart.bounding_box()
            assert svg is not None and box["x"] + box["width"] <= svg["x"] + svg["width"]
        page.context.close()  # type: ignore[attr-defined]


#: Each table box on the page: [sideways overflow, marked .overflows, the line above it,
#: edge shadows drawn, takes the focus].
TABLE_BOXES = """[...document.querySelectorAll('.table-wrap')].map(w => [
  w.scrollWidth > w.clientWidth + 1, w.classList.contains('overflows'),
  getComputedStyle(w, '::before').content, getComputedStyle(w).backgroundImage.includes('gradient'),
  w.tabIndex])"""


def test_wide_tables_say_they_scroll_sideways_at_toolbar_width(
    browser: object, make_runtime: Callable[..., Runtime]
) -> None:
    """At 360 px a campaign's 渠道码与目标 table was cut off on the right (its 设置目标 form
    out of sight) and the campaign report scrolled sideways with no hint. Every wide
    table now scrolls in its own box, shadowed at the edge where more is, with
    「← 左右滑动查看更多 →」 above it; scrolled, the form is reachable and works. At full width
    no table says so."""
    rt = make_runtime()
    add_users(rt)
    _growth_data(rt)
    with serving(web_app(rt)) as base:
        page = _page(browser, Served(rt, base), NARROW, "max")
        page.goto("/campaigns")  # type: ignore[attr-defined]
        page.click("text=表单测试活动1280-94974")  # type: ignore[attr-defined]
        page.wait_for_selector("#code-table")  # type: ignore[attr-defined]
        campaign = page.url  # type: ignore[attr-defined]
        for path in (campaign, "/campaigns", "/campaigns/report", "/campaigns/referrals"):
            page.goto(path)  # type: ignore[attr-defined]
            page.wait_for_timeout(200)  # type: ignore[attr-defined]
            assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]  # type: ignore[attr-defined]
            boxes = page.evaluate(TABLE_BOXES)  # type: ignore[attr-defined]
            assert any(over for over, *_ in boxes), (path, boxes)
            for over, marked, line, shadows, focus in boxes:
                assert shadows, path
                assert marked == over, (path, boxes)
                if over:
                    assert line == '"← 左右滑动查看更多 →"' and focus == 0, (path, boxes)
        page.goto(campaign)  # type: ignore[attr-defined]
        _shot(page, "campaign-codes-360")
        row = page.locator("#code-table tbody tr").first  # type: ignore[attr-defined]
        save = row.locator("button")
        box = save.bounding_box()
        assert box is not None and box["x"] >= NARROW["width"]  # out of sight at first
        save.scroll_into_view_if_needed()
        box = save.bounding_box()
        assert box is not None and box["x"] + box["width"] <= NARROW["width"]
        hint = page.evaluate(  # type: ignore[attr-defined]
            "getComputedStyle(document.querySelector('#code-table').parentElement, '::before')"
            ".visibility"
        )
        assert hint == "visible"
        row.locator("input[name=converted]").fill("4")
        save.click()
        page.wait_for_selector("#code-table td:has-text('4')")  # type: ignore[attr-defined]
        _shot(page, "campaign-codes-scrolled-360")
        page.context.close()  # type: ignore[attr-defined]
        page = _page(browser, Served(rt, base), WIDE, "max")
        for path in (campaign, "/campaigns/report"):
            page.goto(path)  # type: ignore[attr-defined]
            page.wait_for_timeout(200)  # type: ignore[attr-defined]
            boxes = page.evaluate(TABLE_BOXES)  # type: ignore[attr-defined]
            assert boxes and all(b[:3] == [False, False, "none"] for b in boxes), (path, boxes)
        page.context.close()  # type: ignore[attr-defined]


#: How many lines each piece of text under ``selector`` takes.
TEXT_LINES = """(selector) => [...document.querySelectorAll(selector)].map(el => {
  const range = document.createRange(); range.selectNodeContents(el.firstChild);
  return [el.firstChild.textContent.trim(), range.getClientRects().length]; })"""


def test_labels_and_links_stay_whole_at_toolbar_width(
    browser: object, make_runtime: Callable[..., Runtime]
) -> None:
    """At 360 px 「新增日期从」 broke as 「新增日 / 期从」 on 活动效果 and 转介绍, and on 顾问人设
    「编辑」 stood one character a line beside the signature. Now each stays on one line
    (the table scrolls in its box)."""
    rt = make_runtime()
    add_users(rt)
    _growth_data(rt)
    with serving(web_app(rt)) as base:
        page = _page(browser, Served(rt, base), NARROW, "max")
        for path in ("/campaigns/report", "/campaigns/referrals"):
            page.goto(path)  # type: ignore[attr-defined]
            lines = page.evaluate(TEXT_LINES, ".filters label.check")  # type: ignore[attr-defined]
            assert lines and all(n == 1 for _, n in lines), (path, lines)
        page.goto("/advisers")  # type: ignore[attr-defined]
        _shot(page, "advisers-360")
        lines = page.evaluate(TEXT_LINES, "#adviser-table td.ops a, #adviser-table td:first-child")  # type: ignore[attr-defined]
        assert lines and all(n == 1 for _, n in lines), lines
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]  # type: ignore[attr-defined]
        page.context.close()  # type: ignore[attr-defined]


def test_knowledge_documents_at_toolbar_width(
    browser: object, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    """At 360 px the document table ran off the screen: 段数 and 删除 were out of sight
    (the table scrolled sideways under a long file name). Now a document's type and
    industry go under its name there and the name breaks anywhere, so each row's 段数 and
    删除 are on the screen; at full width every column is there."""
    rt = make_runtime()
    add_users(rt)
    long_name = tmp_path / "insurance_products_and_claims_2026.md"
    long_name.write_text("# 理赔\n出险后30天内报案。\n", encoding="utf-8")
    rt.kb.ingest(long_name, industry="insurance")
    with serving(web_app(rt)) as base:
        here = Served(rt, base)
        page = _page(browser, here, NARROW, "olivia")
        page.goto("/knowledge")  # type: ignore[attr-defined]
        _shot(page, "knowledge-360")
        rows = page.locator("table.list tbody tr").all()  # type: ignore[attr-defined]
        assert len(rows) == 3
        for row in rows:
            for what in ("td:nth-child(4)", "button"):
                cell = row.locator(what)
                box = cell.bounding_box()
                assert cell.is_visible() and box is not None, what
                assert box["x"] + box["width"] <= NARROW["width"], (row.inner_text(), what)
        row = page.locator("table.list tbody tr", has_text="insurance_products")  # type: ignore[attr-defined]
        assert "Markdown · 保险" in row.locator("td").first.inner_text()
        assert row.locator("td:nth-child(4)").inner_text() == "1"
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]  # type: ignore[attr-defined]
        page.context.close()  # type: ignore[attr-defined]
        page = _page(browser, here, WIDE, "olivia")
        page.goto("/knowledge")  # type: ignore[attr-defined]
        heads = page.locator("table.list thead th")  # type: ignore[attr-defined]
        assert [h.inner_text() for h in heads.all() if h.is_visible()] == [
            "文档",
            "类型",
            "行业",
            "段数",
            "操作",
        ]
        assert not page.locator("td.doc .narrow-only").first.is_visible()  # type: ignore[attr-defined]
        _shot(page, "knowledge-wide")
        page.context.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("viewport", "suffix"), [(NARROW, "360"), (WIDE, "wide")])
def test_a_customer_not_found_is_repeated_as_typed(
    browser: object, served: Served, viewport: dict[str, int], suffix: str
) -> None:
    """The tag form said only 「客户不存在」; it now repeats what was typed (as text, never
    as markup) and says what the box takes. A name is taken: the next step offers the
    customer's latest messages to pick the one that shows the tag."""
    page = _page(browser, served, viewport, "mia")
    page.goto("/manager/tags")  # type: ignore[attr-defined]
    form = page.locator("#add-form")  # type: ignore[attr-defined]
    form.locator("input[name=customer]").fill("张三丰<b>x</b>")
    form.locator("input[name=tag]").fill("价格敏感")
    form.locator("button").click()
    alert = form.locator(".form-error[role=alert]")
    alert.wait_for()
    assert alert.inner_text().strip() == (
        "找不到客户“张三丰<b>x</b>”：请填客户的姓名、手机号、微信号或客户编号"
    )
    assert alert.locator("b").count() == 0
    assert form.locator("input[name=customer]").input_value() == "张三丰<b>x</b>"
    _shot(page, f"tag-form-no-customer-{suffix}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # type: ignore[attr-defined]
    # by name: the next step lists what 刘先生 said
    form.locator("input[name=customer]").fill("刘先生")
    form.locator("input[name=tag]").fill("有孩子")
    form.locator("button").click()
    said = page.locator("#add-form label.choice", has_text="孩子的重疾险怎么买？")  # type: ignore[attr-defined]
    said.wait_for()
    assert "刘先生" in page.locator("#add-form p").first.inner_text()  # type: ignore[attr-defined]
    _shot(page, f"tag-form-pick-message-{suffix}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # type: ignore[attr-defined]
    said.locator("input[type=radio]").check()
    page.locator("#add-form button.primary").click()  # type: ignore[attr-defined]
    done = page.locator("p.success[role=status]")  # type: ignore[attr-defined]
    done.wait_for()
    assert "刘先生 添加标签“有孩子”" in done.inner_text()
    page.context.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize(("viewport", "suffix"), [(NARROW, "360"), (WIDE, "wide")])
def test_a_queue_on_the_managers_home_opens_the_list_it_counts(
    browser: object,
    make_runtime: Callable[..., Runtime],
    viewport: dict[str, int],
    suffix: str,
) -> None:
    """待回复会话 and 今日跟进 on the manager's home opened the whole conversation list; they
    now open the conversations they count, say which filter is on, keep it while the list
    refreshes live, and 清除筛选 shows the whole list again."""
    from datetime import UTC, datetime, timedelta

    from bot.store import followups as followups_repo

    rt = make_runtime()
    add_users(rt)
    customer_message(rt, "adv-a", "wx-w", "在吗？", "等回复的客户")
    customer_message(rt, "adv-a", "wx-d", "好的", "要跟进的客户")
    MemoryChannel(rt.assistant.handle, adviser_id="adv-a", adviser_name="adv-a").receive(
        "wx-d", "好的，下周联系您", contact_name="要跟进的客户", direction="out"
    )
    customer_message(rt, "adv-b", "wx-o", "在吗？", "别的团队的客户")
    now = datetime.now(UTC)
    with rt.db.session() as session:
        followups_repo.record_occurrence(
            session=session,
            rule="care",
            customer_id=_customer_id(rt, "要跟进的客户"),
            occurs_on=now.date(),
            action="remind",
            due_at=now - timedelta(hours=1),
            adviser_id="adv-a",
            note="回访",
            script_id=None,
        )
    with serving(web_app(rt)) as base:
        page = _page(browser, Served(rt, base), viewport, "mia")
        names = page.locator("#inbox .name")  # type: ignore[attr-defined]
        for label, count, shown in (
            ("待回复会话", "1", ["等回复的客户"]),
            ("今日跟进", "1", ["要跟进的客户"]),
        ):
            page.goto("/manager")  # type: ignore[attr-defined]
            card = page.locator("#queues a", has_text=label)  # type: ignore[attr-defined]
            assert card.locator(".count").inner_text() == count
            card.click()
            page.locator("#queue-filter").wait_for()  # type: ignore[attr-defined]
            assert f"只看 {label}" in page.inner_text("#queue-filter")  # type: ignore[attr-defined]
            assert names.all_inner_texts() == shown
            _shot(
                page,
                f"manager-queue-{'waiting' if label == '待回复会话' else 'followups'}-{suffix}",
            )
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # type: ignore[attr-defined]
        page.goto("/manager")  # type: ignore[attr-defined]
        page.locator("#queues a", has_text="待回复会话").click()  # type: ignore[attr-defined]
        page.locator("#live-status.ok").wait_for()  # type: ignore[attr-defined]
        # a new message arrives: the list is fetched again, still only the waiting ones
        customer_message(rt, "adv-a", "wx-n", "你好，想了解一下", "新来的客户")
        page.locator("#inbox .name", has_text="新来的客户").wait_for()  # type: ignore[attr-defined]
        assert sorted(names.all_inner_texts()) == sorted(["新来的客户", "等回复的客户"])
        page.locator("#queue-filter a", has_text="清除筛选").click()  # type: ignore[attr-defined]
        page.wait_for_url("**/sidebar")  # type: ignore[attr-defined]
        assert page.locator("#queue-filter").count() == 0  # type: ignore[attr-defined]
        everyone = ["新来的客户", "要跟进的客户", "等回复的客户"]
        assert sorted(names.all_inner_texts()) == sorted(everyone), "not another team's"
        page.context.close()  # type: ignore[attr-defined]


# ---------------------------------------------------------------- an English browser
# A browser words its own controls in its UI language, not the page's. These tests run a
# chromium whose UI is English (--lang=en-US; Debian's chromium has no other UI language
# installed anyway) and read what a person sees there.

ENGLISH_UI = {"LANGUAGE": "en_US:en", "LC_ALL": "C.UTF-8"}  # C.UTF-8: file names stay UTF-8


@pytest.fixture(scope="module")
def english_browser(driver: object) -> Iterator[object]:
    b = driver.chromium.launch(  # type: ignore[attr-defined]
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*ARGS, "--lang=en-US"],
        env={**os.environ, **ENGLISH_UI},
    )
    yield b
    b.close()


def _english_page(browser: object, served: Served, viewport: dict[str, int], user: str) -> object:
    context = browser.new_context(  # type: ignore[attr-defined]
        viewport=viewport, base_url=served.base, locale="en-US"
    )
    page = browser_login(context, user)
    # the browser's own words are English: a field the console's script never saw
    native = page.evaluate(
        "(() => { const i = document.createElement('input'); i.required = true;"
        " return i.validationMessage; })()"
    )
    assert native == "Please fill out this field."
    return page


def _message(page: object, selector: str) -> str:
    return str(page.eval_on_selector(selector, "e => e.validationMessage"))  # type: ignore[attr-defined]


def test_an_english_browser_shows_the_file_inputs_in_chinese(
    english_browser: object, served: Served, tmp_path: Path
) -> None:
    """「Choose File / No file chosen」 was what an English browser showed on the upload
    pages. Now the control says 「选择文件」 and 「未选择文件」, then the chosen file's name;
    the real input under it is named by its label, opened by Enter, takes a dropped file,
    says 「请选择一个文件。」 when the form is sent without one, and posts as before."""
    csv = tmp_path / "话术.csv"
    csv.write_text(BAD_CSV, encoding="utf-8")
    for viewport, suffix in ((NARROW, "360"), (WIDE, "wide")):
        page = _english_page(english_browser, served, viewport, "olivia")
        page.goto("/scripts/upload")  # type: ignore[attr-defined]
        control = page.locator("form[action='/scripts/upload'] .file-pick")  # type: ignore[attr-defined]
        assert control.inner_text().split() == ["选择文件", "未选择文件"]
        field = page.get_by_label("话术文件")  # type: ignore[attr-defined]
        assert field.get_attribute("type") == "file"
        # the browser's tooltip said "No file chosen"
        assert field.get_attribute("title") == "未选择文件"
        # the native control is there, unseen, over the Chinese one: a click on it is a
        # click on the input
        assert field.evaluate("e => getComputedStyle(e).opacity") == "0"
        box, over = control.bounding_box(), field.bounding_box()
        assert box and over and abs(box["width"] - over["width"]) <= 2
        page.click("form[action='/scripts/upload'] button[type=submit]")  # type: ignore[attr-defined]
        assert field.evaluate("e => e.validationMessage") == "请选择一个文件。"
        assert page.url.endswith("/scripts/upload")  # type: ignore[attr-defined]
        _shot(page, f"english-upload-empty-{suffix}")
        # by keyboard: the input takes the focus, and Space and Enter each click it, which
        # is what opens a browser's file picker. Whether headless chromium then shows its
        # picker to the test is its own business: it did only now and then (a CI run
        # waited 15 s for it in vain), so the file is then set as a picker would.
        page.reload()  # type: ignore[attr-defined]
        field.focus()
        field.evaluate("e => { window.clicks = 0; e.addEventListener('click', () => clicks++); }")
        page.keyboard.press(" ")  # type: ignore[attr-defined]
        page.keyboard.press("Enter")  # type: ignore[attr-defined]
        assert page.evaluate("clicks") == 2  # type: ignore[attr-defined]
        assert field.evaluate("e => e === document.activeElement")  # still on the input
        field.set_input_files(str(csv))
        assert control.inner_text().split() == ["选择文件", "话术.csv"]
        assert field.evaluate("e => e.validationMessage") == ""
        _shot(page, f"english-upload-chosen-{suffix}")
        page.click("form[action='/scripts/upload'] button[type=submit]")  # type: ignore[attr-defined]
        report = page.wait_for_selector("#report")  # type: ignore[attr-defined]
        assert "错误 1" in report.inner_text() and "话术.csv" in report.inner_text()
        page.context.close()  # type: ignore[attr-defined]

    dropped = tmp_path / "续保提醒_2026年度服务说明_最终版.md"
    dropped.write_text("# 续保\n到期前30天提醒续保。\n", encoding="utf-8")
    for viewport, suffix in ((NARROW, "360"), (WIDE, "wide")):
        page = _english_page(english_browser, served, viewport, "olivia")
        page.goto("/knowledge")  # type: ignore[attr-defined]
        control = page.locator("form[action='/knowledge/upload'] .file-pick")  # type: ignore[attr-defined]
        assert control.inner_text().split() == ["选择文件", "未选择文件"]
        assert page.get_by_label("上传文档").get_attribute("type") == "file"  # type: ignore[attr-defined]
        _shot(page, f"english-knowledge-{suffix}")
        # a file dropped on the control (a real drag, through the DevTools protocol)
        box = control.bounding_box()
        assert box
        at = {"x": box["x"] + box["width"] - 12, "y": box["y"] + box["height"] / 2}
        cdp = page.context.new_cdp_session(page)  # type: ignore[attr-defined]
        drag = {"items": [], "files": [str(dropped)], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            cdp.send("Input.dispatchDragEvent", {"type": kind, **at, "data": drag})
        assert control.locator(".file-name").text_content() == dropped.name
        # at 360 px a long name is cut in its middle: its end, the file's type, stays in sight
        tail = control.locator(".file-tail")
        tail_box, control_box = tail.bounding_box(), control.bounding_box()
        assert tail.inner_text().endswith(".md") and tail_box and control_box
        assert tail_box["x"] + tail_box["width"] <= control_box["x"] + control_box["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # type: ignore[attr-defined]
        _shot(page, f"english-knowledge-dropped-{suffix}")
        if suffix == "wide":  # the dropped file is what the form posts
            page.click("form[action='/knowledge/upload'] button[type=submit]")  # type: ignore[attr-defined]
            page.wait_for_url("**/knowledge?job=*")  # type: ignore[attr-defined]
            assert f"已导入 {dropped.name}" in page.inner_text("p.success")  # type: ignore[attr-defined]
        page.context.close()  # type: ignore[attr-defined]


def test_an_english_browser_says_what_a_field_needs_in_chinese(
    english_browser: object, served: Served
) -> None:
    """「Please fill out this field.」 and the other English bubbles: each failed check now
    has its Chinese message (a pattern's with the field's title, a range's with its ends),
    cleared as the person types; dates are read in Chinese under the browser's own
    12/07/2026."""
    from datetime import date

    page = _english_page(english_browser, served, NARROW, "mia")
    page.goto("/campaigns")  # type: ignore[attr-defined]
    form = "#add-campaign form"
    if not page.locator(form).is_visible():  # type: ignore[attr-defined]
        page.click("#add-campaign summary")  # type: ignore[attr-defined]
    page.fill(f"{form} input[name=starts_on]", "")  # type: ignore[attr-defined]
    page.click(f"{form} button[type=submit]")  # type: ignore[attr-defined]
    assert _message(page, f"{form} input[name=name]") == "请填写此项。"
    assert _message(page, f"{form} input[name=starts_on]") == "请选择日期。"
    starts = page.locator(f"{form} .date-pick", has=page.locator("[name=starts_on]"))  # type: ignore[attr-defined]
    assert starts.locator(".date-read").inner_text() == "未选择日期"
    page.fill(f"{form} input[name=name]", "双")  # type: ignore[attr-defined]
    assert _message(page, f"{form} input[name=name]") == ""  # typing clears it
    # a date half typed (the month only) is incomplete, said so under it and on sending
    page.focus(f"{form} input[name=starts_on]")  # type: ignore[attr-defined]
    page.keyboard.type("12")  # type: ignore[attr-defined]
    assert starts.locator(".date-read").inner_text() == "日期不完整"
    page.fill(f"{form} input[name=channel]", "直播")  # type: ignore[attr-defined]
    page.click(f"{form} button[type=submit]")  # type: ignore[attr-defined]
    assert _message(page, f"{form} input[name=starts_on]") == "日期不完整：请填好年、月、日。"
    page.fill(f"{form} input[name=starts_on]", "2026-12-01")  # type: ignore[attr-defined]
    assert starts.locator(".date-read").inner_text() == "2026年12月1日 周二"
    assert _message(page, f"{form} input[name=starts_on]") == ""
    _shot(page, "english-campaign-form-360")

    page.goto("/campaigns/report")  # type: ignore[attr-defined]
    today = page.input_value("input[name=until]")  # type: ignore[attr-defined]
    day = date.fromisoformat(today)
    readings = page.locator(".filters .date-read").all_inner_texts()  # type: ignore[attr-defined]
    weekday = "一二三四五六日"[day.weekday()]
    assert readings == ["未选择日期", f"{day.year}年{day.month}月{day.day}日 周{weekday}"]
    _shot(page, "english-campaign-report-360")

    page.goto("/scripts/effectiveness")  # type: ignore[attr-defined]
    days = "form.filters input[name=days]"
    for typed, said in (
        ("-1", "请填写 0 到 3660 之间的整数。"),
        ("99999", "请填写 0 到 3660 之间的整数。"),
        ("2.5", "请填写整数，如 2 或 3。"),
    ):
        page.fill(days, typed)  # type: ignore[attr-defined]
        page.click("form.filters button[type=submit]")  # type: ignore[attr-defined]
        assert _message(page, days) == said, typed
    page.fill(days, "30")  # type: ignore[attr-defined]
    page.click("form.filters button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(lambda url: "days=30" in url)  # type: ignore[attr-defined]
    page.context.close()  # type: ignore[attr-defined]

    zhang = _customer_id(served.rt, "张女士")
    page = _english_page(english_browser, served, NARROW, "alice")
    page.goto(f"/sidebar?customer_id={zhang}")  # type: ignore[attr-defined]
    page.fill("#b-birthday", "5月3日")  # type: ignore[attr-defined]
    page.click("#basics-form button[type=submit]")  # type: ignore[attr-defined]
    assert _message(page, "#b-birthday") == (
        "格式不对：年-月-日，如 1990-05-03、1990/5/3 或 1990年5月3日"
    )
    # the ways of writing a date the server reads (bot/crm/dates.py) pass the browser too
    for typed in ("1990/5/3", "1990.5.3", "19900503", "1990年5月3日", "1990-05-03"):
        page.fill("#b-birthday", typed)  # type: ignore[attr-defined]
        assert page.eval_on_selector(  # type: ignore[attr-defined]
            "#b-birthday", "el => el.checkValidity()"
        ), typed

    # every kind of check, on a form of the page's own kinds of field
    page.evaluate(  # type: ignore[attr-defined]
        """() => {
        const f = document.createElement("form");
        f.id = "kinds";
        f.innerHTML = '<input name="t" required><textarea name="a" required></textarea>'
          + '<select name="s" required><option value="">-</option><option>甲</option></select>'
          + '<input type="radio" name="r" value="1" required>'
          + '<input type="radio" name="r" value="2">'
          + '<input type="checkbox" name="c" required><input type="file" name="f" required>'
          + '<input type="email" name="e" value="不是邮箱">'
          + '<input type="url" name="u" value="www.example.com">'
          + '<input name="p" pattern="[0-9]+" value="abc">'
          + '<input name="q" pattern="[0-9]+" title="只填数字" value="abc">'
          + '<input name="m" minlength="4"><input type="number" name="n" min="1" value="0">'
          + '<input type="number" name="x" max="10" value="11">'
          + '<input type="number" name="g" min="0" step="0.5" value="1.2">'
          + '<input type="date" name="d" min="2026-01-01" value="2025-12-31">';
        document.querySelector("main").append(f);
    }"""
    )
    page.fill("#kinds input[name=m]", "ab")  # type: ignore[attr-defined]
    page.locator("#kinds input[name=m]").blur()  # type: ignore[attr-defined]
    page.eval_on_selector("#kinds", "f => f.requestSubmit()")  # type: ignore[attr-defined]
    expected = {
        "t": "请填写此项。",
        "a": "请填写此项。",
        "s": "请在列表中选择一项。",
        "r": "请选择其中一项。",
        "c": "请勾选此项。",
        "f": "请选择一个文件。",
        "e": "请填写有效的电子邮箱地址，如 name@example.com。",
        "u": "请填写完整的网址，如 https://example.com。",
        "p": "格式不对，请按要求填写。",
        "q": "格式不对：只填数字",
        "m": "至少 4 个字，现在是 2 个。",
        "n": "不能小于 1。",
        "x": "不能大于 10。",
        "g": "请填写有效的值（每次相差 0.5），如 1 或 1.5。",
        "d": "不能早于 2026年1月1日。",
    }
    said = page.evaluate(  # type: ignore[attr-defined]
        "() => Object.fromEntries([...document.querySelector('#kinds').elements]"
        ".map((e) => [e.name, e.validationMessage]))"
    )
    assert {name: said[name] for name in expected} == expected
    # choosing one radio settles the group: neither keeps the message
    page.check("#kinds input[name=r][value='2']")  # type: ignore[attr-defined]
    radios = page.eval_on_selector_all(  # type: ignore[attr-defined]
        "#kinds input[name=r]", "rs => rs.map((r) => r.validationMessage)"
    )
    assert radios == ["", ""]
    page.context.close()  # type: ignore[attr-defined]


def test_the_console_has_an_icon_so_no_page_load_ends_in_a_404(
    browser: object, served: Served
) -> None:
    """Pages named no icon: the browser asked for /favicon.ico on every page, got a 404
    (an error in the console each time) and the sidebar's tab showed a blank icon. Now
    the pages name the app's own icon."""
    context = browser.new_context(viewport=NARROW, base_url=served.base, locale="zh-CN")  # type: ignore[attr-defined]
    page = context.new_page()
    page.set_default_timeout(15_000)
    failed: list[str] = []
    page.on(  # type: ignore[attr-defined]
        "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    page.goto("/login")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert failed == []
    for path in ("/login", "/sidebar"):
        page.goto(path)
        icon = page.evaluate("document.querySelector('link[rel=icon]')?.href ?? null")
        assert icon is not None, f"{path} names no icon"
        answer = page.request.get(icon)
        assert answer.status == 200 and "svg" in answer.headers["content-type"]
    context.close()


PLACEHOLDER_FITS = """el => {
  const s = getComputedStyle(el);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = s.font;
  const room = el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
  return ctx.measureText(el.placeholder).width <= room;
}"""


def test_the_referrer_box_shows_its_whole_hint_at_toolbar_width(
    browser: object, served: Served
) -> None:
    """At 360 px the referrer box was 160 px wide: its hint read 「介绍人姓名、手机号或」,
    cut before what else it takes. It now takes the row's width, as the tag box does."""
    zhang = _customer_id(served.rt, "张女士")
    page = _page(browser, served, NARROW, "alice")
    page.goto(f"/sidebar?customer_id={zhang}#origin")  # type: ignore[attr-defined]
    box = page.locator("#referrer-form input[name=referrer]")  # type: ignore[attr-defined]
    box.wait_for()
    assert box.get_attribute("placeholder") == "介绍人姓名、手机号或微信号"
    assert box.evaluate(PLACEHOLDER_FITS)
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]  # type: ignore[attr-defined]
    page.locator("#referrer-form").screenshot(path=str(ARTIFACTS / "referrer-form-360.png"))  # type: ignore[attr-defined]
    page.context.close()  # type: ignore[attr-defined]


def test_a_next_action_without_a_product_is_not_headed_by_a_script_code(
    browser: object, served: Served, tmp_path: Path
) -> None:
    """A next-best-action rule that names a script and no product was headed
    「下一步建议：INS-ICE-1」 (the script's code), live and after a reload: now it names the
    script by its title, 「下一步建议：发「…」」, above the script's text."""
    from bot.crm.next_actions import RulesSource

    rt = served.rt
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: script-only\n    when: [stage=acquire]\n    script: INS-ICE-1\n"
        "    reason: 新客户\n",
        encoding="utf-8",
    )
    before = rt.assistant.rules
    rt.assistant.rules = RulesSource(rules)
    try:
        customer_message(rt, "adv-a", "wx-wu", "你好", "吴先生")
        wu = _customer_id(rt, "吴先生")
        page = _page(browser, served, NARROW, "alice")
        page.goto(f"/sidebar?customer_id={wu}")  # type: ignore[attr-defined]
        page.wait_for_selector("#live-status.ok", state="attached")  # type: ignore[attr-defined]
        customer_message(rt, "adv-a", "wx-wu", "重疾险一年保费多少钱？", "吴先生")
        live = page.locator("#suggestions .next-action header")  # type: ignore[attr-defined]
        live.wait_for()
        title = rt.library.get(["INS-ICE-1"])["INS-ICE-1"].title
        assert live.inner_text() == f"下一步建议：发「{title}」"
        page.reload()  # type: ignore[attr-defined]
        shown = page.locator("#detail > .next-action header")  # type: ignore[attr-defined]
        assert shown.inner_text() == f"下一步建议：发「{title}」"
        assert "INS-ICE-1" not in page.locator("#detail").inner_text()  # type: ignore[attr-defined]
        page.locator("#detail > .next-action").screenshot(  # type: ignore[attr-defined]
            path=str(ARTIFACTS / "next-action-script-only-360.png")
        )
        page.context.close()  # type: ignore[attr-defined]
    finally:
        rt.assistant.rules = before


def test_editing_a_suggestion_shows_its_whole_text_at_toolbar_width(
    browser: object, served: Served
) -> None:
    """编辑 opened a 4-row box: at 360 px a script's text scrolled inside it and showed
    its last lines, the first one cut in half. The box is now as tall as the text."""
    name = "欧阳" + "一二三四五六七八九十" * 8  # a long name: each text, long too
    customer_message(served.rt, "adv-a", "wx-ouyang", "你好，想了解一下保险", name)
    customer = _customer_id(served.rt, name)
    page = _page(browser, served, NARROW, "alice")
    page.goto(f"/sidebar?customer_id={customer}")  # type: ignore[attr-defined]
    cards = page.locator("#suggestions article.suggestion")  # type: ignore[attr-defined]
    cards.first.wait_for()
    lines = [  # how many lines each card's text takes
        t.evaluate("e => Math.round(e.clientHeight / parseFloat(getComputedStyle(e).lineHeight))")
        for t in cards.locator(".text").all()
    ]
    assert max(lines) > 4, f"{lines}: a text that fits in 4 rows shows nothing here"
    first = cards.nth(lines.index(max(lines)))
    first.locator(".editbtn").click()
    box = first.locator("textarea.edit")
    assert box.evaluate("e => e === document.activeElement")
    assert box.evaluate("e => e.scrollHeight <= e.clientHeight && e.scrollTop === 0")
    first.screenshot(path=str(ARTIFACTS / "suggestion-edit-360.png"))
    page.context.close()  # type: ignore[attr-defined]


def _segment_names(rt: Runtime) -> list[str]:
    from bot.store import segments as segments_repo

    with rt.db.session() as session:
        return [s.name for s in segments_repo.list_segments(session=session)]


@pytest.mark.parametrize(("viewport", "suffix"), [(NARROW, "360"), (WIDE, "wide")])
def test_a_manager_saves_and_deletes_a_segment_on_the_campaigns_pages(
    browser: object, served: Served, viewport: dict[str, int], suffix: str
) -> None:
    """A segment could be saved only with `siyu segments add`: a new campaign's 目标人群
    listed segments nobody in the console could make. 活动 now leads a manager to 客户分群,
    where a segment is saved with the same filters (a bad one refused beside the form,
    in the CLI's words), listed with its filters in Chinese and its size, and deleted
    after the page's confirm dialog (取消 keeps it); the campaign form then offers it."""
    rt = served.rt
    name, doomed = f"重疾意向-{suffix}", f"待删除-{suffix}"
    page = _page(browser, served, viewport, "mia")
    page.goto("/campaigns")  # type: ignore[attr-defined]
    with page.expect_navigation():  # type: ignore[attr-defined]
        page.click(".toolbar a:text-is('客户分群')")  # type: ignore[attr-defined]
    assert page.url.endswith("/campaigns/segments")  # type: ignore[attr-defined]
    form = page.locator("#add-segment form")  # type: ignore[attr-defined]
    if not form.is_visible():
        page.click("#add-segment > summary")  # type: ignore[attr-defined]
    form.locator("input[name=segment_name]").fill(name)
    form.locator("textarea[name=filters]").fill("adviser=adv-a\ncolour=red")
    form.locator("button[type=submit]").click()
    alert = form.locator(".form-error[role=alert]")
    alert.wait_for()
    assert "1 个筛选条件有错" in alert.inner_text()
    assert "筛选条件“colour=red”：未知字段“colour”；可用：行业（industry）" in alert.inner_text()
    assert form.locator("input[name=segment_name]").input_value() == name  # kept
    form.locator("details.filter-help > summary").click()
    page.evaluate("window.scrollTo(0, 0)")  # type: ignore[attr-defined]  # the sticky header on top
    _shot(page, f"segments-refused-{suffix}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # type: ignore[attr-defined]

    form.locator("textarea[name=filters]").fill("adviser=adv-a\nlifecycle!=churn_risk")
    form.locator("input[name=description]").fill("东区顾问的客户，流失风险的除外")
    with page.expect_navigation():  # type: ignore[attr-defined]
        form.locator("button[type=submit]").click()
    page.wait_for_selector("p.success")  # type: ignore[attr-defined]
    card = page.locator("#segments li.card", has_text=name)  # type: ignore[attr-defined]
    assert card.locator("ul.conditions li").all_inner_texts() == [
        "顾问 = Alice",
        "生命周期 ≠ 流失风险",
    ]
    assert card.locator(".segment-size").inner_text().endswith(" 位客户")
    assert name in _segment_names(rt)
    page.click("#add-segment > summary")  # type: ignore[attr-defined]  # a second one, to delete
    form.locator("input[name=segment_name]").fill(doomed)
    form.locator("textarea[name=filters]").fill("tag=价格敏感")
    with page.expect_navigation():  # type: ignore[attr-defined]
        form.locator("button[type=submit]").click()
    _shot(page, f"segments-{suffix}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]  # type: ignore[attr-defined]

    card = page.locator("#segments li.card", has_text=doomed)  # type: ignore[attr-defined]
    card.locator("button", has_text="删除").click()
    dialog = page.locator("#confirm-dialog")  # type: ignore[attr-defined]
    dialog.wait_for()
    assert f"删除分群「{doomed}」？" in dialog.inner_text()
    _shot(page, f"segments-confirm-{suffix}")
    dialog.locator("button.cancel").click()
    assert not dialog.is_visible()
    assert doomed in _segment_names(rt)  # 取消: still there
    card.locator("button", has_text="删除").click()
    with page.expect_navigation():  # type: ignore[attr-defined]
        dialog.locator("button.ok-button").click()
    page.wait_for_selector("p.success:has-text('分群已删除')")  # type: ignore[attr-defined]
    assert doomed not in _segment_names(rt) and name in _segment_names(rt)

    page.goto("/campaigns")  # type: ignore[attr-defined]
    options = page.locator("datalist#segments option")  # type: ignore[attr-defined]
    assert name in [o.get_attribute("value") for o in options.all()]
    if not page.locator("#add-campaign form").is_visible():  # type: ignore[attr-defined]
        page.click("#add-campaign > summary")  # type: ignore[attr-defined]
    _shot(page, f"campaigns-with-segments-{suffix}")
    page.context.close()  # type: ignore[attr-defined]


def test_archiving_from_the_script_list_asks_first(browser: object, served: Served) -> None:
    """On 话术库 the list's 归档 took a script off advisers' suggestions at one click, while
    the editor asks. Now the list asks in the page's confirm dialog: 取消 keeps the
    script as it was, 归档 archives it."""
    from dataclasses import replace

    from bot.store import scripts as scripts_repo

    rt = served.rt
    record = replace(rt.library.get(["INS-ICE-1"])["INS-ICE-1"], id="INS-LIST-ARCHIVE")
    draft = replace(record, id="INS-LIST-DRAFT", status="draft")  # both buttons in its row
    with rt.db.session() as session:
        scripts_repo.upsert_scripts(
            session=session, records=[replace(record, status="approved"), draft]
        )
    wide = _page(browser, served, WIDE, "olivia")
    wide.goto("/scripts?q=INS-LIST")  # type: ignore[attr-defined]
    _shot(wide, "scripts-list-buttons-wide")
    wide.context.close()  # type: ignore[attr-defined]
    page = _page(browser, served, NARROW, "olivia")
    page.goto("/scripts?q=INS-LIST")  # type: ignore[attr-defined]
    _shot(page, "scripts-list-buttons-360")
    row = page.locator("table.list tbody tr", has_text="INS-LIST-ARCHIVE")  # type: ignore[attr-defined]
    row.locator("button", has_text="归档").click()
    dialog = page.locator("#confirm-dialog")  # type: ignore[attr-defined]
    dialog.wait_for()
    assert f"归档话术「{record.title}」？" in dialog.inner_text()
    _shot(page, "scripts-archive-confirm-360")
    dialog.locator("button.cancel").click()
    assert not dialog.is_visible()
    page.wait_for_timeout(300)  # type: ignore[attr-defined]  # a request sent anyway would land
    assert rt.library.get(["INS-LIST-ARCHIVE"])["INS-LIST-ARCHIVE"].status == "approved"
    assert row.locator(".pill").inner_text() == "已审核"
    row.locator("button", has_text="归档").click()
    with page.expect_navigation():  # type: ignore[attr-defined]
        dialog.locator("button.ok-button").click()
    assert rt.library.get(["INS-LIST-ARCHIVE"])["INS-LIST-ARCHIVE"].status == "archived"
    row = page.locator("table.list tbody tr", has_text="INS-LIST-ARCHIVE")  # type: ignore[attr-defined]
    # the list the redirect loads (the navigation event may come before it has replaced
    # the page that was open: a CI run read that page's 已审核)
    row.locator(".pill", has_text="已归档").wait_for()
    assert row.locator(".pill").inner_text() == "已归档"
    assert page.url.endswith("/scripts?q=INS-LIST")  # type: ignore[attr-defined]  # the same list
    _shot(page, "scripts-archived-360")
    page.context.close()  # type: ignore[attr-defined]
