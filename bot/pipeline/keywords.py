"""Keyword matching for tags: a taxonomy keyword found in a customer message, also when
the customer words it a little differently.

Taxonomy keywords are written the way one customer said it once (「太贵了」「便宜点」
「能少点吗」); other customers say 「贵这么多」「别太贵」「便宜些」「能少交点」. A keyword
matches a message, in this order of preference:

1. **as written** (both normalised: Traditional → Simplified, width, case);
2. **its core**: degree words in front (太、好、很、这么 …) and particles at the end
   (了、吗、吧、点 …) taken off, so 「太贵了」 matches as 「贵」 and 「便宜点」 as 「便宜」. A
   one-character core must stand as a word of its own — after a degree word or 比/更/还,
   or before a particle, a degree word, punctuation or the end — so 「贵」 matches in
   「比别家贵这么多」 and 「别太贵」 but not in 「贵公司」 or 「显得贵气」;
3. **with one character inserted** between two of its characters (「打折」 in
   「打个折」, 「分期」 in 「分几期」), for keywords of two characters or more.

A match right after a negation (没、不、无 …) does not count (「没孩子」 is not 有孩子),
unless the negation is part of an A-not-A question (「能不能少点」 asks, it does not deny).
A keyword that begins or ends with a Latin letter or a digit matches only where the
message has no letter or digit glued to that end (「211」 is not in 「zb2611」 or
「2110」, 「dha」 not in 「dhabc」), and never with a character inserted (that changes a
number or a word).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from knowledge import normalize

#: A keyword right after one of these is negated (「没孩子」 is not 有孩子).
NEGATIONS = ("没有", "没", "不", "无", "非", "未")
#: Degree words taken off the front of a keyword to find its core (longest first).
DEGREE_WORDS = (
    "这么",
    "那么",
    "非常",
    "特别",
    "有点",
    "有些",
    "比较",
    "太",
    "好",
    "很",
    "挺",
    "超",
    "真",
    "更",
)
#: Particles taken off the end of a keyword to find its core.
PARTICLES = ("了", "啊", "吧", "呢", "吗", "呀", "啦", "哦", "嘛", "点", "些", "的")
#: Without a degree word only these come off: 了 and 的 carry meaning after a verb
#: (「工作了」 is not 「工作」).
UNGRADED_PARTICLES = ("啊", "吧", "呢", "吗", "呀", "啦", "哦", "嘛", "点", "些")
#: A one-character core counts when the character before it is one of these …
_BEFORE_WORD = frozenset("太好很挺超真更比还较多么")
#: … or the character after it is one of these (or the text ends).
_AFTER_WORD = frozenset("了啊吧呀啦哦嘛呢这那很多一点些得 ,.!?~，。！？～…")

MatchKind = Literal["exact", "core", "gapped"]


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    """Where a keyword was found in a normalised message, and how."""

    keyword: str
    kind: MatchKind
    start: int
    end: int


def core(keyword: str) -> str:
    """``keyword`` (normalised) without leading degree words and trailing particles.

    A one-character core is kept only when a degree word was taken off (「太贵了」 → 「贵」:
    an adjective); otherwise the core keeps two characters (「便宜点」 → 「便宜」, but
    「重点」 stays 「重点」), and a core that is itself a particle or degree word (「好的」)
    gives the keyword back.
    """
    text = keyword
    graded = False
    changed = True
    while changed:
        changed = False
        for word in DEGREE_WORDS:
            if text.startswith(word) and len(text) > len(word):
                text, changed, graded = text[len(word) :], True, True
        for word in PARTICLES if graded else UNGRADED_PARTICLES:
            if text.endswith(word) and len(text) - len(word) >= (1 if graded else 2):
                text, changed = text[: -len(word)], True
    if len(text) == 1 and (not graded or text in PARTICLES or text in DEGREE_WORDS):
        return keyword
    return text


class KeywordMatcher:
    """Finds one keyword in normalised messages (build once per keyword, reuse)."""

    def __init__(self, keyword: str, *, fuzzy: bool = True) -> None:
        self.keyword = normalize(keyword)
        self._core = core(self.keyword) if fuzzy else self.keyword
        latin = bool(_LATIN.search(self.keyword))
        gapped = fuzzy and len(self.keyword) >= 2 and not latin
        self._gapped = _gapped_pattern(self.keyword) if gapped else None

    def find(self, text: str) -> KeywordMatch | None:
        """The first affirmed match in ``text`` (already normalised), best kind first."""
        pos = _find_affirmed(text, self.keyword)
        if pos >= 0:
            return KeywordMatch(self.keyword, "exact", pos, pos + len(self.keyword))
        if self._core != self.keyword:
            pos = (
                _find_affirmed(text, self._core)
                if len(self._core) > 1
                else _find_word(text, self._core)
            )
            if pos >= 0:
                return KeywordMatch(self.keyword, "core", pos, pos + len(self._core))
        if self._gapped is not None:
            for m in self._gapped.finditer(text):
                if not negated(text, m.start()):
                    return KeywordMatch(self.keyword, "gapped", m.start(), m.end())
        return None

    def occurs(self, text: str) -> bool:
        """Whether the keyword occurs at all, affirmed or negated (as written)."""
        return self.keyword in text


def negated(text: str, pos: int) -> bool:
    """Whether the word at ``pos`` follows a negation that is not part of an A-not-A
    question (「有没有优惠」「能不能少点」「是不是太贵」)."""
    if not any(text.endswith(neg, 0, pos) for neg in NEGATIONS):
        return False
    # X不X / X没X right before the word (有没有优惠), or with the word's first character
    # as the second X (能不能少点).
    asks_before = pos >= 3 and text[pos - 2] in "不没" and text[pos - 3] == text[pos - 1]
    asks_into = pos >= 2 and text[pos - 1] in "不没" and text[pos - 2] == text[pos]
    return not (asks_before or asks_into)


def _find_affirmed(text: str, keyword: str) -> int:
    """Position of the first occurrence of ``keyword`` not negated (and, for a keyword
    with a Latin letter or digit at an end, not glued to another there), or -1."""
    pos = text.find(keyword)
    while pos >= 0:
        if not negated(text, pos) and _bounded(text, keyword, pos):
            return pos
        pos = text.find(keyword, pos + 1)
    return -1


#: A Latin letter or a digit (normalised text: lower case, half width).
_LATIN = re.compile("[0-9a-z]")


def _bounded(text: str, keyword: str, pos: int) -> bool:
    """Whether ``keyword`` at ``pos`` is not part of a longer code or number: an end of
    it that is a letter or digit has none next to it in ``text``."""
    end = pos + len(keyword)
    if _LATIN.match(keyword[0]) and pos > 0 and _LATIN.match(text[pos - 1]):
        return False
    return not (_LATIN.match(keyword[-1]) and end < len(text) and _LATIN.match(text[end]))


def _find_word(text: str, char: str) -> int:
    """Position of ``char`` standing as a word of its own (see the module doc), or -1."""
    pos = text.find(char)
    while pos >= 0:
        before = text[pos - 1] if pos > 0 else ""
        after = text[pos + 1] if pos + 1 < len(text) else ""
        if (before in _BEFORE_WORD or after == "" or after in _AFTER_WORD) and not negated(
            text, pos
        ):
            return pos
        pos = text.find(char, pos + 1)
    return -1


@cache
def _gapped_pattern(keyword: str) -> re.Pattern[str]:
    """The keyword's characters in order, with at most one other character in one place."""
    options = [
        re.escape(keyword[:i]) + r"[^\s,.!?，。！？]" + re.escape(keyword[i:])
        for i in range(1, len(keyword))
    ]
    return re.compile("|".join(options))
