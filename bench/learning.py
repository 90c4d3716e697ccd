"""What the copilot learns from a team's own practice, measured on a labelled data set.

    python bench/learning.py                  # bench/data/learning (see its README.md)
    python bench/learning.py --show-misses    # also the test messages missed at 3
    python bench/learning.py --llm http://127.0.0.1:8080/v1 --llm-model qwen2.5-7b-instruct
                      # the same with [tagging] llm on: tags chosen by that model too
                      # (replies drafted as well; the key in SIYU_LLM_API_KEY)

Loads the library (demo + muying scripts, taxonomies, knowledge), then measures on the
held-out test messages (test.jsonl, never part of the history):

1. **static**: the library alone;
2. **after history**: ``siyu history import history.jsonl`` (700 conversations): adviser
   replies matched against the library became uses and examples (the examples channel);
3. **after tag review**: one round of review of the tags suggested from the history,
   decided from the gold labels and the missed tags added (``review_tags``, below).

It prints script hit@1 / hit@3 / MRR@10, knowledge top-3 (a passage from a labelled
document), tag precision / recall / F1 (micro, over (message, tag) pairs) and the lift;
the context cases (context_test.jsonl) without and with the customer's previous message;
and the import rate.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import DEMO, micro_prf, open_library, read_jsonl

from bot.domain import IncomingMessage, SuggestionResult
from bot.pipeline.runtime import Runtime
from bot.services import history
from bot.services import tags as tags_service
from bot.services.access import cli_principal
from bot.store.conversions import resolve_customer

DATA = Path(__file__).resolve().parent / "data" / "learning"


@dataclass(frozen=True, slots=True)
class Scores:
    n: int
    hit1: float
    hit3: float
    mrr: float
    knowledge3: float
    knowledge_n: int
    tag_p: float
    tag_r: float
    tag_f1: float

    def line(self, name: str) -> str:
        return (
            f"{name:<22} hit@1 {self.hit1:.3f}  hit@3 {self.hit3:.3f}  MRR {self.mrr:.3f}"
            f"  knowledge@3 {self.knowledge3:.3f}  tags P {self.tag_p:.3f} R {self.tag_r:.3f}"
            f" F1 {self.tag_f1:.3f}"
        )


def knowledge_sources() -> list[tuple[Path, str | None]]:
    out: list[tuple[Path, str | None]] = []
    for path in sorted((DEMO / "knowledge").iterdir()):
        industry = next((i for i in ("insurance", "kaoyan") if path.name.startswith(i)), None)
        out.append((path, industry))
    out += [(p, "muying") for p in sorted((DATA / "muying" / "knowledge").iterdir())]
    return out


#: How a suggested tag was found, read off its evidence (bot/pipeline/tagging.py).
TAG_SOURCES = (
    ("keyword", "」含“"),
    ("reworded keyword", "」近似“"),
    ("labelled example", "」与示例「"),
    ("reviewed message", "」与已标注为"),
    ("review classifier", "」像已审核为"),
    ("LLM", "」大模型判断"),
    ("semantic", "语义相近"),
)


def tag_sources(
    rows: list[dict[str, Any]], results: list[SuggestionResult]
) -> dict[str, tuple[int, int]]:
    """Per way of finding a tag: (right, suggested) over the test messages."""
    counts: dict[str, list[int]] = {name: [0, 0] for name, _ in TAG_SOURCES}
    for row, res in zip(rows, results, strict=True):
        gold = set(row.get("tags") or ())
        for tag in res.tags:
            name = next((n for n, mark in TAG_SOURCES if mark in tag.evidence), "semantic")
            counts[name][0] += tag.name in gold
            counts[name][1] += 1
    return {name: (right, n) for name, (right, n) in counts.items() if n}


def score(rows: list[dict[str, Any]], results: list[SuggestionResult]) -> Scores:
    hit1 = hit3 = 0
    rr = 0.0
    k_hit = k_n = 0
    tp = fp = fn = 0
    for row, res in zip(rows, results, strict=True):
        gold = set(row["scripts"])
        ranked = [s.id for s in res.scripts]
        hit1 += bool(ranked[:1] and ranked[0] in gold)
        hit3 += bool(gold & set(ranked[:3]))
        rank = next((i for i, sid in enumerate(ranked[:10], start=1) if sid in gold), None)
        rr += 1 / rank if rank else 0.0
        if row.get("knowledge"):
            k_n += 1
            k_hit += bool({k.source for k in res.knowledge[:3]} & set(row["knowledge"]))
        gold_tags = set(row.get("tags") or [])
        got = {t.name for t in res.tags}
        tp += len(gold_tags & got)
        fp += len(got - gold_tags)
        fn += len(gold_tags - got)
    n = max(1, len(rows))
    p, r, f1 = micro_prf(tp, fp, fn)
    return Scores(
        n=len(rows),
        hit1=hit1 / n,
        hit3=hit3 / n,
        mrr=rr / n,
        knowledge3=k_hit / max(1, k_n),
        knowledge_n=k_n,
        tag_p=p,
        tag_r=r,
        tag_f1=f1,
    )


def suggest_all(rt: Runtime, rows: list[dict[str, Any]]) -> list[SuggestionResult]:
    return [
        rt.assistant.suggest(row["text"], industry=row["industry"], new_contact=False)
        for row in rows
    ]


def suggest_in_context(rt: Runtime, rows: list[dict[str, Any]], tag: str) -> list[SuggestionResult]:
    """Each context case as a conversation: its earlier messages logged for a customer of
    its own in the last minute, then a suggestion for its message with that customer."""
    results = []
    for row in rows:
        start = datetime.now(UTC) - timedelta(minutes=1)
        contact = f"bench-{tag}-{row['id']}"
        received = None
        for j, text in enumerate(row["context"]):
            received = rt.assistant.receive(
                IncomingMessage(
                    msg_id=f"{contact}-{j}",
                    channel="bench",
                    contact_id=contact,
                    text=text,
                    industry=row["industry"],
                    sent_at=start + timedelta(seconds=j),
                )
            )
        assert received is not None
        results.append(
            rt.assistant.suggest(
                row["text"], industry=row["industry"], customer_id=received.customer_id
            )
        )
    return results


# --------------------------------------------------------------------------- tag review
def review_tags(rt: Runtime, history_labels: Path, history_file: Path) -> ReviewCounts:
    """One round of tag review of the customers imported from the history, through the
    services a manager uses (``siyu tags review`` / ``siyu tags add --file``): each
    suggested tag is confirmed when the message it was suggested from is labelled with it
    (history_labels.jsonl), rejected otherwise; then every labelled tag a customer still
    lacks is added with the first message that shows it. The tagger learns from each
    decision (confirmed / added messages as positives, rejected ones as negatives)."""
    admin = cli_principal("bench")
    shows: dict[str, list[str]] = {
        label["msg_id"]: list(label.get("tags") or ()) for label in read_jsonl(history_labels)
    }
    with rt.db.session() as session:
        suggested = tags_service.customer_tags(session, admin, status="suggested", limit=None)
    # Only the history's messages: the context cases logged their earlier messages too,
    # and those have no labels here (rejecting their tags would teach the tagger wrongly).
    suggested = [t for t in suggested if t.source_msg_id in shows]
    confirm = [t.id for t in suggested if t.tag.name in shows[t.source_msg_id or ""]]
    chosen = set(confirm)
    reject = [t.id for t in suggested if t.id not in chosen]
    tags_service.review(rt, admin, confirm=confirm, reject=reject)
    with rt.db.session() as session:
        confirmed = tags_service.customer_tags(session, admin, status="confirmed", limit=None)
    history_rows = [r for r in read_jsonl(history_file) if r["direction"] == "in"]
    with rt.db.session() as session:
        customer_of = {
            c: resolve_customer(session=session, ref=c)
            for c in {r["contact_id"] for r in history_rows}
        }
    have = {(t.customer_id, t.tag.name) for t in confirmed}
    missed: list[tuple[str, str, str]] = []
    for row in sorted(history_rows, key=lambda r: r["sent_at"]):
        for name in shows.get(row["msg_id"], ()):
            key = (customer_of[row["contact_id"]], name)
            if key not in have:
                have.add(key)
                missed.append((row["contact_id"], name, row["msg_id"]))
    added = 0
    if missed:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "labels.csv"
            with path.open("w", encoding="utf-8", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["customer", "tag", "msg_id"])
                writer.writerows(missed)
            added = tags_service.add_file(rt, admin, path=path).added
    return ReviewCounts(confirmed=len(confirm), rejected=len(reject), added=added)


@dataclass(frozen=True, slots=True)
class ReviewCounts:
    confirmed: int
    rejected: int
    added: int

    def __str__(self) -> str:
        return f"+{self.confirmed} -{self.rejected} added {self.added}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA, help="the data set folder")
    ap.add_argument("--data-dir", type=Path, help="work here (default: a temporary folder)")
    ap.add_argument("--show-misses", action="store_true")
    ap.add_argument(
        "--show-tag-errors",
        action="store_true",
        help="also every test message whose tags are wrong, static and after review",
    )
    ap.add_argument(
        "--baseline",
        action="store_true",
        help="retrieval as before issue 12: RRF of 30 candidates, no title channel",
    )
    ap.add_argument(
        "--llm",
        metavar="URL",
        help="an OpenAI-compatible endpoint: tags are also chosen by its model ([tagging] llm)",
    )
    ap.add_argument("--llm-model", default="qwen2.5-7b-instruct", help="the model at --llm")
    args = ap.parse_args()
    retrieval: dict[str, object] = {"top_scripts": 10}
    if args.baseline:
        retrieval |= {"fusion": "rrf", "candidates": 30, "lexical_weight": 1.0, "title_weight": 0}
    overrides: dict[str, Any] = {"retrieval": retrieval}
    if args.llm:
        overrides |= {
            "llm": {"base_url": args.llm, "model": args.llm_model, "timeout_s": 30.0},
            "tagging": {"llm": True},
        }
    tests = read_jsonl(args.data / "test.jsonl")
    context = read_jsonl(args.data / "context_test.jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        rt, build_s = open_library(
            data_dir,
            scripts=args.data / "scripts.csv",
            tags=args.data / "tags.yaml",
            knowledge=knowledge_sources(),
            settings_overrides=overrides,
        )
        print(
            f"library: 138 scripts, {len(knowledge_sources())} documents, loaded in {build_s:.0f} s"
            f" (embedding processes: {os.environ.get('SIYU_BENCH_PROCESSES', 'default')})"
        )
        static_results = suggest_all(rt, tests)
        static = score(tests, static_results)
        ctx_without = score(context, suggest_all(rt, context))
        ctx_with = score(context, suggest_in_context(rt, context, "static"))

        started = time.perf_counter()
        report = history.import_file(rt, cli_principal("bench"), path=args.data / "history.jsonl")
        import_s = time.perf_counter() - started
        after_results = suggest_all(rt, tests)
        after = score(tests, after_results)
        ctx_after = score(context, suggest_in_context(rt, context, "after"))

        reviewed = review_tags(rt, args.data / "history_labels.jsonl", args.data / "history.jsonl")
        reviewed_results = suggest_all(rt, tests)
        reviewed_scores = score(tests, reviewed_results)
        if args.show_misses:
            for row, res in zip(tests, after_results, strict=True):
                ranked = [s.id for s in res.scripts[:3]]
                if not set(row["scripts"]) & set(ranked):
                    text = row["text"][:30]
                    print(f"  miss {row['id']} {text!r} gold={row['scripts']} got={ranked}")
        if args.show_tag_errors:
            for phase, results in (("static", static_results), ("review", reviewed_results)):
                for row, res in zip(tests, results, strict=True):
                    gold, got = set(row.get("tags") or ()), {t.name for t in res.tags}
                    if gold != got:
                        why = "; ".join(f"{t.name}: {t.evidence}" for t in res.tags)
                        text = row["text"]
                        print(f"  {phase} {row['industry']} {text!r} gold={sorted(gold)} [{why}]")
        rt.close()

    print(
        f"history import: {report.lines} lines ({report.customer_messages} customer,"
        f" {report.adviser_messages} adviser), {report.uses} uses, {report.examples} examples,"
        f" {report.tags} tag suggestions in {import_s:.0f} s"
        f" = {report.lines / import_s:.0f} lines/s"
    )
    print(f"test set: {static.n} messages ({static.knowledge_n} with knowledge labels)")
    print(static.line("static"))
    print(after.line("after history"))
    print(reviewed_scores.line("after tag review"))
    print(f"{'  tag review':<22} {reviewed}")
    for industry in sorted({row["industry"] for row in tests}):
        picked = [i for i, row in enumerate(tests) if row["industry"] == industry]
        part = [tests[i] for i in picked]
        figures = "   ".join(
            f"{phase} {s.tag_p:.3f} / {s.tag_r:.3f} / {s.tag_f1:.3f}"
            for phase, s in (
                ("static", score(part, [static_results[i] for i in picked])),
                ("review", score(part, [reviewed_results[i] for i in picked])),
            )
        )
        print(f"{'  tags ' + industry:<22} P / R / F1  {figures}  ({len(picked)} messages)")
    for phase, results in (("static", static_results), ("review", reviewed_results)):
        found = tag_sources(tests, results)
        shown = "  ".join(f"{name} {right}/{n}" for name, (right, n) in found.items())
        print(f"{'  tags right/' + phase:<22} {shown}")
    lift = (
        f"hit@1 {after.hit1 - static.hit1:+.3f}  hit@3 {after.hit3 - static.hit3:+.3f}"
        f"  MRR {after.mrr - static.mrr:+.3f}"
        f"  knowledge@3 {after.knowledge3 - static.knowledge3:+.3f}"
        f"  tags F1 {reviewed_scores.tag_f1 - static.tag_f1:+.3f}"
    )
    print(f"{'lift':<22} {lift}")
    print(f"context cases: {ctx_without.n} messages whose meaning needs the previous one")
    print(f"{'  message alone':<22} hit@1 {ctx_without.hit1:.3f}  hit@3 {ctx_without.hit3:.3f}")
    print(f"{'  with context':<22} hit@1 {ctx_with.hit1:.3f}  hit@3 {ctx_with.hit3:.3f}")
    print(f"{'  + history':<22} hit@1 {ctx_after.hit1:.3f}  hit@3 {ctx_after.hit3:.3f}")


if __name__ == "__main__":
    main()
