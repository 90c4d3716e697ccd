"""Script effectiveness, ranking from evidence and A/B variants (issue #5)."""

from __future__ import annotations

import csv
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.learning import effectiveness
from bot.learning.bandit import Arm, ThompsonSampler, posterior
from bot.learning.effectiveness import blend_order, wilson
from bot.pipeline.runtime import Runtime
from bot.settings import RankingSettings
from bot.store.effectiveness import OutcomeRow, ShownRow

VARIANTS_CSV = """id,title,category,stage,industry,tags,body,status,variant_group
INS-PRC-A,重疾险价格（算到每天）,pricing,convert,insurance,价格;重疾,安心保重疾险一年多少钱？30岁每年4680元，每天不到13元。,approved,ins-price
INS-PRC-B,重疾险价格（对比保额）,pricing,convert,insurance,价格;重疾,安心保重疾险一年多少钱？每年4680元就有50万保额。,approved,ins-price
"""


def test_wilson_interval() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    low, high = wilson(0, 20)
    assert low == 0.0 and 0.1 < high < 0.2
    # more samples, narrower interval around the same rate
    assert wilson(50, 100)[1] - wilson(50, 100)[0] < high - low + 0.5
    # one suggestion used five times: counted as all used, never a math error
    assert wilson(5, 1) == wilson(1, 1)


def test_blend_keeps_relevance_first() -> None:
    settings = RankingSettings(outcome_weight=0.3, relevance_ratio=0.8)
    rates = {"a": 0.1, "b": 0.9, "c": 0.9}
    # b is nearly as relevant as a and replies far better: it moves up; c is not relevant
    # enough to be re-ordered at all.
    order = blend_order(
        [("a", 1.0), ("b", 0.95), ("c", 0.5)], rate=rates.__getitem__, settings=settings
    )
    assert order == [1, 0, 2]
    off = RankingSettings(enabled=False)
    assert blend_order([("a", 1.0), ("b", 0.95)], rate=rates.__getitem__, settings=off) == [0, 1]
    # equal evidence keeps the retrieval order
    same = blend_order([("a", 1.0), ("b", 0.95)], rate=lambda _: 0.5, settings=settings)
    assert same == [0, 1]


def _simulate(
    sampler: ThompsonSampler, rates: dict[str, float], rounds: int, seed: int
) -> list[str]:
    world = random.Random(seed)
    counts = {k: [0, 0] for k in rates}
    picks = []
    for _ in range(rounds):
        arms = [Arm(script_id=k, successes=s, trials=n) for k, (s, n) in counts.items()]
        pick = sampler.choose(arms)
        picks.append(pick)
        counts[pick][1] += 1
        counts[pick][0] += int(world.random() < rates[pick])
    return picks


def test_thompson_converges_to_the_better_variant() -> None:
    sampler = ThompsonSampler(rng=random.Random(7), exploration=0.1)
    picks = _simulate(sampler, {"A": 0.2, "B": 0.35}, rounds=1500, seed=1)
    late = Counter(picks[-500:])
    assert late["B"] / 500 > 0.8
    # seeded: the same run twice gives the same picks
    again = _simulate(
        ThompsonSampler(rng=random.Random(7), exploration=0.1), {"A": 0.2, "B": 0.35}, 1500, 1
    )
    assert again == picks


def test_exploration_floor_holds_against_decisive_evidence() -> None:
    sampler = ThompsonSampler(rng=random.Random(3), exploration=0.2)
    arms = [Arm("good", 900, 1000), Arm("bad", 100, 1000)]
    picks = Counter(sampler.choose(arms) for _ in range(4000))
    # floor = exploration / k = 10 % of the traffic for the worse variant
    assert 0.08 < picks["bad"] / 4000 < 0.12
    assert ThompsonSampler(rng=random.Random(3), exploration=0.0).choose(arms) == "good"


def test_posterior_names_a_winner_only_with_enough_evidence() -> None:
    strong = posterior("g", [Arm("A", 30, 100), Arm("B", 55, 100)], min_samples=30)
    assert strong.winner == "B"
    assert next(a for a in strong.arms if a.script_id == "B").p_best > 0.95
    few = posterior("g", [Arm("A", 1, 5), Arm("B", 5, 5)], min_samples=30)
    assert few.winner is None
    close = posterior("g", [Arm("A", 50, 100), Arm("B", 52, 100)], min_samples=30)
    assert close.winner is None
    assert sum(a.p_best for a in close.arms) == pytest.approx(1.0)


