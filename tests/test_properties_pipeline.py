"""Property-based tests (hypothesis) of the message pipeline (issue 7, "Bad input").

For any text a channel may deliver (any Unicode, lone surrogates, control characters,
nothing but whitespace, 100,000 characters): ``Assistant.handle`` logs the message
exactly once (a second delivery of the same ``msg_id`` returns None), returns a result
whose JSON encodes as UTF-8, and stays fast. Real SQLite, Chroma and embeddings.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from conftest import load_small_library
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from store_backends import BACKENDS, backend_url

from bot.channels.memory import MemoryChannel
from bot.domain import IncomingMessage, SuggestionResult
from bot.pipeline.assistant import MAX_QUERY_CHARS
from bot.pipeline.runtime import Runtime, open_runtime
from bot.settings import Settings
from bot.store.models import Customer, Message, Suggestion

_CONTROLS = st.sampled_from([chr(c) for c in (*range(0x20), 0x7F, 0x85, 0x2028, 0x202E, 0xFEFF)])
#: Anything a ``str`` can hold: st.characters() leaves out lone surrogates by default.
_ANY_CHAR = st.one_of(st.characters(), st.characters(categories=["Cs"]), _CONTROLS)
TEXT = st.one_of(
    st.text(_ANY_CHAR, max_size=60),
    st.text(st.sampled_from(" \t\n\r\u3000\xa0"), max_size=5),  # blank
    st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=30),
)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_ids = itertools.count()


def storable(value: str) -> str:
    """What the store keeps of a text: NUL and lone surrogates become U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", value)


@pytest.fixture(scope="module", params=BACKENDS)
def rt(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Runtime]:
    """A loaded runtime of this module's own (the tests here write messages), on SQLite
    and on PostgreSQL (which refuses NUL and over-long names) when it is configured."""
    folder = tmp_path_factory.mktemp("pipeline")
    for url in backend_url(request.param, folder):
        settings = {"data_dir": str(folder / "data"), "store": {"url": url}}
        runtime = open_runtime(Settings.model_validate(settings))
        load_small_library(runtime)
        yield runtime
        runtime.close()


def message(
    text: str, *, contact: str = "wx-prop", name: str = "", msg_id: str = ""
) -> IncomingMessage:
    return IncomingMessage(
        msg_id=msg_id or f"prop-{next(_ids)}",
        channel="memory",
        contact_id=contact,
        contact_name=name,
        text=text,
        adviser_id="li",
        adviser_name="李顾问",
        industry="insurance",
    )


def logged(rt: Runtime, msg_id: str) -> list[Message]:
    with rt.db.session() as s:
        rows = list(s.scalars(select(Message).where(Message.msg_id == msg_id)))
        s.expunge_all()
    return rows


def message_count(rt: Runtime) -> int:
    with rt.db.session() as s:
        return s.scalar(select(func.count()).select_from(Message)) or 0


def check_json(result: SuggestionResult) -> dict[str, object]:
    """The suggestion JSON encodes (as UTF-8, no lone surrogate) and decodes unchanged."""
    payload = result.to_json()
    encoded = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    assert json.loads(encoded) == payload
    return payload


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    text=TEXT,
    name=st.text(_ANY_CHAR, max_size=120),
    contact=st.sampled_from(["wx-a", "wx-b", "wx-\ud83d", "wx-\x00"]),
    id_tail=st.text(_ANY_CHAR, max_size=4),
)
@example(text="a\ud800b\x00c", name="\udc00" * 200, contact="wx-c", id_tail="\ud800")
@example(text="", name="", contact="wx-a", id_tail="")
@example(text=" \n\t\u3000", name="张丽", contact="wx-a", id_tail="")
def test_any_text_is_logged_once_and_suggested_for(
    rt: Runtime, text: str, name: str, contact: str, id_tail: str
) -> None:
    incoming = message(text, contact=contact, name=name, msg_id=f"prop-{next(_ids)}-{id_tail}")
    result = rt.assistant.handle(incoming)
    assert result is not None, "a customer's text in a 1:1 chat is always suggested for"
    payload = check_json(result)
    assert payload["customer_id"] is not None and result.suggestion_id is not None
    if not text.strip():
        assert (result.scripts, result.knowledge, result.tags) == ((), (), ())

    [row] = logged(rt, storable(incoming.msg_id))
    assert row.text == storable(text)  # the whole text, only unstorable characters replaced
    assert row.status == "done"
    with rt.db.session() as s:
        customer = s.get_one(Customer, row.customer_id)
        # The first name seen is kept, cut to its column's 100 characters.
        assert len(customer.name) <= 100 and not _UNSTORABLE.search(customer.name)
        saved = s.get_one(Suggestion, result.suggestion_id)
        assert saved.message_id == row.id
        assert saved.candidates["scripts"] == payload["scripts"]

    assert rt.assistant.handle(incoming) is None, "a repeated delivery is ignored"
    assert len(logged(rt, storable(incoming.msg_id))) == 1


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=TEXT, industry=st.sampled_from([None, "insurance", "kaoyan", "无此行业"]))
def test_suggest_never_logs_and_always_serialises(
    rt: Runtime, text: str, industry: str | None
) -> None:
    before = message_count(rt)
    result = rt.assistant.suggest(text, industry=industry)
    check_json(result)
    assert result.mode == "retrieval" and result.suggestion_id is None
    assert message_count(rt) == before


def test_the_memory_channel_loses_no_odd_message(rt: Runtime) -> None:
    # A lone surrogate made the INSERT fail: the channel logged the error and kept the
    # message for a retry that failed the same way, forever.
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li", adviser_name="李顾问")
    texts = ["重疾险\ud83d多少钱", "\x00\x1b[31m理赔\u202e", "\udfff", "你好"]
    results = [channel.receive("wx-odd", t, msg_id=f"odd-{i}") for i, t in enumerate(texts)]
    assert channel.failed_count == 0
    assert all(r is not None for r in results)
    assert [logged(rt, f"odd-{i}")[0].text for i in range(len(texts))] == [
        "重疾险\ufffd多少钱",
        "\ufffd\x1b[31m理赔\u202e",
        "\ufffd",
        "你好",
    ]


def test_a_100k_character_message_is_logged_whole_and_embedded_cut(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedded: list[int] = []
    # The embedder that does the work: a pooled one hands single texts to its inner one.
    worker = getattr(rt.embedder, "inner", rt.embedder)
    embed = worker.embed

    def spy(texts: Sequence[str]) -> np.ndarray:
        embedded.extend(len(t) for t in texts)
        return embed(texts)

    monkeypatch.setattr(worker, "embed", spy)
    text = ("我儿子三岁，重疾险一年多少钱？\ud83d\x00" * 6_000)[:100_000]
    incoming = message(text, contact="wx-long")
    result = rt.assistant.handle(incoming)
    assert result is not None
    check_json(result)
    assert {"重疾险", "有孩子"} <= {t.name for t in result.tags}
    # The query is cut to MAX_QUERY_CHARS (and the embedder to its 512-token window), so
    # it costs what a 2,000-character message costs.
    assert embedded and max(embedded) <= MAX_QUERY_CHARS
    [row] = logged(rt, incoming.msg_id)
    assert len(row.text) == 100_000 and row.text == storable(text)
    assert rt.assistant.handle(incoming) is None
    assert len(logged(rt, incoming.msg_id)) == 1
    suggested = rt.assistant.suggest(text, industry="insurance")
    check_json(suggested)
    assert {t.name for t in suggested.tags} == {t.name for t in result.tags}
