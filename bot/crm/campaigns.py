"""Campaigns: entry codes, finding a code in a greeting, and the campaign report.

Campaign report, for the customers attributed to a campaign entry code and added in an
optional period [since, until) of local days (any time before ``until`` without
``since``); one row per campaign × channel × adviser (the adviser whose code it is):

  added      customers who came in by the code (of a scoped report: only those the
             viewer may see, judged by the customer's own adviser)
  referred   customers they referred directly (裂变人数), added before ``until`` (of a
             scoped report: only those the viewer may see, judged by the referred
             customer's own adviser)
  engaged    of the added, those who wrote at least one message before ``until``
  converted  of the added, those with a transaction or a converted / purchase event
  revenue    the added customers' transactions before ``until``
  cost       the campaign's cost, shared among its advisers by the customers each added
             of their own (a customer of another adviser credited to the code does not
             count, so a share tells nothing about customers its adviser may not see);
             evenly when nobody was added
  ROI        revenue ÷ cost (投入产出比, as ad platforms report it); none without a cost
  targets    the adviser's targets for the campaign (added / converted / revenue), next
             to what was done

A campaign total row follows each campaign's adviser rows; the report ends with a
grand total. ``by="channel"`` gives one row per channel instead.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.crm.charts import blank_note, pyplot, save_png, whole_numbers
from bot.crm.followups import start_of_day
from bot.errors import InputError
from bot.labels import TOTAL
from bot.store import campaigns as repo
from bot.store.campaigns import CampaignRecord, CodeRecord, MemberFacts
from knowledge import files
from knowledge.text import echo, normalize

#: Entry codes use these characters: no 0 / O, 1 / I / L, so a code read aloud or typed
#: from a poster stays right.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
#: Channels offered in forms (a campaign may name any other).
CHANNELS = ("直播", "门店扫码", "信息流", "转介绍", "公众号", "社群", "线下活动", "其他")
ReportBy = Literal["adviser", "channel"]


def new_code(session: Session, *, length: int) -> str:
    """A random entry code not used yet."""
    for _ in range(100):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
        if not repo.code_exists(session=session, code=code):
            return code
    raise InputError("没有可用的渠道码：请加大 [campaigns] code_length")  # pragma: no cover


def clean_code(text: str) -> str:
    """A code as typed: upper case, letters and digits only; refused otherwise."""
    code = normalize(text).upper().replace("-", "").replace(" ", "")
    if not 3 <= len(code) <= 32 or not code.isascii() or not code.isalnum():
        raise InputError(f"渠道码只能是 3–32 个字母或数字，不是「{echo(text)}」")
    return code


def find_code_in(text: str, codes: Iterable[str]) -> str | None:
    """The entry code written in ``text`` (a friend request's greeting), as a word of its
    own: not inside a longer run of letters or digits; the longest when several."""
    norm = normalize(text).upper().replace("-", "")
    best: str | None = None
    for code in codes:
        start = norm.find(code)
        while start >= 0:
            end = start + len(code)
            before = norm[start - 1] if start else ""
            after = norm[end] if end < len(norm) else ""
            if not _alnum(before) and not _alnum(after):
                if best is None or len(code) > len(best):
                    best = code
                break
            start = norm.find(code, start + 1)
    return best


def _alnum(ch: str) -> bool:
    return bool(ch) and ch.isascii() and ch.isalnum()


# --------------------------------------------------------------------------- report
@dataclass(frozen=True, slots=True)
class ReportRow:
    campaign: str
    channel: str
    adviser_id: str | None
    adviser_name: str
    added: int
    referred: int
    engaged: int
    converted: int
    revenue: float
    cost: float
    target_added: int | None = None
    target_converted: int | None = None
    target_revenue: float | None = None
    #: A campaign's or the report's total row.
    total: bool = False
    campaign_id: int | None = None

    @property
    def roi(self) -> float | None:
        return round(self.revenue / self.cost, 2) if self.cost else None

    @property
    def conversion_rate(self) -> float:
        return self.converted / self.added if self.added else 0.0


def report(
    *,
    session: Session,
    since: date | None,
    until: date,
    timezone: str,
    by: ReportBy = "adviser",
    adviser_ids: tuple[str, ...] | None = None,
    campaign_id: int | None = None,
) -> list[ReportRow]:
    """The campaign report (see the module doc). ``adviser_ids`` (a scope), when given:
    only the codes of those advisers, counting only the customers whose own adviser is
    one of them (a customer of another adviser credited to a code of the scope is not
    the viewer's to count), and counting as referred only the customers whose own
    adviser is one of them. A campaign shows when it ran during the period or added
    anyone."""
    if since is not None and until <= since:
        raise InputError("--until 必须晚于 --since")
    tz = ZoneInfo(timezone)
    # Costs are shared over every adviser of a campaign, then the rows are scoped.
    codes = repo.list_codes(session=session, campaign_id=campaign_id)
    campaigns = {c.id: c for c in repo.list_campaigns(session=session)}
    facts = repo.members(
        session=session,
        since=start_of_day(since, tz) if since is not None else None,
        until=start_of_day(until, tz),
        code_ids=[c.id for c in codes],
        referee_adviser_ids=adviser_ids,
    )
    by_code: dict[int, list[MemberFacts]] = {}
    for m in facts:
        by_code.setdefault(m.code_id, []).append(m)
    shares = _cost_shares(codes, by_code, campaigns)
    visible = [c for c in codes if adviser_ids is None or c.adviser_id in adviser_ids]
    seen = {
        code_id: [m for m in group if adviser_ids is None or m.adviser_id in adviser_ids]
        for code_id, group in by_code.items()
    }
    rows: list[ReportRow] = []
    for campaign_id_, group in _by_campaign(visible):
        campaign = campaigns[campaign_id_]
        ran = _overlaps(campaign, since, until)
        members = [m for c in group for m in seen.get(c.id, [])]
        if not ran and not members:
            continue
        adviser_rows = [_row(campaign, c, seen.get(c.id, []), shares[c.id]) for c in group]
        rows += adviser_rows
        rows.append(
            replace(
                _sum(adviser_rows, campaign.name, campaign.channel),
                campaign_id=campaign.id,
            )
        )
    if by == "channel":
        return _by_channel([r for r in rows if not r.total])
    details = [r for r in rows if not r.total]
    return [*rows, _sum(details, TOTAL, "", total=True)]


def _by_campaign(codes: Sequence[CodeRecord]) -> list[tuple[int, list[CodeRecord]]]:
    groups: dict[int, list[CodeRecord]] = {}
    for c in codes:
        groups.setdefault(c.campaign_id, []).append(c)
    return list(groups.items())


def _overlaps(campaign: CampaignRecord, since: date | None, until: date) -> bool:
    ends = campaign.ends_on or date.max
    return campaign.starts_on < until and (since is None or ends >= since)


def _cost_shares(
    codes: Sequence[CodeRecord],
    by_code: dict[int, list[MemberFacts]],
    campaigns: dict[int, CampaignRecord],
) -> dict[int, float]:
    """Each code's share of its campaign's cost: by the customers of the code's own
    adviser added (the same for every viewer, and blind to customers credited to the
    code that its adviser may not see), else evenly; in whole cents that add up to the
    cost (``split_cost``)."""
    shares: dict[int, float] = {}
    for campaign_id, group in _by_campaign(codes):
        added = [sum(m.adviser_id == c.adviser_id for m in by_code.get(c.id, [])) for c in group]
        weights = added if sum(added) else [1] * len(group)
        parts = split_cost(campaigns[campaign_id].cost, weights)
        shares.update(zip((c.id for c in group), parts, strict=True))
    return shares


def split_cost(cost: float, weights: Sequence[int]) -> list[float]:
    """``cost`` (yuan) shared in proportion to ``weights`` (not all zero), in whole cents
    that add up to it exactly: each part rounded down, then the cents left over go one
    each to the largest remainders (the earlier part on a tie). 50 among three is 16.67,
    16.67 and 16.66, not 16.67 three times with a 合计 of 50.01."""
    cents = round(cost * 100)
    whole = sum(weights)
    parts = [cents * w // whole for w in weights]
    remainders = [cents * w % whole for w in weights]
    left = cents - sum(parts)
    for i in sorted(range(len(parts)), key=lambda i: -remainders[i])[:left]:
        parts[i] += 1
    return [p / 100 for p in parts]


def _row(
    campaign: CampaignRecord, code: CodeRecord, members: Sequence[MemberFacts], cost: float
) -> ReportRow:
    return ReportRow(
        campaign=campaign.name,
        channel=campaign.channel,
        adviser_id=code.adviser_id,
        adviser_name=code.adviser_name,
        added=len(members),
        referred=sum(m.referred for m in members),
        engaged=sum(m.engaged for m in members),
        converted=sum(m.converted for m in members),
        revenue=round(sum(m.revenue for m in members), 2),
        cost=round(cost, 2),
        target_added=code.target_added,
        target_converted=code.target_converted,
        target_revenue=code.target_revenue,
        campaign_id=campaign.id,
    )


def _sum(rows: Sequence[ReportRow], campaign: str, channel: str, total: bool = True) -> ReportRow:
    def target(values: list[Any]) -> Any:
        given = [v for v in values if v is not None]
        return sum(given) if given else None

    return ReportRow(
        campaign=campaign,
        channel=channel,
        adviser_id=None,
        adviser_name=TOTAL,
        added=sum(r.added for r in rows),
        referred=sum(r.referred for r in rows),
        engaged=sum(r.engaged for r in rows),
        converted=sum(r.converted for r in rows),
        revenue=round(sum(r.revenue for r in rows), 2),
        cost=round(sum(r.cost for r in rows), 2),
        target_added=target([r.target_added for r in rows]),
        target_converted=target([r.target_converted for r in rows]),
        target_revenue=target([r.target_revenue for r in rows]),
        total=total,
    )


def _by_channel(rows: Sequence[ReportRow]) -> list[ReportRow]:
    groups: dict[str, list[ReportRow]] = {}
    for r in rows:
        groups.setdefault(r.channel, []).append(r)
    out = [replace(_sum(g, "", channel), total=False) for channel, g in groups.items()]
    out.sort(key=lambda r: (-r.added, r.channel))
    return [*out, _sum(rows, TOTAL, "", total=True)]


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One customer of a report row (the drill-down)."""

    customer_id: int
    name: str
    added_at: datetime
    stage: str  # new / engaged / converted
    referred: int
    revenue: float


def report_customers(
    *,
    session: Session,
    code_ids: Sequence[int],
    since: date | None,
    until: date,
    timezone: str,
    adviser_ids: tuple[str, ...] | None = None,
) -> list[MemberRow]:
    """The customers behind report rows (the codes given), each with its funnel stage;
    only those whose own adviser is one of ``adviser_ids`` (a scope) when given, and
    counting as referred only the customers of that scope."""
    tz = ZoneInfo(timezone)
    facts = repo.members(
        session=session,
        since=start_of_day(since, tz) if since is not None else None,
        until=start_of_day(until, tz),
        code_ids=list(code_ids),
        adviser_ids=adviser_ids,
        referee_adviser_ids=adviser_ids,
    )
    return [
        MemberRow(
            customer_id=m.customer_id,
            name=m.name,
            added_at=m.added_at,
            stage="converted" if m.converted else "engaged" if m.engaged else "new",
            referred=m.referred,
            revenue=m.revenue,
        )
        for m in facts
    ]


REPORT_COLUMNS = (
    "活动",
    "渠道",
    "顾问",
    "新增",
    "裂变",
    "互动",
    "成交",
    "成交金额",
    "成本",
    "ROI",
    "目标新增",
    "目标成交",
    "目标成交金额",
)


def write_csv(rows: Sequence[ReportRow], path: Path) -> None:
    """The table of ``siyu campaigns report --csv`` (text cells formula-protected)."""
    files.write_csv(
        path,
        REPORT_COLUMNS,
        (
            [
                r.campaign,
                r.channel,
                r.adviser_name,
                r.added,
                r.referred,
                r.engaged,
                r.converted,
                r.revenue,
                r.cost,
                "" if r.roi is None else r.roi,
                "" if r.target_added is None else r.target_added,
                "" if r.target_converted is None else r.target_converted,
                "" if r.target_revenue is None else r.target_revenue,
            ]
            for r in rows
        ),
    )


#: What a campaign chart without a customer in the period says.
EMPTY_CAMPAIGNS = (
    "这段时间没有经渠道码添加的客户，所以没有可画的数据\n（换一个 --since / --until 时间段试试）"
)


def write_png(rows: Sequence[ReportRow], path: Path, *, title: str) -> None:
    """Bars per row (added / converted) with revenue and ROI noted; a period without
    customers says so instead of drawing empty axes."""
    plt = pyplot()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Glyph .* missing from.*")
        warnings.filterwarnings("ignore", message=".*findfont.*")
        fig = campaign_figure(plt, rows, title=title)
        save_png(plt, fig, path)


def campaign_figure(plt: Any, rows: Sequence[ReportRow], *, title: str) -> Any:
    """The figure of ``write_png``."""
    shown = [r for r in rows if not r.total or r.campaign == TOTAL] or list(rows)
    shown = [r for r in shown if r.campaign != TOTAL] or shown
    if not any(r.added or r.converted for r in shown):
        fig, ax = plt.subplots(figsize=(6.0, 4.5), dpi=100)
        ax.set_title(title)
        ax.set_axis_off()
        blank_note(ax, EMPTY_CAMPAIGNS)
        return fig
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(shown) + 2), 4.5), dpi=100)
    xs = list(range(len(shown)))
    width = 0.38
    labels = [f"{r.campaign}\n{r.adviser_name}" if r.campaign else r.channel for r in shown]
    added = ax.bar([x - width / 2 for x in xs], [r.added for r in shown], width, label="新增")
    converted = ax.bar(
        [x + width / 2 for x in xs], [r.converted for r in shown], width, label="成交"
    )
    ax.bar_label(added, fontsize=8)
    ax.bar_label(converted, fontsize=8)
    for x, r in zip(xs, shown, strict=True):
        roi = "—" if r.roi is None else f"{r.roi:.2f}"
        ax.annotate(
            f"¥{r.revenue:,.0f}\nROI {roi}",
            (x, max(r.added, r.converted)),
            textcoords="offset points",
            xytext=(0, 14),
            ha="center",
            fontsize=7,
        )
    ax.set_xticks(xs, labels, fontsize=8)
    ax.set_ylabel("客户数")
    whole_numbers(ax)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.margins(y=0.3)
    fig.tight_layout()
    return fig
