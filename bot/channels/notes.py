"""The compact note pushed to the adviser's own note target (``[wechaty] notify_contact_id``,
e.g. 文件传输助手): a few lines of plain text, since WeChat shows no markup."""

from __future__ import annotations

from bot.domain import SuggestionResult
from scripts_lib import CATEGORY_LABELS

#: The compact note pushed to the adviser's own note target (``[wechaty] notify_contact_id``).
ADVISER_NOTE_HEAD = "【思语】{who}：{text}"
ADVISER_NOTE_SCRIPT = "{n}. [{category}] {text}"
ADVISER_NOTE_REPLY = "草拟：{text}"
ADVISER_NOTE_TAGS = "标签：{tags}"
ADVISER_NOTE_MAX_CHARS = 120


def adviser_note(who: str, text: str, result: SuggestionResult) -> str:
    """A few lines for a chat window: the customer's words, the ranked scripts, the draft
    and the suggested tags. Plain text (WeChat shows no markup)."""
    lines = [ADVISER_NOTE_HEAD.format(who=who or "客户", text=clip(text, 40) or "（无）")]
    for n, s in enumerate(result.scripts, start=1):
        category = CATEGORY_LABELS.get(s.category, s.category)
        lines.append(
            ADVISER_NOTE_SCRIPT.format(
                n=n, category=category, text=clip(s.text, ADVISER_NOTE_MAX_CHARS)
            )
        )
    if result.reply:
        lines.append(ADVISER_NOTE_REPLY.format(text=clip(result.reply, ADVISER_NOTE_MAX_CHARS)))
    if result.tags:
        lines.append(ADVISER_NOTE_TAGS.format(tags="、".join(t.name for t in result.tags)))
    return "\n".join(lines)


def clip(text: str, n: int) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"
