"""Web: POST /api/events (scoped like customer data), the effectiveness JSON and the
operator page (issue #5)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from web_helpers import add_users, login, web_app

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.pipeline.runtime import Runtime
from bot.services import reports
from bot.services.access import user_principal
from bot.store import audit as audit_repo
from bot.store import conversions as conversions_repo
from bot.store import outcomes
from bot.store import users as users_repo
from bot.store.models import Customer

PHONE_A = "13800138000"
PHONE_B = "13900139000"


def test_events_api_and_operator_page(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    tokens = add_users(rt)
    ch = MemoryChannel(rt.assistant.handle, adviser_id="adv-a", adviser_name="adv-a")
    shown = ch.receive("wx-a", "重疾险一年多少钱", contact_name="张女士")
    assert shown is not None and shown.customer_id is not None
    ch.receive("wx-a", shown.scripts[0].text, direction="out")
    app = web_app(rt)

    def client(user: str) -> TestClient:
        c = TestClient(app)
        c.headers["Authorization"] = f"Bearer {tokens[user]}"
        return c

    body = {"customer": str(shown.customer_id), "amount": 4680, "order_id": "W-1"}
    with client("bob") as c:  # another adviser's customer: indistinguishable from missing
        assert c.post("/api/events", json=body).status_code == 404
    with client("olivia") as c:  # operators do not record customer events
        assert c.post("/api/events", json=body).status_code == 403
    with client("alice") as c:
        res = c.post("/api/events", json=body)
        assert res.status_code == 201 and res.json()["duplicate"] is False
        assert res.json()["transaction_id"] is not None
        again = c.post("/api/events", json=body)
        assert again.status_code == 201 and again.json()["duplicate"] is True
        bad = {"customer": str(shown.customer_id), "type": "stage_changed"}
        assert c.post("/api/events", json=bad).status_code == 422
        ok = bad | {"stage": "convert"}
        assert c.post("/api/events", json=ok).status_code == 201
        assert c.post("/api/events", json={"customer": "nobody"}).status_code == 404
        assert c.get("/api/script-effectiveness").status_code == 403

    with client("olivia") as c:
        rows = c.get("/api/script-effectiveness").json()
        used = next(r for r in rows if r["script_id"] == shown.scripts[0].id)
        assert used["adopted"] == 1 and used["conversion"] == {
            "rate": 1.0,
            "low": used["conversion"]["low"],
            "high": 1.0,
            "n": 1,
        }
        assert c.get("/api/script-effectiveness?by=adviser").status_code == 403  # managers'
        assert c.get("/api/script-effectiveness?by=nope").status_code == 422
    with client("mia") as c:
        assert c.get("/api/script-effectiveness?by=adviser").json()[0]["segment"] == "adv-a"
    with TestClient(app) as c:
        login(c, "olivia")
        page = c.get("/scripts/effectiveness?by=industry&days=30")
        assert page.status_code == 200
        assert "话术效果" in page.text and shown.scripts[0].id in page.text


def test_script_effectiveness_is_scoped_masked_and_audited(
    make_runtime: Callable[..., Runtime], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Managers see their team's advisers and masked edits, operators no customer text;
    every view is audited (issue 13)."""
    data_dir = tmp_path / "data"
    rt = make_runtime(data_dir=data_dir)
    tokens = add_users(rt)
    people = {"adv-a": ("wx-a", "张女士", PHONE_A), "adv-b": ("wx-b", "欧阳先生", PHONE_B)}
    for adviser, (contact, name, phone) in people.items():
        ch = MemoryChannel(rt.assistant.handle, adviser_id=adviser, adviser_name=adviser)
        shown = ch.receive(contact, "重疾险一年多少钱", contact_name=name)
        assert shown is not None and shown.suggestion_id is not None
        with rt.db.session() as s:
            for _ in range(5):
                outcomes.add_outcome(
                    session=s,
                    suggestion_id=shown.suggestion_id,
                    message_id=None,
                    kind="edited",
                    script_id=shown.scripts[0].id,
                    final_text=f"{name}您好，有事打我电话 {phone}",
                    edit_distance=12,
                )
    app = web_app(rt)

    def get(user: str, url: str) -> Response:
        with TestClient(app) as c:
            c.headers["Authorization"] = f"Bearer {tokens[user]}"
            return c.get(url)

    # a manager: only the team's advisers, the edits masked
    rows = get("mia", "/api/script-effectiveness?by=adviser").json()
    assert {r["segment"] for r in rows} == {"adv-a"}
    edits = [text for r in rows for text, _ in r["common_edits"]]
    assert edits == ["【客户】您好，有事打我电话 【手机号】"]
    page = get("mia", "/scripts/effectiveness").text
    assert "【客户】您好" in page and PHONE_A not in page and "张女士" not in page
    assert "欧阳先生" not in page and PHONE_B not in page
    # a manager without a team sees every adviser, still masked
    everyone = get("max", "/api/script-effectiveness?by=adviser").json()
    assert {r["segment"] for r in everyone} == {"adv-a", "adv-b"}
    assert PHONE_B not in str(everyone) and "欧阳先生" not in str(everyone)
    # an operator: the figures, no customer text, no split by adviser
    rows = get("olivia", "/api/script-effectiveness").json()
    assert rows and all(r["common_edits"] == [] for r in rows)
    assert any(r["edited"] == 10 for r in rows)
    assert get("olivia", "/api/script-effectiveness?by=adviser").status_code == 403
    page = get("olivia", "/scripts/effectiveness").text
    assert "常被修改" in page and "您好，有事打我电话" not in page and PHONE_A not in page
    assert "仅主管可见" in page
    with rt.db.session() as s:
        viewed = [
            (e.actor, e.detail.get("by"))
            for e in audit_repo.list_entries(session=s, action="script_effectiveness.view")
        ]
    assert (
        ("mia", "adviser") in viewed and ("olivia", None) in viewed and ("max", "adviser") in viewed
    )
    rt.close()
    # the command line (an administrator): every adviser, masked all the same
    assert run(["--data-dir", str(data_dir), "--actor", "dpo", "report", "scripts"]) == 0
    printed = capsys.readouterr().out
    assert "【客户】您好" in printed and PHONE_A not in printed and PHONE_B not in printed


