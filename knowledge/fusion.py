"""Fusing the ranked lists of several retrieval channels into one ranking.

``rrf`` merges by rank alone, so scores need no calibration; ``zscore`` standardises each
channel's scores (channels measure different things: a cosine, a BM25 score) and adds them,
so a channel sure of its best candidate counts more than one that barely prefers it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Channel", "rrf", "spread", "zscore"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel's candidates for fusion: ``(id, score)`` best first, and its weight.

    ``standardised``: the scores are already on the z scale of the channel's own
    population (``knowledge.examples``): ``zscore`` uses them as they are, and an id the
    channel did not return counts 0 (no evidence) rather than the lowest candidate's.
    """

    scores: Sequence[tuple[str, float]]
    weight: float = 1.0
    standardised: bool = False
    #: The score of an id the channel did not return, when known (BM25: 0, no shared
    #: term); it then also counts once in the channel's mean and deviation, so that a
    #: single candidate (an exact product code) still stands out. None: unknown, such
    #: an id counts as the lowest candidate.
    floor: float | None = None


def rrf(
    rankings: Sequence[Sequence[str]],
    *,
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[str, float]]:
    """Fuse ranked id lists: ``score(id) = Σ weight_i / (k + rank_i(id))``, ranks from 1.

    Returns ``(id, score)`` best first; ties keep the order in which ids were first seen
    (earlier list, then better rank). Within one list only the first occurrence of an id
    counts. A list with weight 0 contributes nothing.
    """
    if k < 0:
        raise ValueError("k must not be negative")
    if weights is None:
        weights = [1.0] * len(rankings)
    elif len(weights) != len(rankings):
        raise ValueError(f"{len(weights)} weights for {len(rankings)} rankings")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        if weight < 0:
            raise ValueError("weights must not be negative")
        seen: set[str] = set()
        rank = 0
        for item in ranking:
            if item in seen:
                continue
            seen.add(item)
            rank += 1
            if weight:
                scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    # sorted() is stable and dicts keep insertion order: ties stay in first-seen order.
    return sorted(scores.items(), key=lambda pair: -pair[1])


def zscore(channels: Sequence[Channel]) -> list[tuple[str, float]]:
    """Fuse channels by their weighted z-scores.

    Within a channel, each candidate's score is standardised against the channel's
    candidates (mean 0, standard deviation 1); an id the channel did not return counts as
    its ``floor`` or else its lowest candidate; a channel whose scores are all equal (or
    that has fewer than two values) contributes nothing. ``standardised`` channels are
    taken as they are. The fused value is the weighted mean over the channels that
    returned anything, mapped into (0, 1) by the logistic function, so that scores stay
    positive and ratios of scores mean something (``bot.learning.effectiveness.blend_order``).

    Returns ``(id, score)`` best first; ties keep the order in which ids were first seen.
    """
    if any(ch.weight < 0 for ch in channels):
        raise ValueError("weights must not be negative")
    total_weight = sum(ch.weight for ch in channels if ch.scores and not ch.standardised) or 1.0
    order: dict[str, None] = {}
    for channel in channels:
        order.update(dict.fromkeys(id_ for id_, _ in channel.scores))
    fused = dict.fromkeys(order, 0.0)
    for channel in channels:
        if not channel.weight:
            continue
        scores = dict(channel.scores)
        if channel.standardised:
            for id_, score in scores.items():
                fused[id_] += channel.weight * score
            continue
        values = list(scores.values())
        if channel.floor is not None and values:
            values.append(channel.floor)
        if len(values) < 2:
            continue
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        if std <= 1e-12:
            continue
        floor = (min(values) - mean) / std
        for id_ in fused:
            value = scores.get(id_)
            fused[id_] += channel.weight * (floor if value is None else (value - mean) / std)
    out = [(id_, 1.0 / (1.0 + math.exp(-value / total_weight))) for id_, value in fused.items()]
    return sorted(out, key=lambda pair: -pair[1])


def spread(ranked: Sequence[T], *, key: Callable[[T], object], per_key: int, k: int) -> list[T]:
    """The first ``k`` of ``ranked`` with at most ``per_key`` items of one ``key`` (one
    document): the best items of other keys move up. When fewer than ``k`` items pass the
    limit, the best of the rest fill the remaining places. ``per_key`` 0: no limit.
    """
    if per_key <= 0:
        return list(ranked[:k])
    kept: list[T] = []
    held: list[T] = []
    counts: dict[object, int] = {}
    for item in ranked:
        if len(kept) == k:
            break
        group = key(item)
        if counts.get(group, 0) < per_key:
            counts[group] = counts.get(group, 0) + 1
            kept.append(item)
        else:
            held.append(item)
    return kept + held[: k - len(kept)]
