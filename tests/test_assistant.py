"""The assistant pipeline end to end, on real SQLite, real Chroma and real embeddings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import RuntimeFactory
from openai_stub import OpenAIStub

from bot.channels.memory import MemoryChannel
from bot.domain import IncomingMessage
from bot.pipeline.runtime import Runtime
from bot.store import customers, messages, suggestions
from bot.store import tags as tags_repo


def test_price_question_ranks_the_pricing_script_first(shared_runtime: Runtime) -> None:
    result = shared_runtime.assistant.suggest("重疾险一年要交多少钱？", industry="insurance")
    assert result.scripts[0].id == "INS-PRC-1"
    assert result.mode == "retrieval" and result.reply is None
    assert any("4680" in k.text for k in result.knowledge)
    assert result.knowledge[0].source == "insurance.md"
    assert result.knowledge[0].section.startswith("安心保重疾险")


def test_only_approved_scripts_of_the_industry_or_general(shared_runtime: Runtime) -> None:
    seen: set[str] = set()
    for text in ["多少钱", "太贵了", "价格能便宜吗", "草稿", "还没审核的话术"]:
        result = shared_runtime.assistant.suggest(text, industry="kaoyan")
        seen |= {s.id for s in result.scripts}
    assert seen, "some scripts must be suggested"
    assert all(sid.startswith(("KY-", "GEN-")) for sid in seen)
    result = shared_runtime.assistant.suggest("还没审核的草稿话术", industry="insurance")
    assert "INS-DRAFT-1" not in {s.id for s in result.scripts}


def test_missing_variables_stay_visible(shared_runtime: Runtime) -> None:
    result = shared_runtime.assistant.suggest("嫌贵，每天要多少钱", industry="insurance")
    objection = next(s for s in result.scripts if s.id == "INS-OBJ-1")
    assert "【待填:客户称呼】" in objection.text
    assert objection.missing == ("customer_name",)
    assert "{" not in objection.text


def test_keyword_tags_come_with_evidence(shared_runtime: Runtime) -> None:
    result = shared_runtime.assistant.suggest(
        "我女儿两岁了，想给她买个医疗险，太贵的就算了", industry="insurance"
    )
    names = {t.name: t for t in result.tags}
    assert {"有孩子", "医疗险", "价格敏感"} <= set(names)
    assert "女儿" in names["有孩子"].evidence


def test_evidence_never_cuts_a_code_or_number_in_two(shared_runtime: Runtime) -> None:
    """The quote around a keyword takes a short code whole (「WX2611」, not 「2611」) and
    leaves out a long one rather than a piece of it."""
    short = shared_runtime.assistant.suggest(
        "你好，我是看直播来的 WX2611，想给我女儿了解一下医疗险", industry="insurance"
    )
    child = next(t for t in short.tags if t.name == "有孩子")
    assert "WX2611" in child.evidence, child.evidence
    policy = "PN" + "7" * 30
    long = shared_runtime.assistant.suggest(
        f"我的保单号是{policy}，我女儿住院了想问问理赔", industry="insurance"
    )
    child = next(t for t in long.tags if t.name == "有孩子")
    assert "7" not in child.evidence, child.evidence


def test_negated_keyword_is_not_a_tag(shared_runtime: Runtime) -> None:
    result = shared_runtime.assistant.suggest("我还没孩子，就想给自己买", industry="insurance")
    assert "有孩子" not in {t.name for t in result.tags}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😀😀😀",
        "重疾险" * 3400,
        "請問重疾險的保費是多少？等待期多久",
        "\x00\x1b[31m理赔\u202e",
    ],
)
def test_odd_messages_never_crash(shared_runtime: Runtime, text: str) -> None:
    result = shared_runtime.assistant.suggest(text, industry="insurance")
    json.dumps(result.to_json(), ensure_ascii=False)
    assert result.mode == "retrieval"


def test_traditional_chinese_finds_the_same_passage(shared_runtime: Runtime) -> None:
    simplified = shared_runtime.assistant.suggest("等待期多久", industry="insurance")
    traditional = shared_runtime.assistant.suggest("等待期多久呢？請問", industry="insurance")
    assert simplified.knowledge[0].section == traditional.knowledge[0].section
    assert "等待期" in traditional.knowledge[0].section


def _channel(rt: Runtime) -> MemoryChannel:
    return MemoryChannel(rt.assistant.handle, adviser_id="li", adviser_name="李顾问")


def test_handle_logs_suggests_tags_and_stores(
    make_runtime: RuntimeFactory, database_url: str
) -> None:
    """On each relational backend (SQLite; PostgreSQL when SIYU_TEST_POSTGRES_URL is set)."""
    rt = make_runtime(store={"url": database_url})
    channel = _channel(rt)
    first = channel.receive("wx-zhang", "你好", contact_name="张丽", industry="insurance")
    assert first is not None and first.suggestion_id is not None
    assert first.scripts[0].category in ("welcome", "icebreaker"), "a new contact is greeted"
    assert first.scripts[0].text.startswith("张丽")
    welcome = next(s for s in first.scripts if s.id == "INS-WEL-1")
    assert "李顾问" in welcome.text and "思语" in welcome.text
    second = channel.receive("wx-zhang", "我儿子三岁，重疾险多少钱", msg_id="m-2")
    assert second is not None and second.scripts[0].category not in ("welcome", "icebreaker")
    again = channel.receive("wx-zhang", "我儿子三岁，重疾险多少钱", msg_id="m-2")
    assert again is None, "a repeated delivery is ignored"
    with rt.db.session() as s:
        profile = customers.customer_profile(session=s, customer_id=second.customer_id or 0)
        stored = suggestions.list_suggestions(session=s, customer_id=profile.customer.id)
    assert profile.message_count == 2
    assert profile.customer.name == "张丽" and profile.customer.adviser_id == "li"
    assert {t.tag.name for t in profile.tags} >= {"有孩子", "重疾险"}
    assert all(t.status == "suggested" for t in profile.tags)
    assert len(stored) == 2
    assert stored[0].candidates["scripts"][0]["id"] == second.scripts[0].id


def test_non_text_and_unmentioned_group_messages_are_logged_only(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()
    channel = _channel(rt)
    assert channel.receive("wx-a", "[图片]", type="image") is None
    assert channel.receive("wx-a", "大家好，重疾险多少钱", room_id="room-1") is None
    mentioned = channel.receive(
        "wx-a", "@李顾问 重疾险多少钱", room_id="room-1", mentions_adviser=True
    )
    assert mentioned is not None and mentioned.scripts
    with rt.db.session() as s:
        (customer,) = customers.list_customers(session=s)
        logged = messages.recent_messages(session=s, customer_id=customer.id, limit=10)
    assert [(m.type, m.status) for m in logged] == [
        ("image", "done"),
        ("text", "done"),
        ("text", "done"),
    ]


def test_failure_after_logging_is_retried_later(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    rt = make_runtime(store={"url": database_url})
    channel = _channel(rt)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("index exploded")

    with monkeypatch.context() as m:
        m.setattr(rt.kb, "search", broken)
        assert channel.receive("wx-b", "理赔要什么材料", msg_id="m-x") is None
    with rt.db.session() as s:
        (pending,) = messages.pending_messages(session=s)
    assert pending.msg_id == "m-x"
    assert rt.assistant.process_pending() == 1
    with rt.db.session() as s:
        assert messages.pending_messages(session=s) == []
        (stored,) = suggestions.list_suggestions(session=s)
    assert stored.message_id == pending.id
    assert "INS-AFS-1" in [s["id"] for s in stored.candidates["scripts"]]


def test_messages_the_channel_inbox_holds_are_left_to_it(make_runtime: RuntimeFactory) -> None:
    """A message the channel logged and has yet to suggest (or parked) is the channel's to
    resume, with the note to the adviser: ``process_pending`` leaves it alone."""
    from bot.store import channel_inbox

    rt = make_runtime()
    now = datetime.now(UTC)
    for msg_id in ("m-held", "m-parked", "m-free"):
        received = rt.assistant.receive(
            IncomingMessage(
                msg_id=msg_id,
                channel="wechaty",
                contact_id="wx-h",
                text="理赔要什么材料",
                adviser_id="li",
            ),
            suggest=False,
        )
        with rt.db.session() as s:
            (item,) = channel_inbox.add_events(
                session=s, events=[channel_inbox.NewEvent("a1", "message", msg_id, now)]
            )
            done = msg_id == "m-free"  # this one's row finished (e.g. suggested elsewhere)
            channel_inbox.mark_logged(
                session=s,
                item_id=item,
                message_id=received.message_id,
                customer_id=received.customer_id,
                done=done,
                now=now,
            )
            if msg_id == "m-parked":
                channel_inbox.record_failure(
                    session=s, item_id=item, stage="suggest", error="x", park=True, now=now
                )
    with rt.db.session() as s:
        assert [m.msg_id for m in messages.pending_messages(session=s)] == ["m-free"]
    assert rt.assistant.process_pending() == 1


def test_suggest_with_customer_fills_the_profile(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    channel = _channel(rt)
    first = channel.receive("wx-c", "你好", contact_name="陈晓", industry="kaoyan")
    assert first is not None
    result = rt.assistant.suggest("基础差怕跟不上", customer_id=first.customer_id)
    top = result.scripts[0]
    assert top.id == "KY-OBJ-1" and top.text.startswith("陈晓")


def test_tag_review_keeps_the_decision(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    channel = _channel(rt)
    channel.receive("wx-d", "给我女儿看看医疗险", industry="insurance")
    with rt.db.session() as s:
        suggested = tags_repo.list_customer_tags(session=s, status="suggested")
        target = next(t for t in suggested if t.tag.name == "有孩子")
        tags_repo.review_customer_tag(
            session=s, customer_tag_id=target.id, status="confirmed", reviewer="boss"
        )
    channel.receive("wx-d", "我女儿的医疗险续保怎么办")
    with rt.db.session() as s:
        rows = tags_repo.list_customer_tags(session=s, customer_id=target.customer_id)
    kid = next(t for t in rows if t.tag.name == "有孩子")
    assert (kid.status, kid.reviewer) == ("confirmed", "boss")


# ---------------------------------------------------------------- LLM path (real HTTP)
def _llm_runtime(make_runtime: RuntimeFactory, stub: OpenAIStub, timeout_s: float) -> Runtime:
    return make_runtime(llm={"base_url": stub.base_url, "model": "stub", "timeout_s": timeout_s})


def test_llm_draft_is_grounded_cited_and_masked(
    make_runtime: RuntimeFactory, openai_stub: OpenAIStub
) -> None:
    rt = _llm_runtime(make_runtime, openai_stub, 5.0)
    result = rt.assistant.suggest(
        "我手机13812345678，身份证110101199003071234，理赔要什么材料？", industry="insurance"
    )
    assert result.mode == "llm" and result.reply
    assert result.citations and all(1 <= c <= len(result.knowledge) for c in result.citations)
    body = openai_stub.raw_bodies[-1].decode("utf-8")
    assert "13812345678" not in body and "110101199003071234" not in body
    sent = json.loads(body)
    prompt = "\n".join(m["content"] for m in sent["messages"])
    assert "【手机号】" in prompt and "【身份证号】" in prompt
    assert "诊断证明" in prompt, "retrieved passages are in the prompt"


@pytest.mark.parametrize("behaviour", ["slow", "error500", "garbage"])
def test_llm_failure_falls_back_to_retrieval_within_the_deadline(
    make_runtime: RuntimeFactory,
    openai_stub: OpenAIStub,
    behaviour: str,
) -> None:
    rt = _llm_runtime(make_runtime, openai_stub, 0.5)
    openai_stub.behaviour = behaviour
    result = rt.assistant.suggest("理赔要什么材料", industry="insurance")
    assert result.mode == "retrieval" and result.reply is None
    assert result.note and result.note.startswith("大模型暂不可用，只给检索结果：")
    assert result.scripts[0].id == "INS-AFS-1"
    assert openai_stub.late_answers_sent == 0  # "slow" holds its answer for a minute


def test_the_llm_chooses_tags_beside_the_keywords_when_asked(
    make_runtime: RuntimeFactory, openai_stub: OpenAIStub
) -> None:
    """``[tagging] llm``: the model is offered the industry's tags with the masked message
    and its earlier messages; its choices (only offered names) join the keyword hits, with
    its reason as evidence, and reach the profile for review."""
    rt = make_runtime(
        llm={"base_url": openai_stub.base_url, "model": "stub", "timeout_s": 5.0},
        tagging={"llm": True},
    )
    openai_stub.tag_reply = json.dumps(
        {
            "tags": [
                {"name": "有孩子", "why": "提到家里的小朋友"},
                {"name": "目标985", "why": "不在可选标签里"},
                {"name": "价格敏感", "why": "重复"},
                "价格敏感",
            ]
        },
        ensure_ascii=False,
    )
    channel = _channel(rt)
    channel.receive("wx-l", "我电话13812345678 之前问过你们")
    result = channel.receive("wx-l", "家里小朋友的那份太贵了 有便宜点的吗")
    assert result is not None
    by_name = {t.name: t for t in result.tags}
    assert set(by_name) == {"有孩子", "价格敏感"}
    assert "含“便宜点”" in by_name["价格敏感"].evidence  # the keyword hit keeps its evidence
    assert by_name["有孩子"].evidence.endswith("大模型判断：提到家里的小朋友")
    asked = [r for r in openai_stub.requests if "客户标签助手" in r["messages"][0]["content"]]
    prompt = asked[-1]["messages"][1]["content"]
    assert '"标签": "有孩子"' in prompt and '"标签": "价格敏感"' in prompt
    assert "13812345678" not in prompt and "【手机号】" in prompt  # earlier message, masked
    with rt.db.session() as s:
        stored = tags_repo.list_customer_tags(session=s, customer_id=result.customer_id or 0)
    assert {t.tag.name for t in stored if t.status == "suggested"} == {"有孩子", "价格敏感"}


@pytest.mark.parametrize("answer", ["我觉得是有孩子", '{"tag": "有孩子"}'])
def test_an_llm_tag_answer_out_of_format_leaves_the_tagger_alone(
    make_runtime: RuntimeFactory, openai_stub: OpenAIStub, answer: str
) -> None:
    rt = make_runtime(
        llm={"base_url": openai_stub.base_url, "model": "stub", "timeout_s": 5.0},
        tagging={"llm": True},
    )
    openai_stub.tag_reply = answer
    result = rt.assistant.suggest("我女儿的医疗险怎么买", industry="insurance")
    assert {t.name for t in result.tags} == {"有孩子", "医疗险"}  # keywords, as without it
    assert result.mode == "llm"  # the draft is unaffected


def test_tags_sharing_a_name_are_offered_with_their_category(
    make_runtime: RuntimeFactory, openai_stub: OpenAIStub, tmp_path: Path
) -> None:
    """Tag names are unique within a category only: the model is offered 分类/标签 for a
    shared name, and its choice lands on that category's tag."""
    from bot.pipeline.tagging import parse_taxonomy

    rt = make_runtime(
        llm={"base_url": openai_stub.base_url, "model": "stub", "timeout_s": 5.0},
        tagging={"llm": True},
    )
    taxonomy = tmp_path / "t.yaml"
    taxonomy.write_text(
        "version: 1\ncategories:\n"
        "  - {name: 购买意向, industry: insurance, tags: [{name: 犹豫, description: 还没决定买}]}\n"
        "  - {name: 服务体验, industry: general, tags: [{name: 犹豫, description: 要不要续费}]}\n",
        encoding="utf-8",
    )
    with rt.db.session() as s:
        tags_repo.replace_taxonomy(session=s, categories=parse_taxonomy(taxonomy))
    rt.reload_tags()
    assert [o.name for o in rt.tagger.options("insurance")] == ["购买意向/犹豫", "服务体验/犹豫"]
    openai_stub.tag_reply = '{"tags": [{"name": "服务体验/犹豫", "why": "续费拿不准"}]}'
    result = rt.assistant.suggest("明年还续不续我再想想", industry="insurance")
    assert [(t.name, t.category) for t in result.tags] == [("犹豫", "服务体验")]
    before = len(openai_stub.requests)
    rt.assistant.suggest("你好", industry="insurance", tags=False)
    assert len(openai_stub.requests) == before + 1  # the draft only: no tags wanted


