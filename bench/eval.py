"""Retrieval and tagging quality on a labelled dev set.

    python bench/eval.py                       # the shipped demo library + bench/devset.jsonl
    python bench/eval.py --scripts S.csv --tags T.yaml --knowledge KB/ --devset D.jsonl

Dev-set lines: {"id", "text", "industry", "scripts": [relevant ids, best first],
"tags": [tag names]}. Prints script hit@1, hit@3, MRR@10 and tag precision / recall /
F1 (micro-averaged over messages), overall and per industry.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import DEMO, demo_knowledge, micro_prf, open_library, read_jsonl

from bot.domain import SuggestionResult


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scripts", type=Path, default=DEMO / "scripts.csv")
    ap.add_argument("--tags", type=Path, default=DEMO / "tags.yaml")
    ap.add_argument("--knowledge", type=Path, action="append", help="file or folder (repeatable)")
    ap.add_argument("--devset", type=Path, default=Path(__file__).with_name("devset.jsonl"))
    ap.add_argument("--data-dir", type=Path, help="reuse an index here (default: a temp dir)")
    ap.add_argument("--show-misses", action="store_true", help="print the messages missed at 3")
    args = ap.parse_args()

    knowledge: list[tuple[Path, str | None]] = (
        [(p, None) for p in args.knowledge] if args.knowledge else demo_knowledge()
    )
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        rt, build_s = open_library(
            data_dir,
            scripts=args.scripts,
            tags=args.tags,
            knowledge=knowledge,
            settings_overrides={"retrieval": {"top_scripts": 10}},
        )
        rows = read_jsonl(args.devset)
        results = [
            (
                row,
                rt.assistant.suggest(row["text"], industry=row.get("industry"), new_contact=False),
            )
            for row in rows
        ]
        rt.close()
    print(f"dev set: {len(rows)} messages · library loaded in {build_s:.1f} s")
    report("all", results, args.show_misses)
    by_industry: dict[str, list[tuple[dict[str, Any], SuggestionResult]]] = defaultdict(list)
    for row, res in results:
        by_industry[row.get("industry") or "-"].append((row, res))
    for industry, subset in sorted(by_industry.items()):
        report(industry, subset, False)


def report(
    name: str, results: list[tuple[dict[str, Any], SuggestionResult]], show_misses: bool
) -> None:
    hit1 = hit3 = 0
    rr = 0.0
    n_scripts = 0
    tp = fp = fn = 0
    misses = []
    for row, res in results:
        gold = set(row.get("scripts") or [])
        ranked = [s.id for s in res.scripts]
        if gold:
            n_scripts += 1
            hit1 += bool(ranked[:1] and ranked[0] in gold)
            hit3 += bool(gold & set(ranked[:3]))
            rank = next((i for i, sid in enumerate(ranked[:10], start=1) if sid in gold), None)
            rr += 1 / rank if rank else 0.0
            if not gold & set(ranked[:3]):
                misses.append((row, ranked[:3]))
        gold_tags = set(row.get("tags") or [])
        got_tags = {t.name for t in res.tags}
        tp += len(gold_tags & got_tags)
        fp += len(got_tags - gold_tags)
        fn += len(gold_tags - got_tags)
    p, r, f1 = micro_prf(tp, fp, fn)
    ns = max(n_scripts, 1)
    print(
        f"[{name:>9}] n={len(results):3d}  scripts hit@1 {hit1 / ns:.3f}  hit@3 {hit3 / ns:.3f}"
        f"  MRR@10 {rr / ns:.3f}   tags P {p:.3f} R {r:.3f} F1 {f1:.3f}"
    )
    if show_misses:
        for row, ranked in misses:
            print(f"   miss {row['id']}: {row['text'][:40]!r} gold={row['scripts']} got={ranked}")


if __name__ == "__main__":
    main()
