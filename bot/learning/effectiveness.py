"""Per-script effectiveness: suggested → adopted / edited → customer replied → converted.

Counted from existing tables (bot.store.effectiveness), aggregated here:

- *suggested*: suggestions that showed the script;
- *adopted* / *edited*: outcomes naming the script (the adviser sent it as is / changed);
- *used* = adopted + edited;
- *reply rate* = used outcomes the customer replied to within the reply window, over used
  outcomes whose reply is known: replied, replied late, or silent for longer than the
  reply window (counted as not replied even if the customer never wrote again);
- *conversion rate* = used outcomes followed by a conversion (an order, a purchase /
  converted / stage_changed event) within ``ranking.conversion_window_days`` (or marked
  converted), over the used outcomes that converted or whose window has closed (one
  still open says nothing yet, as a reply still awaited).

Rates carry Wilson score intervals (95 %) and their sample sizes. Segments (industry,
stage, adviser) are the customer's industry and current stage and the suggestion's
adviser. ``StatsCache`` keeps the overall per-script numbers in memory for the suggest
path (refreshed every N handled messages or T seconds) and re-ranks hits with them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.settings import RankingSettings
from bot.store import Database
from bot.store import effectiveness as eff_repo
from bot.store import scripts as scripts_repo
from scripts_lib.model import industry_code

log = logging.getLogger(__name__)

GroupBy = Literal["industry", "stage", "adviser"]
GROUP_BYS: tuple[GroupBy, ...] = ("industry", "stage", "adviser")
#: Flags: a script is "often edited" when at least this share of its uses were edits ...
OFTEN_EDITED_SHARE = 0.5
#: ... out of at least this many uses; "never adopted" after this many showings.
FLAG_MIN_SAMPLES = 5
COMMON_EDITS = 3


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when n is 0. More
    successes than trials (a suggestion used twice) count as all."""
    if n <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0, successes) / n)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


@dataclass
class ScriptStats:
    script_id: str
    segment: str = ""  # "" overall, else the industry / stage / adviser
    title: str = ""
    variant_group: str | None = None
    suggested: int = 0
    adopted: int = 0
    edited: int = 0
    replied: int = 0
    reply_n: int = 0
    converted: int = 0
    #: Used outcomes that converted or whose conversion window has closed.
    conversion_n: int = 0
    edits: Counter[str] = field(default_factory=Counter)

    @property
    def used(self) -> int:
        return self.adopted + self.edited

    @property
    def adoption_rate(self) -> float | None:
        return _rate(self.used, self.suggested)

    @property
    def adoption_ci(self) -> tuple[float, float]:
        return wilson(self.used, self.suggested)

    @property
    def reply_rate(self) -> float | None:
        return _rate(self.replied, self.reply_n)

    @property
    def reply_ci(self) -> tuple[float, float]:
        return wilson(self.replied, self.reply_n)

    @property
    def conversion_rate(self) -> float | None:
        return _rate(self.converted, self.conversion_n)

    @property
    def conversion_ci(self) -> tuple[float, float]:
        return wilson(self.converted, self.conversion_n)

    @property
    def common_edits(self) -> list[tuple[str, int]]:
        return self.edits.most_common(COMMON_EDITS)

    @property
    def often_edited(self) -> bool:
        return self.used >= FLAG_MIN_SAMPLES and self.edited / self.used >= OFTEN_EDITED_SHARE

    @property
    def never_adopted(self) -> bool:
        return self.suggested >= FLAG_MIN_SAMPLES and self.used == 0


@dataclass(frozen=True, slots=True)
class EffectivenessData:
    """The raw rows, read once; ``compute`` aggregates them any number of ways."""

    shown: list[eff_repo.ShownRow]
    outcomes: list[eff_repo.OutcomeRow]
    conversions: dict[int, list[datetime]]  # customer id -> conversion times
    titles: dict[str, tuple[str, str | None]]  # script id -> (title, variant_group)


