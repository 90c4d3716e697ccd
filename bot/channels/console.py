"""Console channel: ``siyu chat``. You type as the customer; suggestions are shown and
everything is logged to the customer's profile like any other channel."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from rich.console import Console

from bot.channels.base import Channel, Handler
from bot.cli.render import suggestion_panel
from bot.domain import IncomingMessage, SuggestionResult

if TYPE_CHECKING:
    from bot.pipeline.runtime import Runtime

EXIT_WORDS = {"/quit", "/exit", "/q"}


class ConsoleChannel(Channel):
    name = "console"

    def __init__(self, handler: Handler, *, console: Console) -> None:
        super().__init__(handler)
        self._console = console

    def receive(
        self, text: str, *, contact_id: str, contact_name: str, industry: str | None
    ) -> SuggestionResult | None:
        return self.dispatch(
            IncomingMessage(
                msg_id=f"console-{uuid.uuid4().hex}",
                channel=self.name,
                contact_id=contact_id,
                contact_name=contact_name,
                text=text,
                industry=industry,
            )
        )

    def send(self, contact_id: str, text: str) -> None:
        self._console.print(f"[bold]→ {contact_id}[/]: {text}")


def run_console(
    runtime: Runtime, *, console: Console, industry: str | None, name: str, contact_id: str
) -> None:
    channel = ConsoleChannel(runtime.assistant.handle, console=console)
    console.print(
        f"你是客户「{name}」({industry or runtime.settings.assistant.default_industry})。"
        "输入消息回车发送，/quit 退出。"
    )
    while True:
        try:
            text = console.input("[bold blue]客户> [/]")
        except (EOFError, KeyboardInterrupt):
            console.print()
            break
        if text.strip() in EXIT_WORDS:
            break
        if not text.strip():
            continue
        result = channel.receive(text, contact_id=contact_id, contact_name=name, industry=industry)
        if result is None:
            console.print("[red]处理失败，消息已记录，稍后重试[/]")
            continue
        console.print(suggestion_panel(result))
