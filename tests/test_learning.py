"""Learning from practice (issue 12): replies matched against the whole library, learned
triggers, conversation context, the chat-history import, and their pieces (template
matching, z-score fusion, the example index, the embedding worker pool)."""

from __future__ import annotations

import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import RuntimeFactory
from sqlalchemy import select

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.domain import IncomingMessage
from bot.errors import InputError, NotFoundError
from bot.pipeline.assistant import recent_context
from bot.pipeline.history import HEADER_NAMES, read_history
from bot.services import history, privacy, scripts
from bot.services import tags as tags_service
from bot.services.access import cli_principal
from bot.settings import Settings
from bot.store import advisers as advisers_repo
from bot.store import customers as customers_repo
from bot.store import examples as examples_repo
from bot.store import messages as messages_repo
from bot.store import uses as uses_repo
from bot.store.conversions import resolve_customer
from bot.store.models import Event
from bot.store.records import MessageRecord, aware
from knowledge import Channel, HashingEmbedder, PooledEmbedder, spread, zscore
from knowledge.examples import Example, ExampleIndex
from knowledge.parallel import EmbeddingPool
from knowledge.settings import VectorSettings
from knowledge.vectors import open_vector_store
from scripts_lib import TemplateMatcher, load_scripts

ADMIN = cli_principal("tester")
CST = timezone(timedelta(hours=8))
PRC = "安心保重疾险50万保额，30岁女性每年4680元，折合每天不到13元。"


# --------------------------------------------------------------------------- matching
TEMPLATES = [
    ("PRICE", "{customer_name}您好，安心保重疾险50万保额，30岁女性每年4680元，折合每天不到13元。"),
    ("CLAIM", "理赔需要：身份证、银行卡、病历和费用清单、诊断证明，拍照上传即可，我全程协助。"),
    # two scripts sharing a long prefix
    ("RENEW-A", "您的保单下个月到期，系统会从绑定的银行卡自动扣费续保，请保持余额充足。"),
    ("RENEW-B", "您的保单下个月到期，系统会从绑定的银行卡自动扣费续保，如需换卡请在公众号修改。"),
    ("GREET", "{customer_name}，{date}快乐！{adviser_name}祝您和家人平安顺遂。"),
]


@pytest.fixture(scope="module")
def matcher() -> TemplateMatcher:
    return TemplateMatcher(TEMPLATES, min_similarity=0.7)


@pytest.mark.parametrize(
    ("sent", "script", "kind"),
    [
        # variables filled with any values, or with nothing
        (
            "王女士您好，安心保重疾险50万保额，30岁女性每年4680元，折合每天不到13元。",
            "PRICE",
            "template",
        ),
        ("您好，安心保重疾险50万保额，30岁女性每年4680元，折合每天不到13元。", "PRICE", "template"),
        ("张三丰老先生，中秋节快乐！小李祝您和家人平安顺遂。", "GREET", "template"),
        # punctuation, spaces, width and Traditional characters do not count
        (
            "理賠需要 身份證 銀行卡 病歷和費用清單 診斷證明 拍照上傳即可 我全程協助",
            "CLAIM",
            "template",
        ),
        # lightly edited: an opening, a dropped clause, a closing of one's own
        (
            "好的～理赔需要：身份证、银行卡、病历和费用清单，拍照上传即可，我全程协助哈",
            "CLAIM",
            "edited",
        ),
        ("王姐，安心保重疾险50万保额，30岁每年4680元，算下来每天不到13块", "PRICE", "edited"),
        # the prefix two scripts share, then each one's own ending
        (
            "您的保单下个月到期，系统会从绑定的银行卡自动扣费续保，记得保持卡里余额充足哦",
            "RENEW-A",
            "edited",
        ),
        (
            "您的保单下个月到期，系统会从绑定的银行卡自动扣费续保，如需换卡请在公众号修改。",
            "RENEW-B",
            "template",
        ),
    ],
)
def test_a_sent_message_is_recognised_as_its_script(
    matcher: TemplateMatcher, sent: str, script: str, kind: str
) -> None:
    found = matcher.match(sent)
    assert found is not None and (found.script_id, found.kind) == (script, kind)
    assert (found.similarity == 1.0) == (kind == "template")
    assert found.similarity >= 0.7


@pytest.mark.parametrize(
    "sent",
    [
        "好的，我晚点打给您",  # unrelated
        "在的在的",
        "您的保单下个月到期，系统会从绑定的银行卡自动扣费续保",  # only the shared prefix
        "理赔需要身份证",  # a fragment
    ],
)
def test_unrelated_or_ambiguous_messages_match_nothing(matcher: TemplateMatcher, sent: str) -> None:
    assert matcher.match(sent) is None


# --------------------------------------------------------------------------- fusion
def test_zscore_fusion_weights_channels_by_how_sure_they_are() -> None:
    dense = [("a", 0.80), ("b", 0.78), ("c", 0.76), ("d", 0.70)]  # a close race
    lexical = [("c", 9.0)]  # one exact match (a product code), the rest share no term
    fused = dict(zscore([Channel(dense), Channel(lexical, floor=0.0)]))
    assert max(fused, key=lambda k: fused[k]) == "c"
    assert all(0 < v < 1 for v in fused.values())
    # without the floor a single candidate says nothing
    alone = zscore([Channel(dense), Channel(lexical)])
    assert alone[0][0] == "a"
    # a standardised channel adds its values as they are; ids it lacks add nothing
    boosted = dict(zscore([Channel(dense), Channel([("b", 5.0)], 1.0, standardised=True)]))
    assert max(boosted, key=lambda k: boosted[k]) == "b"
    assert boosted["a"] == dict(zscore([Channel(dense)]))["a"]
    with pytest.raises(ValueError, match="negative"):
        zscore([Channel(dense, -1.0)])