#: Rewrites an adviser's final text (given the customer's name) before it is counted:
#: masks personal data, or drops the text ("") for readers who may not see it.
Redact = Callable[[str, str | None], str]


def load(
    *,
    db: Database,
    since: datetime | None = None,
    adviser_ids: Sequence[str] | None = None,
    redact: Redact | None = None,
) -> EffectivenessData:
    """The rows of the suggestions to ``adviser_ids`` (all when None); each final text
    through ``redact`` when given."""
    with db.session() as session:
        outcomes = eff_repo.outcome_rows(session=session, since=since, adviser_ids=adviser_ids)
        if redact is not None:
            outcomes = [
                replace(o, final_text=redact(o.final_text, o.customer_name)) if o.final_text else o
                for o in outcomes
            ]
        return EffectivenessData(
            shown=eff_repo.shown_rows(session=session, since=since, adviser_ids=adviser_ids),
            outcomes=outcomes,
            conversions=eff_repo.conversion_times(session=session, since=since),
            titles={
                s.id: (s.title, s.variant_group) for s in scripts_repo.list_scripts(session=session)
            },
        )


def compute(
    data: EffectivenessData,
    *,
    by: GroupBy | None = None,
    conversion_window: timedelta = timedelta(days=14),
    reply_window: timedelta | None = None,
    now: datetime | None = None,
) -> list[ScriptStats]:
    """Per-script (and per-segment, with ``by``) statistics, most suggested first.

    With ``reply_window``, a used outcome still waiting for a reply ``reply_window`` after
    it was recorded counts as not replied."""
    now = now or datetime.now(UTC)
    shown_by_id = {s.suggestion_id: s for s in data.shown}
    stats: dict[tuple[str, str], ScriptStats] = {}

    def segment_of(row: eff_repo.ShownRow | None) -> str:
        if by is None:
            return ""
        if row is None:
            return "?"
        value = {
            "industry": row.industry and industry_code(row.industry),  # 保险 and insurance: one
            "stage": row.stage,
            "adviser": row.adviser_id,
        }[by]
        return value or "?"

    def get(script_id: str, segment: str) -> ScriptStats:
        key = (script_id, segment)
        if key not in stats:
            title, group = data.titles.get(script_id, ("", None))
            stats[key] = ScriptStats(
                script_id=script_id, segment=segment, title=title, variant_group=group
            )
        return stats[key]

    for row in data.shown:
        for sid in dict.fromkeys(row.script_ids):
            get(sid, segment_of(row)).suggested += 1
    for o in data.outcomes:
        if o.script_id is None or o.kind not in ("adopted", "edited"):
            continue
        shown = shown_by_id.get(o.suggestion_id)
        s = get(o.script_id, segment_of(shown))
        if o.kind == "adopted":
            s.adopted += 1
        else:
            s.edited += 1
            if o.final_text:
                s.edits[o.final_text.strip()] += 1
        if o.customer_replied is not None:
            s.reply_n += 1
            s.replied += int(o.customer_replied)
        elif reply_window is not None and now - o.created_at > reply_window:
            s.reply_n += 1
        customer = shown.customer_id if shown else None
        bought = o.converted is True or (
            customer is not None
            and any(
                o.created_at <= at <= o.created_at + conversion_window
                for at in data.conversions.get(customer, ())
            )
        )
        s.converted += int(bought)
        s.conversion_n += int(bought or now - o.created_at > conversion_window)
    return sorted(stats.values(), key=lambda s: (s.segment, -s.suggested, s.script_id))


# --------------------------------------------------------------------------- suggest path
@dataclass(frozen=True, slots=True)
class Evidence:
    """What the suggest path needs about one script: reply counts."""

    replied: int
    reply_n: int


