"""What each role sees of the channel accounts (bot/services/channel_status.py): an
adviser their own account (with its login QR code), a manager every account in scope but
no QR code, an operator nothing; requeueing is for managers, audit-logged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.errors import InputError, NotFoundError, PermissionDenied
from bot.services import channel_status
from bot.services.access import Principal, cli_principal
from bot.settings import WechatySettings
from bot.store import Database
from bot.store import channel_accounts as accounts_repo
from bot.store import channel_inbox as inbox_repo
from bot.store import customers as customers_repo
from bot.store import users as users_repo
from bot.store.models import AuditLog, ChannelInbox

SETTINGS = WechatySettings.model_validate(
    {
        "accounts": [
            {"adviser_id": "wang", "endpoint": "h:1", "token_env": "T_WANG"},
            {"adviser_id": "li", "endpoint": "h:2", "token_env": "T_LI"},
        ]
    }
)
WANG = Principal(username="wang", role="adviser", adviser_id="wang")
BOSS = Principal(username="boss", role="manager")
OPS = Principal(username="ops", role="operator")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'status.db'}")
    database.migrate()
    now = datetime.now(UTC)
    with database.session() as s:
        accounts_repo.save_state(
            session=s, account="wang", now=now, state="waiting_scan", qr_code="qr-wang"
        )
        accounts_repo.save_state(session=s, account="li", now=now, state="logged_out")
        ids = inbox_repo.add_events(
            session=s,
            events=[
                inbox_repo.NewEvent("wang", "message", "w1", now),
                inbox_repo.NewEvent("li", "message", "l1", now),
            ],
        )
        for row_id, (account, contact) in zip(ids, [("wang", "c1"), ("li", "c2")], strict=True):
            body = {"message": {"adviser_id": account, "contact_id": contact, "text": "在吗"}}
            inbox_repo.mark_ready(session=s, rows=[(row_id, contact, body)], now=now)
            inbox_repo.record_failure(
                session=s, item_id=row_id, stage="log", error="x", park=True, now=now
            )
    yield database
    database.dispose()


def test_an_adviser_sees_their_own_account_and_its_qr_code(db: Database) -> None:
    with db.session() as s:
        [mine] = channel_status.read_status(s, WANG, settings=SETTINGS)
        parked = channel_status.parked_messages(s, WANG, settings=SETTINGS)
    assert (mine.account, mine.state, mine.qr_code) == ("wang", "waiting_scan", "qr-wang")
    assert [p.event_id for p in parked] == ["w1"]


def test_a_manager_sees_every_account_but_no_qr_code(db: Database) -> None:
    with db.session() as s:
        accounts = channel_status.read_status(s, BOSS, settings=SETTINGS)
        assert len(channel_status.parked_messages(s, BOSS, settings=SETTINGS)) == 2
    assert [(a.account, a.qr_code) for a in accounts] == [("wang", None), ("li", None)]
    li = accounts[1]
    assert li.banner == "微信账号 li 已退出登录，收不到消息：请重新扫码登录"
    admin = cli_principal("root")
    with db.session() as s:
        assert channel_status.read_status(s, admin, settings=SETTINGS)[0].qr_code == "qr-wang"


def test_an_operator_sees_nothing_and_only_managers_requeue(db: Database) -> None:
    with db.session() as s, pytest.raises(PermissionDenied):
        channel_status.read_status(s, OPS, settings=SETTINGS)
    with db.session() as s, pytest.raises(PermissionDenied):
        channel_status.requeue(s, WANG, ids=None, settings=SETTINGS)
    with db.session() as s:
        assert channel_status.requeue(s, BOSS, ids=None, settings=SETTINGS) == 2
    with db.session() as s:
        actions = list(s.scalars(select(AuditLog.action).order_by(AuditLog.id)))
    assert "channel.requeue" in actions


def test_a_team_manager_requeues_only_their_teams_accounts(db: Database) -> None:
    with db.session() as s:
        for adviser, team in (("wang", "east"), ("li", "west")):
            customers_repo.ensure_adviser(session=s, adviser_id=adviser, name=adviser)
            users_repo.set_adviser_team(session=s, adviser_id=adviser, team=team)
    east = Principal(username="mia", role="manager", team="east")
    with db.session() as s:
        assert [p.account for p in channel_status.parked_messages(s, east, settings=SETTINGS)] == [
            "wang"
        ]
        # li's parked event is not theirs to requeue, by id or with "all"
        li_id = next(
            p.id
            for p in channel_status.parked_messages(s, BOSS, settings=SETTINGS)
            if p.account == "li"
        )
        with pytest.raises(NotFoundError, match=f"没有这些搁置的消息.*：{li_id}"):
            channel_status.requeue(s, east, ids=[li_id], settings=SETTINGS)
        assert channel_status.requeue(s, east, ids=None, settings=SETTINGS) == 1
        # an unknown id, or one put back already, refuses the call: nothing is put back
        with pytest.raises(NotFoundError, match="：999"):
            channel_status.requeue(s, BOSS, ids=[li_id, 999], settings=SETTINGS)
        assert channel_status.requeue(s, BOSS, ids=[li_id], settings=SETTINGS) == 1
    with db.session() as s:
        assert channel_status.parked_messages(s, BOSS, settings=SETTINGS) == []


def test_a_manager_discards_a_message_that_can_never_succeed(db: Database) -> None:
    """The banner on every page stayed until the message succeeded: one that never can is
    discarded by id, its text forgotten by the inbox, and it is not processed again."""
    with db.session() as s:
        wang = next(p for p in channel_status.parked_messages(s, BOSS, settings=SETTINGS))
        with pytest.raises(PermissionDenied):
            channel_status.discard(s, WANG, ids=[wang.id], settings=SETTINGS)
        with pytest.raises(InputError, match="请写出它们的编号"):
            channel_status.discard(s, BOSS, ids=[], settings=SETTINGS)
        with pytest.raises(NotFoundError, match="：999"):
            channel_status.discard(s, BOSS, ids=[wang.id, 999], settings=SETTINGS)
        assert channel_status.discard(s, BOSS, ids=[wang.id], settings=SETTINGS) == 1
    with db.session() as s:
        left = channel_status.parked_messages(s, BOSS, settings=SETTINGS)
        banner = channel_status.read_status(s, BOSS, settings=SETTINGS)[0].banner
        row = s.get(ChannelInbox, wang.id)
        assert row is not None and (row.status, row.payload, row.error) == (
            "skipped",
            None,
            "已丢弃",
        )
        with pytest.raises(NotFoundError):  # gone from the parked ones: no second time
            channel_status.requeue(s, BOSS, ids=[wang.id], settings=SETTINGS)
        actions = list(s.scalars(select(AuditLog.action)))
    assert [p.account for p in left] == ["li"]
    assert banner is None or "搁置" not in banner
    assert "channel.discard" in actions


def test_the_serving_process_names_each_account_as_people_read_it(db: Database) -> None:
    """`siyu bot`'s lines name an account by its adviser's display name, as --status and
    its parked messages do; an account whose adviser the store does not know yet keeps its
    key, and the single account of `[wechaty]` is 「默认账号」 (it read `default`)."""
    with db.session() as s:
        users_repo.create_user(
            session=s,
            username="lin",
            password_hash="x",
            role="adviser",
            display_name="林晓",
            adviser_id="wang",
        )
    with db.session() as s:
        names = channel_status.account_names(s, settings=SETTINGS)
        shown = {a.account: a.shown for a in channel_status.read_status(s, BOSS, settings=SETTINGS)}
        parked = channel_status.parked_messages(s, BOSS, settings=SETTINGS)
    assert names == {"wang": "林晓（wang）", "li": "li"}
    assert names == shown
    assert {p.account: p.account_shown for p in parked} == names
    single = WechatySettings(endpoint="h:1")
    with db.session() as s:
        assert channel_status.account_names(s, settings=single) == {"default": "默认账号"}
        statuses = channel_status.read_status(s, BOSS, settings=single)
    assert statuses[0].account == "default"  # the key stays
    assert statuses[0].shown == "默认账号"
