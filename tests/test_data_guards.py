"""Input that must not become data: empty text through the API, chat commands typed in
``siyu chat``; and a merged-away profile that must not linger in lists without saying
where it went."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import LIBRARY, RuntimeFactory
from rich.console import Console
from web_helpers import add_users, bearer_client, customer_message, web_app

from bot.cli import run
from bot.cli.render import profile_panel
from bot.services import customers, merges
from bot.services.access import cli_principal
from bot.store import customers as customers_repo
from bot.store import inbox as inbox_repo
from bot.store import messages as messages_repo

ADMIN = cli_principal("manager-test")


def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_empty_text_through_the_api_is_refused_and_creates_nothing(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()
    tokens = add_users(rt)
    with bearer_client(web_app(rt), tokens["alice"]) as c:
        for text in ("", "   ", "\n"):
            res = c.post("/api/messages", json={"contact_id": "wx-new", "text": text})
            assert res.status_code == 422, res.text
            assert "不能为空" in res.json()["detail"]
        res = c.post(
            "/api/messages", json={"contact_id": "wx-new", "text": "多少钱", "industry": "保健"}
        )
        assert res.status_code == 422 and "未知的行业" in res.json()["detail"]
        image = c.post("/api/messages", json={"contact_id": "wx-pic", "text": "", "type": "image"})
        assert image.status_code == 201, "only a text message needs text"
    with rt.db.session() as session:
        assert customers_repo.list_customers(session=session) != []
        names = [c.name for c in customers_repo.list_customers(session=session)]
        assert messages_repo.count_messages(session=session) == 1
    assert len(names) == 1, "no customer for the refused posts"


def test_chat_commands_are_handled_never_logged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    siyu(capsys, data, "scripts", "import", str(LIBRARY / "scripts.csv"))
    typed = "/help\n/foo\n重疾险多少钱\n/微笑\n/quit\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(typed))
    code, out, _ = siyu(capsys, data, "chat", "--industry", "insurance", "--name", "周")
    assert code == 0
    assert "/quit 退出" in out and "未知命令 /foo" in out
    code, out, _ = siyu(capsys, data, "customers", "show", "1")
    assert code == 0 and "重疾险多少钱" in out and "/微笑" in out, "an emoticon is text"
    assert "/help" not in out and "/foo" not in out and "/quit" not in out
    assert "消息 2" in out


def test_a_merged_away_profile_leaves_the_lists_and_says_where_it_went(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()
    tokens = add_users(rt)
    customer_message(rt, "adv-a", "wx-1", "重疾险多少钱", "王芳")
    customer_message(rt, "adv-a", "wx-2", "我是王芳，换了个号", "王芳2")
    with rt.db.session() as session:
        rows = customers.inbox(session, ADMIN)
        keep, gone = sorted(r.customer_id for r in rows)
        merges.merge(session, ADMIN, keep_id=keep, merge_id=gone, reason="同一个人")
    with rt.db.session() as session:
        inbox = [
            r.customer_id
            for r in inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
        ]
        listed = [c.id for c in customers.list_customers(session, ADMIN)]
        profile = customers.profile(session, ADMIN, gone)
    assert inbox == [keep] and listed == [keep]
    assert customers.merged_notice(profile.customer) == f"已合并到客户 #{keep}"

    with bearer_client(web_app(rt), tokens["max"]) as c:
        body = c.get(f"/api/customers/{gone}").json()
        assert body["notice"] == f"已合并到客户 #{keep}"
        assert body["customer"]["merged_into_id"] == keep
        assert c.get(f"/api/customers/{keep}").json()["notice"] is None
        assert [r["customer_id"] for r in c.get("/api/customers").json()] == [keep]

    console = Console(width=100, file=io.StringIO(), color_system=None)
    console.print(profile_panel(profile, timezone=rt.settings.timezone))
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"已合并到客户 #{keep}" in shown and f"siyu customers show {keep}" in shown