class StatsCache:
    """Overall per-script reply counts, in memory; refreshed every
    ``refresh_every_messages`` calls to ``tick`` or when older than ``refresh_seconds``.
    A failed refresh keeps the previous numbers."""

    def __init__(
        self,
        *,
        db: Database,
        settings: RankingSettings,
        reply_window: timedelta | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._reply_window = reply_window
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._evidence: dict[str, Evidence] = {}
        self._overall = 0.5
        self._loaded_at: float | None = None
        self._ticks = 0
        #: The newest message id (any process's) at the last refresh (``observe_logged``).
        self._logged_mark: int | None = None

    def refresh(self) -> None:
        silent_before = (
            datetime.now(UTC) - self._reply_window if self._reply_window is not None else None
        )
        try:
            with self._db.session() as session:
                counts = eff_repo.reply_counts(session=session, silent_before=silent_before)
        except Exception:
            log.exception("refreshing script statistics failed")
            with self._lock:
                self._loaded_at = self._clock()
            return
        evidence = {sid: Evidence(replied=r, reply_n=n) for sid, (r, n) in counts.items()}
        replied = sum(e.replied for e in evidence.values())
        n = sum(e.reply_n for e in evidence.values())
        with self._lock:
            self._evidence = evidence
            self._overall = replied / n if n else 0.5
            self._loaded_at = self._clock()
            self._ticks = 0

    def tick(self) -> None:
        """One more message handled: refresh when due."""
        with self._lock:
            self._ticks += 1
            due = self._ticks >= self._settings.refresh_every_messages
        if due:
            self.refresh()

    def observe_logged(self, newest_message_id: int) -> None:
        """Messages logged by every process sharing the database (the newest message
        id, from bot/pipeline/changes.py): refresh once ``refresh_every_messages`` more
        were logged anywhere since this was last called with a refresh."""
        with self._lock:
            mark = self._logged_mark
            if mark is None or newest_message_id < mark:
                self._logged_mark = newest_message_id
                return
            due = newest_message_id - mark >= self._settings.refresh_every_messages
            if due:
                self._logged_mark = newest_message_id
        if due:
            self.refresh()

    def evidence(self, script_id: str) -> Evidence:
        with self._lock:
            stale = (
                self._loaded_at is None
                or self._clock() - self._loaded_at > self._settings.refresh_seconds
            )
        if stale:
            self.refresh()
        return self._evidence.get(script_id, Evidence(0, 0))

    def shrunk_reply_rate(self, script_id: str) -> float:
        """The reply rate pulled towards the overall rate by ``prior_strength`` samples."""
        e = self.evidence(script_id)
        prior = self._settings.prior_strength
        if e.reply_n + prior == 0:
            return self._overall
        return (e.replied + prior * self._overall) / (e.reply_n + prior)

    def reason(self, script_id: str) -> str | None:
        """'回复率 38%，n=120' once the script has enough samples, else None."""
        e = self.evidence(script_id)
        if e.reply_n < self._settings.reason_min_samples:
            return None
        return f"回复率 {e.replied / e.reply_n:.0%}，n={e.reply_n}"


def blend_order(
    scores: Sequence[tuple[str, float]],
    *,
    rate: Callable[[str], float],
    settings: RankingSettings,
) -> list[int]:
    """Indices of ``scores`` (script id, relevance; best first) in their new order.

    Hits scoring below ``relevance_ratio`` x the best keep their places after the relevant
    ones; among the relevant ones the order is by ``(1 - w) * relevance/best + w * rate``.
    """
    if not scores or not settings.enabled or settings.outcome_weight == 0:
        return list(range(len(scores)))
    best = max(score for _, score in scores)
    if best <= 0:
        return list(range(len(scores)))
    w = settings.outcome_weight
    relevant = [i for i, (_, s) in enumerate(scores) if s >= settings.relevance_ratio * best]
    rest = [i for i in range(len(scores)) if i not in relevant]
    keyed = {i: (1 - w) * scores[i][1] / best + w * rate(scores[i][0]) for i in relevant}
    return sorted(relevant, key=lambda i: (-keyed[i], i)) + rest
