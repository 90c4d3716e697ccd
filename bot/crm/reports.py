"""Lifecycle stages, the funnel by adviser or channel, and the purchase quadrants.

Funnel, for a period [since, until) of local days:
  new       customers added in the period (the cohort)
  engaged   of those, customers who sent at least one message before ``until``
  converted of those, customers with a transaction (or a converted/purchase event)
  rate      converted / new
  revenue   the cohort's transactions before ``until``
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.crm.charts import blank_note, pyplot, save_png, whole_numbers
from bot.crm.followups import start_of_day
from bot.domain import UNASSIGNED_ADVISER
from bot.errors import InputError
from bot.labels import TOTAL
from bot.store import reports as repo
from bot.store.reports import ActivityFacts
from bot.vocab import LIFECYCLES, Lifecycle
from knowledge import files

LIFECYCLE_STAGES = LIFECYCLES
UNKNOWN = "(未知)"
GroupBy = Literal["adviser", "channel"]


# --------------------------------------------------------------------------- lifecycle
def lifecycle_of(facts: ActivityFacts, *, now: datetime, silent_after_days: int) -> Lifecycle:
    """new: never wrote; engaged: wrote; converted: bought. Silent after
    ``silent_after_days`` without a customer message (or purchase); a converted
    customer who falls silent is churn_risk."""
    quiet = timedelta(days=silent_after_days)
    last = max(
        (t for t in (facts.last_inbound_at, facts.last_purchase_at) if t is not None),
        default=facts.created_at,
    )
    silent = now - last >= quiet
    if facts.converted:
        return "churn_risk" if silent else "converted"
    if silent:
        return "silent"
    return "engaged" if facts.last_inbound_at is not None else "new"


def refresh_lifecycles(
    *, session: Session, now: datetime, silent_after_days: int
) -> dict[str, int]:
    """Compute and store every visible customer's stage; returns the count per stage."""
    stages = {
        f.customer_id: lifecycle_of(f, now=now, silent_after_days=silent_after_days)
        for f in repo.activity(session=session)
    }
    repo.save_lifecycles(session=session, stages=stages)
    counts: dict[str, int] = dict.fromkeys(LIFECYCLE_STAGES, 0)
    for stage in stages.values():
        counts[stage] += 1
    return counts


# --------------------------------------------------------------------------- funnel
@dataclass(frozen=True, slots=True)
class FunnelRow:
    group: str
    new: int
    engaged: int
    converted: int
    revenue: float

    @property
    def rate(self) -> float:
        return self.converted / self.new if self.new else 0.0


def funnel(
    *,
    session: Session,
    since: date,
    until: date,
    by: GroupBy,
    timezone: str,
    adviser_ids: tuple[str, ...] | None = None,
) -> list[FunnelRow]:
    """One row per adviser or channel source, biggest first, then a total row; only the
    customers of ``adviser_ids`` (a scope) when given."""
    if until <= since:
        raise InputError("--until 必须晚于 --since")
    tz = ZoneInfo(timezone)
    members = repo.cohort(
        session=session,
        since=start_of_day(since, tz),
        until=start_of_day(until, tz),
        adviser_ids=adviser_ids,
    )
    groups: dict[str, list[repo.CohortMember]] = {}
    for m in members:
        # a customer without an adviser counts with the chats' unassigned customers
        key = (m.adviser_id or UNASSIGNED_ADVISER) if by == "adviser" else (m.source or UNKNOWN)
        groups.setdefault(key, []).append(m)
    rows = [_row(name, ms) for name, ms in groups.items()]
    rows.sort(key=lambda r: (-r.new, r.group))
    return [*rows, _row(TOTAL, members)]


def _row(name: str, members: Sequence[repo.CohortMember]) -> FunnelRow:
    return FunnelRow(
        group=name,
        new=len(members),
        engaged=sum(m.engaged for m in members),
        converted=sum(m.converted for m in members),
        revenue=round(sum(m.revenue for m in members), 2),
    )


@dataclass(frozen=True, slots=True)
class FunnelCustomer:
    customer_id: int
    name: str
    stage: str  # new / engaged / converted (the furthest funnel step reached)
    engaged: bool  # wrote at least once (a converted customer may not have)
    revenue: float


def funnel_customers(
    *, session: Session, since: date, until: date, adviser_id: str, timezone: str
) -> list[FunnelCustomer]:
    """The drill-down of one adviser's funnel row: the customers of the cohort, each with
    its stage. Counts match ``funnel`` (converted implies counted in new; engaged counts
    every customer who wrote, converted or not)."""
    if until <= since:
        raise InputError("--until 必须晚于 --since")
    tz = ZoneInfo(timezone)
    members = repo.cohort(
        session=session, since=start_of_day(since, tz), until=start_of_day(until, tz)
    )
    return [
        FunnelCustomer(
            customer_id=m.customer_id,
            name=m.name or "",
            stage="converted" if m.converted else "engaged" if m.engaged else "new",
            engaged=m.engaged,
            revenue=m.revenue,
        )
        for m in members
        if (m.adviser_id or UNASSIGNED_ADVISER) == adviser_id
    ]


