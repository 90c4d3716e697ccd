"""Attributing conversions back to the scripts used in the conversation before them.

For each conversion (a purchase, "converted", a stage change: bot.store.conversions) the
*touches* are the scripts the adviser used (adopted or edited) with that customer in the
``window`` before it. Two models, both reported:

- **last touch**: the whole credit to the last script used before the conversion;
- **position-weighted** (U-shaped): 40 % to the first touch, 40 % to the last, the
  remaining 20 % shared by the touches between; one touch gets 100 %, two get 50 % each.

Credit is counted in conversions (fractions summing to 1 per conversion) and in revenue
(the credit times the conversion's amount, when it has one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store import Database
from bot.store import conversions as conv_repo
from bot.store.conversions import ConversionRecord, Touch

FIRST_LAST_SHARE = 0.4


def last_touch(touches: Sequence[str]) -> dict[str, float]:
    return {touches[-1]: 1.0} if touches else {}


def position_weighted(touches: Sequence[str]) -> dict[str, float]:
    """U-shaped weights over the touches in time order (a script used twice adds up)."""
    n = len(touches)
    if n == 0:
        return {}
    if n == 1:
        weights = [1.0]
    elif n == 2:
        weights = [0.5, 0.5]
    else:
        middle = (1 - 2 * FIRST_LAST_SHARE) / (n - 2)
        weights = [FIRST_LAST_SHARE] + [middle] * (n - 2) + [FIRST_LAST_SHARE]
    out: dict[str, float] = {}
    for script_id, w in zip(touches, weights, strict=True):
        out[script_id] = out.get(script_id, 0.0) + w
    return out


@dataclass
class ScriptCredit:
    script_id: str
    last_touch: float = 0.0
    position: float = 0.0
    last_touch_revenue: float = 0.0
    position_revenue: float = 0.0
    conversions_touched: int = 0


@dataclass(frozen=True, slots=True)
class Attribution:
    credits: list[ScriptCredit]  # most last-touch credit first
    conversions: int
    attributed: int  # conversions with at least one touch in the window


def attribute(
    conversions: Sequence[ConversionRecord], touches: Sequence[Touch], *, window: timedelta
) -> Attribution:
    by_customer: dict[int, list[Touch]] = {}
    for t in sorted(touches, key=lambda t: t.at):
        by_customer.setdefault(t.customer_id, []).append(t)
    credits: dict[str, ScriptCredit] = {}
    attributed = 0
    for c in conversions:
        path = [
            t.script_id
            for t in by_customer.get(c.customer_id, ())
            if c.occurred_at - window <= t.at <= c.occurred_at
        ]
        if not path:
            continue
        attributed += 1
        amount = c.amount or 0.0
        for sid in set(path):
            credits.setdefault(sid, ScriptCredit(sid)).conversions_touched += 1
        for sid, w in last_touch(path).items():
            credits[sid].last_touch += w
            credits[sid].last_touch_revenue += w * amount
        for sid, w in position_weighted(path).items():
            credits[sid].position += w
            credits[sid].position_revenue += w * amount
    ordered = sorted(credits.values(), key=lambda s: (-s.last_touch, -s.position, s.script_id))
    return Attribution(credits=ordered, conversions=len(conversions), attributed=attributed)


def attribute_all(
    *,
    db: Database,
    window: timedelta,
    since: datetime | None = None,
    adviser_ids: Sequence[str] | None = None,
) -> Attribution:
    """Attribution over the customers of ``adviser_ids`` (all when None)."""
    with db.session() as session:
        conversions = conv_repo.list_conversions(
            session=session, since=since, adviser_ids=adviser_ids
        )
        touches = conv_repo.script_touches(
            session=session, since=since - window if since else None, adviser_ids=adviser_ids
        )
    return attribute(conversions, touches, window=window)