def test_spread_keeps_at_most_so_many_of_one_document_and_fills_from_the_rest() -> None:
    ranked = [("faq", 1), ("faq", 2), ("faq", 3), ("sheet", 4), ("faq", 5), ("guide", 6)]
    doc = lambda item: item[0]  # noqa: E731
    assert spread(ranked, key=doc, per_key=1, k=3) == [("faq", 1), ("sheet", 4), ("guide", 6)]
    assert spread(ranked, key=doc, per_key=2, k=3) == [("faq", 1), ("faq", 2), ("sheet", 4)]
    assert spread(ranked, key=doc, per_key=0, k=3) == ranked[:3]
    # fewer documents than places: the best of the rest fill them, after the spread ones
    only_faq = [("faq", 1), ("faq", 2), ("sheet", 3), ("faq", 4)]
    assert spread(only_faq, key=doc, per_key=1, k=3) == [("faq", 1), ("sheet", 3), ("faq", 2)]
    assert spread(only_faq, key=doc, per_key=1, k=10) == [
        ("faq", 1),
        ("sheet", 3),
        ("faq", 2),
        ("faq", 4),
    ]


# --------------------------------------------------------------------------- examples
@pytest.fixture
def example_index(tmp_path: Path) -> Iterator[ExampleIndex]:
    with open_vector_store(VectorSettings(), tmp_path) as store:
        yield ExampleIndex("examples", embedder=HashingEmbedder(dim=64), vectors=store)


def test_the_centroid_of_a_label_votes_and_shared_texts_weigh_less(
    example_index: ExampleIndex,
) -> None:
    examples = [
        Example("1", "PRICE", "重疾险一年多少钱", "use-1"),
        Example("2", "PRICE", "重疾险一年要交多少钱", "use-2"),
        Example("3", "CLAIM", "理赔要准备什么材料", "use-3"),
        Example("4", "CLAIM", "在吗", "use-3"),
        Example("5", "PRICE", "在吗", "use-1"),
    ]
    stats = example_index.sync(examples)
    assert (stats.examples, stats.embedded) == (5, 5)
    query = example_index._embedder.embed_one("重疾险一年交多少钱")
    sims = example_index.similarities(query)
    assert next(iter(sims)) == "PRICE"
    channel = example_index.channel(query, weight=1.0, min_similarity=0.5, reference=(0.2, 0.1))
    assert channel.standardised and next(label for label, _ in channel.scores) == "PRICE"
    # distinct uses among the similar examples (the reason 「相似问题已用过 2 次」)
    assert example_index.count_similar(query, "PRICE", min_similarity=0.5) == 2
    assert example_index.labels() == {"PRICE": 3, "CLAIM": 2}
    example_index.remove(["1", "2"])
    assert example_index.labels() == {"PRICE": 1, "CLAIM": 2}
    # a sync keeps the vectors of unchanged texts
    again = example_index.sync(examples[2:])
    assert (again.embedded, again.removed) == (0, 0)


def test_the_worker_pool_embeds_in_order_like_the_calling_process() -> None:
    texts = [f"第{i}条客户消息，关于重疾险和理赔" for i in range(300)]
    local = HashingEmbedder(dim=32)
    pooled = PooledEmbedder(
        local, EmbeddingPool(functools.partial(HashingEmbedder, 32), processes=2)
    )
    try:
        streamed = np.concatenate(list(pooled.embed_stream(texts)))
    finally:
        pooled.close()
    np.testing.assert_allclose(streamed, local.embed(texts), atol=1e-6)


# --------------------------------------------------------------------------- context
def _message(id_: int, direction: str, text: str, minutes_ago: float) -> MessageRecord:
    return MessageRecord(
        id=id_,
        msg_id=f"m{id_}",
        conversation_id=1,
        customer_id=1,
        adviser_id="a",
        direction=direction,  # type: ignore[arg-type]
        type="text",
        text=text,
        sent_at=datetime(2026, 3, 1, 12, tzinfo=UTC) - timedelta(minutes=minutes_ago),
        status="done",
    )


def test_context_is_the_customers_last_messages_within_minutes_since_the_last_reply() -> None:
    settings = Settings.model_validate({"context": {"minutes": 10, "messages": 2}})
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    previous = [
        _message(1, "in", "重疾险多少钱", 30),  # answered below
        _message(2, "out", "50万保额每年4680元", 29),
        _message(3, "in", "太久以前", 15),  # older than 10 minutes
        _message(4, "in", "在吗", 4),
        _message(5, "in", "纸尿裤", 3),
        _message(6, "in", "L码的", 2),
    ]
    assert recent_context(previous, settings, at=now) == ((5, "纸尿裤"), (6, "L码的"))
    assert recent_context(previous[:4], settings, at=now) == ((4, "在吗"),)
    assert recent_context(previous[:2], settings, at=now) == ()  # the adviser answered
    off = Settings.model_validate({"context": {"messages": 0}})
    assert recent_context(previous, off, at=now) == ()


# --------------------------------------------------------------------------- live learning
def test_a_reply_is_a_use_of_any_script_and_its_question_an_example(
    make_runtime: RuntimeFactory, database_url: str
) -> None:
    """On each relational backend (SQLite; PostgreSQL when SIYU_TEST_POSTGRES_URL is set)."""
    rt = make_runtime(store={"url": database_url})
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li", adviser_name="李顾问")
    shown = channel.receive("wx-1", "我想问问理赔要交哪些东西", industry="insurance")
    assert shown is not None
    assert "INS-PRC-1" not in [s.id for s in shown.scripts]
    # the adviser answers with a script that was not suggested (found in the library)
    channel.receive("wx-1", f"好的～{PRC}", direction="out")
    # ... and with the suggested one, filled in and edited
    channel.receive("wx-1", "那要准备什么", industry="insurance")
    channel.receive(
        "wx-1",
        "理赔需要身份证、银行卡、病历和费用清单、诊断证明，拍照上传就行，我全程协助",
        direction="out",
    )
    channel.receive("wx-1", "好的谢谢")
    channel.receive("wx-1", "嗯嗯不客气", direction="out")  # no script: no use
    with rt.db.session() as session:
        counts = uses_repo.use_counts(session=session)
        prc = examples_repo.list_examples(session=session, script_id="INS-PRC-1")
        afs = examples_repo.list_examples(session=session, script_id="INS-AFS-1")
    assert counts == {
        "INS-PRC-1": uses_repo.UseCounts(total=1, shown=0),
        "INS-AFS-1": uses_repo.UseCounts(total=1, shown=1),
    }
    assert [e.text for e in prc] == ["我想问问理赔要交哪些东西"]
    assert [e.text for e in afs] == ["那要准备什么"]
    assert rt.library.triggers.index.labels() == {"INS-PRC-1": 1, "INS-AFS-1": 1}


