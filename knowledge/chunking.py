"""Sections → chunks small enough to embed and to show as a cited passage.

Chinese-aware: a section is split into sentences after 。！？；!?; (closing quotes and
brackets stay with their sentence) and at line breaks; sentences are packed greedily up
to ``max_chars``, and each new chunk repeats the previous chunk's trailing whole
sentences up to ``overlap`` characters. Only a single sentence longer than ``max_chars``
is cut inside (preferably after a comma or space), with ``overlap`` characters repeated
between its pieces. No chunk is ever longer than ``max_chars`` or empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.loaders import SourceDocument

__all__ = ["Chunk", "chunk_document", "chunk_text", "split_sentences"]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage of a document; ``section`` is the title of the section it came from."""

    ordinal: int
    section: str
    text: str


# A sentence ends after a run of terminators (plus closing quotes/brackets), or at a newline.
_SENTENCE = re.compile(r"[^\n。！？；!?;]*(?:[。！？；!?;]+[”’」』）)\]\"']*|\n|$)")
# Where a hard cut inside an over-long sentence may fall (after the character).
_SOFT_BREAK = re.compile(r"[，、,：:）)」』\s]")


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    joiner: str  # what separates this piece from the next one in the source ("", " ", "\n")


def split_sentences(text: str) -> list[str]:
    """The non-blank sentences of ``text``, terminators kept, surrounding spaces stripped."""
    return [piece.text for piece in _pieces(text)]


def chunk_document(doc: SourceDocument, *, max_chars: int, overlap: int) -> list[Chunk]:
    """Chunk every section of ``doc``; ordinals run over the whole document from 0."""
    chunks: list[Chunk] = []
    for section in doc.sections:
        for text in chunk_text(section.text, max_chars=max_chars, overlap=overlap):
            chunks.append(Chunk(ordinal=len(chunks), section=section.title, text=text))
    return chunks


def chunk_text(text: str, *, max_chars: int, overlap: int) -> list[str]:
    """Split one section's text into chunks of at most ``max_chars`` characters.

    ``overlap`` is clamped to ``max_chars // 2`` so that every chunk makes progress.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    overlap = max(0, min(overlap, max_chars // 2))
    chunks: list[str] = []
    current: list[_Piece] = []
    for piece in _pieces(text):
        if len(piece.text) > max_chars:
            # The one case a sentence is cut: its pieces are chunks of their own.
            if current:
                chunks.append(_join(current))
                current = []
            chunks.extend(_hard_split(piece.text, max_chars, overlap))
            continue
        if current and _length([*current, piece]) > max_chars:
            chunks.append(_join(current))
            current = _overlap_tail(current, overlap, piece, max_chars)
        current.append(piece)
    if current:
        chunks.append(_join(current))
    return [chunk for chunk in chunks if chunk]


def _pieces(text: str) -> list[_Piece]:
    spans: list[tuple[int, int]] = []
    for match in _SENTENCE.finditer(text):
        raw = match.group(0)
        stripped = raw.strip()
        if stripped:
            begin = match.start() + len(raw) - len(raw.lstrip())
            spans.append((begin, begin + len(stripped)))
    pieces: list[_Piece] = []
    for index, (begin, end) in enumerate(spans):
        joiner = ""
        if index + 1 < len(spans):
            gap = text[end : spans[index + 1][0]]  # only whitespace, possibly empty
            joiner = "\n" if "\n" in gap else (" " if gap else "")
        pieces.append(_Piece(text[begin:end], joiner))
    return pieces


def _hard_split(sentence: str, max_chars: int, overlap: int) -> list[str]:
    """Cut an over-long sentence into windows of at most ``max_chars``, overlapping."""
    parts: list[str] = []
    start = 0
    while start < len(sentence):
        end = min(start + max_chars, len(sentence))
        if end < len(sentence):
            window = sentence[start:end]
            floor = max(overlap + 1, max_chars // 2)
            breaks = [m.end() for m in _SOFT_BREAK.finditer(window) if m.end() > floor]
            if breaks:
                end = start + breaks[-1]
        part = sentence[start:end].strip()
        if part:
            parts.append(part)
        if end >= len(sentence):
            break
        next_start = max(end - overlap, start + 1)
        if next_start < end:  # begin the repeated part after a soft break when there is one
            soft = _SOFT_BREAK.search(sentence, next_start, end)
            if soft:
                next_start = soft.end()
        start = next_start
    return parts


def _join(pieces: list[_Piece]) -> str:
    out: list[str] = []
    for index, piece in enumerate(pieces):
        out.append(piece.text)
        if index + 1 < len(pieces):
            out.append(piece.joiner)
    return "".join(out).strip()


def _length(pieces: list[_Piece]) -> int:
    return sum(len(p.text) for p in pieces) + sum(len(p.joiner) for p in pieces[:-1])


def _overlap_tail(
    pieces: list[_Piece], overlap: int, following: _Piece, max_chars: int
) -> list[_Piece]:
    """The trailing whole pieces of a finished chunk to repeat at the start of the next.

    At most ``overlap`` characters, and the next chunk (tail + ``following``) must still
    fit in ``max_chars``.
    """
    tail: list[_Piece] = []
    for piece in reversed(pieces):
        candidate = [piece, *tail]
        if _length(candidate) > overlap or _length([*candidate, following]) > max_chars:
            break
        tail = candidate
    return tail
