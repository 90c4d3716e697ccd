"""Learning from edits: script drafts from frequent adviser edits and unmatched messages."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.learning.mining import cluster
from bot.pipeline.runtime import Runtime


def test_cluster_groups_near_duplicates() -> None:
    texts = (
        ["周末有空来店里看看吗？"] * 2
        + ["周末有空来店里看看吗"]
        + ["好的", "完全不同的一句话术内容"]
    )
    groups = cluster(texts, similarity=0.8)
    assert len(groups[0]) == 3  # the short "好的" is too short to count
    assert all("好的" not in g for g in groups)


def test_mine_edits_proposes_drafts_never_approved(
    make_runtime: Callable[..., Runtime], capsys: pytest.CaptureFixture[str]
) -> None:
    rt = make_runtime()
    ch = MemoryChannel(rt.assistant.handle)
    edited_from = None
    for i in range(3):
        shown = ch.receive(f"e{i}", "理赔要准备什么材料", msg_id=f"e-in-{i}", industry="insurance")
        assert shown is not None
        top = shown.scripts[0]
        edited_from = edited_from or top.id
        top = next(s for s in shown.scripts if s.id == edited_from)
        ch.receive(f"e{i}", top.text + "有问题随时找我。", msg_id=f"e-out-{i}", direction="out")
    for i in range(3):
        ch.receive(f"u{i}", "你好", msg_id=f"u-in-{i}", industry="insurance")
        ch.receive(
            f"u{i}", "周末门店有活动，欢迎带家人来坐坐", msg_id=f"u-out-{i}", direction="out"
        )
    data = str(rt.settings.data_dir)
    before = {s.id for s in rt.library.list_scripts(status="draft")}
    capsys.readouterr()
    assert run(["--data-dir", data, "scripts", "mine-edits", "--dry-run"]) == 0
    assert "将新增 2 条草稿" in capsys.readouterr().out
    assert {s.id for s in rt.library.list_scripts(status="draft")} == before  # nothing written
    assert run(["--data-dir", data, "scripts", "mine-edits"]) == 0
    drafts = {s.id: s for s in rt.library.list_scripts(status="draft")}
    new = {k: v for k, v in drafts.items() if k not in before}
    assert len(new) == 2
    edit = next(s for s in new.values() if s.id.startswith(f"{edited_from}-E"))
    assert edit.body.endswith("有问题随时找我。") and edit.status == "draft"
    mined = next(s for s in new.values() if s.id.startswith("MINED-"))
    assert mined.body == "周末门店有活动，欢迎带家人来坐坐" and mined.industry == "insurance"
    assert not any(s.id in new for s in rt.library.list_scripts(status="approved"))
    # a re-run proposes nothing twice
    capsys.readouterr()
    assert run(["--data-dir", data, "scripts", "mine-edits"]) == 0
    assert "没有新的话术草稿（至少 3 条相似的" in capsys.readouterr().out


def test_drafts_hold_no_customers_text(make_runtime: Callable[..., Runtime]) -> None:
    """A draft comes from at least two customers' chats, with each customer's name made
    {customer_name} and personal data masked: mined scripts (shown to operators, indexed)
    never quote one person (issue 13)."""
    rt = make_runtime()
    ch = MemoryChannel(rt.assistant.handle)
    people = [("p0", "欧阳娜娜", "13800138000"), ("p1", "司马光明", "13900139000")]
    for n, (contact, name, phone) in enumerate(people):
        for i in range(2 if n else 3):  # one customer alone makes a group of three
            shown = ch.receive(contact, "你好", msg_id=f"{contact}-in-{i}", contact_name=name)
            assert shown is not None
            ch.receive(
                contact,
                f"{name}您好，周末门店有活动，来之前打我电话 {phone}",
                msg_id=f"{contact}-out-{i}",
                direction="out",
            )
    only_one = [("solo", "诸葛亮亮", "13700137000")] * 3
    for i, (contact, name, phone) in enumerate(only_one):
        ch.receive(contact, "在吗", msg_id=f"solo-in-{i}", contact_name=name)
        ch.receive(
            contact,
            f"{name}，您的保单号 PX-{phone} 我发您邮箱了",
            msg_id=f"solo-out-{i}",
            direction="out",
        )
    from bot.services.access import cli_principal
    from bot.services.scripts import mine_drafts

    proposals = mine_drafts(rt.db, cli_principal("op"), min_count=3, similarity=0.8, save=True)
    bodies = [p.record.body for p in proposals]
    assert bodies == ["{customer_name}您好，周末门店有活动，来之前打我电话 【手机号】"]
    # the title is the text as read, not its first 20 characters with the variable's code
    # (「{customer_name}您好，周末」: every mined draft began alike in the list)
    assert [p.record.title for p in proposals] == ["您好，周末门店有活动，来之前打我电话…"]
    stored = " ".join(s.body for s in rt.library.list_scripts(status="draft"))
    for private in ("欧阳娜娜", "司马光明", "诸葛亮亮", "13800138000", "13700137000", "保单号"):
        assert private not in stored, private
