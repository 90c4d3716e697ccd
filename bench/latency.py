"""In-process suggestion latency (retrieval mode) at 1k scripts and 10k knowledge chunks.

    python bench/latency.py [--scripts 1000] [--chunks 10000] [--examples 50000]
                            [--unembedded-examples] [--queries 300] [--query-cache 0]

Builds a synthetic library from the demo data (scripts re-worded with product, city and
number variations; knowledge as question-answer pairs recombined from the demo
documents; ``--examples``: that many example customer messages spread over the scripts,
as a history import leaves them), indexes it through the real pipeline in
bench/out/latency-<size>/ (reused by the next run: delete it to measure the build again),
then times ``Assistant.suggest`` on the dev-set messages. ``--unembedded-examples`` stores
random unit vectors for the examples instead of embedding them (~20 texts/s per core:
50,000 take most of an hour): what a search costs does not depend on what the vectors
hold, only the examples' build time is not measured then. The query cache is off by
default (the 300 queries repeat 112 messages: with it on they measure cache hits).
Prints index build time, p50/p95 latency with the embedding of the message beside it,
and peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import DEMO, open_library, peak_rss_mb, percentile, read_jsonl

from bot.store import examples as examples_repo
from knowledge import Embedder

if TYPE_CHECKING:  # numpy loads after common.py has set OPENBLAS_NUM_THREADS
    import numpy as np

PRODUCTS = ["安心保", "康宁", "守护星", "福满堂", "金满仓", "无忧行", "全程班", "集训营", "一对一"]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "苏州"]


def synth_scripts(n: int, out: Path, rng: random.Random) -> None:
    with (DEMO / "scripts.csv").open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        base = list(reader)
        columns = list(reader.fieldnames or ())
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)  # the demo file's own columns
        w.writeheader()
        for i in range(n):
            row = dict(base[i % len(base)])
            if i >= len(base):
                product, city = rng.choice(PRODUCTS), rng.choice(CITIES)
                row["id"] = f"{row['id']}-V{i}"
                row["title"] = f"{row['title']}（{city}·{product}）"
                row["body"] = f"{row['body']}（{city}客户专享，{product}方案{rng.randint(2, 9)}号）"
            w.writerow(row)


def synth_chunks(n: int, out: Path, rng: random.Random) -> None:
    sentences: list[str] = []
    for path in (DEMO / "knowledge").glob("*.md"):
        text = path.read_text(encoding="utf-8")
        sentences += [
            s for s in re.split(r"(?<=[。！？])", text) if len(s.strip()) > 8 and "#" not in s
        ]
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["question", "answer"])
        for i in range(n):
            product = rng.choice(PRODUCTS)
            body = "".join(rng.sample(sentences, k=3)).replace("\n", "")
            w.writerow([f"{product}第{i}号问题：{rng.choice(CITIES)}客户常见咨询", body])


def synth_examples(n: int, script_ids: list[str], rng: random.Random) -> dict[str, list[str]]:
    """``n`` customer-like messages spread over the scripts: the learning data set's
    customer messages varied with products, cities and numbers."""
    history = Path(__file__).with_name("data") / "learning" / "history.jsonl"
    said = [r["text"] for r in read_jsonl(history) if r["direction"] == "in"]
    out: dict[str, list[str]] = {}
    for i in range(n):
        text = f"{rng.choice(said)}（{rng.choice(CITIES)}{rng.choice(PRODUCTS)}{i}）"
        out.setdefault(script_ids[i % len(script_ids)], []).append(text)
    return out


class TimedEmbedder(Embedder):
    """The runtime's embedder, timing each query it embeds."""

    def __init__(self, inner: Embedder) -> None:
        super().__init__(batch_size=inner.batch_size)
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.timings: list[float] = []

    def embed_one(self, text: str) -> np.ndarray:
        t0 = time.perf_counter()
        vector = self.inner.embed_one(text)
        self.timings.append((time.perf_counter() - t0) * 1000)
        return vector

    def _embed_batch(self, texts: list[str]) -> Any:
        return self.inner.embed(texts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scripts", type=int, default=1000)
    ap.add_argument("--chunks", type=int, default=10000)
    ap.add_argument("--examples", type=int, default=0, help="learned example messages")
    ap.add_argument(
        "--unembedded-examples",
        action="store_true",
        help="random vectors for the examples (fast build, same search cost)",
    )
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument(
        "--query-cache", type=int, default=0, help="[embedding] query_cache (default 0: off)"
    )
    args = ap.parse_args()
    rng = random.Random(7)
    name = f"latency-{args.scripts}-{args.chunks}" + (f"-{args.examples}" if args.examples else "")
    work = Path(__file__).with_name("out") / name
    work.mkdir(parents=True, exist_ok=True)
    scripts_csv, kb_csv = work / "scripts.csv", work / "kb.csv"
    if not scripts_csv.exists():
        synth_scripts(args.scripts, scripts_csv, rng)
    if not kb_csv.exists():
        synth_chunks(args.chunks, kb_csv, rng)

    rt, build_s = open_library(
        work / "data",
        scripts=scripts_csv,
        tags=DEMO / "tags.yaml",
        knowledge=[(kb_csv, None)],
        settings_overrides={"embedding": {"query_cache": args.query_cache}},
    )
    if args.examples and len(rt.library.triggers) < args.examples:
        started = time.perf_counter()
        ids = sorted(s.id for s in rt.library.list_scripts(status="approved"))
        with rt.db.session() as session:
            for script_id, texts in synth_examples(args.examples, ids, rng).items():
                examples_repo.set_operator_examples(
                    session=session, script_id=script_id, texts=texts
                )
        if args.unembedded_examples:
            import numpy as np

            from bot.pipeline.triggers import example_item

            with rt.db.session() as session:
                records = examples_repo.all_examples(session=session)
            gen = np.random.default_rng(7)
            for start in range(0, len(records), 5000):
                batch = records[start : start + 5000]
                vectors = gen.standard_normal((len(batch), rt.embedder.dim)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                rt.library.triggers.index.add([example_item(r) for r in batch], vectors)
        rt.library.sync()
        build_s += time.perf_counter() - started
    rss_after_build = peak_rss_mb()
    timed = TimedEmbedder(rt.embedder)
    rt.assistant._embedder = timed  # bench only: time the one embedding of each message
    messages = [row["text"] for row in read_jsonl(Path(__file__).with_name("devset.jsonl"))]
    for text in messages[:20]:  # warm-up
        rt.assistant.suggest(text, industry="insurance")
    timings = []
    timed.timings.clear()
    for i in range(args.queries):
        text = messages[i % len(messages)]
        t0 = time.perf_counter()
        rt.assistant.suggest(text, industry="insurance" if i % 2 else "kaoyan")
        timings.append((time.perf_counter() - t0) * 1000)
    library_examples = len(rt.library.triggers)
    rt.close()
    print(
        f"library: {args.scripts} scripts, {args.chunks} knowledge chunks,"
        f" {library_examples} learned examples (retrieval mode)"
    )
    print(f"query cache: {args.query_cache or 'off'}")
    print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} (PASSIVE is the default we set)")
    print(f"index build + load: {build_s:.1f} s (0 s of embedding when reused from {work})")
    print(
        f"suggest latency over {len(timings)} messages: p50 {percentile(timings, 50):.1f} ms"
        f"  p95 {percentile(timings, 95):.1f} ms  max {max(timings):.1f} ms"
    )
    embed = timed.timings
    print(
        f"  of which embedding the message: p50 {percentile(embed, 50):.1f} ms"
        f"  p95 {percentile(embed, 95):.1f} ms; the rest (retrieval, fusion, tags):"
        f" p50 {percentile([t - e for t, e in zip(timings, embed, strict=True)], 50):.1f} ms"
        f"  p95 {percentile([t - e for t, e in zip(timings, embed, strict=True)], 95):.1f} ms"
    )
    print(f"peak RSS: {max(rss_after_build, peak_rss_mb()):.0f} MB")


if __name__ == "__main__":
    main()