def test_a_learned_example_shows_neither_the_customers_phone_nor_name(
    make_runtime: RuntimeFactory,
) -> None:
    """Operators read learned examples on the script's page: 「我是钱七，电话138·1234·5678」
    reached it with the name, and the phone written with middle dots unmasked."""
    rt = make_runtime()
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li", adviser_name="李顾问")
    channel.receive(
        "wx-7", "我是钱七，电话138·1234·5678，想问理赔要交哪些东西", contact_name="钱七"
    )
    channel.receive("wx-7", f"好的～{PRC}", direction="out", contact_name="钱七")
    with rt.db.session() as session:
        learned = examples_repo.list_examples(session=session, script_id="INS-PRC-1")
    assert [e.text for e in learned] == ["我是【客户】，电话【手机号】，想问理赔要交哪些东西"]


def test_uses_raise_a_script_to_the_top_and_say_why(make_runtime: RuntimeFactory) -> None:
    """The third channel changes a ranking: a script advisers keep sending for a kind
    of message comes first for it, with the reason 「相似问题已用过 3 次」."""
    rt = make_runtime()
    query = "身体一直挺好的有必要花这个钱吗"
    before = [s.id for s in rt.assistant.suggest(query, industry="insurance").scripts]
    # before any use: the words a script shares with the message, when it shares some
    fresh = rt.assistant.suggest("重疾险一年多少钱", industry="insurance").scripts
    assert fresh[0].id == "INS-PRC-1" and fresh[0].reason == "都提到“重疾险”“多少钱”"
    # ... and nothing when they share none (a match by meaning alone)
    assert [s.reason for s in rt.assistant.suggest(query, industry="insurance").scripts] == [
        None
    ] * 3
    target = next(sid for sid in before[1:] if sid.startswith("INS-"))
    body = rt.library.get([target])[target].body.replace("{customer_name}", "王姐")
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li")
    for n, said in enumerate([query, f"{query}？", f"请问{query}"]):
        channel.receive(f"wx-{n}", said, industry="insurance")
        channel.receive(f"wx-{n}", body, direction="out")
    after = rt.assistant.suggest(query, industry="insurance").scripts
    assert after[0].id == target != before[0]
    assert after[0].reason is not None and "相似问题已用过 3 次" in after[0].reason
    shape = rt.assistant.suggest(query, industry="insurance").to_json()["scripts"][0]
    assert set(shape) == {"id", "title", "category", "score", "text", "missing", "reason"}
    assert 0 < shape["score"] < 1


