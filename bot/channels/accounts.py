"""The Wechaty accounts one process serves: the list of ``[[wechaty.accounts]]``, or the
single account of ``[wechaty] endpoint / token_env`` (the settings before accounts
existed, still valid). SDK-free: the CLI and the console read it without the extra."""

from __future__ import annotations

from dataclasses import dataclass

from bot.settings import WechatySettings, puppet_token

#: The account name of the single-account settings (``[wechaty] endpoint``).
DEFAULT_ACCOUNT = "default"


@dataclass(frozen=True, slots=True)
class AccountConfig:
    #: The account's name (its adviser id, or "default").
    key: str
    #: The adviser its messages belong to; None: the logged-in WeChat id (single account).
    adviser_id: str | None
    endpoint: str
    token_env: str
    notify_contact_id: str

    def token(self) -> str:
        """The token from the environment ("" when unset; placeholders refused)."""
        return puppet_token(self.token_env)


def accounts_from(settings: WechatySettings) -> tuple[AccountConfig, ...]:
    if not settings.accounts:
        return (
            AccountConfig(
                key=DEFAULT_ACCOUNT,
                adviser_id=None,
                endpoint=settings.endpoint,
                token_env=settings.token_env,
                notify_contact_id=settings.notify_contact_id,
            ),
        )
    return tuple(
        AccountConfig(
            key=a.adviser_id,
            adviser_id=a.adviser_id,
            endpoint=a.endpoint,
            token_env=a.token_env,
            notify_contact_id=(
                settings.notify_contact_id if a.notify_contact_id is None else a.notify_contact_id
            ),
        )
        for a in settings.accounts
    )
