"""Differences between two versions of a text, as HTML with <ins> / <del>."""

from __future__ import annotations

from difflib import SequenceMatcher
from html import escape

from markupsafe import Markup


def html_diff(old: str, new: str) -> Markup:
    """``new`` compared with ``old``, character by character (Chinese has no spaces
    to split words on): removed text in <del>, added text in <ins>, the rest escaped."""
    parts: list[str] = []
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append(escape(old[i1:i2]))
            continue
        if op in ("delete", "replace"):
            parts.append(f"<del>{escape(old[i1:i2])}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{escape(new[j1:j2])}</ins>")
    return Markup("".join(parts))
