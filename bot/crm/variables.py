"""The values of a script's ``{variables}`` for one customer, in one place: suggestions,
welcome messages, follow-up reminders and the operator's preview all fill scripts the
same way. What each variable means, where its value comes from and what the adviser
sees without one is the table in README.md ("Variables")."""

from __future__ import annotations

from datetime import date

from bot.settings import ROLE_WORDS, AssistantSettings
from scripts_lib.variables import date_values


def script_values(
    *,
    assistant: AssistantSettings,
    today: date,
    deadline: date | None = None,
    customer_name: str | None = None,
    adviser_name: str | None = None,
    product: str | None = None,
    city: str | None = None,
) -> dict[str, str | None]:
    """``{customer_name}``, ``{product}`` and ``{city}`` from the profile (``product``
    falls back to ``[assistant] default_product``); ``{adviser_name}`` the adviser's own
    name, else ``[assistant] adviser_name`` (empty by default: a visible placeholder; a
    role word such as 「顾问」 — a WeChat nickname can be one — never counts as a name,
    or scripts read 「保险顾问顾问」); ``{company}`` from the
    settings; ``{today}`` the local day of sending; ``{deadline}`` the script's own day
    while it has not passed. ``{date}`` gets no value: a placeholder."""
    if adviser_name is not None and adviser_name.strip() in ROLE_WORDS:
        adviser_name = None
    return {
        "customer_name": customer_name,
        "adviser_name": adviser_name or assistant.adviser_name,
        "product": product or assistant.default_product,
        "company": assistant.company,
        "city": city,
        **date_values(today=today, deadline=deadline),
    }