def test_attribution_covers_the_managers_team(make_runtime: Callable[..., Runtime]) -> None:
    rt = make_runtime()
    add_users(rt)
    for adviser, contact in (("adv-a", "wx-a"), ("adv-b", "wx-b")):
        ch = MemoryChannel(rt.assistant.handle, adviser_id=adviser, adviser_name=adviser)
        shown = ch.receive(contact, "重疾险一年多少钱", contact_name=contact)
        assert shown is not None and shown.customer_id is not None
        ch.receive(contact, shown.scripts[0].text, direction="out")
        with rt.db.session() as s:
            conversions_repo.add_conversion(
                session=s,
                customer_id=shown.customer_id,
                type="purchase",
                occurred_at=datetime.now(UTC),
                amount=1000.0,
            )
    with rt.db.session() as s:
        found = {n: users_repo.get_user_by_username(session=s, username=n) for n in ("mia", "max")}
    mia, max_ = (user_principal(u) for u in found.values() if u is not None)
    team = reports.attribution(rt.db, mia, settings=rt.settings)
    everyone = reports.attribution(rt.db, max_, settings=rt.settings)
    assert (team.conversions, team.attributed) == (1, 1)
    assert (everyone.conversions, everyone.attributed) == (2, 2)


VARIANTS_CSV = """id,title,category,stage,industry,tags,body,status,variant_group
INS-PRC-A,重疾险价格（算到每天）,pricing,convert,insurance,价格;重疾,安心保重疾险一年多少钱？30岁每年4680元，每天不到13元。,approved,ins-price
INS-PRC-B,重疾险价格（对比保额）,pricing,convert,insurance,价格;重疾,安心保重疾险一年多少钱？每年4680元就有50万保额。,approved,ins-price
"""


def _variant_rows(page: str) -> dict[str, list[str]]:
    """The A/B table's cells per variant (its tags stripped)."""
    table = page.split('<table class="list variants">', 1)[1].split("</table>", 1)[0]
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)[1:]:
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
        rows[cells[0]] = cells[1:]
    return rows


