"""Web: POST /api/events (scoped like customer data), the effectiveness JSON and the
operator page (issue #5)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from web_helpers import add_users, login, web_app

from bot.channels.memory import MemoryChannel
from bot.pipeline.runtime import Runtime


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
        assert c.get("/api/script-effectiveness?by=adviser").json()[0]["segment"] == "adv-a"
        assert c.get("/api/script-effectiveness?by=nope").status_code == 422
    with TestClient(app) as c:
        login(c, "olivia")
        page = c.get("/scripts/effectiveness?by=industry&days=30")
        assert page.status_code == 200
        assert "话术效果" in page.text and shown.scripts[0].id in page.text
