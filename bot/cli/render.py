"""Rich renderings shared by the CLI commands (suggest, chat, demo, profiles). Customer
text goes in as ``Text`` or as a plain ``str`` cell, which the consoles of
bot/cli/common.py never read as markup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.cli.common import local_time
from bot.domain import SuggestionResult
from bot.labels import (
    ATTRIBUTION_METHOD_LABELS,
    CATEGORY_LABELS,
    EVENT_LABELS,
    STAGE_LABELS,
    SUGGESTION_MODE_LABELS,
    TAG_STATUS_LABELS,
    identity_label,
    industry_label,
    label,
)
from bot.services.customers import CustomerProfile, merged_notice
from knowledge.text import clip

if TYPE_CHECKING:
    from bot.pipeline.runtime import Runtime
    from bot.services.access import Principal


def _wrapping(item: RenderableType) -> RenderableType:
    """``item`` with its text wrapping inside a panel: the CLI's consoles soft-wrap
    (bot/cli/common.py), which crops a panel's plain text at the border; Chinese folds."""
    if isinstance(item, Text):
        item.no_wrap = False
        item.overflow = "fold"
    elif isinstance(item, Group):
        for part in item.renderables:
            _wrapping(part)
    return item


def _panel(parts: Sequence[RenderableType], *, title: str, border_style: str = "none") -> Panel:
    # A str title would be read as markup by Panel whatever the console says.
    body = Group(*map(_wrapping, parts))
    return Panel(body, title=Text(title), title_align="left", border_style=border_style)


def suggestion_panel(result: SuggestionResult, *, title: str = "建议") -> Panel:
    parts: list[RenderableType] = []
    if result.reply:
        cites = "".join(f"[{c}]" for c in result.citations)
        parts.append(
            Text.assemble(("AI 草稿 ", "bold magenta"), result.reply, (f" {cites}", "dim"))
        )
    scripts = Table(box=None, show_header=True, header_style="bold cyan", expand=True)
    # Chinese has no spaces to wrap at: text columns fold (else Rich cuts them with …).
    scripts.add_column("#", width=2, no_wrap=True)
    scripts.add_column("话术", ratio=3, overflow="fold")
    scripts.add_column("分类", width=8, overflow="fold")
    for i, s in enumerate(result.scripts, start=1):
        body = Text(s.text)
        body.highlight_regex(r"【待填:[^】]*】", "bold red")
        scripts.add_row(
            str(i),
            Group(
                Text(f"{s.title}  ({s.id})", style="bold"),
                body,
                *([Text(s.reason, style="dim green")] if s.reason else []),
            ),
            CATEGORY_LABELS.get(s.category, s.category),
        )
    parts.append(scripts if result.scripts else Text("（没有匹配的话术）", style="dim"))
    if result.knowledge:
        kb = Table(box=None, show_header=True, header_style="bold green", expand=True)
        kb.add_column("知识", ratio=3, overflow="fold")
        kb.add_column("来源", ratio=1, overflow="fold")
        for k in result.knowledge:
            kb.add_row(clip(k.text, 120), f"{k.source}\n{k.section}")
        parts.append(kb)
    if result.tags:
        tags = Table(box=None, show_header=True, header_style="bold yellow", expand=True)
        tags.add_column("建议标签", ratio=1, overflow="fold")
        tags.add_column("依据", ratio=3, overflow="fold")
        for t in result.tags:
            tags.add_row(f"{t.category}/{t.name}", t.evidence)
        parts.append(tags)
    for action in result.next_actions:
        what = action.product or (f"发「{action.script_title}」" if action.script_title else "")
        parts.append(
            Group(
                Text.assemble(("下一步建议 ", "bold green"), (what, "bold"), f"  {action.reason}"),
                *([Text(action.script_text)] if action.script_text else []),
            )
        )
    footer = f"模式：{label(SUGGESTION_MODE_LABELS, result.mode)} · {result.latency_ms:.0f} ms"
    if result.note:
        footer += f" · {result.note}"
    parts.append(Text(footer, style="dim"))
    return _panel(parts, title=title, border_style="cyan")


def profile_panel(
    profile: CustomerProfile, *, timezone: str, extra: Sequence[RenderableType] = ()
) -> Panel:
    c = profile.customer
    head = Text.assemble(
        (c.name or "(未命名)", "bold"),
        f"  #{c.id} · 行业 {industry_label(c.industry)} · 阶段 {label(STAGE_LABELS, c.stage)}"
        f" · 消息 {profile.message_count}",
    )
    notice = merged_notice(c)
    if notice is not None:
        head.append(
            f"\n{notice}（身份、消息和标签都在那里：siyu customers show {c.merged_into_id}）",
            style="bold yellow",
        )
    ids = Text(
        "身份：" + "，".join(f"{identity_label(i.kind)} {i.value}" for i in profile.identities),
        style="dim",
    )
    basics = [
        f"{name} {value}"
        for name, value in (
            ("城市", c.city),
            ("意向产品", c.product),
            ("渠道", c.source),
            ("生日", c.birthday.isoformat() if c.birthday else None),
        )
        if value
    ]
    tags = Text("标签：")
    for t in profile.tags:
        style = {"confirmed": "green", "rejected": "strike dim"}.get(t.status, "yellow")
        tags.append(f"{t.tag.name}({label(TAG_STATUS_LABELS, t.status)}) ", style=style)
    timeline = Table(box=None, show_header=False, expand=True)
    timeline.add_column("时间", width=11, style="dim", no_wrap=True)
    timeline.add_column("", width=4, no_wrap=True)
    timeline.add_column("内容", ratio=1, overflow="fold")
    for e in profile.timeline:
        who = {"in": "客户", "out": "顾问"}.get(e.direction or "", "事件")
        text = EVENT_LABELS.get(e.text, e.text) if e.kind == "event" else e.text
        timeline.add_row(local_time(e.at, timezone, "%m-%d %H:%M"), who, clip(text, 80))
    more = [Text(" · ".join(basics))] if basics else []
    return _panel((head, ids, *more, tags, *extra, timeline), title="客户档案")


def growth_lines(rt: Runtime, principal: Principal, customer_id: int) -> list[RenderableType]:
    """Profile fields, where the customer came from (campaign, referrer) and the
    next-best-action cards, for ``profile_panel``."""
    from bot.services import campaigns, fields, next_actions, referrals

    with rt.db.session() as session:
        values = [v for v in fields.of_customer(session, principal, customer_id) if v.value]
        attribution = campaigns.attribution(session, principal, customer_id)
        chain = referrals.chain(session, principal, customer_id)
    lines: list[RenderableType] = []
    if values:
        lines.append(Text("资料：" + "  ".join(f"{v.spec.name} {v.text}" for v in values)))
    if attribution is not None:
        c = attribution.code
        how = label(ATTRIBUTION_METHOD_LABELS, attribution.method)
        lines.append(
            Text(f"来源：「{c.campaign}」· {c.channel} · {c.adviser_name}（{c.code}，{how}）")
        )
    if chain.up:
        up = " ← ".join(p.name or f"#{p.id}" for p in chain.up)
        lines.append(Text(f"介绍人：{up}"))
    if chain.down:
        lines.append(Text(f"介绍了：{'、'.join(n.person.name or '-' for n in chain.down)}"))
    for action in next_actions.for_customer(rt, principal, customer_id):
        what = action.product or (f"发「{action.script_title}」" if action.script_title else "")
        lines.append(Text.assemble(("下一步建议 ", "bold green"), f"{what}：{action.reason}"))
    return lines
