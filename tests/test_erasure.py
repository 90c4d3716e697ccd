"""Data-subject requests: export everything about one person; forget them while the
anonymous aggregates stay. Through the real pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import RuntimeFactory

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.errors import InputError
from bot.pipeline.runtime import Runtime
from bot.store import audit, customers, erasure, messages, outcomes, suggestions
from bot.store.models import Transaction

PHONE = "13812345678"


def _populate(rt: Runtime) -> tuple[int, int]:
    """张丽 (two messages, a suggestion adopted, tags, an event, an order) and 王 (kept)."""
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li", adviser_name="李顾问")
    first = channel.receive("wx-zhang", "你好", contact_name="张丽", industry="insurance")
    second = channel.receive("wx-zhang", f"我儿子三岁，重疾险多少钱？电话{PHONE}", msg_id="m-2")
    other = channel.receive("wx-wang", "理赔要什么材料", contact_name="王", industry="insurance")
    assert first and second and other and second.suggestion_id
    cid, keep = second.customer_id or 0, other.customer_id or 0
    with rt.db.session() as s:
        customers.update_customer(session=s, customer_id=cid, city="杭州", product="康宁重疾险")
        customers.add_event(session=s, customer_id=cid, type="converted", payload={"note": PHONE})
        s.add(Transaction(customer_id=cid, external_id="SO-1", product="重疾险", amount=6800.0))
        outcomes.add_outcome(
            session=s,
            suggestion_id=second.suggestion_id,
            message_id=None,
            kind="edited",
            script_id=second.scripts[0].id,
            final_text="张丽您好，三岁宝宝保费很低",
            edit_distance=5,
        )
    return cid, keep


def test_export_holds_everything_and_is_audited(
    make_runtime: RuntimeFactory, database_url: str
) -> None:
    rt = make_runtime(store={"url": database_url})
    cid, _ = _populate(rt)
    with rt.db.session() as s:
        data = erasure.export_customer(session=s, customer_id=cid, actor="dpo")
    text = json.dumps(data, ensure_ascii=False)
    assert data["customer"]["name"] == "张丽" and data["customer"]["city"] == "杭州"
    assert [(i["kind"], i["value"]) for i in data["identities"]] == [("memory_contact", "wx-zhang")]
    assert len(data["messages"]) == 2 and PHONE in text
    assert {t["tag"] for t in data["tags"]} >= {"有孩子", "重疾险"}
    assert len(data["suggestions"]) == 2 and data["outcomes"][0]["kind"] == "edited"
    assert data["transactions"][0]["amount"] == 6800.0
    assert "wx-wang" not in text and "理赔要什么材料" not in text, "nobody else's data"
    with rt.db.session() as s:
        (entry, *_) = audit.list_entries(session=s, target_type="customer", target_id=str(cid))
    assert (entry.action, entry.actor) == ("customer.export", "dpo")


def test_forget_erases_the_person_and_keeps_aggregates(
    make_runtime: RuntimeFactory, database_url: str
) -> None:
    rt = make_runtime(store={"url": database_url})
    cid, keep = _populate(rt)
    with rt.db.session() as s:
        counts = erasure.erase_customer(session=s, customer_id=cid, actor="dpo")
    assert counts["messages"] == 2 and counts["identities"] == 1 and counts["tags"] >= 2
    with rt.db.session() as s:
        data = erasure.export_customer(session=s, customer_id=cid, actor="dpo")
        kept_profile = customers.customer_profile(session=s, customer_id=keep)
        (forget_entry,) = audit.list_entries(session=s, action="customer.forget")
        assert messages.get_message(session=s, msg_id="m-2") is None
        assert len(suggestions.list_suggestions(session=s, customer_id=cid)) == 2
    text = json.dumps({k: v for k, v in data.items() if k != "audit_log"}, ensure_ascii=False)
    for personal in ("张丽", "杭州", "康宁重疾险", PHONE, "wx-zhang", "SO-1", "三岁"):
        assert personal not in text, personal
    assert data["identities"] == data["messages"] == data["tags"] == []
    # the anonymous aggregates stay: stage/industry, the outcome, the order amount, events
    assert data["customer"]["industry"] == "insurance"
    assert [(o["kind"], o["edit_distance"]) for o in data["outcomes"]] == [("edited", 5)]
    assert [t["amount"] for t in data["transactions"]] == [6800.0]
    assert [e["type"] for e in data["events"]][-1] == "converted"
    assert all(s["candidates"].get("scripts") for s in data["suggestions"])
    assert all("text" not in c for s in data["suggestions"] for c in s["candidates"]["scripts"])
    assert forget_entry.actor == "dpo" and forget_entry.detail["messages"] == 2
    assert kept_profile.message_count == 1, "nobody else is touched"
    # the same WeChat contact writing again is a new, unknown person
    again = MemoryChannel(rt.assistant.handle, adviser_id="li").receive("wx-zhang", "在吗")
    assert again is not None and again.customer_id not in (cid, keep)


def test_unknown_customer_is_an_input_error(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(load=False)
    with rt.db.session() as s, pytest.raises(InputError, match="no customer 99"):
        erasure.erase_customer(session=s, customer_id=99, actor="dpo")


def test_cli_export_and_forget(
    make_runtime: RuntimeFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "cli"
    rt = make_runtime(data_dir=data_dir)
    cid, _ = _populate(rt)
    rt.close()
    base = ["--data-dir", str(data_dir), "customers"]
    assert run([*base, "export", str(cid)]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["customer"]["name"] == "张丽"
    out_file = tmp_path / "zhang.json"
    assert run([*base, "export", str(cid), "--out", str(out_file), "--actor", "dpo"]) == 0
    assert json.loads(out_file.read_text(encoding="utf-8"))["customer"]["id"] == cid
    assert run([*base, "forget", str(cid), "--yes", "--actor", "dpo"]) == 0
    assert "forgotten" in capsys.readouterr().out
    assert run([*base, "export", str(cid)]) == 0
    assert json.loads(capsys.readouterr().out)["customer"]["name"] == ""
    assert run([*base, "forget", "12345", "--yes"]) == 1
