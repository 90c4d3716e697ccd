"""Referrals (老带新): a referrer named in a greeting (「张丽介绍的」), referral chains, and
the referral report.

Referral report, for the customers added in [since, until) (any time before ``until``
without ``since``), their revenue counted before ``until``:

- per adviser: customers, those who came by referral (have a referrer), the share;
  revenue, the revenue of those who came by referral, the share;
- per referrer: customers they referred directly (added in the period), the whole chain
  below them (referrals of referrals, any depth, added before ``until``), and the
  revenue of each.

A scoped report (``adviser_ids``) counts only customers of the scope, judged by each
customer's own adviser: the referrers of the scope, and below them only the customers
of the scope (a chain stops at a customer the viewer may not see).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.crm.followups import start_of_day
from bot.errors import InputError
from bot.store import referrals as repo
from bot.store.referrals import MAX_CHAIN, PersonRef, ReferralFact

#: 「XX介绍的」「XX推荐我来」: the words before 介绍 / 推荐 name the referrer.
_SAID = re.compile(r"([\u4e00-\u9fffA-Za-z0-9·]{1,12}?)(?:介绍|推荐)(?:我|的|过来|来|加|给)")
#: Words said before a name (「我是张丽介绍的」「朋友张丽推荐的」).
_LEADING = ("我是", "是", "我", "经", "由", "听", "通过", "被", "我朋友", "朋友", "同事", "闺蜜")
#: Who referred, when no name is said: nothing to match a customer by.
NOT_NAMES = frozenset(
    (
        "朋友",
        "好友",
        "同事",
        "同学",
        "闺蜜",
        "老公",
        "老婆",
        "爱人",
        "家人",
        "亲戚",
        "邻居",
        "老乡",
        "别人",
        "熟人",
        "姐姐",
        "哥哥",
        "妹妹",
        "弟弟",
        "我姐",
        "我哥",
        "我妈",
        "我爸",
        "妈妈",
        "爸爸",
        "领导",
        "客户",
        "老师",
        "你们",
        "他",
        "她",
        "他们",
        "她们",
        "人",
        "群里",
        "群友",
        "朋友圈",
        "公众号",
        "直播",
        "抖音",
        "小红书",
        "视频号",
    )
)


def referrer_said(text: str) -> str | None:
    """The referrer's name a message says (「张丽介绍我来的」 → 张丽); None when it names
    nobody (「朋友推荐加的你」)."""
    for m in _SAID.finditer(text):
        name = m.group(1)
        changed = True
        while changed:
            changed = False
            for lead in _LEADING:
                if name.startswith(lead) and len(name) > len(lead):
                    name = name[len(lead) :]
                    changed = True
        if 2 <= len(name) <= 8 and name not in NOT_NAMES and not name.startswith("你"):
            return name
    return None


# --------------------------------------------------------------------------- chains
@dataclass(frozen=True, slots=True)
class Referred:
    """A customer and the customers they referred, recursively."""

    person: PersonRef
    children: tuple[Referred, ...] = ()

    @property
    def size(self) -> int:
        """Everybody below this one."""
        return sum(1 + c.size for c in self.children)


@dataclass(frozen=True, slots=True)
class Chain:
    """A customer's referral chain: who referred them (nearest first), and whom they
    referred (a tree)."""

    up: tuple[PersonRef, ...]
    down: tuple[Referred, ...] = field(default=())


def chain(*, session: Session, customer_id: int) -> Chain:
    return Chain(
        up=tuple(repo.ancestors(session=session, customer_id=customer_id)),
        down=_tree(session, customer_id, {customer_id}),
    )


def _tree(session: Session, customer_id: int, seen: set[int]) -> tuple[Referred, ...]:
    out = []
    for p in repo.referees(session=session, customer_id=customer_id):
        if p.id in seen or len(seen) > MAX_CHAIN * 20:
            continue
        seen.add(p.id)
        out.append(Referred(p, _tree(session, p.id, seen)))
    return tuple(out)


# --------------------------------------------------------------------------- report
@dataclass(frozen=True, slots=True)
class AdviserShare:
    adviser_id: str
    customers: int
    referred: int
    revenue: float
    referred_revenue: float

    @property
    def customer_share(self) -> float:
        return self.referred / self.customers if self.customers else 0.0

    @property
    def revenue_share(self) -> float:
        return self.referred_revenue / self.revenue if self.revenue else 0.0


@dataclass(frozen=True, slots=True)
class ReferrerRow:
    referrer_id: int
    name: str
    adviser_id: str | None
    direct: int
    chain: int
    direct_revenue: float
    chain_revenue: float


@dataclass(frozen=True, slots=True)
class ReferralReport:
    advisers: tuple[AdviserShare, ...]
    referrers: tuple[ReferrerRow, ...]
    total: AdviserShare


def report(
    *,
    session: Session,
    since: date | None,
    until: date,
    timezone: str,
    adviser_ids: tuple[str, ...] | None = None,
) -> ReferralReport:
    """The referral report (see the module doc), of the customers of ``adviser_ids`` (a
    scope) when given."""
    if since is not None and until <= since:
        raise InputError("--until 必须晚于 --since")
    tz = ZoneInfo(timezone)
    facts = repo.referral_facts(session=session, until=start_of_day(until, tz))
    start = start_of_day(since, tz) if since is not None else None

    def in_scope(f: ReferralFact) -> bool:
        return adviser_ids is None or f.adviser_id in adviser_ids

    in_period = [f for f in facts if (start is None or f.added_at >= start) and in_scope(f)]
    groups: dict[str, list[ReferralFact]] = {}
    for f in in_period:
        groups.setdefault(f.adviser_id or "(未分配)", []).append(f)
    advisers = tuple(
        sorted(
            (_share(a, g) for a, g in groups.items()), key=lambda s: (-s.customers, s.adviser_id)
        )
    )
    children: dict[int, list[ReferralFact]] = {}
    for f in facts:
        if f.referred_by_id is not None and in_scope(f):
            children.setdefault(f.referred_by_id, []).append(f)
    by_id = {f.customer_id: f for f in facts}
    period_ids = {f.customer_id for f in facts if start is None or f.added_at >= start}
    referrers = []
    for referrer_id, direct in children.items():
        person = by_id.get(referrer_id)
        if person is None or not in_scope(person):
            continue
        recent = [d for d in direct if d.customer_id in period_ids]
        if not recent:
            continue
        below = _descendants(referrer_id, children)
        referrers.append(
            ReferrerRow(
                referrer_id=referrer_id,
                name=person.name,
                adviser_id=person.adviser_id,
                direct=len(recent),
                chain=len(below),
                direct_revenue=round(sum(d.revenue for d in recent), 2),
                chain_revenue=round(sum(d.revenue for d in below), 2),
            )
        )
    referrers.sort(key=lambda r: (-r.direct, -r.chain, r.referrer_id))
    return ReferralReport(
        advisers=advisers, referrers=tuple(referrers), total=_share("合计", in_period)
    )


def _share(adviser_id: str, facts: Sequence[ReferralFact]) -> AdviserShare:
    referred = [f for f in facts if f.referred_by_id is not None]
    return AdviserShare(
        adviser_id=adviser_id,
        customers=len(facts),
        referred=len(referred),
        revenue=round(sum(f.revenue for f in facts), 2),
        referred_revenue=round(sum(f.revenue for f in referred), 2),
    )


def _descendants(root: int, children: dict[int, list[ReferralFact]]) -> list[ReferralFact]:
    out: list[ReferralFact] = []
    seen = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child.customer_id not in seen:
                seen.add(child.customer_id)
                out.append(child)
                stack.append(child.customer_id)
    return out
