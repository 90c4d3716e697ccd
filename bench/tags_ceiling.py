"""How far the semantic guess could take static tag F1 on the learning data set.

    python bench/tags_ceiling.py [--data-dir DIR]

Loads the library of bench/learning.py (no history, no review) and scores the tags of its
246 test messages three ways, micro P / R / F1 over (message, tag) pairs:

1. **keywords**: only the tags a keyword (as written or reworded) found;
2. **tagger**: the tagger as it is (keywords and the semantic guess);
3. **oracle gate**: the keywords, plus the semantic best tag (the tagger's own score, one
   per message, in a category without a keyword hit) on exactly the messages that have a
   gold tag no keyword found, and on no other. No threshold or neutral-message rule on
   that score can do better than this gate: what it misses, the score ranks wrong.

It also prints, for the gold tags no keyword finds, how often the semantic score ranks
them first. This reads the tagger's internals (``_State``, ``_Evidence``): it measures the
production score, not a copy of it.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from common import micro_prf, open_library, read_jsonl
from learning import DATA

from bot.pipeline.tagging import _allowed, _Evidence


def prf(gold: list[set[str]], got: Iterable[set[str]]) -> str:
    tp = fp = fn = 0
    for wanted, found in zip(gold, got, strict=True):
        tp += len(wanted & found)
        fp += len(found - wanted)
        fn += len(wanted - found)
    p, r, f1 = micro_prf(tp, fp, fn)
    return f"P {p:.3f} R {r:.3f} F1 {f1:.3f}  ({tp} right, {fp} wrong, {fn} missed)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="the data set folder")
    ap.add_argument("--data-dir", type=Path, help="work here (default: a temporary folder)")
    args = ap.parse_args()
    tests = read_jsonl(args.data / "test.jsonl")
    gold = [set(row.get("tags") or ()) for row in tests]
    keywords: list[set[str]] = []
    tagger: list[set[str]] = []
    oracle: list[set[str]] = []
    first = unfound = 0
    with tempfile.TemporaryDirectory() as tmp:
        rt, _ = open_library(
            args.data_dir or Path(tmp),
            scripts=args.data / "scripts.csv",
            tags=args.data / "tags.yaml",
            knowledge=[],
        )
        state = rt.tagger._state
        assert state is not None
        settings = rt.settings.tagging
        for row, wanted in zip(tests, gold, strict=True):
            query = rt.tagger._index.embed_query(row["text"])
            found = rt.tagger.suggest(row["text"], industry=row["industry"], query_vector=query)
            hits = {t.name for t in found if "」含“" in t.evidence or "」近似“" in t.evidence}
            keywords.append(hits)
            tagger.append({t.name for t in found})
            allowed = _allowed(state, row["industry"])
            semantic = _Evidence.of(state, allowed, np.asarray(query), settings).semantic
            taken = {state.categories[r] for r in semantic if state.tags[r].name in hits}
            ranked = sorted((s, r) for r, s in semantic.items() if state.categories[r] not in taken)
            best = state.tags[ranked[-1][1]].name if ranked else None
            missing = wanted - hits
            unfound += len(missing)
            first += best in missing
            oracle.append(hits | ({best} if missing and best else set()))
        rt.close()
    print(f"test set: {len(tests)} messages, {sum(map(len, gold))} gold tags")
    print(f"keywords      {prf(gold, keywords)}")
    print(f"tagger        {prf(gold, tagger)}")
    print(f"oracle gate   {prf(gold, oracle)}")
    print(f"gold tags no keyword finds: {unfound}; the semantic score ranks {first} of them first")


if __name__ == "__main__":
    main()
