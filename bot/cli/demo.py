"""``siyu demo``: load the shipped demo data and play a scripted conversation through the
in-memory channel, printing what an adviser would see — then the adviser confirming what
the conversation revealed, the profile with its fields, origin and next-best action, the
campaign report and a referral chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import Progress
from rich.rule import Rule
from rich.table import Table

from bot.channels.memory import MemoryChannel
from bot.cli.common import bar, styled
from bot.cli.render import growth_lines, profile_panel, suggestion_panel
from bot.cli.tables import show
from bot.crm.next_actions import RulesSource
from bot.errors import InputError, NotFoundError
from bot.labels import industry_label
from bot.pipeline.runtime import Runtime
from bot.services import (
    advisers,
    campaigns,
    conversions,
    customers,
    fields,
    knowledge,
    referrals,
    scripts,
    tags,
)
from bot.services.access import Principal
from bot.store.campaigns import CampaignSpec


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    contact_id: str
    name: str
    industry: str
    messages: tuple[str, ...]


def demo_data_dir() -> Path:
    return Path(str(resources.files("bot") / "demo_data"))


def load_demo_data(runtime: Runtime, principal: Principal, progress: Progress) -> None:
    """Import the demo library, taxonomy and knowledge (idempotent: a second run
    finds everything unchanged and embeds nothing)."""
    data = demo_data_dir()
    scripts.import_file(
        runtime, principal, path=data / "scripts.csv", progress=bar(progress, "话术库")
    )
    tags.import_taxonomy(
        runtime, principal, path=data / "tags.yaml", progress=bar(progress, "标签")
    )
    for path in sorted((data / "knowledge").iterdir()):
        if path.name.startswith("."):
            continue
        knowledge.ingest(
            runtime,
            principal,
            path=path,
            industry=_industry_of(path.name),
            progress=bar(progress, f"知识库 {path.name}"),
        )
    load_growth_data(runtime, principal)


def load_growth_data(runtime: Runtime, principal: Principal) -> None:
    """Profile fields, the adviser's persona, two campaigns with their codes and targets,
    customers with a referral chain, their orders, and the next-best-action rules (when
    the settings name none). Idempotent."""
    data = demo_data_dir()
    raw: Any = yaml.safe_load((data / "campaigns.yaml").read_text(encoding="utf-8"))
    try:
        adviser = raw["adviser"]
        plans = list(raw["campaigns"])
    except (KeyError, TypeError) as exc:
        raise InputError(f"campaigns.yaml：演示活动的格式不对（{exc}）") from exc
    settings = runtime.settings
    with runtime.db.session() as session:
        fields.import_fields(session, principal, path=data / "profile_fields.yaml")
        for plan in plans:
            _ensure_campaign(session, principal, plan, str(adviser["id"]), settings)
        advisers.set_persona(
            session,
            principal,
            adviser_id=str(adviser["id"]),
            name=str(adviser["persona"]),
            signature=str(adviser["signature"]),
            tone=str(adviser["tone"]),
        )
    with runtime.db.session() as session:
        customers.import_file(
            session, principal, path=data / "customers.csv", timezone=settings.timezone
        )
        conversions.import_orders(
            session, principal, path=data / "orders.csv", timezone=settings.timezone
        )
    if not settings.next_actions.rules_file:
        runtime.assistant.rules = RulesSource(data / "next_actions.yaml")


def _ensure_campaign(
    session: Any, principal: Principal, plan: dict[str, Any], adviser_id: str, settings: Any
) -> None:
    name = str(plan["name"])
    try:
        campaigns.show(session, principal, campaign=name)
    except NotFoundError:
        spec = CampaignSpec(
            name=name,
            channel=str(plan["channel"]),
            starts_on=date.fromisoformat(str(plan["starts_on"])),
            ends_on=date.fromisoformat(str(plan["ends_on"])),
            cost=float(plan["cost"]),
            welcome_script_id=str(plan["welcome"]),
        )
        campaigns.create(
            session,
            principal,
            spec=spec,
            settings=settings,
            codes={adviser_id: str(plan["code"])},
        )
    targets = plan.get("targets") or {}
    campaigns.set_targets(
        session,
        principal,
        campaign=name,
        adviser_id=adviser_id,
        added=targets.get("added"),
        converted=targets.get("converted"),
        revenue=targets.get("revenue"),
    )


def _industry_of(filename: str) -> str | None:
    for industry in ("insurance", "kaoyan"):
        if filename.startswith(industry):
            return industry
    return None


def load_conversation(path: Path) -> tuple[dict[str, str], list[DemoCustomer]]:
    raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    try:
        adviser = {"id": str(raw["adviser"]["id"]), "name": str(raw["adviser"]["name"])}
        people = [
            DemoCustomer(
                contact_id=str(c["id"]),
                name=str(c["name"]),
                industry=str(c["industry"]),
                messages=tuple(str(m) for m in c["messages"]),
            )
            for c in raw["customers"]
        ]
    except (KeyError, TypeError) as exc:
        raise InputError(f"{path.name}：演示对话的格式不对（{exc}）") from exc
    return adviser, people


def own_changes(runtime: Runtime, principal: Principal) -> list[str]:
    """What loading the demo would overwrite of the team's own: a taxonomy, profile
    fields or demo scripts that differ from the demo's, the demo adviser's persona
    changed. Empty on a new data directory, and on one the demo loaded and nobody
    changed since."""
    from bot.crm.fields import load_fields
    from bot.pipeline.tagging import parse_taxonomy

    data = demo_data_dir()
    found: list[str] = []
    with runtime.db.session() as session:
        tags_now = {(t.category, t.name) for t in tags.taxonomy(session, principal)}
        fields_now = {f.name for f in fields.list_fields(session, principal)}
        raw: Any = yaml.safe_load((data / "campaigns.yaml").read_text(encoding="utf-8"))
        adviser_id = str(raw["adviser"]["id"])
        persona = advisers.persona_if_any(session, adviser_id)
    demo_tags = {(c.name, t.name) for c in parse_taxonomy(data / "tags.yaml") for t in c.tags}
    if tags_now and tags_now != demo_tags:
        found.append(f"标签体系（{len(tags_now - demo_tags)} 个你们的标签会停用）")
    demo_fields = {f.name for f in load_fields(data / "profile_fields.yaml")}
    if fields_now and fields_now != demo_fields:
        found.append("资料字段（换成演示的字段）")
    changed = scripts.plan_import(runtime, principal, path=data / "scripts.csv").stats.updated
    if changed:
        found.append(f"{changed} 条改过的演示话术（改回原样）")
    if persona is not None and persona.persona_name not in (None, str(raw["adviser"]["persona"])):
        found.append(f"顾问 {adviser_id} 的人设「{persona.persona_name}」（改回演示的）")
    return found


def run_demo(
    runtime: Runtime,
    principal: Principal,
    *,
    console: Console,
    progress: Callable[[], Progress],
    force: bool = False,
) -> None:
    """Load the demo and play it; refused (``InputError``) when it would overwrite the
    team's own settings (``own_changes``), unless ``force``."""
    overwritten = [] if force else own_changes(runtime, principal)
    if overwritten:
        raise InputError(
            f"这个数据目录（{runtime.settings.data_dir}）里有你们自己的设置，演示会覆盖它们，"
            "所以没有运行：换一个数据目录运行演示（siyu --data-dir 演示目录 demo），"
            "或确认可以覆盖后加 --force",
            overwritten,
        )
    with progress() as bar:
        load_demo_data(runtime, principal, bar)
    adviser, people = load_conversation(demo_data_dir() / "conversation.yaml")
    # Each run starts the demo customers afresh, so the output is the same every time.
    with runtime.db.session() as session:
        for c in people:
            customers.delete_by_identity(
                session, principal, kind="memory_contact", value=c.contact_id
            )
    channel = MemoryChannel(
        runtime.assistant.handle, adviser_id=adviser["id"], adviser_name=adviser["name"]
    )
    first: dict[str, int] = {}
    for c in people:
        console.print(Rule(f"{c.name} · {industry_label(c.industry)}"))
        for text in c.messages:
            console.print(styled("[bold blue]{}:[/] {}", c.name, text), highlight=False)
            result = channel.receive(c.contact_id, text, contact_name=c.name, industry=c.industry)
            if result is None:
                console.print(styled("[red]处理失败（见日志）[/]"))
                continue
            if result.customer_id is not None:
                first.setdefault(c.name, result.customer_id)
            console.print(suggestion_panel(result, title=f"给{adviser['name']}的建议"))
    if people and people[0].name in first:
        show_growth(runtime, principal, console, first[people[0].name])


