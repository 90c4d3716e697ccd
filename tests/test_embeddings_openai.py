"""embedding.backend = "openai": the adapter over real HTTP against the local
OpenAI-compatible stub (tests/openai_stub.py serves /v1/embeddings), and a whole runtime
on it, with the vector store in both modes."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import RuntimeFactory
from openai_stub import EMBED_DIM, OpenAIStub, free_port
from pydantic import ValidationError

from knowledge import OpenAIEmbedder, build_embedder
from knowledge.errors import ConfigError, RetrievalError
from knowledge.settings import EmbeddingSettings


def _settings(stub_url: str, **extra: object) -> EmbeddingSettings:
    raw = {"backend": "openai", "base_url": stub_url, "model": "bge-m3"} | extra
    return EmbeddingSettings.model_validate(raw)


def test_embeds_in_batches_in_order_with_the_key(
    openai_stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIYU_TEST_EMB_KEY", "sk-local-123")
    embedder = build_embedder(
        _settings(openai_stub.base_url, batch_size=4, api_key_env="SIYU_TEST_EMB_KEY")
    )
    try:
        assert isinstance(embedder, OpenAIEmbedder)
        assert (embedder.dim, embedder.name) == (EMBED_DIM, "openai:bge-m3")
        texts = [f"第{i}条：重疾险等待期" for i in range(9)] + ["", "完全不同的内容"]
        vectors = embedder.embed(texts)
    finally:
        embedder.close()
    assert vectors.shape == (11, EMBED_DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the stub answers in reverse order: rows must follow the request order anyway
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[10]
    probe, *batches = openai_stub.embedding_requests
    assert [len(body["input"]) for body, _ in batches] == [4, 4, 3]
    assert batches[2][0]["input"][1] == " ", "an empty text is sent as one space"
    assert all(body["model"] == "bge-m3" for body, _ in openai_stub.embedding_requests)
    assert probe[1]["authorization"] == "Bearer sk-local-123"


def test_no_key_sends_no_authorization(
    openai_stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIYU_EMBEDDING_API_KEY", raising=False)
    build_embedder(_settings(openai_stub.base_url)).close()
    assert "authorization" not in openai_stub.embedding_requests[0][1]


def test_endpoint_failures_are_retrieval_errors(openai_stub: OpenAIStub) -> None:
    with pytest.raises(RetrievalError, match="向量服务"):
        build_embedder(_settings(f"http://127.0.0.1:{free_port()}/v1", timeout_s=2))
    embedder = build_embedder(_settings(openai_stub.base_url))
    try:
        openai_stub.embedding_status = 500
        with pytest.raises(RetrievalError, match="HTTP 500"):
            embedder.embed(["你好"])
    finally:
        embedder.close()
    with pytest.raises(RetrievalError, match="HTTP 500"):
        build_embedder(_settings(openai_stub.base_url))


def test_settings_need_an_endpoint_and_refuse_placeholder_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="需要 base_url 和 model"):
        EmbeddingSettings(backend="openai", model="bge-m3")
    monkeypatch.setenv("SIYU_EMBEDDING_API_KEY", "changeme")
    with pytest.raises(ConfigError, match="占位符"):
        build_embedder(_settings("http://127.0.0.1:9/v1"))


@pytest.mark.parametrize("vectors_mode", ["embedded", "http"])
def test_runtime_retrieves_with_endpoint_embeddings(
    make_runtime: RuntimeFactory,
    openai_stub: OpenAIStub,
    vectors_mode: str,
    request: pytest.FixtureRequest,
) -> None:
    vectors = {"mode": "embedded"}
    if vectors_mode == "http":
        vectors = request.getfixturevalue("chroma_server").settings().model_dump()
    rt = make_runtime(
        embedding={"backend": "openai", "base_url": openai_stub.base_url, "model": "bge-m3"},
        vectors=vectors,
    )
    assert rt.embedder.name == "openai:bge-m3"
    passages = rt.kb.search("等待期是多少天", k=3, industry="insurance")
    assert passages and "等待期" in passages[0].text
    result = rt.assistant.suggest("重疾险多少钱", industry="insurance")
    assert result.scripts and result.mode == "retrieval"
    assert len(openai_stub.embedding_requests) > 2


def test_customer_messages_reach_the_endpoint_masked(
    make_runtime: RuntimeFactory, openai_stub: OpenAIStub
) -> None:
    rt = make_runtime(
        embedding={"backend": "openai", "base_url": openai_stub.base_url, "model": "bge-m3"}
    )
    openai_stub.embedding_requests.clear()
    result = rt.assistant.suggest("重疾险多少钱？我电话 138 0013 8000，微信号 abc_123")
    assert result.scripts
    sent = [text for body, _ in openai_stub.embedding_requests for text in body["input"]]
    assert sent and all("8000" not in t and "abc_123" not in t for t in sent), sent
    assert any("【手机号】" in t for t in sent)