def test_pipeline_stats_reason_and_report(
    make_runtime: Callable[..., Runtime], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = make_runtime(ranking={"reason_min_samples": 2, "refresh_every_messages": 1})
    ch = MemoryChannel(rt.assistant.handle)
    used = None
    for i in range(3):
        shown = ch.receive(
            f"c{i}", "我30岁，重疾险一年多少钱", msg_id=f"in-{i}", industry="insurance"
        )
        assert shown is not None and shown.scripts
        used = used or shown.scripts[0].id
        top = next(s for s in shown.scripts if s.id == used)
        text = top.text if i < 2 else top.text + "您看合适吗？"
        ch.receive(f"c{i}", text, msg_id=f"out-{i}", direction="out")
        ch.receive(f"c{i}", "好的我考虑下", msg_id=f"re-{i}")
    stats = {s.script_id: s for s in effectiveness.compute(effectiveness.load(db=rt.db))}
    s = stats[used]
    assert (s.adopted, s.edited, s.reply_n, s.replied) == (2, 1, 3, 3)
    assert s.suggested >= 3 and s.reply_rate == 1.0
    assert s.common_edits and s.common_edits[0][0].endswith("您看合适吗？")
    by_industry = effectiveness.compute(effectiveness.load(db=rt.db), by="industry")
    assert any(r.script_id == used and r.segment == "insurance" for r in by_industry)
    # the adviser now sees why the script ranks where it does
    again = rt.assistant.suggest("重疾险一年多少钱", industry="insurance")
    shown_used = next(x for x in again.scripts if x.id == used)
    # ... and that it answered this question three times before (bot/pipeline/replies.py)
    assert shown_used.reason == "相似问题已用过 3 次；回复率 100%，n=3"
    assert again.to_json()["scripts"][0].keys() >= {"id", "reason"}

    csv_path, png_path = tmp_path / "s.csv", tmp_path / "s.png"
    capsys.readouterr()
    code = run(
        [
            "--data-dir",
            str(rt.settings.data_dir),
            "report",
            "scripts",
            "--csv",
            str(csv_path),
            "--png",
            str(png_path),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "话术效果" in out and "从未采用" in out
    with csv_path.open(encoding="utf-8-sig") as fh:
        rows = {r["话术编号"]: r for r in csv.DictReader(fh)}  # a report: Chinese headers
    assert rows[used]["已回复"] == "3" and float(rows[used]["回复率区间下限"]) > 0.3
    assert png_path.read_bytes()[:4] == b"\x89PNG"
    assert (
        run(["--data-dir", str(rt.settings.data_dir), "report", "scripts", "--by", "adviser"]) == 0
    )
    assert run(["--data-dir", str(rt.settings.data_dir), "report", "scripts", "--by", "nope"]) == 1


def test_variant_group_is_shown_as_one_sampled_variant(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    rt = make_runtime()
    path = tmp_path / "variants.csv"
    path.write_text(VARIANTS_CSV, encoding="utf-8")
    rt.library.import_file(path)
    seen: Counter[str] = Counter()
    for _ in range(30):
        result = rt.assistant.suggest("重疾险一年多少钱", industry="insurance")
        ids = [s.id for s in result.scripts]
        in_group = [i for i in ids if i in ("INS-PRC-A", "INS-PRC-B")]
        assert len(in_group) == 1
        seen[in_group[0]] += 1
    assert seen["INS-PRC-A"] > 0 and seen["INS-PRC-B"] > 0
    # ranking off: plain retrieval, both variants may show, no reply rates as reasons
    off = make_runtime(data_dir=tmp_path / "off", ranking={"enabled": False})
    off.library.import_file(path)
    result = off.assistant.suggest("重疾险一年多少钱", industry="insurance")
    assert all(s.reason is None or "回复率" not in s.reason for s in result.scripts)


def test_silence_past_the_reply_window_counts_as_not_replied() -> None:
    now = datetime(2026, 11, 10, tzinfo=UTC)
    then = now - timedelta(days=3)
    data = effectiveness.EffectivenessData(
        shown=[ShownRow(1, 1, "adv", "insurance", "convert", ("S", "T"), then)],
        outcomes=[OutcomeRow(1, "adopted", "S", "x", None, None, then)],
        conversions={1: [then + timedelta(days=1)]},
        titles={"S": ("s", None)},
    )
    [s, t] = effectiveness.compute(data)
    assert (s.script_id, s.suggested, s.adopted, s.reply_n, s.converted) == ("S", 1, 1, 0, 1)
    assert t.never_adopted is False and t.suggested == 1 and t.used == 0
    [s, _] = effectiveness.compute(data, reply_window=timedelta(hours=24), now=now)
    assert (s.reply_n, s.replied, s.reply_rate) == (1, 0, 0.0)
    [s, _] = effectiveness.compute(data, conversion_window=timedelta(hours=12), now=now)
    assert (s.converted, s.conversion_n, s.conversion_rate) == (0, 1, 0.0)  # window closed
    # still inside its window, not converted yet: it says nothing (was 0% n=1)
    waiting = replace(data, conversions={})
    [s, _] = effectiveness.compute(waiting, conversion_window=timedelta(days=14), now=now)
    assert (s.converted, s.conversion_n, s.conversion_rate) == (0, 0, None)
    [s, _] = effectiveness.compute(data, conversion_window=timedelta(days=14), now=now)
    assert (s.converted, s.conversion_n, s.conversion_rate) == (1, 1, 1.0)  # converted early


def test_reason_is_rendered_for_the_adviser() -> None:
    from rich.console import Console

    from bot.cli.render import suggestion_panel
    from bot.domain import ScriptSuggestion, SuggestionResult

    script = ScriptSuggestion(
        "S1", "价格", "pricing", 0.5, "每年4680元", reason="回复率 38%，n=120"
    )
    result = SuggestionResult(
        scripts=(script,), knowledge=(), tags=(), reply=None, mode="retrieval", latency_ms=1.0
    )
    console = Console(width=120, record=True)
    console.print(suggestion_panel(result))
    assert "回复率 38%，n=120" in console.export_text()
    assert result.to_json()["scripts"][0]["reason"] == "回复率 38%，n=120"
