"""``siyu demo``: load the shipped demo data and play a scripted conversation through the
in-memory channel, printing what an adviser would see."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import Progress
from rich.rule import Rule

from bot.channels.memory import MemoryChannel
from bot.cli.common import bar, styled
from bot.cli.render import profile_panel, suggestion_panel
from bot.errors import InputError
from bot.pipeline.runtime import Runtime
from bot.services import customers, knowledge, scripts, tags
from bot.services.access import Principal


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
        raise InputError(f"{path.name}: malformed demo conversation ({exc})") from exc
    return adviser, people


def run_demo(
    runtime: Runtime,
    principal: Principal,
    *,
    console: Console,
    progress: Callable[[], Progress],
) -> None:
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
    last_customer_id = None
    for c in people:
        console.print(Rule(f"{c.name} · {c.industry}"))
        for text in c.messages:
            console.print(styled("[bold blue]{}:[/] {}", c.name, text), highlight=False)
            result = channel.receive(c.contact_id, text, contact_name=c.name, industry=c.industry)
            if result is None:
                console.print(styled("[red]处理失败（见日志）[/]"))
                continue
            last_customer_id = result.customer_id
            console.print(suggestion_panel(result, title=f"给{adviser['name']}的建议"))
    if last_customer_id is not None:
        with runtime.db.session() as session:
            profile = customers.profile(session, principal, last_customer_id)
        console.print(profile_panel(profile, timezone=runtime.settings.timezone))
