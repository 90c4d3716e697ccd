"""A/B variants (scripts sharing a ``variant_group``): Thompson sampling on reply rate.

Each variant's reply rate has a Beta(1 + replied, 1 + not replied) posterior, counts
pooled across advisers. ``choose`` draws once from every posterior and takes the best
draw, except that with probability ``exploration`` it picks uniformly at random (the
exploration floor: every variant keeps at least ``exploration / k`` of the traffic).
The random generator is injected so tests and simulations are reproducible.

``posterior`` is what operators see: mean, 95 % credible interval and P(best) per
variant (Monte Carlo), and a winner only when P(best) >= the threshold and every variant
has at least ``min_samples`` samples.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Arm:
    script_id: str
    successes: int  # customer replied
    trials: int  # used with a known reply

    @property
    def failures(self) -> int:
        return max(0, self.trials - self.successes)


@dataclass(frozen=True, slots=True)
class ArmPosterior:
    script_id: str
    trials: int
    mean: float
    low: float
    high: float
    p_best: float


@dataclass(frozen=True, slots=True)
class GroupPosterior:
    group: str
    arms: tuple[ArmPosterior, ...]
    winner: str | None


class ThompsonSampler:
    def __init__(self, *, rng: random.Random | None = None, exploration: float = 0.1) -> None:
        if not 0 <= exploration <= 1:
            raise ValueError("exploration must be within [0, 1]")
        self._rng = rng or random.Random()
        self.exploration = exploration

    def choose(self, arms: Sequence[Arm]) -> str:
        if not arms:
            raise ValueError("no arms to choose from")
        if len(arms) == 1:
            return arms[0].script_id
        if self._rng.random() < self.exploration:
            return self._rng.choice(arms).script_id
        draws = [self._rng.betavariate(1 + a.successes, 1 + a.failures) for a in arms]
        return arms[max(range(len(arms)), key=draws.__getitem__)].script_id


def posterior(
    group: str,
    arms: Sequence[Arm],
    *,
    winner_probability: float = 0.95,
    min_samples: int = 30,
    draws: int = 20000,
    seed: int = 0,
) -> GroupPosterior:
    """Posterior summary of a variant group (deterministic for a given seed)."""
    if not arms:
        return GroupPosterior(group=group, arms=(), winner=None)
    gen = np.random.default_rng(seed)
    samples = np.stack(
        [gen.beta(1 + a.successes, 1 + a.failures, size=draws) for a in arms], axis=1
    )
    best = np.bincount(samples.argmax(axis=1), minlength=len(arms)) / draws
    out = tuple(
        ArmPosterior(
            script_id=a.script_id,
            trials=a.trials,
            mean=(1 + a.successes) / (2 + a.trials),
            low=float(np.quantile(samples[:, i], 0.025)),
            high=float(np.quantile(samples[:, i], 0.975)),
            p_best=float(best[i]),
        )
        for i, a in enumerate(arms)
    )
    top = max(out, key=lambda a: a.p_best)
    enough = len(arms) > 1 and all(a.trials >= min_samples for a in arms)
    winner = top.script_id if enough and top.p_best >= winner_probability else None
    return GroupPosterior(group=group, arms=out, winner=winner)