def show_growth(runtime: Runtime, principal: Principal, console: Console, customer_id: int) -> None:
    """The adviser confirms what the conversation revealed; then the profile, the
    campaign report and a referral chain."""
    console.print(Rule("顾问确认对话里识别出的信息"))
    with runtime.db.session() as session:
        for s in fields.suggestions(session, principal, customer_id=customer_id):
            try:
                fields.review(session, principal, suggestion_id=s.id, status="confirmed")
            except InputError as exc:
                console.print(
                    styled("  [yellow]跳过[/] {} {}：{}", fields.label(s.field), s.value, exc)
                )
                continue
            console.print(
                styled("  确认 {}：{}  [dim]{}[/dim]", fields.label(s.field), s.shown, s.evidence)
            )
        suggested = [
            t
            for t in tags.customer_tags(session, principal, status="suggested")
            if t.customer_id == customer_id
        ]
    tags.review(runtime, principal, confirm=[t.id for t in suggested])
    for t in suggested:
        console.print(styled("  确认标签：{}  [dim]{}[/dim]", t.tag.name, t.evidence))
    with runtime.db.session() as session:
        profile = customers.profile(session, principal, customer_id)
    extra = growth_lines(runtime, principal, customer_id)
    console.print(profile_panel(profile, timezone=runtime.settings.timezone, extra=extra))
    tz = runtime.settings.timezone
    tomorrow = runtime.settings.today() + timedelta(days=1)
    with runtime.db.session() as session:
        rows = campaigns.report(session, principal, since=None, until=tomorrow, timezone=tz)
        root = referrals.resolve(session, principal, "13900001111")
        chain = referrals.chain(session, principal, root)
        root_name = customers.profile(session, principal, root, timeline_limit=0).customer.name
    table = Table(
        "活动", "渠道", "顾问", "新增", "裂变", "成交", "成交金额", "成本", "ROI", title="活动效果"
    )
    for r in rows:
        table.add_row(
            r.campaign,
            r.channel,
            r.adviser_name,
            f"{r.added}/{r.target_added}" if r.target_added is not None else str(r.added),
            str(r.referred),
            str(r.converted),
            f"{r.revenue:,.0f}",
            f"{r.cost:,.0f}",
            "-" if r.roi is None else f"{r.roi:.2f}",
            style="bold" if r.total else None,
        )
    show(table, empty=None, console=console)  # the demo's campaigns and their total
    names = []
    level = chain.down
    while level:
        names.append("、".join(n.person.name for n in level))
        level = tuple(c for n in level for c in n.children)
    console.print(f"转介绍链：{root_name} → " + " → ".join(names), markup=False)
