"""Data-subject requests: export everything about one person; forget them while the
anonymous aggregates stay. Through the real pipeline, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pytest
from conftest import RuntimeFactory
from sqlalchemy import create_engine, text

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.crm import oneid
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
    with rt.db.session() as s, pytest.raises(InputError, match="客户 99 不存在"):
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
    capsys.readouterr()
    # off a terminal, without --yes: refused at once, not asked on the pipe (nor waited on)
    assert run([*base, "forget", str(cid), "--actor", "dpo"]) == 2
    assert "不在终端里运行时要加 --yes" in capsys.readouterr().err
    assert run([*base, "export", str(cid)]) == 0
    assert json.loads(capsys.readouterr().out)["customer"]["name"] == "张丽"
    assert run([*base, "forget", str(cid), "--yes", "--actor", "dpo"]) == 0
    assert "的数据已删除" in capsys.readouterr().out
    assert run([*base, "export", str(cid)]) == 0
    assert json.loads(capsys.readouterr().out)["customer"]["name"] == ""
    assert run([*base, "forget", "12345", "--yes"]) == 1


# --------------------------------------------------------------------------- the files
#: Distinctive strings of one person, as a customer, a message, an address, an order id,
#: a city, an adviser's edit and a merge reason would hold them.
TRACES = {
    "name": "欧阳娜娜QZX",
    "message": "翠苑小区十八幢QZXV",
    "address": "文三路QZXW号",
    "order": "ORDQZXY-991",
    "city": "QZXCITY",
    "edit": "QZXEDIT请查收",
    "reason": "QZXREASON同一人",
    "contact": "wx-qzx-zhang",
}


def _populate_traces(rt: Runtime) -> int:
    """The person above through the real pipeline, with an order, edits and a merge."""
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li", adviser_name="李顾问")
    first = channel.receive(
        TRACES["contact"], TRACES["message"], contact_name=TRACES["name"], industry="insurance"
    )
    second = channel.receive(TRACES["contact"], f"地址是{TRACES['address']}", msg_id="qzx-2")
    twin = channel.receive("wx-qzx-twin", "在吗", contact_name="娜娜")
    channel.receive("wx-other", "理赔要什么材料", contact_name="王", industry="insurance")
    assert first and second and twin and second.suggestion_id and first.customer_id
    cid = first.customer_id
    with rt.db.session() as s:
        customers.update_customer(session=s, customer_id=cid, city=TRACES["city"])
        s.add(Transaction(customer_id=cid, external_id=TRACES["order"], amount=6800.0))
        for _ in range(3):  # often enough for `scripts mine-edits` to consider it
            outcomes.add_outcome(
                session=s,
                suggestion_id=second.suggestion_id,
                message_id=None,
                kind="edited",
                script_id=second.scripts[0].id,
                final_text=f"{TRACES['name']}您好，{TRACES['edit']}",
                edit_distance=5,
            )
        oneid.merge(
            session=s, keep=cid, merge=twin.customer_id or 0, actor="boss", reason=TRACES["reason"]
        )
    return cid


def _found_in(paths: Iterable[Path]) -> dict[str, list[str]]:
    """Which traces each file holds (as UTF-8 bytes), by file name."""
    found: dict[str, list[str]] = {}
    for path in paths:
        data = path.read_bytes()
        hits = [k for k, v in TRACES.items() if v.encode("utf-8") in data]
        if hits:
            found[str(path)] = hits
    return found


def _postgres_files(url: str) -> list[Path] | None:
    """Every relation file of the database at ``url`` (tables, indexes, TOAST), after a
    checkpoint wrote them out; None when the server's data directory cannot be read from
    here."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
            base = Path(conn.execute(text("SHOW data_directory")).scalar_one())
            relative = conn.execute(
                text(
                    "SELECT pg_relation_filepath(oid) FROM pg_class "
                    "WHERE pg_relation_filepath(oid) IS NOT NULL"
                )
            ).scalars()
            files = [base / r for r in relative]
    finally:
        engine.dispose()
    if not os.access(base, os.R_OK | os.X_OK):
        return None
    # a relation larger than 1 GB continues in <file>.1, <file>.2 …
    return [p for f in files for p in [f, *f.parent.glob(f"{f.name}.*")] if p.is_file()]


def test_forget_leaves_nothing_readable_in_the_files(
    make_runtime: RuntimeFactory,
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`siyu customers forget` while `siyu serve` runs: afterwards, and after the server
    stops, no file of the data directory (database, WAL, vector and lexical indexes) and
    no relation file of PostgreSQL holds any of the person's strings (issue 13)."""
    data_dir = tmp_path / "data"
    config = tmp_path / "siyu.toml"
    config.write_text(f'[store]\nurl = "{database_url}"\n', encoding="utf-8")
    server = make_runtime(data_dir=data_dir, store={"url": database_url})
    cid = _populate_traces(server)
    base = ["--data-dir", str(data_dir), "--config", str(config)]
    assert run([*base, "scripts", "mine-edits"]) == 0  # drafts are indexed, and kept
    sqlite = database_url.startswith("sqlite")
    postgres = None if sqlite else _postgres_files(database_url)

    def leftovers() -> dict[str, list[str]]:
        files = [p for p in data_dir.rglob("*") if p.is_file()]
        if sqlite:  # the database, its write-ahead log and its index of the log
            db_file = database_url.split("///", 1)[1]
            files += [Path(db_file + end) for end in ("", "-wal", "-shm")]
        else:
            files += _postgres_files(database_url) or []
        return _found_in(p for p in files if p.is_file())

    assert leftovers(), "the traces are on disk before"
    forget = [*base, "customers", "forget", str(cid), "--yes", "--actor", "dpo"]
    capsys.readouterr()
    assert run(forget) == 0
    for _ in range(3):  # the remedy the command gives when a shared server is busy
        if "再运行一次 forget" not in capsys.readouterr().out:
            break
        assert run(forget) == 0
    assert leftovers() == {}, "while the server still runs"
    server.close()
    assert leftovers() == {}, "after the server stopped"
    if not sqlite and postgres is None:
        pytest.skip("PostgreSQL's data directory is not readable here: its files were not read")