def test_variants_without_a_trial_show_no_figures_and_scroll_in_their_own_box(
    make_runtime: Callable[..., Runtime], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """n = 0 is no evidence: 「—」 for rate, interval and P(最佳), not the prior's 50 %
    3%–97% 0.49 beside 3%–98% 0.51 (a difference that is not there); the table is in a
    ``table-wrap`` like every other, so a narrow screen scrolls it, not the page."""
    rt = make_runtime()
    tokens = add_users(rt)
    (tmp_path / "variants.csv").write_text(VARIANTS_CSV, encoding="utf-8")
    rt.library.import_file(tmp_path / "variants.csv")
    client = TestClient(web_app(rt))
    client.headers["Authorization"] = f"Bearer {tokens['olivia']}"
    page = client.get("/scripts/effectiveness").text
    assert '<div class="table-wrap">\n<table class="list variants">' in page
    assert "A/B 变体组 ins-price：还没有数据" in page
    # the CLI's words, not a formula: 最优概率, and the JSON link says what it is
    assert "<th>最优概率</th>" in page and "P(最佳)" not in page and ">JSON<" not in page
    assert _variant_rows(page) == {
        "INS-PRC-A": ["0", "—", "—", "—"],
        "INS-PRC-B": ["0", "—", "—", "—"],
    }
    # the CLI says the same
    assert run(["--data-dir", str(rt.settings.data_dir), "report", "scripts"]) == 0
    printed = capsys.readouterr().out
    assert "A/B ins-price：还没有数据" in printed and "50%" not in printed
    # one variant used and answered: its figures, the other still without any
    ch = MemoryChannel(rt.assistant.handle, adviser_id="adv-a", adviser_name="adv-a")
    shown = ch.receive("wx-v", "重疾险一年多少钱", contact_name="钱女士")
    assert shown is not None
    [used] = [s for s in shown.scripts if s.id in ("INS-PRC-A", "INS-PRC-B")]
    ch.receive("wx-v", used.text, direction="out")
    ch.receive("wx-v", "好的，我考虑一下", contact_name="钱女士")
    page = client.get("/scripts/effectiveness").text
    assert "A/B 变体组 ins-price：尚无定论" in page
    rows = _variant_rows(page)
    other = "INS-PRC-B" if used.id == "INS-PRC-A" else "INS-PRC-A"
    assert rows[other] == ["0", "—", "—", "—"]
    n, rate, interval, p_best = rows[used.id]
    assert n == "1" and rate.endswith("%") and "–" in interval and float(p_best) > 0.5


def test_an_order_id_of_another_customer_is_refused_not_swallowed(
    make_runtime: Callable[..., Runtime],
) -> None:
    """An adviser recorded order ORD-777 on their own customer first; a colleague's real
    purchase with that order id then answered ``duplicate`` and was never recorded (and a
    stage change carrying it moved the stage with no event)."""
    rt = make_runtime()
    tokens = add_users(rt)
    ours = MemoryChannel(rt.assistant.handle, adviser_id="adv-a", adviser_name="adv-a")
    theirs = MemoryChannel(rt.assistant.handle, adviser_id="adv-b", adviser_name="adv-b")
    mine = ours.receive("wx-a", "重疾险一年多少钱", contact_name="张女士")
    other = theirs.receive("wx-b", "重疾险一年多少钱", contact_name="李先生")
    assert mine is not None and other is not None
    assert mine.customer_id is not None and other.customer_id is not None
    app = web_app(rt)

    def client(user: str) -> TestClient:
        c = TestClient(app)
        c.headers["Authorization"] = f"Bearer {tokens[user]}"
        return c

    with client("bob") as c:
        first = {"customer": str(other.customer_id), "amount": 1, "order_id": "ORD-777"}
        assert c.post("/api/events", json=first).status_code == 201
    with client("alice") as c:
        real = {"customer": str(mine.customer_id), "amount": 9999, "order_id": "ORD-777"}
        res = c.post("/api/events", json=real)
        assert res.status_code == 409, res.text
        assert "ORD-777 已记在另一位客户名下" in res.json()["detail"]
        assert "李先生" not in res.text and str(other.customer_id) not in res.text
        moved = {
            "customer": str(mine.customer_id),
            "type": "stage_changed",
            "stage": "retain",
            "order_id": "ORD-777",
        }
        assert c.post("/api/events", json=moved).status_code == 409
    with rt.db.session() as session:
        orders = conversions_repo.list_conversions(session=session)
        stage = session.get_one(Customer, mine.customer_id).stage
    assert [(o.customer_id, o.amount) for o in orders] == [(other.customer_id, 1.0)]
    assert stage != "retain"


@pytest.mark.parametrize(
    ("time", "why"),
    [
        ("2026-11-23T10:00:00", "需要带时区"),  # was read as UTC: eight hours off
        ("1900-01-01T00:00:00+08:00", "2000 年到明天之间"),
        ("3000-01-01T00:00:00+08:00", "2000 年到明天之间"),
    ],
)
def test_an_event_time_without_zone_or_out_of_range_is_refused(
    make_runtime: Callable[..., Runtime], time: str, why: str
) -> None:
    rt = make_runtime()
    tokens = add_users(rt)
    ch = MemoryChannel(rt.assistant.handle, adviser_id="adv-a", adviser_name="adv-a")
    shown = ch.receive("wx-a", "你好")
    assert shown is not None and shown.customer_id is not None
    with TestClient(web_app(rt)) as c:
        c.headers["Authorization"] = f"Bearer {tokens['alice']}"
        body = {"customer": str(shown.customer_id), "type": "converted", "time": time}
        res = c.post("/api/events", json=body)
    assert res.status_code == 422 and why in str(res.json()["detail"]), res.text
    with rt.db.session() as session:
        assert conversions_repo.list_conversions(session=session) == []
