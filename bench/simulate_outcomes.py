"""A/B variants through the real pipeline: how fast does Thompson sampling find the better
variant, against uniform random choice?

    python bench/simulate_outcomes.py [--conversations 300] [--seeds 1] [--rates 0.2,0.35]

A synthetic population of customers asks the pricing question; two scripts in one
variant group have known true reply rates. Each conversation goes through the real
pipeline on a MemoryChannel: the customer's message (assistant.handle suggests, choosing
a variant by Thompson sampling), the adviser sends the shown variant as is (an outbound
adviser message, matched as "adopted"), and the customer either replies (with the
variant's true probability) or writes again only after the reply window (recorded as not
replied). Statistics refresh every ``--refresh`` handled messages, as in production.

The baseline is the same pipeline with ``exploration = 1`` (uniform random choice).
Prints cumulative regret (sum of best rate - chosen variant's rate), the share of the
better variant over the last 100 conversations, and when the posterior first names the
better variant the winner (P(best) >= 0.95 and n >= winner_min_samples per variant).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, open_library

from bot.channels.memory import MemoryChannel
from bot.domain import IncomingMessage
from bot.learning.bandit import Arm, posterior
from bot.pipeline.assistant import Assistant
from bot.pipeline.runtime import Runtime
from bot.vocab import Direction

LIBRARY = ROOT / "tests" / "data" / "library"
GROUP = "ins-price"
VARIANTS = """id,title,category,stage,industry,tags,body,status,variant_group
INS-PRC-A,重疾险价格（算到每天）,pricing,convert,insurance,价格;重疾,安心保重疾险一年多少钱？30岁每年4680元，每天不到13元。,approved,ins-price
INS-PRC-B,重疾险价格（对比保额）,pricing,convert,insurance,价格;重疾,安心保重疾险一年多少钱？每年4680元就有50万保额。,approved,ins-price
"""
QUESTIONS = (
    "重疾险一年多少钱",
    "我30岁，重疾险一年多少钱",
    "安心保重疾险保费多少",
    "重疾险价格是多少",
)


@dataclass
class RunResult:
    regret: float
    better_share_last: float
    winner_at: int | None
    picks: dict[str, int]
    seconds: float
    recorded: dict[str, tuple[int, int]]  # what the system itself recorded: (replied, n)


def _msg(cid: str, text: str, n: str, direction: Direction, at: datetime) -> IncomingMessage:
    return IncomingMessage(
        msg_id=f"{cid}-{n}",
        channel="memory",
        contact_id=cid,
        text=text,
        direction=direction,
        industry="insurance",
        sent_at=at,
    )


def run_once(
    workdir: Path,
    *,
    rates: dict[str, float],
    conversations: int,
    seed: int,
    exploration: float,
    refresh: int,
) -> RunResult:
    import time

    variants = workdir / "variants.csv"
    variants.write_text(VARIANTS, encoding="utf-8")
    rt: Runtime
    rt, _ = open_library(
        workdir / "data",
        scripts=LIBRARY / "scripts.csv",
        tags=None,
        knowledge=[],
        settings_overrides={
            "ranking": {"exploration": exploration, "refresh_every_messages": refresh},
        },
    )
    rt.library.import_file(variants)
    assistant = Assistant(
        settings=rt.settings,
        db=rt.db,
        embedder=rt.embedder,
        library=rt.library,
        kb=rt.kb,
        tagger=rt.tagger,
        llm=None,
        rng=random.Random(seed),
    )
    channel = MemoryChannel(assistant.handle)
    world = random.Random(seed + 1000)
    best = max(rates.values())
    better = max(rates, key=rates.__getitem__)
    counts = {k: [0, 0] for k in rates}
    regret = 0.0
    chosen: list[str] = []
    winner_at = None
    late = timedelta(hours=rt.settings.outcomes.reply_window_hours + 1)
    started = time.perf_counter()
    try:
        for i in range(conversations):
            cid = f"s{seed}-c{i}"
            now = datetime.now(UTC)
            result = channel.dispatch(_msg(cid, world.choice(QUESTIONS), "in", "in", now))
            shown = [s for s in (result.scripts if result else ()) if s.id in rates]
            if not shown:
                continue
            pick = shown[0]
            chosen.append(pick.id)
            regret += best - rates[pick.id]
            channel.dispatch(_msg(cid, pick.text, "out", "out", now + timedelta(seconds=1)))
            replied = world.random() < rates[pick.id]
            at = now + (timedelta(minutes=5) if replied else late)
            channel.dispatch(_msg(cid, "好的" if replied else "在吗", "re", "in", at))
            counts[pick.id][1] += 1
            counts[pick.id][0] += int(replied)
            if winner_at is None and (i + 1) % 10 == 0:
                arms = [Arm(k, s, n) for k, (s, n) in counts.items()]
                if (
                    posterior(
                        GROUP, arms, min_samples=rt.settings.ranking.winner_min_samples
                    ).winner
                    == better
                ):
                    winner_at = i + 1
        assistant.stats.refresh()
        recorded = {
            k: (assistant.stats.evidence(k).replied, assistant.stats.evidence(k).reply_n)
            for k in rates
        }
    finally:
        rt.close()
    last = chosen[-100:]
    return RunResult(
        regret=regret,
        better_share_last=last.count(better) / len(last) if last else 0.0,
        winner_at=winner_at,
        picks={k: chosen.count(k) for k in rates},
        seconds=time.perf_counter() - started,
        recorded=recorded,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=1, help="Independent runs per policy.")
    parser.add_argument("--rates", default="0.2,0.35", help="True reply rates of A,B.")
    parser.add_argument("--refresh", type=int, default=10, help="Stats refresh every N messages.")
    parser.add_argument("--exploration", type=float, default=0.1)
    args = parser.parse_args()
    a, b = (float(x) for x in args.rates.split(","))
    rates = {"INS-PRC-A": a, "INS-PRC-B": b}
    print(f"true reply rates {rates}; {args.conversations} conversations x {args.seeds} seeds")
    for name, exploration in (("thompson", args.exploration), ("uniform", 1.0)):
        results = []
        for seed in range(args.seeds):
            work = Path(tempfile.mkdtemp(prefix="siyu-sim-"))
            try:
                results.append(
                    run_once(
                        work,
                        rates=rates,
                        conversations=args.conversations,
                        seed=seed,
                        exploration=exploration,
                        refresh=args.refresh,
                    )
                )
            finally:
                shutil.rmtree(work, ignore_errors=True)
        found = [r.winner_at for r in results if r.winner_at is not None]
        print(
            f"{name:9s} regret {statistics.mean(r.regret for r in results):6.1f}"
            f"  better-variant share (last 100) "
            f"{statistics.mean(r.better_share_last for r in results):.0%}"
            f"  winner declared after {statistics.median(found) if found else '-'} conversations"
            f" ({len(found)}/{len(results)} runs)"
            f"  {statistics.mean(r.seconds for r in results):.0f}s/run"
        )
        last = results[-1]
        print(f"          last run: picks {last.picks}; recorded (replied, n) {last.recorded}")


if __name__ == "__main__":
    main()