def test_examples_of_archived_scripts_are_ignored(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li")
    channel.receive("wx-1", "一年多少钱", industry="insurance")
    channel.receive("wx-1", PRC, direction="out")
    assert "INS-PRC-1" in rt.library.triggers.index.labels()
    scripts.set_status(rt, ADMIN, script_id="INS-PRC-1", status="archived")
    assert rt.library.triggers.index.labels() == {}
    assert "INS-PRC-1" not in [
        s.id for s in rt.assistant.suggest("一年多少钱", industry="insurance").scripts
    ]
    found = scripts.examples(rt, ADMIN, "INS-PRC-1")  # kept, shown to operators
    assert [e.text for e in found.examples] == ["一年多少钱"] and found.uses.total == 1
    scripts.set_status(rt, ADMIN, script_id="INS-PRC-1", status="approved")
    assert rt.library.triggers.index.labels() == {"INS-PRC-1": 1}


def test_operators_see_and_remove_examples_and_write_their_own(
    make_runtime: RuntimeFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = make_runtime()
    library = tmp_path / "more.csv"
    library.write_text(
        "id,title,category,stage,industry,tags,body,examples\n"
        f'INS-PRC-1,重疾险保费多少钱,pricing,convert,insurance,价格,{PRC},"一年交多少;保费贵不贵"\n',
        encoding="utf-8",
    )
    assert load_scripts(library)[0].examples == ("一年交多少", "保费贵不贵")
    scripts.import_file(rt, ADMIN, path=library)
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li")
    channel.receive("wx-1", "我的电话13812345678，重疾多少钱", industry="insurance")
    channel.receive("wx-1", PRC, direction="out")
    found = scripts.examples(rt, ADMIN, "INS-PRC-1")
    assert (found.written, found.learned) == (2, 1)
    learned = next(e for e in found.examples if e.source == "learned")
    assert "13812345678" not in learned.text, "personal data is masked in examples"
    assert rt.library.triggers.index.labels() == {"INS-PRC-1": 3}
    # export writes them back; a file without the column keeps them
    exported = tmp_path / "out.yaml"
    scripts.export(rt, ADMIN, path=exported, industry="insurance")
    assert "保费贵不贵" in exported.read_text("utf-8")
    plain = tmp_path / "plain.csv"
    plain.write_text(
        "id,title,category,stage,industry,tags,body\n"
        f"INS-PRC-1,重疾险保费多少钱,pricing,convert,insurance,价格,{PRC}\n",
        encoding="utf-8",
    )
    scripts.import_file(rt, ADMIN, path=plain)
    assert scripts.examples(rt, ADMIN, "INS-PRC-1").written == 2
    with pytest.raises(NotFoundError):
        scripts.remove_example(rt, ADMIN, script_id="INS-AFS-1", example_id=learned.id)
    scripts.remove_example(rt, ADMIN, script_id="INS-PRC-1", example_id=learned.id)
    assert rt.library.triggers.index.labels() == {"INS-PRC-1": 2}
    data = str(rt.settings.data_dir)
    rt.close()
    capsys.readouterr()
    assert run(["--data-dir", data, "scripts", "examples", "INS-PRC-1"]) == 0
    shown = capsys.readouterr().out
    assert "保费贵不贵" in shown and "使用 1 次" in shown and "运营例句 2 条" in shown
    from zoneinfo import ZoneInfo

    assert datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d") in shown  # not UTC's


def test_learned_examples_show_when_the_customer_wrote_them(
    make_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """An archive imported today: operators see each example with the day the customer
    wrote it (not the day it was learned), the most recent message first."""
    rt = make_runtime()

    def exchange(contact: str, question: str, day: datetime) -> None:
        for n, (text, direction) in enumerate(((question, "in"), (PRC, "out"))):
            rt.assistant.receive(
                IncomingMessage(
                    msg_id=f"{contact}-{n}",
                    channel="history",
                    contact_id=contact,
                    text=text,
                    direction=direction,
                    adviser_id="li",
                    industry="insurance",
                    sent_at=day + timedelta(minutes=n),
                )
            )

    exchange("wx-new", "重疾险一年多少钱", datetime(2026, 3, 5, 2, 0, tzinfo=UTC))
    exchange("wx-old", "保费贵不贵", datetime(2026, 3, 1, 2, 0, tzinfo=UTC))  # learned later
    found = scripts.examples(rt, ADMIN, "INS-PRC-1").examples
    assert [(e.text, e.sent_at) for e in found] == [
        ("重疾险一年多少钱", datetime(2026, 3, 5, 2, 0, tzinfo=UTC)),
        ("保费贵不贵", datetime(2026, 3, 1, 2, 0, tzinfo=UTC)),
    ]
    data = str(rt.settings.data_dir)
    rt.close()
    capsys.readouterr()
    assert run(["--data-dir", data, "scripts", "examples", "INS-PRC-1"]) == 0
    shown = capsys.readouterr().out
    assert "2026-03-05 10:00" in shown and "2026-03-01 10:00" in shown  # Shanghai time


def test_forget_removes_learned_examples_and_keeps_the_use(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li")
    channel.receive("wx-1", "重疾险一年多少钱", industry="insurance")
    received = rt.assistant.receive(
        IncomingMessage(
            msg_id="o-1",
            channel="memory",
            contact_id="wx-1",
            text=PRC,
            direction="out",
            adviser_id="li",
        )
    )
    counts = privacy.forget_everywhere(rt, ADMIN, received.customer_id).counts
    assert counts.get("script_examples") == 1
    with rt.db.session() as session:
        assert examples_repo.list_examples(session=session, script_id="INS-PRC-1") == []
        assert uses_repo.use_counts(session=session)["INS-PRC-1"].total == 1
    assert rt.library.triggers.index.labels() == {}


# --------------------------------------------------------------------------- context, live
def test_the_previous_message_steers_a_short_one(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    alone = rt.assistant.suggest("那需要准备啥", industry="insurance").scripts
    received = rt.assistant.receive(
        IncomingMessage(
            msg_id="ctx-1",
            channel="memory",
            contact_id="wx-ctx",
            text="我爸刚住院，之后要理赔",
            industry="insurance",
            sent_at=datetime.now(UTC) - timedelta(seconds=30),
        )
    )
    steered = rt.assistant.suggest("那需要准备啥", customer_id=received.customer_id).scripts
    assert alone[0].id != "INS-AFS-1"
    assert steered[0].id == "INS-AFS-1"
    # an older message is no context
    stale = rt.assistant.receive(
        IncomingMessage(
            msg_id="ctx-2",
            channel="memory",
            contact_id="wx-stale",
            text="我爸刚住院，之后要理赔",
            industry="insurance",
            sent_at=datetime.now(UTC) - timedelta(hours=1),
        )
    )
    later = rt.assistant.suggest("那需要准备啥", customer_id=stale.customer_id).scripts
    assert [s.id for s in later] == [s.id for s in alone]


# --------------------------------------------------------------------------- history import
def _history_lines(contacts: int) -> list[dict[str, Any]]:
    """Per contact: a greeting and a free reply, a price question answered with the
    price script, a complaint answered with the objection script edited."""
    base = datetime(2026, 3, 1, 9, tzinfo=CST)
    out = []
    for k in range(contacts):
        t = base + timedelta(minutes=10 * k)
        said = [
            ("in", "在吗"),
            ("out", "在的，您说"),
            ("in", "重疾险一年多少钱"),
            ("out", PRC),
            ("in", "太贵了吧"),
            ("out", "理解王女士的顾虑，算下来每天不到一杯奶茶钱，却能换来50万的确诊即赔哈"),
        ]
        for n, (direction, text) in enumerate(said):
            out.append(
                {
                    "msg_id": f"h-{k:03d}-{n}",
                    "contact_id": f"ext-{k:03d}",
                    "contact_name": f"客户{k}",
                    "adviser_id": "li",
                    "industry": "insurance",
                    "direction": direction,
                    "text": text,
                    "sent_at": (t + timedelta(minutes=n)).isoformat(),
                }
            )
    out.reverse()  # the file's order does not matter: messages are logged in time order
    return out


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _write_csv(path: Path, rows: list[dict[str, Any]], names: dict[str, str] | None = None) -> Path:
    """``rows`` as a CSV file; ``names``: the header's name for some columns."""
    header = list(rows[0])
    lines = [",".join((names or {}).get(h, h) for h in header)]
    lines += [",".join(str(r[h]) for h in header) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _siyu() -> str:
    return str(Path(sys.executable).with_name("siyu"))


KILLED_IMPORT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import bot.pipeline.history as importer
    from bot.store import messages
    from bot.pipeline.runtime import open_runtime
    from bot.services import history
    from bot.services.access import cli_principal
    from bot.settings import Settings

    importer.CHUNK = 25
    real, calls = messages.log_messages, []
    real_tags = importer.store_tags

    def dying(**kwargs):
        calls.append(1)
        if len(calls) == 4 and sys.argv[3] == "logging":  # three chunks are committed
            os.kill(os.getpid(), 9)
        return real(**kwargs)

    def dying_later(session, **kwargs):
        # the fourth chunk's messages are written; what is learned from them is not yet
        if len(calls) == 4:
            os.kill(os.getpid(), 9)
        return real_tags(session, **kwargs)

    messages.log_messages = dying
    importer.store_tags = dying_later
    if __name__ == "__main__":
        settings = {"data_dir": sys.argv[1], "embedding": {"processes": 1}}
        rt = open_runtime(Settings.model_validate(settings))
        history.import_file(rt, cli_principal("t"), path=Path(sys.argv[2]))
    """
)


@pytest.mark.parametrize("dies_while", ["logging", "learning"])
def test_a_killed_history_import_resumes_and_nothing_is_twice(
    make_runtime: RuntimeFactory, tmp_path: Path, dies_while: str
) -> None:
    """Killed while a chunk's messages are written, or after that while its tags and uses
    are: the chunk is all there or not at all (a SQLite savepoint committed on its own,
    before: the messages stayed and what they taught was lost for good)."""
    data = tmp_path / "data"
    make_runtime(data_dir=data).close()
    archive = _write_jsonl(tmp_path / "chats.jsonl", _history_lines(30))
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1"}
    script = tmp_path / "killed.py"
    script.write_text(KILLED_IMPORT, encoding="utf-8")
    child = subprocess.run(
        [sys.executable, str(script), str(data), str(archive), dies_while], env=env, timeout=300
    )
    assert child.returncode == -signal.SIGKILL
    db = data / "siyu.db"
    assert _count(db, "SELECT count(*) FROM messages") == 75, "three chunks were committed"
    assert _count(db, "SELECT count(*) FROM script_uses") == 24  # 12 whole conversations
    # the killed run is in the audit log (only a finished one was)
    assert _count(db, "SELECT count(*) FROM audit_log WHERE action = 'history.import.started'") == 1
    assert _count(db, "SELECT count(*) FROM audit_log WHERE action = 'history.import'") == 0

    cmd = [_siyu(), "--data-dir", str(data), "history", "import", str(archive)]
    resumed = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "导入 105 条 · 跳过已导入 75 条" in resumed.stdout
    assert "条/秒" in resumed.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert "导入 0 条 · 跳过已导入 180 条" in again.stdout

    assert _count(db, "SELECT count(*) FROM messages") == 180
    assert _count(db, "SELECT count(*) FROM messages WHERE status != 'done'") == 0
    assert _count(db, "SELECT count(*) FROM suggestions") == 0, "no suggestion for the past"
    assert _count(db, "SELECT count(*) FROM customers") == 30
    assert _count(db, "SELECT count(*) FROM identities WHERE kind = 'history_contact'") == 30
    # every price answer and every edited objection answer, once; each answered one message
    assert _count(db, "SELECT count(*) FROM script_uses WHERE script_id = 'INS-PRC-1'") == 30
    assert _count(db, "SELECT count(*) FROM script_uses WHERE kind = 'edited'") == 30
    assert _count(db, "SELECT count(*) FROM script_examples") == 60
    assert (
        _count(
            db,
            "SELECT count(*) FROM script_examples e JOIN messages m ON m.id = e.message_id"
            " WHERE e.script_id = 'INS-OBJ-1' AND m.text = '太贵了吧'",
        )
        == 30
    )
    # tags as the live channel suggests them (keywords 重疾 and 太贵): one per customer
    assert _count(db, "SELECT count(*) FROM customer_tags WHERE status = 'suggested'") == 60
    # the examples killed before they reached the index are there after a start
    check = make_runtime(data_dir=data, load=False)
    assert check.library.triggers.index.labels() == {"INS-PRC-1": 30, "INS-OBJ-1": 30}
    with check.db.session() as session:
        first = messages_repo.get_message(session=session, msg_id="h-000-0")
    assert first is not None and first.sent_at == datetime(2026, 3, 1, 1, tzinfo=UTC)


def test_a_bad_history_file_lists_every_problem_and_imports_nothing(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    good = {
        "msg_id": "m1",
        "contact_id": "c1",
        "direction": "in",
        "text": "在吗",
        "sent_at": "2026-03-01T09:00:00+08:00",
    }
    lines = [
        json.dumps(good),
        '{"msg_id": "m2", "contact_id": ',
        json.dumps(good | {"msg_id": "m3", "direction": "sideways"}),
        json.dumps(good | {"msg_id": "m4", "sent_at": "2026-03-01T09:00:00"}),
        json.dumps(good | {"text": "同一个编号，别的内容"}),
        json.dumps({k: v for k, v in good.items() if k != "msg_id"}),
        json.dumps(good | {"msg_id": "m7", "colour": "red"}),
        json.dumps(good | {"msg_id": "m8", "sent_at": "yesterday"}),
        json.dumps(good | {"msg_id": "m9", "text": "  "}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_history(path)
    assert str(info.value).splitlines()[0] == "bad.jsonl：8 处问题，未导入任何消息"
    problems = info.value.problems
    assert [p.split("：")[0] for p in problems] == [f"第 {n} 行" for n in range(2, 10)]
    assert "direction 必须是 in 或 out" in problems[1]
    assert "缺少时区" in problems[2]
    assert "与第 1 行重复，内容却不同" in problems[3]
    assert "缺少字段 msg_id" in problems[4]
    assert "未知字段 colour" in problems[5]
    assert "不是可识别的时间" in problems[6]
    assert "消息内容为空" in problems[7]
    rt = make_runtime(load=False)
    with pytest.raises(InputError):
        history.import_file(rt, ADMIN, path=path)
    with rt.db.session() as session:
        assert messages_repo.count_messages(session=session) == 0
    csv_path = tmp_path / "chats.csv"
    csv_path.write_text("msg_id,contact_id,direction,txt,sent_at\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"缺少列 text.*未知列 txt"):
        read_history(csv_path)


def test_a_csv_history_imports_like_jsonl_and_dry_run_writes_nothing(
    make_runtime: RuntimeFactory, tmp_path: Path, database_url: str
) -> None:
    """On each relational backend: the bulk insert of a chunk returns its ids in order."""
    path = _write_csv(tmp_path / "chats.csv", _history_lines(2))
    rt = make_runtime(store={"url": database_url})
    dry = history.import_file(rt, ADMIN, path=path, dry_run=True)
    assert (dry.logged, dry.contacts, dry.customer_messages) == (12, 2, 6)
    with rt.db.session() as session:
        assert messages_repo.count_messages(session=session) == 0
    report = history.import_file(rt, ADMIN, path=path)
    assert (report.logged, report.uses, report.examples) == (12, 4, 4)
    assert rt.library.triggers.index.labels() == {"INS-PRC-1": 2, "INS-OBJ-1": 2}


def test_the_import_counts_the_tags_new_on_profiles(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """A customer who complains about the price twice gets 价格敏感 once: the report counts
    the tags a manager will find to review, not how often one was seen."""
    rows = _history_lines(2)
    rows.append(
        rows[1]
        | {"msg_id": "h-again", "text": "还是太贵了", "sent_at": "2026-03-01T10:00:00+08:00"}
    )
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    rt = make_runtime()
    report = history.import_file(rt, ADMIN, path=path)
    with rt.db.session() as session:
        suggested = tags_service.customer_tags(session, ADMIN, status="suggested", limit=None)
    per_customer = sorted((t.customer_id, t.tag.name) for t in suggested)
    assert len(per_customer) == len(set(per_customer))
    assert sum(name == "价格敏感" for _, name in per_customer) == 2
    assert report.tags == len(suggested)


def test_rows_without_an_industry_take_the_one_given(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """`siyu history import --industry`: an archive of one line of business; a row that
    names its industry keeps it."""
    rows = [
        {k: v for k, v in r.items() if not (k == "industry" and r["contact_id"] == "ext-001")}
        for r in _history_lines(2)
    ]
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    rt = make_runtime()
    data = str(rt.settings.data_dir)
    assert run(["--data-dir", data, "history", "import", str(path), "--industry", "kaoyan"]) == 0
    with rt.db.session() as session:
        industry = {
            c: customers_repo.get_customer(
                session=session, customer_id=resolve_customer(session=session, ref=c)
            ).industry
            for c in ("ext-000", "ext-001")
        }
    assert industry == {"ext-000": "insurance", "ext-001": "kaoyan"}
    with pytest.raises(InputError, match="行业最长"):
        history.import_file(rt, ADMIN, path=path, industry="x" * 51)


def test_the_script_page_shows_examples_and_removes_a_bad_one(
    make_runtime: RuntimeFactory,
) -> None:
    from web_helpers import add_users, bearer_client, web_app

    rt = make_runtime()
    tokens = add_users(rt)
    channel = MemoryChannel(rt.assistant.handle, adviser_id="adv-a")
    channel.receive("wx-1", "重疾险一年多少钱", industry="insurance")
    channel.receive("wx-1", PRC, direction="out")
    channel.receive("wx-1", "你们周末上班吗")  # a stray question ...
    channel.receive("wx-1", PRC, direction="out")  # ... answered with the price again
    app = web_app(rt)
    operator = bearer_client(app, tokens["olivia"])
    page = operator.get("/scripts/INS-PRC-1/edit")
    assert page.status_code == 200
    assert "使用 2 次" in page.text and "你们周末上班吗" in page.text
    # learned: when the customer wrote them (in its column; under the example at 360 px)
    assert page.text.count('wide-only">客户发于') == 2
    bad = next(e.id for e in scripts.examples(rt, ADMIN, "INS-PRC-1").examples if "周末" in e.text)
    done = operator.post(f"/scripts/INS-PRC-1/examples/{bad}/remove", follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("#examples")
    assert "你们周末上班吗" not in operator.get("/scripts/INS-PRC-1/edit").text
    assert rt.library.triggers.index.labels() == {"INS-PRC-1": 1}
    assert operator.post(f"/scripts/INS-PRC-1/examples/{bad}/remove").status_code == 404
    adviser = bearer_client(app, tokens["alice"])
    assert adviser.post("/scripts/INS-PRC-1/examples/1/remove").status_code == 403


def test_the_script_page_shows_examples_a_page_at_a_time(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """A script answered often learns thousands of examples (the welcome of a 100,000-line
    history: ~2,400), and the editor listed every one above the version history. It shows
    25 at a time, says which and how many, and a removal returns to the page it was on."""
    from web_helpers import add_users, bearer_client, web_app

    rt = make_runtime(load=False)
    tokens = add_users(rt)
    texts = ";".join(f"第{n}个问题：重疾险一年多少钱" for n in range(40))
    csv_path = tmp_path / "s.csv"
    csv_path.write_text(
        "id,title,category,stage,industry,tags,body,examples\n"
        f"INS-PRC-9,价格,pricing,convert,insurance,,三十岁一年四千六。,{texts}\n",
        encoding="utf-8",
    )
    rt.library.import_file(csv_path)
    operator = bearer_client(web_app(rt), tokens["olivia"])
    first = operator.get("/scripts/INS-PRC-9/edit").text
    assert first.count('id="example-') == 25
    assert "第 1–25 条，共 40 条（第 1/2 页）" in first and "examples_page=2" in first
    assert "运营例句 40 条" in first  # the counts are of all of them
    second = operator.get("/scripts/INS-PRC-9/edit?examples_page=2").text
    assert second.count('id="example-') == 15 and "第 26–40 条，共 40 条（第 2/2 页）" in second
    assert "上一页" in second and "下一页" not in second
    assert operator.get("/scripts/INS-PRC-9/edit?examples_page=9").text.count('id="example-') == 15
    refused = operator.get("/scripts/INS-PRC-9/edit?examples_page=0")
    assert refused.status_code == 422 and "例句页码" in refused.text
    last = scripts.examples(rt, ADMIN, "INS-PRC-9").examples[-1].id
    done = operator.post(
        f"/scripts/INS-PRC-9/examples/{last}/remove",
        data={"examples_page": "2"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/scripts/INS-PRC-9/edit?examples_page=2#examples"


def test_the_script_list_shows_fifty_a_page_and_keeps_its_filters(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """A library of a thousand scripts was one page of a thousand rows (bodies and all)
    to scroll on a phone. The list shows 50 at a time; the pager keeps the filters."""
    from web_helpers import add_users, bearer_client, web_app

    rt = make_runtime(load=False)
    tokens = add_users(rt)
    rows = [
        f"INS-P-{n:03d},价格{n},pricing,convert,insurance,,三十岁一年{n}元。" for n in range(60)
    ]
    rows += [f"KY-P-{n:03d},学费{n},pricing,convert,kaoyan,,全程班{n}元。" for n in range(5)]
    csv_path = tmp_path / "s.csv"
    csv_path.write_text(
        "id,title,category,stage,industry,tags,body\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    rt.library.import_file(csv_path)
    operator = bearer_client(web_app(rt), tokens["olivia"])
    first = operator.get("/scripts").text
    assert first.count('<td class="wide-only"><code>') == 50 and "共 65 条" in first
    assert "第 1–50 条，共 65 条（第 1/2 页）" in first and '<a href="?page=2">下一页</a>' in first
    second = operator.get("/scripts?page=2").text
    assert second.count('<td class="wide-only"><code>') == 15 and "上一页" in second
    insurance = operator.get("/scripts?industry=insurance&page=2").text
    assert insurance.count('<td class="wide-only"><code>') == 10
    assert "KY-P-" not in insurance and '<a href="?industry=insurance&amp;page=1">' in insurance
    refused = operator.get("/scripts?page=0")
    assert refused.status_code == 422 and "页码" in refused.text


def test_imported_customers_were_added_when_they_first_wrote(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """An archive of March's chats is not today's new contacts (the manager's 今日新增 and
    the funnel counted every imported customer as added at import time)."""
    path = _write_jsonl(tmp_path / "chats.jsonl", _history_lines(2))
    rt = make_runtime()
    history.import_file(rt, ADMIN, path=path)
    with rt.db.session() as session:
        customer_id = resolve_customer(session=session, ref="ext-000")
        customer = customers_repo.get_customer(session=session, customer_id=customer_id)
        first = messages_repo.get_message(session=session, msg_id="h-000-0")
        added = session.scalars(
            select(Event.occurred_at).where(
                Event.customer_id == customer_id, Event.type == "contact_added"
            )
        ).all()
    assert first is not None and first.sent_at == datetime(2026, 3, 1, 1, tzinfo=UTC)
    assert customer.created_at == first.sent_at
    assert [aware(a) for a in added] == [first.sent_at]
    # an older archive imported afterwards moves it back (it stayed at March)
    older = _history_lines(1)[-1] | {"msg_id": "feb-1", "sent_at": "2026-02-01T09:00:00+08:00"}
    history.import_file(rt, ADMIN, path=_write_jsonl(tmp_path / "feb.jsonl", [older]))
    with rt.db.session() as session:
        customer = customers_repo.get_customer(session=session, customer_id=customer_id)
        added = session.scalars(
            select(Event.occurred_at).where(
                Event.customer_id == customer_id, Event.type == "contact_added"
            )
        ).all()
    february = datetime(2026, 2, 1, 1, tzinfo=UTC)
    assert customer.created_at == february and [aware(a) for a in added] == [february]


def test_a_misspelt_industry_in_the_archive_is_pointed_out(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    path = _write_jsonl(tmp_path / "chats.jsonl", _history_lines(2))
    rt = make_runtime()
    assert history.import_file(rt, ADMIN, path=path, dry_run=True).warnings == ()
    rows = [r | {"industry": "insurence"} for r in _history_lines(1)]
    typo = _write_jsonl(tmp_path / "typo.jsonl", rows)
    (warning,) = history.import_file(rt, ADMIN, path=typo, dry_run=True).warnings
    assert "「insurence」" in warning and "笔误" in warning


def test_spreadsheet_times_without_an_offset_are_read_in_the_team_time_zone(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """Excel writes its date cells as 2026/3/1 9:00 in a CSV and as naive date-times in an
    XLSX: the import read them in the configured time zone and says how many it did."""
    from openpyxl import Workbook

    rows = _history_lines(1)
    minute = [datetime.fromisoformat(r["sent_at"]).minute for r in rows]
    sheet_rows = [r | {"sent_at": f"2026/3/1 9:{m:02d}"} for m, r in zip(minute, rows, strict=True)]
    csv_path = _write_csv(tmp_path / "excel.csv", sheet_rows)
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.append(list(rows[0]))
    for m, r in zip(minute, rows, strict=True):
        r = r | {"msg_id": f"x-{m}", "sent_at": datetime(2026, 3, 1, 10, m)}
        ws.append(list(r.values()))
    xlsx_path = tmp_path / "excel.xlsx"
    book.save(xlsx_path)
    with pytest.raises(InputError, match="缺少时区"):
        read_history(csv_path)  # no zone given: the format asks for an offset

    rt = make_runtime(timezone="Asia/Tokyo")
    report = history.import_file(rt, ADMIN, path=csv_path)
    assert report.logged == len(rows)
    assert f"{len(rows)} 行的发送时间没有写时区，已按 Asia/Tokyo 的时间导入" in report.warnings[-1]
    assert history.import_file(rt, ADMIN, path=xlsx_path).logged == len(rows)
    with rt.db.session() as session:
        first = messages_repo.get_message(session=session, msg_id="h-000-0")
        xlsx_first = messages_repo.get_message(session=session, msg_id="x-0")
    assert first is not None and first.sent_at == datetime(2026, 3, 1, 0, tzinfo=UTC)
    assert xlsx_first is not None and xlsx_first.sent_at == datetime(2026, 3, 1, 1, tzinfo=UTC)
    offsets = _write_jsonl(tmp_path / "offsets.jsonl", _history_lines(1))
    assert history.import_file(rt, ADMIN, path=offsets, dry_run=True).warnings == ()


def test_exports_as_real_tools_write_them_are_read_as_meant(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """Seen importing real exports: a title line above the header, Chinese times (年月日,
    下午), IN / 发送 / 接收, the adviser by name, 保险 for insurance, a line repeated as
    it is, a JSON array, a tab-separated file."""
    from bot.store import customers as store_customers

    rt = make_runtime()
    with rt.db.session() as session:
        store_customers.ensure_adviser(session=session, adviser_id="li", name="李敏")
    sheet = tmp_path / "导出.csv"
    sheet.write_text(
        "微信聊天记录导出,,,,,,,\n"
        "消息ID,联系人ID,联系人,顾问,行业,方向,内容,发送时间\n"
        "e1,wx-1,王女士,李敏,保险,IN,重疾险一年多少钱,2026年3月9日 9:04\n"
        "e2,wx-1,王女士,李敏,保险,发送,您好，您今年多大呢？,2026-3-9 9:05\n"
        "e3,wx-1,王女士,李敏,保险,接收,三十五,2026/3/9 下午 2:30\n"
        "e3,wx-1,王女士,李敏,保险,接收,三十五,2026/3/9 下午 2:30\n",
        encoding="utf-8",
    )
    report = history.import_file(rt, ADMIN, path=sheet)
    # the repeated line is no message 「跳过已导入」: it is counted apart
    assert (report.logged, report.skipped, report.repeated) == (3, 0, 1)
    assert any("第 6 行与前面的行完全相同（如第 5 行），只导入一次" in w for w in report.warnings)
    assert not any("没有任何" in w for w in report.warnings)  # 保险 is the known insurance
    with rt.db.session() as session:
        said = {m: messages_repo.get_message(session=session, msg_id=m) for m in ("e1", "e2", "e3")}
        customer = customers_repo.get_customer(
            session=session, customer_id=resolve_customer(session=session, ref="wx-1")
        )
        advisers = {a.id for a in advisers_repo.list_advisers(session=session)}
    assert [(m.direction, m.adviser_id) for m in said.values() if m] == [
        ("in", "li"),
        ("out", "li"),
        ("in", "li"),
    ]
    assert said["e3"] is not None and said["e3"].sent_at == datetime(2026, 3, 9, 6, 30, tzinfo=UTC)
    assert customer.industry == "insurance" and "李敏" not in advisers

    array = tmp_path / "chats.json"
    rows = [r | {"msg_id": f"a-{r['msg_id']}"} for r in _history_lines(1)]
    array.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    assert history.import_file(rt, ADMIN, path=array).logged == len(rows)

    tabs = tmp_path / "unicode.txt"
    tabs.write_text(
        "msg_id\tcontact_id\tdirection\ttext\tsent_at\n"
        "t1\twx-2\tin\t在吗\t2026-03-10T09:00:00+08:00\n",
        encoding="utf-16",
    )
    new = history.import_file(rt, ADMIN, path=tabs, industry="保险")
    assert new.logged == 1 and not any("系统里还没有的顾问" in w for w in new.warnings)

    # the same msg_id as another message: refused whole, nothing lost without a word
    reused = _write_jsonl(
        tmp_path / "crm.jsonl",
        [
            {
                "msg_id": "t2",
                "contact_id": "c-9",
                "direction": "in",
                "text": "新消息",
                "sent_at": "2026-03-11T09:00:00+08:00",
            },
            {
                "msg_id": "e1",
                "contact_id": "c-9",
                "direction": "in",
                "text": "意外险怎么买",
                "sent_at": "2026-03-11T09:01:00+08:00",
            },
        ],
    )
    with pytest.raises(InputError) as info:
        history.import_file(rt, ADMIN, path=reused)
    assert "已被别的消息用过" in str(info.value)
    assert info.value.problems == [
        "第 2 行：msg_id 'e1' 已有一条内容不同的消息（「重疾险一年多少钱」）"
    ]
    with rt.db.session() as session:
        assert messages_repo.get_message(session=session, msg_id="t2") is None
        # a text erased for retention is no other content: the archive imports again
        messages_repo.erase_text_before(session=session, before=datetime(2026, 3, 10, tzinfo=UTC))
    again = history.import_file(rt, ADMIN, path=sheet)
    assert (again.skipped, again.repeated) == (3, 1)

    # what a file gets wrong, said in its own column names; a number is no time
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(
        "消息ID,联系人ID,方向,内容,发送时间\nw1,,客户,在吗,2026/3/1 9:00\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as info:
        read_history(wrong, zone=UTC)
    assert info.value.problems == ["第 2 行：联系人ID 不能为空"]
    numbers = _write_jsonl(
        tmp_path / "n.jsonl",
        [
            {
                "msg_id": "n1",
                "contact_id": "c",
                "direction": "in",
                "text": "在吗",
                "sent_at": 20260301,
            }
        ],
    )
    with pytest.raises(InputError) as info:
        read_history(numbers, zone=UTC)
    assert "不能是数字" in info.value.problems[0]
    unknown = _write_jsonl(tmp_path / "who.jsonl", [r | {"adviser_id": "小王"} for r in rows])
    warned = history.import_file(rt, ADMIN, path=unknown, dry_run=True).warnings
    assert any("1 个系统里还没有的顾问（小王）" in w for w in warned)


def test_a_forgotten_customer_is_not_brought_back_by_importing_the_archive_again(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """Erasure deleted the messages, and the same archive imported again logged them
    anew: the person was back, with their tags. Their newer messages still come in."""
    rows = _history_lines(2)
    path = _write_jsonl(tmp_path / "chats.jsonl", rows)
    rt = make_runtime()
    history.import_file(rt, ADMIN, path=path)
    with rt.db.session() as session:
        gone = resolve_customer(session=session, ref="ext-000")
    privacy.forget_everywhere(rt, ADMIN, gone)
    again = history.import_file(rt, ADMIN, path=path)
    assert (again.logged, again.erased, again.skipped) == (0, 6, 6)
    assert any("6 条消息属于已删除（被遗忘）的客户，没有导入" in w for w in again.warnings)
    with rt.db.session() as session:
        with pytest.raises(NotFoundError):
            resolve_customer(session=session, ref="ext-000")
        assert messages_repo.get_message(session=session, msg_id="h-000-0") is None
    later = rows[0] | {"msg_id": "h-000-new", "sent_at": "2026-04-01T09:00:00+08:00"}
    assert (
        history.import_file(rt, ADMIN, path=_write_jsonl(tmp_path / "new.jsonl", [later])).logged
        == 1
    )
    assert _count(rt.settings.data_dir / "siyu.db", "SELECT count(*) FROM erased_messages") == 6


def test_an_adviser_known_only_by_id_is_listed_by_it(
    make_runtime: RuntimeFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The archive names advisers by id and no name: 顾问 showed an empty column."""
    path = _write_jsonl(tmp_path / "chats.jsonl", _history_lines(1))
    rt = make_runtime()
    history.import_file(rt, ADMIN, path=path)
    capsys.readouterr()
    assert run(["--data-dir", str(rt.settings.data_dir), "customers", "list"]) == 0
    (row,) = [line for line in capsys.readouterr().out.splitlines() if "客户0" in line]
    assert row.split("│")[3].strip() == "li"


def test_a_spreadsheet_with_chinese_headers_and_directions_reads_the_same(
    tmp_path: Path,
) -> None:
    rows = _history_lines(1)
    english = _write_csv(tmp_path / "en.csv", rows)
    names = {
        "msg_id": "消息ID",
        "contact_id": "联系人ID",
        "contact_name": "联系人",
        "adviser_id": "顾问",
        "industry": "行业",
        "direction": "方向",
        "text": "内容",
        "sent_at": "发送时间",
    }
    assert all(HEADER_NAMES[n.lower()] == code for code, n in names.items())
    said = {"in": "客户", "out": "顾问"}
    rows = [r | {"direction": said[r["direction"]]} for r in rows]
    chinese = _write_csv(tmp_path / "zh.csv", rows, names)
    assert "方向" in chinese.read_text(encoding="utf-8") and "客户," in chinese.read_text("utf-8")
    assert [h.row for h in read_history(chinese)] == [h.row for h in read_history(english)]
