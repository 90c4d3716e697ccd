"""Outcome matching (bot.pipeline.outcomes): channel-independent, through the real pipeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.channels.memory import MemoryChannel
from bot.pipeline.outcomes import Candidate, classify
from bot.pipeline.runtime import Runtime
from bot.store import outcomes as outcomes_repo
from bot.store import suggestions as suggestions_repo

CANDIDATES = [Candidate("安心保重疾险每年4680元。", "S1"), Candidate("理赔三天到账。", "S2")]


def test_classify_adopted_edited_ignored() -> None:
    adopted = classify(" 安心保重疾险 每年4680元。", CANDIDATES, edited_min_similarity=0.6)
    assert (adopted.kind, adopted.script_id, adopted.edit_distance) == ("adopted", "S1", 0)
    edited = classify("安心保重疾险每年4680元，您看呢？", CANDIDATES, edited_min_similarity=0.6)
    assert (edited.kind, edited.script_id, edited.edit_distance) == ("edited", "S1", 5)
    ignored = classify("晚上好，周末有空吗", CANDIDATES, edited_min_similarity=0.6)
    assert (ignored.kind, ignored.script_id) == ("ignored", None)
    assert classify("随便", [], edited_min_similarity=0.6).kind == "ignored"


def _outcomes(rt: Runtime, customer_id: int) -> list[outcomes_repo.OutcomeRecord]:
    with rt.db.session() as session:
        return outcomes_repo.list_outcomes(session=session, customer_id=customer_id)


def test_adviser_messages_are_matched_and_replies_recorded(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    rt = make_runtime()
    ch = MemoryChannel(rt.assistant.handle)
    t0 = datetime.now(UTC)
    first = ch.receive("c1", "重疾险一年多少钱", contact_name="张三", msg_id="in-1")
    assert first is not None and first.customer_id is not None
    cid = first.customer_id
    top = first.scripts[0]
    ch.receive("c1", top.text, msg_id="out-1", direction="out")
    [adopted] = _outcomes(rt, cid)
    assert (adopted.kind, adopted.script_id, adopted.suggestion_id) == (
        "adopted",
        top.id,
        first.suggestion_id,
    )
    assert adopted.customer_replied is None
    # A second adviser message has no open suggestion left: nothing recorded.
    ch.receive("c1", "在吗？", msg_id="out-2", direction="out")
    assert len(_outcomes(rt, cid)) == 1
    # The customer answers: the outcome records the reply.
    second = ch.receive("c1", "有点贵，有便宜的吗", msg_id="in-2")
    [adopted] = _outcomes(rt, cid)
    assert adopted.customer_replied is True and adopted.replied_at is not None
    assert second is not None
    # Something unrelated is "ignored", with the final text kept.
    ch.receive("c1", "晚上好，周末有空吗", msg_id="out-3", direction="out")
    ignored = _outcomes(rt, cid)[-1]
    assert (ignored.kind, ignored.final_text, ignored.suggestion_id) == (
        "ignored",
        "晚上好，周末有空吗",
        second.suggestion_id,
    )
    # A reply long after the window counts as not replied (in time).
    late = datetime.now(UTC) + timedelta(hours=30)
    from bot.domain import IncomingMessage

    rt.assistant.handle(
        IncomingMessage(msg_id="in-3", channel="memory", contact_id="c1", text="好的", sent_at=late)
    )
    assert _outcomes(rt, cid)[-1].customer_replied is False
    with rt.db.session() as session:
        assert len(suggestions_repo.list_suggestions(session=session, customer_id=cid)) == 3
    assert t0 <= adopted.created_at


def test_automatic_and_group_messages_are_not_matched(
    make_runtime: Callable[..., Runtime],
) -> None:
    from bot.domain import IncomingMessage

    rt = make_runtime()
    ch = MemoryChannel(rt.assistant.handle)
    first = ch.receive("c1", "重疾险一年多少钱", msg_id="in-1")
    assert first is not None and first.customer_id is not None
    rt.assistant.handle(
        IncomingMessage(
            msg_id="auto-1",
            channel="memory",
            contact_id="c1",
            text=first.scripts[0].text,
            direction="out",
            automated=True,
        )
    )
    assert _outcomes(rt, first.customer_id) == []