def test_without_the_setting_the_llm_is_not_asked_for_tags(
    make_runtime: RuntimeFactory, openai_stub: OpenAIStub
) -> None:
    rt = _llm_runtime(make_runtime, openai_stub, 5.0)
    rt.assistant.suggest("我女儿的医疗险怎么买", industry="insurance")
    assert len(openai_stub.requests) == 1  # the draft only
    assert "客户标签助手" not in openai_stub.requests[0]["messages"][0]["content"]


def test_retention_erases_old_message_text_and_keeps_the_rows(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from bot.pipeline.runtime import apply_retention
    from bot.settings import Settings

    rt = make_runtime(load=False)
    channel = _channel(rt)
    old = datetime.now(UTC) - timedelta(days=40)
    channel.dispatch(
        IncomingMessage(
            msg_id="old",
            channel="memory",
            contact_id="wx-r",
            text="四十天前的消息",
            adviser_id="li",
            type="image",
            sent_at=old,
        )
    )
    channel.receive("wx-r", "[图片]", msg_id="new", type="image")
    keep = Settings.model_validate({"data_dir": str(tmp_path)})
    assert apply_retention(rt.db, keep) == 0, "0 days = keep forever"
    thirty = Settings.model_validate(
        {"data_dir": str(tmp_path), "privacy": {"message_retention_days": 30}}
    )
    assert apply_retention(rt.db, thirty) == 1
    assert apply_retention(rt.db, thirty) == 0
    with rt.db.session() as s:
        (customer,) = customers.list_customers(session=s)
        logged = messages.recent_messages(session=s, customer_id=customer.id, limit=10)
    assert [(m.msg_id, m.text) for m in logged] == [("old", ""), ("new", "[图片]")]
    # the erased text is gone from the files too, write-ahead log included (the
    # runtime's own connections stay open, as in a running bot)
    files = [p for p in Path(rt.settings.data_dir).rglob("siyu.db*") if p.is_file()]
    assert files and not any("四十天前的消息".encode() in p.read_bytes() for p in files)
