"""Running the Wechaty channel: wiring it to the runtime (messages, new contacts), the
configuration checks shared by ``siyu bot`` and ``siyu serve --with-bot``, and a
background thread for the latter. The SDK itself loads only in ``bot.channels.wechaty``."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.channels.wechaty import WechatyChannel
    from bot.pipeline.runtime import Runtime
    from bot.settings import Settings


def import_channel() -> None:
    try:
        import bot.channels.wechaty  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the Wechaty channel needs the extra: pip install 'siyu-copilot[wechat]' ({exc})"
        ) from exc


def build_channel(runtime: Runtime) -> WechatyChannel:
    """The channel wired to the runtime's assistant (messages) and new-contact flow."""
    from bot.channels.wechaty import WechatyChannel
    from bot.pipeline.newcontacts import NewContactFlow, RateLimiter

    ws = runtime.settings.wechaty
    flow = NewContactFlow(
        assistant=runtime.assistant,
        db=runtime.db,
        settings=runtime.settings,
        welcome_script_id=ws.welcome_script_id,
        limiter=RateLimiter(per_hour=ws.welcome_per_hour, min_interval_s=ws.welcome_min_interval_s),
    )
    return WechatyChannel(
        runtime.assistant.handle,
        settings=ws,
        new_contacts=flow.handle,
        process_pending=runtime.assistant.process_pending,
    )


def check_settings(settings: Settings) -> list[str]:
    """Problems in ``[wechaty]`` that would stop the bot (empty: fine)."""
    ws = settings.wechaty
    problems = []
    try:
        token = ws.token()
    except ConfigError as exc:
        problems.append(str(exc))
        token = ""
    if not token and not ws.endpoint:
        problems.append(f"set [wechaty] endpoint or the token in {ws.token_env}")
    if ws.endpoint and ":" not in ws.endpoint:
        problems.append(f"[wechaty] endpoint {ws.endpoint!r} must be host:port")
    if ws.endpoint and not token:
        problems.append(f"set {ws.token_env} (the puppet service token)")
    return problems


def check_welcome_script(runtime: Runtime) -> list[str]:
    sid = runtime.settings.wechaty.welcome_script_id
    if not sid:
        return []
    found = runtime.library.get([sid]).get(sid)
    if found is None:
        return [f"welcome script {sid} does not exist"]
    if found.status != "approved":
        return [f"welcome script {sid} is {found.status}, not approved"]
    return []


class BackgroundChannel:
    """The Wechaty channel on its own event loop in a daemon thread, for ``siyu serve
    --with-bot``: the console and the channel share one runtime, so live suggestions
    reach the sidebar."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        problems = check_settings(settings)
        if problems:
            raise ConfigError("; ".join(problems))
        import_channel()
        problems = check_welcome_script(runtime)
        if problems:
            raise ConfigError("; ".join(problems))
        self.channel = build_channel(runtime)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="wechaty", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            await self.channel.run(self._stop)

        self._loop.run_until_complete(main())
        self._loop.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Stop the channel; True once its thread has finished."""
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
