"""Text normalisation and the tokenizer of the lexical (BM25) channel.

``normalize`` folds the variants a Chinese chat produces for the same words (full-width
forms, Traditional characters, upper case, odd whitespace) into one form. ``tokenize``
turns normalised text into BM25 terms: CJK runs become character unigrams plus bigrams
(no word segmenter needed, and robust to product names the segmenter does not know),
other letter/digit runs become whole lowercase words, so codes such as ``a3`` and
numbers such as ``3000`` match exactly.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import opencc

__all__ = [
    "CJK_RANGES",
    "STOP_CHARS",
    "UNSTORABLE",
    "WORD",
    "clip",
    "echo",
    "normalize",
    "shared_phrases",
    "storable",
    "strip_invisible",
    "tokenize",
]

#: Characters no database text column stores: NUL (PostgreSQL refuses it) and unpaired
#: surrogates (no UTF-8 encoding). A ``str`` can still hold them, from a JSON ``\ud83d``
#: or a YAML ``"\0"`` escape.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def clip(text: str, n: int) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= n else flat[: n - 1] + "…"


#: The most of what a person typed that a message shows back to them (a name, a code).
ECHO_CHARS = 40


def echo(text: str, n: int = ECHO_CHARS) -> str:
    """What a message may show of what a person typed: its visible characters (no
    control or format characters, no lone surrogates, which no response could encode),
    on one line, cut to ``n`` characters with an ellipsis."""
    return clip(strip_invisible(text), n)


def storable(value: str) -> str:
    """``value`` with what no database stores (``UNSTORABLE``) made U+FFFD, the rule for
    every text stored (bot/store/db.py applies it to every statement)."""
    return UNSTORABLE.sub("\ufffd", value)


#: Frequent function characters skipped as unigrams (they stay inside bigrams).
STOP_CHARS: frozenset[str] = frozenset(
    "的了吗呢啊吧呀哦嗯哈么是我你您他她它们这那和与及就都也还在有个着过被把给让之其或而"
)

# Ideographs: CJK Unified (basic, extension A, B-G), compatibility block, and 〇.
CJK_RANGES: tuple[tuple[int, int], ...] = (
    (0x3007, 0x3007),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0x20000, 0x3134F),
)
_CJK_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" if lo != hi else chr(lo) for lo, hi in CJK_RANGES)
_CJK_RUN = re.compile(f"[{_CJK_CLASS}]+")
#: Non-CJK terms: decimal numbers stay whole ("3.5"); otherwise runs of letters/digits.
WORD = re.compile(rf"\d+(?:\.\d+)+|[^\W_{_CJK_CLASS}]+")
_TERM = re.compile(f"(?P<cjk>{_CJK_RUN.pattern})|(?P<word>{WORD.pattern})")
_WHITESPACE = re.compile(r"\s+")
_ASCII_UPPER = re.compile("[A-Z]+")
# Control / format characters other than whitespace (NUL, zero-width space, BOM, …)
# and lone surrogates, which cannot be encoded.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


@functools.cache
def _t2s() -> opencc.OpenCC:
    """The Traditional → Simplified converter, built on first use, once per process."""
    import opencc

    return opencc.OpenCC("t2s")


def strip_invisible(text: str) -> str:
    """Drop control and format characters (whitespace is kept) and lone surrogates."""
    if text.isprintable():
        return text
    return "".join(
        ch for ch in text if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
    )


def normalize(text: str) -> str:
    """Fold ``text`` into the canonical search form.

    NFKC (full-width letters, digits and punctuation become ASCII), Traditional →
    Simplified Chinese, ASCII lowercase, control characters removed, whitespace runs
    collapsed to one space, ends stripped.
    """
    if not text:
        return ""
    text = strip_invisible(unicodedata.normalize("NFKC", text))
    if not text.isascii():
        text = _t2s().convert(text)
    if _ASCII_UPPER.search(text):
        text = _ASCII_UPPER.sub(lambda match: match.group().lower(), text)
    return _WHITESPACE.sub(" ", text).strip()


def tokenize(text: str) -> list[str]:
    """BM25 terms of ``text`` (normalised here first), in reading order.

    CJK runs give every character that is not a stop character, followed by every
    bigram of the run; other runs of letters and digits give whole words; punctuation,
    symbols and emoji give nothing.
    """
    tokens: list[str] = []
    for match in _TERM.finditer(normalize(text)):
        run = match.group("cjk")
        if run is None:
            tokens.append(match.group())
            continue
        tokens.extend(ch for ch in run if ch not in STOP_CHARS)
        tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
    return tokens


#: Words too common in chats to explain why a script matches a message.
COMMON_WORDS: frozenset[str] = frozenset(
    re.findall(
        r"\S+",
        "可以 一下 什么 怎么 怎样 如何 请问 一个 现在 时候 知道 需要 问问 想问 有没有 能不能"
        " 是不是 还是 如果 因为 所以 但是 然后 已经 一直 一起 没有 不是 不会 不能 自己 大家"
        " 谢谢 您好 你好 好的 老师 觉得 看看 一些 这样 那样 这边 那边 多久 的话"
        " 问题 情况 东西 家里 事情 时间 这种 那种 一般 其实 比如 还有 或者 而且 不过"
        " 只是 应该 可能 感觉 我们 你们 他们",
    )
)
#: The longest query looked at for shared phrases (a message is short; this bounds the
#: work to a few thousand substring checks).
SHARED_QUERY_CHARS = 80


def shared_phrases(query: str, text: str, *, limit: int = 2) -> list[str]:
    """The longest pieces of ``query`` that ``text`` contains too (both normalised),
    longest first, at most ``limit``: why a script or passage matches a message.

    A piece is whole words (``word_edges``) of the query or of the text where it stands
    there — 「等待期」 from 「等待期多长时间」, never 「等待期多」; 「直播回放」 from
    「直播回放链接」 though the segmenter reads the query 「直播/回/放在/哪看」 — of letters,
    digits or CJK characters, and keeps at least two characters without its
    ``COMMON_WORDS`` and ``STOP_CHARS``; it is given without the stop characters at its
    ends, and not looked for again inside the others.
    """
    haystack = normalize(text)
    pairs = {haystack[i : i + 2] for i in range(len(haystack) - 1)}
    said = normalize(query)[:SHARED_QUERY_CHARS]
    said_edges = word_edges(said)
    text_edges: frozenset[int] | None = None  # segmented when the query's edges do not do

    def whole(start: int, piece: str) -> bool:
        """On word edges of the query (at ``start``), or of the text somewhere."""
        nonlocal text_edges
        if start in said_edges and start + len(piece) in said_edges:
            return True
        if text_edges is None:
            text_edges = word_edges(haystack)
        at = haystack.find(piece)
        while at >= 0:
            if at in text_edges and at + len(piece) in text_edges:
                return True
            at = haystack.find(piece, at + 1)
        return False

    runs = [
        (m.start() + offset, part)
        for m in re.finditer(r"[^\W_]+", said)
        for offset, part in _shared_runs(m.group(), pairs)
    ]
    found: list[str] = []
    while len(found) < limit:
        best = ""
        for start, run in runs:
            for size in range(len(run), max(len(best), 1), -1):
                piece = next(
                    (
                        run[i : i + size]
                        for i in range(len(run) - size + 1)
                        if _telling(run[i : i + size])
                        and run[i : i + size] in haystack
                        and whole(start + i, run[i : i + size])
                    ),
                    None,
                )
                if piece is not None:
                    best = piece
                    break
        if not best:
            break
        runs = [part for start, run in runs for part in _split(start, run, best)]
        found.append(best.strip("".join(STOP_CHARS)))
    return found


def word_edges(text: str) -> frozenset[int]:
    """The offsets in ``text`` where a word starts or ends (0 and ``len(text)``
    included): as jieba's dictionary segments it, and at the ends of each Latin word or
    number (``WORD``: the segmenter keeps 「ipad-pro」 whole, a number 「3.5」 stays one)."""
    import rjieba

    edges = {0}
    at = 0
    for word in rjieba.cut(text):
        at += len(word)
        edges.add(at)
    edges.update(i for m in WORD.finditer(text) for i in m.span())
    return frozenset(edges)


def _split(start: int, run: str, piece: str) -> list[tuple[int, str]]:
    """``run`` (at offset ``start``) without the occurrences of ``piece``: the parts
    between them, each with its offset."""
    parts: list[tuple[int, str]] = []
    at = 0
    while (hit := run.find(piece, at)) >= 0:
        if hit > at:
            parts.append((start + at, run[at:hit]))
        at = hit + len(piece)
    if at < len(run):
        parts.append((start + at, run[at:]))
    return parts


def _shared_runs(run: str, pairs: set[str]) -> list[tuple[int, str]]:
    """The longest parts of ``run`` whose every two neighbouring characters are one of
    ``pairs`` (only there can a shared piece lie), each with its offset in ``run``."""
    parts: list[tuple[int, str]] = []
    start = 0
    for i in range(len(run) - 1):
        if run[i : i + 2] not in pairs:
            if i + 1 - start >= 2:
                parts.append((start, run[start : i + 1]))
            start = i + 1
    if len(run) - start >= 2:
        parts.append((start, run[start:]))
    return parts


def _telling(piece: str) -> bool:
    """At least two characters left once common words and stop characters are out."""
    for word in COMMON_WORDS:
        if word in piece:
            piece = piece.replace(word, "")
    return sum(ch not in STOP_CHARS for ch in piece) >= 2
