"""Tag quality static and after one round of review, on a labelled train / test split.

    python bench/tags_eval.py [--show-errors] [--set tagging.semantic_z=2.6 …]

Data (bench/data/, fictional): ``tags_train.jsonl`` — customers' messages as a chat
history would hold them, ``{"id", "contact", "text", "industry", "tags"}``, 1–3 messages
per contact — and ``tags_test.jsonl`` — single messages ``{"id", "text", "industry",
"tags"}``. ``tags`` are the tags the message itself shows (empty: none). Industries
``insurance`` and ``kaoyan`` use the demo taxonomy (bot/demo_data/tags.yaml, with its
examples); ``home`` uses bench/data/tags_home.yaml, written like a team's first taxonomy
(keywords and descriptions, no examples): its static figure is the closest stand-in for a
taxonomy the tagger was never tuned on.

For each taxonomy, in a fresh data directory and through the same functions as the CLI:

1. **static**: every test message through ``Assistant.suggest`` (as ``siyu suggest``);
2. **history**: every train message logged as a customer message (``Assistant.receive``,
   as a channel or a history import does): tags are suggested for the customers;
3. **review**: each suggested tag is confirmed if the message it came from
   (``source_msg_id``) shows it, else rejected — one ``tags.review`` call, as
   ``siyu tags review --confirm … --reject …``; then every tag a message shows that its
   customer still lacks is added with that message, from a CSV file, as ``siyu tags add
   --file`` (customers named by their contact id);
4. **after review**: the test messages again.

Prints precision / recall / F1 (micro-averaged over (message, tag) pairs), static and
after review, per industry and overall. ``evaluate()`` returns the same figures for other
benches (bench/learning.py).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import DEMO, ROOT, read_jsonl

from bot.domain import IncomingMessage
from bot.pipeline.runtime import Runtime, open_runtime
from bot.services import tags as tags_service
from bot.services.access import cli_principal
from bot.settings import Settings

DATA = ROOT / "bench" / "data"
#: The learning data set (bench/data/learning/README.md).
LEARNING = DATA / "learning"
#: The channel the history is logged on (its contact ids are identities of that channel).
HISTORY_CHANNEL = "history"


@dataclass(frozen=True, slots=True)
class TagData:
    """One evaluation: a taxonomy, a chat history with the gold tags of its customer
    messages, and held-out test messages."""

    name: str
    taxonomy: Path
    #: Rows of the history import format: msg_id, contact_id, contact_name?, adviser_id?,
    #: industry?, direction (in | out), text, sent_at (ISO 8601 with an offset).
    history: Sequence[dict[str, Any]]
    #: The tags each customer message of the history shows, by msg_id.
    labels: dict[str, list[str]]
    #: ``{"id", "text", "industry", "tags"}``.
    test: Sequence[dict[str, Any]]


def own_data(data: Path = DATA) -> list[TagData]:
    """bench/data/tags_{train,test}.jsonl: the demo industries on the demo taxonomy, and
    ``home`` on bench/data/tags_home.yaml."""
    train, test = read_jsonl(data / "tags_train.jsonl"), read_jsonl(data / "tags_test.jsonl")
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    out = []
    for name, taxonomy, industries in (
        ("demo", DEMO / "tags.yaml", ("insurance", "kaoyan")),
        ("home", data / "tags_home.yaml", ("home",)),
    ):
        rows = [r for r in train if r["industry"] in industries]
        history = [
            {
                "msg_id": r["id"],
                "contact_id": r["contact"],
                "industry": r["industry"],
                "direction": "in",
                "text": r["text"],
                "sent_at": (start + timedelta(minutes=i)).isoformat(),
            }
            for i, r in enumerate(rows)
        ]
        out.append(
            TagData(
                name=name,
                taxonomy=taxonomy,
                history=history,
                labels={r["id"]: r["tags"] for r in rows},
                test=[r for r in test if r["industry"] in industries],
            )
        )
    return out


def learning_data(data: Path = LEARNING) -> list[TagData]:
    """The learning data set (700 conversations of history, 246 test messages)."""
    labels = {r["msg_id"]: r["tags"] for r in read_jsonl(data / "history_labels.jsonl")}
    return [
        TagData(
            name="learning",
            taxonomy=data / "tags.yaml",
            history=read_jsonl(data / "history.jsonl"),
            labels=labels,
            test=read_jsonl(data / "test.jsonl"),
        )
    ]


@dataclass(frozen=True, slots=True)
class Scores:
    """Precision, recall and F1 over (message, tag) pairs."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Scores) -> Scores:
        return Scores(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @classmethod
    def of(cls, gold: set[str], got: set[str]) -> Scores:
        return cls(len(gold & got), len(got - gold), len(gold - got))


@dataclass
class Review:
    """What the simulated review did."""

    confirmed: int = 0
    rejected: int = 0
    added: int = 0


@dataclass
class TagEval:
    """Static and after-review scores of one data set, per industry (``overall_*`` sum
    them)."""

    name: str
    static: dict[str, Scores] = field(default_factory=dict)
    reviewed: dict[str, Scores] = field(default_factory=dict)
    review: Review = field(default_factory=Review)
    #: (phase, industry, message id, text, gold, got) of every wrong test message.
    errors: list[tuple[str, str, str, str, set[str], set[str]]] = field(default_factory=list)

    @property
    def overall_static(self) -> Scores:
        return sum(self.static.values(), Scores())

    @property
    def overall_reviewed(self) -> Scores:
        return sum(self.reviewed.values(), Scores())


def evaluate(
    datasets: Sequence[TagData] | None = None,
    *,
    settings_overrides: dict[str, Any] | None = None,
    keep: Path | None = None,
) -> list[TagEval]:
    """Run the evaluation described in the module doc (default: ``own_data()``), each
    data set in a fresh temporary data directory (with ``keep``: ``keep/<name>``, kept
    for ``rescore``); one result per data set. ``settings_overrides``:
    ``{"tagging.semantic_z": 2.6}``."""
    results = []
    for data in own_data() if datasets is None else datasets:
        result = TagEval(name=data.name)
        with tempfile.TemporaryDirectory() as tmp:
            data_dir = Path(tmp) if keep is None else keep / data.name
            raw = {"data_dir": str(data_dir)} | _nested(settings_overrides or {})
            rt = open_runtime(Settings.model_validate(raw))
            try:
                _evaluate_one(rt, data, result)
            finally:
                rt.close()
        results.append(result)
    return results


def rescore(
    datasets: Sequence[TagData], keep: Path, *, settings_overrides: dict[str, Any] | None = None
) -> list[TagEval]:
    """The test messages again on the reviewed data directories ``evaluate(keep=…)`` left
    (other settings, same review): only the "after review" figures are filled."""
    results = []
    for data in datasets:
        result = TagEval(name=data.name)
        raw = {"data_dir": str(keep / data.name)} | _nested(settings_overrides or {})
        rt = open_runtime(Settings.model_validate(raw))
        try:
            _score(rt, data.test, "after review", result.reviewed, result)
        finally:
            rt.close()
        results.append(result)
    return results


def _evaluate_one(rt: Runtime, data: TagData, result: TagEval) -> None:
    admin = cli_principal("bench")
    tags_service.import_taxonomy(rt, admin, path=data.taxonomy)
    _score(rt, data.test, "static", result.static, result)
    _import_history(rt, data.history)
    # Review: confirm what the source message shows, reject the rest.
    with rt.db.session() as session:
        suggested = tags_service.customer_tags(session, admin, status="suggested", limit=None)
    confirm: list[int] = []
    reject: list[int] = []
    for tag in suggested:
        shows = data.labels.get(tag.source_msg_id or "", [])
        (confirm if tag.tag.name in shows else reject).append(tag.id)
    tags_service.review(rt, admin, confirm=confirm, reject=reject)
    result.review.confirmed += len(confirm)
    result.review.rejected += len(reject)
    # Add what each customer still lacks, with the message that shows it.
    with rt.db.session() as session:
        confirmed = tags_service.customer_tags(session, admin, status="confirmed", limit=None)
    customer_of = _customers(rt, data.history)
    have = {(t.customer_id, t.tag.name) for t in confirmed}
    labels: list[tuple[str, str, str]] = []
    for row in data.history:
        for name in data.labels.get(row["msg_id"], []):
            key = (customer_of[row["contact_id"]], name)
            if key not in have:
                have.add(key)
                labels.append((row["contact_id"], name, row["msg_id"]))
    if labels:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "labels.csv"
            _write_labels(path, labels)
            stats = tags_service.add_file(rt, admin, path=path)
        result.review.added += stats.added
    _score(rt, data.test, "after review", result.reviewed, result)


def _import_history(rt: Runtime, history: Sequence[dict[str, Any]]) -> None:
    """Log the history in time order, as a channel would have (customer messages get tag
    suggestions)."""
    for row in sorted(history, key=lambda r: datetime.fromisoformat(r["sent_at"])):
        rt.assistant.receive(
            IncomingMessage(
                msg_id=row["msg_id"],
                channel=HISTORY_CHANNEL,
                contact_id=row["contact_id"],
                contact_name=row.get("contact_name") or "",
                adviser_id=row.get("adviser_id") or "adviser",
                text=row["text"],
                direction=row["direction"],
                industry=row.get("industry"),
                sent_at=datetime.fromisoformat(row["sent_at"]),
            )
        )


def _customers(rt: Runtime, history: Iterable[dict[str, Any]]) -> dict[str, int]:
    """The customer id of each contact of the history."""
    from bot.store.conversions import resolve_customer

    contacts = {row["contact_id"] for row in history}
    with rt.db.session() as session:
        return {c: resolve_customer(session=session, ref=c) for c in contacts}


def _write_labels(path: Path, labels: Sequence[tuple[str, str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["customer", "tag", "msg_id"])
        writer.writerows(labels)


def _score(
    rt: Runtime,
    rows: Sequence[dict[str, Any]],
    phase: str,
    into: dict[str, Scores],
    result: TagEval,
) -> None:
    for row in rows:
        got = {
            t.name
            for t in rt.assistant.suggest(
                row["text"], industry=row["industry"], new_contact=False
            ).tags
        }
        gold = set(row["tags"])
        into[row["industry"]] = into.get(row["industry"], Scores()) + Scores.of(gold, got)
        if got != gold:
            result.errors.append((phase, row["industry"], row["id"], row["text"], gold, got))


def _nested(overrides: dict[str, Any]) -> dict[str, Any]:
    """``{"tagging.semantic_z": 2.6}`` → ``{"tagging": {"semantic_z": 2.6}}``."""
    nested: dict[str, Any] = defaultdict(dict)
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if name:
            nested[section][name] = value
        else:
            nested[section] = value
    return dict(nested)


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def report(results: Sequence[TagEval]) -> None:
    def line(s: Scores) -> str:
        return f"P {s.precision:.3f} R {s.recall:.3f} F1 {s.f1:.3f}"

    for result in results:
        r = result.review
        print(
            f"{result.name}: review confirmed {r.confirmed}, rejected {r.rejected}, added {r.added}"
        )
        rows = [(i, result.static[i], result.reviewed.get(i, Scores())) for i in result.static]
        rows.append(("all", result.overall_static, result.overall_reviewed))
        for industry, static, reviewed in rows:
            print(f"  [{industry:>9}] static {line(static)}   after review {line(reviewed)}")
    if len(results) > 1:
        static = sum((r.overall_static for r in results), Scores())
        reviewed = sum((r.overall_reviewed for r in results), Scores())
        print(f"all data sets: static {line(static)}   after review {line(reviewed)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--data",
        choices=("own", "learning", "both"),
        default="own",
        help="own: bench/data/tags_*.jsonl; learning: the learning data set",
    )
    ap.add_argument("--learning-dir", type=Path, default=LEARNING)
    ap.add_argument("--show-errors", action="store_true", help="print the wrong test messages")
    ap.add_argument("--keep", type=Path, help="keep the reviewed data directories here")
    ap.add_argument(
        "--rescore",
        action="store_true",
        help="only score the test messages again on the directories --keep left",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a setting for this run, e.g. tagging.semantic_z=2.6 (repeatable)",
    )
    args = ap.parse_args()
    overrides = {k: _value(v) for k, _, v in (s.partition("=") for s in args.set)}
    datasets = []
    if args.data in ("own", "both"):
        datasets += own_data()
    if args.data in ("learning", "both"):
        datasets += learning_data(args.learning_dir)
    for data in datasets:
        n_in = sum(1 for r in data.history if r["direction"] == "in")
        print(
            f"{data.name}: history {len(data.history)} messages ({n_in} from customers)"
            f" · test {len(data.test)} messages"
        )
    if args.rescore:
        if args.keep is None:
            ap.error("--rescore needs --keep")
        results = rescore(datasets, args.keep, settings_overrides=overrides)
    else:
        results = evaluate(datasets, settings_overrides=overrides, keep=args.keep)
    report(results)
    if args.show_errors:
        for result in results:
            for phase, _industry, id_, text, gold, got in result.errors:
                print(
                    f"  {phase:>12} {id_:<10} {text[:30]!r} gold={sorted(gold)} got={sorted(got)}"
                )


if __name__ == "__main__":
    main()
