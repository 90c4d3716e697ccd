"""Referrals (老带新): a referrer named in a greeting, chains, the report against a
hand-computed dataset, and what merge, undo, delete and forget do to referral links."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.crm import referrals as crm_referrals
from bot.crm.referrals import referrer_said
from bot.errors import InputError
from bot.pipeline.runtime import Runtime
from bot.store import Database, customers, erasure, merges
from bot.store import fields as fields_repo
from bot.store import referrals as repo
from bot.store.fields import REFERRER_FIELD
from bot.store.models import Customer, Transaction

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("你好，张丽介绍我加的你", "张丽"),
        ("我是张丽介绍来的", "张丽"),
        ("朋友王刚推荐的", "王刚"),
        ("Lily推荐我来的", "Lily"),
        ("你好，朋友推荐加的你", None),
        ("同事介绍的", None),
        ("你介绍一下这个产品", None),
        ("在吗", None),
    ],
)
def test_a_referrer_named_in_a_greeting(text: str, name: str | None) -> None:
    assert referrer_said(text) == name


def person(db: Database, key: str, adviser: str = "a1", **fields: object) -> int:
    with db.session() as s:
        customers.ensure_adviser(session=s, adviser_id=adviser, name=adviser)
        c, _ = customers.find_or_create_customer(
            session=s, identity_kind="wx", identity_value=key, name=key, adviser_id=adviser
        )
        row = s.get_one(Customer, c.id)
        for name, value in fields.items():
            setattr(row, name, value)
    return c.id


def refer(db: Database, customer_id: int, referrer_id: int | None) -> None:
    with db.session() as s:
        repo.set_referrer(
            session=s,
            customer_id=customer_id,
            referrer_id=referrer_id,
            method="manual",
            evidence="t",
            actor="t",
        )


def test_referral_report_matches_the_hand_computed_dataset(db: Database) -> None:
    """a1: r (root) → k1 → k2, r → k3; a2: k4 referred by r (another adviser's customer),
    s alone. Revenue: r 1000, k1 500, k2 300 (in April, after the period), k4 200."""
    r = person(db, "r", created_at=T(2026, 2, 1))
    k1 = person(db, "k1", created_at=T(2026, 3, 2))
    k2 = person(db, "k2", created_at=T(2026, 3, 5))
    k3 = person(db, "k3", created_at=T(2026, 3, 6))
    k4 = person(db, "k4", adviser="a2", created_at=T(2026, 3, 7))
    person(db, "s", adviser="a2", created_at=T(2026, 3, 8))
    for child, parent in ((k1, r), (k2, k1), (k3, r), (k4, r)):
        refer(db, child, parent)
    with db.session() as s:
        for cid, amount, at in (
            (r, 1000, T(2026, 3, 3)),
            (k1, 500, T(2026, 3, 10)),
            (k2, 300, T(2026, 4, 10)),
            (k4, 200, T(2026, 3, 20)),
        ):
            s.add(Transaction(customer_id=cid, amount=amount, occurred_at=at))
    with db.session() as s:
        march = crm_referrals.report(
            session=s, since=date(2026, 3, 1), until=date(2026, 4, 1), timezone="Asia/Shanghai"
        )
        always = crm_referrals.report(
            session=s, since=None, until=date(2026, 4, 1), timezone="Asia/Shanghai"
        )
        a2_only = crm_referrals.report(
            session=s,
            since=None,
            until=date(2026, 4, 1),
            timezone="Asia/Shanghai",
            adviser_ids=("a2",),
        )
    # March: a1 added k1, k2, k3 (all referred; revenue 500 + 0 in March), a2 added k4
    # (referred, 200) and s.
    assert [
        (a.adviser_id, a.customers, a.referred, a.revenue, a.referred_revenue)
        for a in march.advisers
    ] == [("a1", 3, 3, 500.0, 500.0), ("a2", 2, 1, 200.0, 200.0)]
    assert (march.total.customers, march.total.referred, march.total.revenue) == (5, 4, 700.0)
    assert march.total.customer_share == 0.8 and march.total.revenue_share == 1.0
    assert [
        (x.referrer_id, x.direct, x.chain, x.direct_revenue, x.chain_revenue)
        for x in march.referrers
    ] == [
        (r, 3, 4, 700.0, 700.0),
        (k1, 1, 1, 0.0, 0.0),
    ]
    # All time: r and its 1000 count for a1 too, not referred.
    (a1, a2) = always.advisers
    assert (a1.customers, a1.referred, a1.revenue, a1.referred_revenue) == (4, 3, 1500.0, 500.0)
    assert a1.customer_share == 0.75 and round(a1.revenue_share, 4) == 0.3333
    assert (a2.customers, a2.referred) == (2, 1)
    assert [x.referrer_id for x in a2_only.referrers] == []  # r is a1's customer


def test_chains_refuse_cycles_and_follow_merges(db: Database) -> None:
    a, b, c = person(db, "a"), person(db, "b"), person(db, "c")
    refer(db, b, a)
    refer(db, c, b)
    with pytest.raises(InputError, match="循环"):
        refer(db, a, c)
    with pytest.raises(InputError, match="自己"):
        refer(db, a, a)
    with db.session() as s:
        chain = crm_referrals.chain(session=s, customer_id=c)
        top = crm_referrals.chain(session=s, customer_id=a)
    assert [p.name for p in chain.up] == ["b", "a"]
    assert [(n.person.name, [x.person.name for x in n.children]) for n in top.down] == [
        ("b", ["c"])
    ]
    assert top.down[0].size == 1


def test_merge_undo_delete_and_forget_keep_referral_links_right(db: Database) -> None:
    root = person(db, "root")
    dup = person(db, "dup")  # the same person as root, found later
    kid = person(db, "kid")
    grandkid = person(db, "grandkid")
    refer(db, kid, dup)
    refer(db, grandkid, kid)
    refer(db, root, grandkid)  # root's own referrer, taken by nobody
    with db.session() as s:
        merge = merges.merge_customers(session=s, kept_id=root, merged_id=dup, actor="t")
    with db.session() as s:
        assert s.get_one(Customer, kid).referred_by_id == root  # moved with the merge
        merges.unmerge(session=s, merge_id=merge.id, actor="t")
    with db.session() as s:
        assert s.get_one(Customer, kid).referred_by_id == dup  # and back
        assert s.get_one(Customer, root).referred_by_id == grandkid
        erasure.erase_customer(session=s, customer_id=kid, actor="dpo")
    with db.session() as s:  # forgotten: the link to and from the anonymised profile stays
        assert s.get_one(Customer, grandkid).referred_by_id == kid
        assert s.get_one(Customer, kid).referred_by_id == dup
        assert s.get_one(Customer, kid).name == ""
        assert customers.delete_customer(session=s, customer_id=kid)
    with db.session() as s:  # deleted: who they referred stays, without the pointer
        assert s.get_one(Customer, grandkid).referred_by_id is None


def test_a_referrer_in_a_greeting_is_suggested_and_confirmed(make_runtime: Runtime) -> None:
    rt = make_runtime()  # type: ignore[operator]
    channel = MemoryChannel(rt.assistant.handle, adviser_id="adv-li", adviser_name="李顾问")
    old = channel.receive("wx-zl", "你好", contact_name="张丽")
    new = channel.receive("wx-new", "你好，张丽介绍我加的你", contact_name="周周")
    nobody = channel.receive("wx-x", "你好，王五介绍我来的", contact_name="吴吴")
    assert old and new and nobody
    with rt.db.session() as s:
        (found,) = fields_repo.list_suggestions(session=s, customer_id=new.customer_id)
        (unmatched,) = fields_repo.list_suggestions(session=s, customer_id=nobody.customer_id)
    assert (found.field, found.value, found.shown) == (
        REFERRER_FIELD,
        str(old.customer_id),
        f"张丽 #{old.customer_id}",
    )
    assert "张丽介绍我加的你" in found.evidence
    assert unmatched.value == "王五"  # nobody of this adviser is called so
    from bot.services import fields as fields_service
    from bot.services.access import cli_principal

    admin = cli_principal("t")
    with rt.db.session() as s:
        fields_service.review(s, admin, suggestion_id=found.id, status="confirmed")
    with rt.db.session() as s:
        assert s.get_one(Customer, new.customer_id or 0).referred_by_id == old.customer_id
        with pytest.raises(InputError, match="手动选择介绍人"):
            fields_service.review(s, admin, suggestion_id=unmatched.id, status="confirmed")


def test_referrals_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    people = tmp_path / "people.csv"
    # 乙 names 甲 by phone; 丙 names 乙, who is on a later line? no: 丁 names 戊 below it
    people.write_text(
        "name,adviser_id,phone,referred_by\n"
        "甲,a1,13900000001,\n"
        "乙,a1,13900000002,13900000001\n"
        "丙,a1,13900000003,2\n"
        "丁,a1,13900000004,13900000005\n"
        "戊,a1,13900000005,\n",
        encoding="utf-8",
    )

    def siyu(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(["--data-dir", str(data), "--actor", "t", *args])
        out = capsys.readouterr()
        return code, out.out, out.err

    code, out, err = siyu("customers", "import", str(people))
    assert code == 0 and "介绍人 3" in out, err
    code, out, _ = siyu("referrals", "chain", "1")
    assert code == 0 and "乙" in out and "丙" in out and "下线 1 人" in out
    code, out, _ = siyu("referrals", "chain", "3")
    assert "丙 #3 ← 乙 #2 ← 甲 #1" in out
    code, _, err = siyu("referrals", "set", "1", "3")
    assert code == 1 and "循环" in err
    assert siyu("referrals", "set", "5", "13900000001")[0] == 0
    code, out, _ = siyu("referrals", "report")
    assert code == 0 and "80%" in out  # 4 of 5 came by referral
    bad = tmp_path / "bad.csv"
    bad.write_text("name,phone,referred_by\n己,13900000009,13999999999\n", encoding="utf-8")
    code, _, err = siyu("customers", "import", str(bad))
    assert code == 1 and "找不到介绍人 13999999999" in err


def test_merging_two_profiles_of_one_person_never_makes_them_their_own_referrer(
    db: Database,
) -> None:
    x, y = person(db, "x"), person(db, "y")
    refer(db, y, x)  # y (a duplicate of x) "was referred" by x
    with db.session() as s:
        merges.merge_customers(session=s, kept_id=x, merged_id=y, actor="t")
    with db.session() as s:
        assert s.get_one(Customer, x).referred_by_id is None
    u, v = person(db, "u"), person(db, "v")
    refer(db, u, v)  # u "was referred" by its duplicate v
    with db.session() as s:
        merges.merge_customers(session=s, kept_id=u, merged_id=v, actor="t")
    with db.session() as s:
        assert s.get_one(Customer, u).referred_by_id == v  # not u itself
        assert crm_referrals.chain(session=s, customer_id=u).up == ()
