"""The LLM client over real HTTP against the local OpenAI-compatible stub.

The ``openai_stub`` fixture comes from tests/openai_stub.py through tests/conftest.py."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator

import pytest
from openai_stub import CITE_INVALID_REPLY, OK_REPLY, STUB_MODEL, OpenAIStub, free_port

from bot.errors import ConfigError, LLMError
from bot.pipeline.llm import (
    DEADLINE_SLACK_S,
    Completion,
    Draft,
    LLMClient,
    OpenAIChatClient,
    build_llm,
    clean_answer,
)
from bot.pipeline.prompts import ChatMessage, DraftRequest, Passage
from bot.settings import LLMSettings

KEY_ENV = "SIYU_TEST_LLM_KEY"
API_KEY = "sk-test-0123456789abcdef"
PHONE = "13812345678"
ID_NUMBER = "11010519491231002X"
#: Long enough for a local answer on a loaded CI machine; the late-answer tests hold their
#: answer for a minute, so the client's giving up is still what they observe.
TIMEOUT_S = 3.0

REQUEST = DraftRequest(
    customer_text=f"等待期多久？我电话{PHONE}，身份证{ID_NUMBER}",
    passages=[
        Passage(1, "产品手册.md", "等待期", "本产品等待期为90天。"),
        Passage(2, "常见问题.csv", "退保", "犹豫期15天内可全额退保。"),
    ],
    history=[("customer", f"你好，加一下微信 {PHONE}")],
    customer_name="王女士",
)

ClientFactory = Callable[..., OpenAIChatClient]


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    return API_KEY


@pytest.fixture
def make_client(api_key: str) -> Iterator[ClientFactory]:
    """Build clients (closed after the test) for a base URL, with test settings."""
    clients: list[OpenAIChatClient] = []

    def make(base_url: str, **overrides: object) -> OpenAIChatClient:
        values: dict[str, object] = {
            "base_url": base_url,
            "model": "qwen-test",
            "api_key_env": KEY_ENV,
            "timeout_s": TIMEOUT_S,
        }
        values.update(overrides)
        client = OpenAIChatClient(LLMSettings.model_validate(values))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(openai_stub: OpenAIStub, make_client: ClientFactory) -> OpenAIChatClient:
    return make_client(openai_stub.base_url)


def test_ok_returns_a_draft_with_citations(client: OpenAIChatClient) -> None:
    draft = client.draft_reply(REQUEST)
    assert isinstance(draft, Draft)
    assert draft.text == OK_REPLY
    assert draft.citations == (1,)
    assert draft.model == "qwen-test"
    assert 0 < draft.latency_ms < (TIMEOUT_S + DEADLINE_SLACK_S) * 1000


def test_the_request_carries_settings_masked_text_and_passages(
    openai_stub: OpenAIStub, client: OpenAIChatClient
) -> None:
    client.draft_reply(REQUEST)
    assert len(openai_stub.requests) == 1
    raw = openai_stub.raw_bodies[0]
    for secret in [PHONE.encode(), ID_NUMBER.encode(), API_KEY.encode()]:
        assert secret not in raw
    body = openai_stub.requests[0]
    assert body["model"] == "qwen-test"
    assert body["max_tokens"] == 300
    assert body["temperature"] == pytest.approx(0.3)
    assert body.get("stream") in (None, False)
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user"]
    user = body["messages"][1]["content"]
    assert PHONE not in user and ID_NUMBER not in user
    assert (
        json.dumps("等待期多久？我电话【手机号】，身份证【身份证号】", ensure_ascii=False) in user
    )
    assert "[1] 来源：产品手册.md · 章节：等待期\n本产品等待期为90天。" in user
    assert "[2] 来源：常见问题.csv · 章节：退保" in user


def test_api_key_comes_from_the_named_environment_variable(
    openai_stub: OpenAIStub, client: OpenAIChatClient
) -> None:
    client.draft_reply(REQUEST)
    assert openai_stub.headers[0]["authorization"] == f"Bearer {API_KEY}"


def test_a_placeholder_key_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "changeme")
    settings = LLMSettings(base_url="http://127.0.0.1:9/v1", api_key_env=KEY_ENV)
    with pytest.raises(ConfigError, match=KEY_ENV):
        build_llm(settings)
    with pytest.raises(ConfigError):
        OpenAIChatClient(settings)


def test_build_llm_is_none_without_an_endpoint(api_key: str) -> None:
    assert build_llm(LLMSettings(base_url="", api_key_env=KEY_ENV)) is None
    client = build_llm(LLMSettings(base_url="http://127.0.0.1:9/v1", api_key_env=KEY_ENV))
    assert isinstance(client, OpenAIChatClient)
    client.close()


def test_an_invented_citation_is_dropped(openai_stub: OpenAIStub, client: OpenAIChatClient) -> None:
    openai_stub.behaviour = "cite_invalid"
    assert "[9]" in CITE_INVALID_REPLY
    draft = client.draft_reply(REQUEST)
    assert draft.citations == (1,)
    assert draft.text == "您好！等待期是90天[1]，每年保费3000元。"


@pytest.mark.parametrize("behaviour", ["slow", "trickle"])
def test_a_late_answer_raises_within_the_deadline(
    openai_stub: OpenAIStub, client: OpenAIChatClient, behaviour: str
) -> None:
    openai_stub.behaviour = behaviour
    with pytest.raises(LLMError, match=f"{TIMEOUT_S:g} 秒内没有回答"):
        client.draft_reply(REQUEST)
    # The stub holds its answer far longer than the deadline: had the client waited for
    # it, the draft would have succeeded.
    assert openai_stub.late_answers_sent == 0


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("error500", "HTTP 500: stub failure"),
        ("garbage", "不是有效的 JSON"),
        ("empty", "没有候选结果"),
    ],
)
def test_bad_answers_raise_llm_error(
    openai_stub: OpenAIStub, client: OpenAIChatClient, behaviour: str, reason: str
) -> None:
    openai_stub.behaviour = behaviour
    with pytest.raises(LLMError, match=reason):
        client.draft_reply(REQUEST)
    assert len(openai_stub.requests) == 1  # no retries


def test_vendor_errors_are_chained(openai_stub: OpenAIStub, client: OpenAIChatClient) -> None:
    openai_stub.behaviour = "error500"
    with pytest.raises(LLMError) as caught:
        client.draft_reply(REQUEST)
    assert type(caught.value.__cause__).__module__.startswith("openai")


def test_connection_refused_raises_llm_error(make_client: ClientFactory) -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(LLMError, match="无法连接"):
        client.draft_reply(REQUEST)


def test_a_failure_is_logged_once_then_recovery_once(
    openai_stub: OpenAIStub, client: OpenAIChatClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.pipeline.llm")
    openai_stub.behaviour = "error500"
    for _ in range(2):
        with pytest.raises(LLMError):
            client.draft_reply(REQUEST)
    ours = [r for r in caplog.records if r.name == "bot.pipeline.llm"]
    warnings = [r for r in ours if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "HTTP 500" in warnings[0].getMessage()
    assert any(r.levelno == logging.DEBUG and "again" in r.getMessage() for r in ours)

    openai_stub.behaviour = "ok"
    client.draft_reply(REQUEST)
    client.draft_reply(REQUEST)
    infos = [
        r for r in caplog.records if r.name == "bot.pipeline.llm" and r.levelno == logging.INFO
    ]
    assert len(infos) == 1
    assert "2 failed call(s)" in infos[0].getMessage()


def test_logs_hold_neither_the_key_nor_the_prompt(
    openai_stub: OpenAIStub, client: OpenAIChatClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.draft_reply(REQUEST)
    openai_stub.behaviour = "error500"
    with pytest.raises(LLMError):
        client.draft_reply(REQUEST)
    everything = caplog.text
    assert API_KEY not in everything
    informative = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert not any("等待期多久" in m or "本产品等待期" in m for m in informative)


def test_each_kind_of_failure_is_logged_on_its_own(
    openai_stub: OpenAIStub, client: OpenAIChatClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.pipeline.llm")
    for behaviour in ["error500", "empty", "error500", "empty"]:
        openai_stub.behaviour = behaviour
        with pytest.raises(LLMError):
            client.draft_reply(REQUEST)
    assert len([r for r in caplog.records if r.name == "bot.pipeline.llm"]) == 2


def test_models_endpoint(openai_stub: OpenAIStub) -> None:
    import urllib.request

    with urllib.request.urlopen(f"{openai_stub.base_url}/models", timeout=2) as response:
        assert json.load(response)["data"][0]["id"] == STUB_MODEL


# -- the base class, with a fake adapter (no HTTP) ------------------------------------


class FakeLLM(LLMClient):
    """Answers from a script of callables; records the messages it was sent."""

    def __init__(self, *answers: Callable[[], str], timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(model="fake", timeout_s=timeout_s, failure_log_interval_s=0.0)
        self.answers = list(answers)
        self.sent: list[list[ChatMessage]] = []

    def complete(self, messages: list[ChatMessage], *, timeout_s: float) -> Completion:
        self.sent.append(messages)
        return Completion(text=self.answers.pop(0)(), model="")


def test_base_class_wraps_unexpected_errors() -> None:
    def broken() -> str:
        raise KeyError("choices")

    with pytest.raises(LLMError, match="意外的 KeyError") as caught:
        FakeLLM(broken).draft_reply(REQUEST)
    assert isinstance(caught.value.__cause__, KeyError)


def test_base_class_enforces_the_deadline_on_any_adapter() -> None:
    release = threading.Event()

    def stuck() -> str:
        release.wait(60)  # held until the test has its answer
        return "太晚了"

    try:
        with pytest.raises(LLMError, match="秒内没有回答"):
            FakeLLM(stuck).draft_reply(REQUEST)
    finally:
        release.set()


def test_an_answer_made_only_of_invalid_citations_is_empty() -> None:
    with pytest.raises(LLMError, match="空回答"):
        FakeLLM(lambda: " [7] ").draft_reply(REQUEST)


def test_model_name_falls_back_to_the_configured_one() -> None:
    fake = FakeLLM(lambda: "好的[2]")
    draft = fake.draft_reply(REQUEST)
    assert draft == Draft("好的[2]", (2,), "fake", draft.latency_ms)
    assert fake.sent[0][1]["role"] == "user"
    assert PHONE not in fake.sent[0][1]["content"]


def test_interval_zero_logs_every_failure(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="bot.pipeline.llm")
    fake = FakeLLM(lambda: "", lambda: "")
    for _ in range(2):
        with pytest.raises(LLMError):
            fake.draft_reply(REQUEST)
    assert len(caplog.records) == 2


@pytest.mark.parametrize(
    ("raw", "text", "citations"),
    [
        ("等待期90天[1]，可退保[2]。", "等待期90天[1]，可退保[2]。", (1, 2)),
        ("可退保[2]，等待期90天[1][2]", "可退保[2]，等待期90天[1][2]", (2, 1)),
        ("等待期90天【1】，可退保［2］", "等待期90天[1]，可退保[2]", (1, 2)),
        ("见资料[1, 2]和[1，9]", "见资料[1][2]和[1]", (1, 2)),
        ("保费3000元 [9]。", "保费3000元。", ()),
        ("<think>想一想[3]</think>\n您好[1]", "您好[1]", (1,)),
        ("回复：您好，稍等我核实一下", "您好，稍等我核实一下", ()),
        ("“您好，在的”", "您好，在的", ()),
        ("联系【手机号】我", "联系【手机号】我", ()),
    ],
)
def test_clean_answer(raw: str, text: str, citations: tuple[int, ...]) -> None:
    assert clean_answer(raw, {1, 2}) == (text, citations)


def test_importing_the_module_does_not_load_openai() -> None:
    import subprocess
    import sys

    code = "import sys, bot.pipeline.llm; assert 'openai' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