#: The header of the funnel CSV, for people (a spreadsheet), in Chinese.
FUNNEL_COLUMNS = ("分组", "新增", "互动", "成交", "转化率", "成交金额")


def write_funnel_csv(rows: Sequence[FunnelRow], path: Path) -> None:
    """The table of ``siyu report funnel --csv`` (group names formula-protected)."""
    files.write_csv(
        path,
        FUNNEL_COLUMNS,
        ([r.group, r.new, r.engaged, r.converted, round(r.rate, 4), r.revenue] for r in rows),
    )


#: What an empty funnel chart says.
EMPTY_FUNNEL = "这段时间没有新增客户，所以没有可画的数据\n（换一个 --since / --until 时间段试试）"


def write_funnel_png(rows: Sequence[FunnelRow], path: Path, *, title: str) -> None:
    """Grouped bars (new / engaged / converted) per group with the conversion rate; a
    period without new customers says so instead of drawing empty axes."""
    plt = pyplot()
    fig = funnel_figure(plt, rows, title=title)
    save_png(plt, fig, path)


def funnel_figure(plt: Any, rows: Sequence[FunnelRow], *, title: str) -> Any:
    """The figure of ``write_funnel_png``."""
    if not any(r.new for r in rows):
        fig, ax = plt.subplots(figsize=(6.0, 4.5), dpi=100)
        ax.set_title(title)
        ax.set_axis_off()
        blank_note(ax, EMPTY_FUNNEL)
        return fig
    groups = [r for r in rows if not r.group.startswith("合计")] or list(rows)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(groups) + 2), 4.5), dpi=100)
    width = 0.27
    xs = range(len(groups))
    series = (
        ("新增", [r.new for r in groups], "#9ecae1"),
        ("互动", [r.engaged for r in groups], "#4292c6"),
        ("成交", [r.converted for r in groups], "#08519c"),
    )
    for i, (label, values, colour) in enumerate(series):
        bars = ax.bar([x + (i - 1) * width for x in xs], values, width, label=label, color=colour)
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(list(xs), [r.group for r in groups])
    ax.set_ylabel("客户数")
    whole_numbers(ax)
    ax.set_title(title)
    rate_ax = ax.twinx()
    rates = [100 * r.rate for r in groups]
    rate_ax.plot(list(xs), rates, "D", color="#e6550d", label="转化率 %")
    for x, rate in zip(xs, rates, strict=True):
        rate_ax.annotate(
            f"{rate:.0f}%",
            (x, rate),
            textcoords="offset points",
            xytext=(8, 4),
            fontsize=8,
            color="#e6550d",
        )
    rate_ax.set_ylabel("转化率 %")
    rate_ax.set_ylim(0, 115)  # a 100% marker and its label inside the axes, not in the title
    rate_ax.set_yticks(range(0, 101, 20))
    ax.margins(y=0.15)  # the bars' labels too
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = rate_ax.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- quadrants
@dataclass(frozen=True, slots=True)
class Quadrant:
    name: str
    customers: int
    revenue: float


@dataclass(frozen=True, slots=True)
class QuadrantReport:
    frequency_threshold: float
    ticket_threshold: float
    quadrants: tuple[Quadrant, ...]
    #: customer id -> quadrant name
    members: dict[int, str]


QUADRANTS = (
    "高频高客单",
    "低频高客单",
    "高频低客单",
    "低频低客单",
)


def quadrants(
    *,
    session: Session,
    since: datetime | None = None,
    until: datetime | None = None,
    frequency_threshold: float | None = None,
    ticket_threshold: float | None = None,
) -> QuadrantReport:
    """Buyers split by purchase frequency (orders) and ticket size (average amount).

    A value at or above its threshold is "high"; thresholds default to the buyers'
    medians."""
    stats = repo.purchases(session=session, since=since, until=until)
    if not stats:
        return QuadrantReport(0.0, 0.0, tuple(Quadrant(q, 0, 0.0) for q in QUADRANTS), {})
    freq = (
        frequency_threshold
        if frequency_threshold is not None
        else statistics.median(s.orders for s in stats)
    )
    ticket = (
        ticket_threshold
        if ticket_threshold is not None
        else statistics.median(s.total / s.orders for s in stats)
    )
    members: dict[int, str] = {}
    totals = {q: [0, 0.0] for q in QUADRANTS}
    for s in stats:
        high_f = s.orders >= freq
        high_t = s.total / s.orders >= ticket
        name = QUADRANTS[(0 if high_t else 2) + (0 if high_f else 1)]
        members[s.customer_id] = name
        totals[name][0] += 1
        totals[name][1] += s.total
    return QuadrantReport(
        frequency_threshold=float(freq),
        ticket_threshold=round(float(ticket), 2),
        quadrants=tuple(Quadrant(q, int(totals[q][0]), round(totals[q][1], 2)) for q in QUADRANTS),
        members=members,
    )
