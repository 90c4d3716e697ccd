"""In-process suggestion latency (retrieval mode) at 1k scripts and 10k knowledge chunks.

    python bench/latency.py [--scripts 1000] [--chunks 10000] [--queries 300]

Builds a synthetic library from the demo data (scripts re-worded with product, city and
number variations; knowledge as question-answer pairs recombined from the demo
documents), indexes it through the real pipeline in bench/out/latency-<size>/ (reused by
the next run: delete it to measure the build again), then times ``Assistant.suggest``
on the dev-set messages. Prints index build time, p50/p95 latency, and peak RSS.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import time
from pathlib import Path

from common import DEMO, open_library, peak_rss_mb, percentile, read_jsonl

PRODUCTS = ["安心保", "康宁", "守护星", "福满堂", "金满仓", "无忧行", "全程班", "集训营", "一对一"]
CITIES = ["北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "武汉", "西安", "苏州"]


def synth_scripts(n: int, out: Path, rng: random.Random) -> None:
    with (DEMO / "scripts.csv").open(encoding="utf-8") as f:
        base = list(csv.DictReader(f))
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(
            f, fieldnames=["id", "title", "category", "stage", "industry", "tags", "body"]
        )
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scripts", type=int, default=1000)
    ap.add_argument("--chunks", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=300)
    args = ap.parse_args()
    rng = random.Random(7)
    work = Path(__file__).with_name("out") / f"latency-{args.scripts}-{args.chunks}"
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
    )
    rss_after_build = peak_rss_mb()
    messages = [row["text"] for row in read_jsonl(Path(__file__).with_name("devset.jsonl"))]
    for text in messages[:20]:  # warm-up
        rt.assistant.suggest(text, industry="insurance")
    timings = []
    for i in range(args.queries):
        text = messages[i % len(messages)]
        t0 = time.perf_counter()
        rt.assistant.suggest(text, industry="insurance" if i % 2 else "kaoyan")
        timings.append((time.perf_counter() - t0) * 1000)
    rt.close()
    print(f"library: {args.scripts} scripts, {args.chunks} knowledge chunks (retrieval mode)")
    print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')} (PASSIVE is the default we set)")
    print(f"index build + load: {build_s:.1f} s (0 s of embedding when reused from {work})")
    print(
        f"suggest latency over {len(timings)} messages: p50 {percentile(timings, 50):.1f} ms"
        f"  p95 {percentile(timings, 95):.1f} ms  max {max(timings):.1f} ms"
    )
    print(f"peak RSS: {max(rss_after_build, peak_rss_mb()):.0f} MB")


if __name__ == "__main__":
    main()
