"""Reciprocal rank fusion: merge ranked lists by rank alone, so scores need no calibration."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["rrf"]


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
