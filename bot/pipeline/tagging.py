"""Customer tags: the taxonomy file, and tag suggestions with evidence for one message.

A tag is suggested when the message contains one of its keywords (after normalising
Traditional/Simplified, width and case), or when the message's embedding is close to
the tag's description. Suggestions are stored as *suggested*; people confirm them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BeforeValidator, Field, StringConstraints, ValidationError

from bot.domain import TagSuggestion
from bot.errors import InputError
from bot.settings import TaggingSettings
from bot.store.records import TagRecord
from bot.store.tags import CategorySpec, TagSpec
from knowledge import HybridIndex, IndexItem, normalize
from knowledge.files import load_yaml_file, yaml_line
from knowledge.rows import Problem, RowModel, problems_of, stripped_text
from scripts_lib.model import ANY_INDUSTRY, canonical_industry

log = logging.getLogger(__name__)

KEYWORD_SCORE = 1.0
#: A keyword right after one of these is negated (「没孩子」 is not 有孩子).
NEGATIONS = ("没有", "没", "不", "无", "非", "未")
EVIDENCE_CHARS = 24
#: Below this many candidate tags a z-score says nothing: keywords only.
MIN_TAGS_FOR_SEMANTIC = 8
#: Longest names the store's columns hold (PostgreSQL refuses longer ones).
MAX_NAME_CHARS = 100
MAX_INDUSTRY_CHARS = 50


Name = Annotated[
    str, BeforeValidator(stripped_text), StringConstraints(min_length=1, max_length=MAX_NAME_CHARS)
]
Text = Annotated[str, BeforeValidator(stripped_text)]


def _any_industry(value: object) -> object:
    """An empty industry, or a synonym of every industry (``all``, ``通用`` …), is
    ``general``: its tags are suggested in every industry."""
    value = stripped_text(value)
    if not isinstance(value, str):
        return value
    return canonical_industry(value) if value != "" else ANY_INDUSTRY


def _keywords(value: object) -> object:
    return () if value is None else value


class TagRow(RowModel):
    """A tag of the taxonomy file."""

    name: Name
    description: Text = ""
    #: Stripped; empty ones dropped.
    keywords: Annotated[tuple[Text, ...], BeforeValidator(_keywords)] = ()


class CategoryRow(RowModel):
    """A category of the taxonomy file: its tags apply to one industry (or to all)."""

    name: Name
    industry: Annotated[
        str, BeforeValidator(_any_industry), StringConstraints(max_length=MAX_INDUSTRY_CHARS)
    ] = ANY_INDUSTRY
    description: Text = ""
    tags: Annotated[list[TagRow], Field(min_length=1)]


class TaxonomyFile(RowModel):
    """The taxonomy file (format in the README)."""

    version: Any
    categories: list[CategoryRow]


def parse_taxonomy(path: Path) -> list[CategorySpec]:
    """Read a taxonomy YAML file (format in the README); every problem is reported at
    once, with its line.

    The file is read like every data file (``knowledge.files``: UTF-8, BOM optional,
    GB18030/GBK, UTF-16 / UTF-32 with a BOM).
    """
    raw = load_yaml_file(path, what="taxonomy")
    return taxonomy_from_data(raw, name=path.name)


def taxonomy_from_data(raw: Any, *, name: str = "taxonomy") -> list[CategorySpec]:
    """Validate loaded taxonomy data (``TaxonomyFile``); duplicate categories (name and
    industry) and duplicate tags of one category are problems too."""
    if not isinstance(raw, dict) or not isinstance(raw.get("categories"), list):
        raise InputError(f"{name}: expected a mapping with a 'categories' list")
    problems = _duplicates(raw)
    model: TaxonomyFile | None = None
    try:
        model = TaxonomyFile.model_validate(raw)
    except ValidationError as exc:
        problems += problems_of(exc, line=lambda loc: yaml_line(raw, loc))
    if problems or model is None:
        problems.sort(key=lambda p: p.line)
        raise InputError(
            f"{name}: {len(problems)} problems, nothing imported", [str(p) for p in problems]
        )
    return [
        CategorySpec(
            name=c.name,
            industry=c.industry,
            description=c.description,
            tags=tuple(
                TagSpec(
                    name=t.name,
                    description=t.description,
                    keywords=tuple(k for k in t.keywords if k),
                )
                for t in c.tags
            ),
        )
        for c in model.categories
    ]


def _text(item: object, key: str) -> str:
    value = stripped_text(item.get(key)) if isinstance(item, dict) else None
    return value if isinstance(value, str) else ""


def _duplicates(raw: dict[str, Any]) -> list[Problem]:
    """Categories named twice for one industry, tags named twice in one category."""
    problems: list[Problem] = []
    seen_categories: set[tuple[str, str]] = set()
    for ci, category in enumerate(raw["categories"]):
        cname = _text(category, "name")
        industry = canonical_industry(_text(category, "industry") or ANY_INDUSTRY)
        where = f"categories[{ci + 1}]"
        if cname and (cname, industry) in seen_categories:
            problems.append(
                Problem(
                    yaml_line(raw, ("categories", ci)) or 0,
                    where,
                    f"duplicate category {cname!r} for industry {industry!r}",
                )
            )
        seen_categories.add((cname, industry))
        tags = category.get("tags") if isinstance(category, dict) else None
        seen_tags: set[str] = set()
        for ti, tag in enumerate(tags if isinstance(tags, list) else []):
            tname = _text(tag, "name")
            if tname and tname in seen_tags:
                problems.append(
                    Problem(
                        yaml_line(raw, ("categories", ci, "tags", ti)) or 0,
                        f"{where}.tags[{ti + 1}]",
                        f"duplicate tag {tname!r} in {cname!r}",
                    )
                )
            seen_tags.add(tname)
    return problems


def tag_index_text(tag: TagRecord) -> str:
    """What the tag's embedding is computed from."""
    keywords = "、".join(tag.keywords)
    return f"{tag.name}：{tag.description}。{keywords}".strip()


class Tagger:
    """Suggests tags for a message from the active taxonomy."""

    def __init__(self, *, index: HybridIndex, settings: TaggingSettings) -> None:
        self._index = index
        self._settings = settings
        self._tags: dict[str, TagRecord] = {}
        self._keywords: list[tuple[str, TagRecord]] = []

    def sync(
        self, tags: Sequence[TagRecord], progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Load the active taxonomy (embeds only tags that are new or changed)."""
        self._tags = {f"tag-{t.id}": t for t in tags}
        self._keywords = [
            (normalize(k), t) for t in tags for k in (*t.keywords, t.name) if normalize(k)
        ]
        # Longest keyword first, so that evidence quotes the most specific match.
        self._keywords.sort(key=lambda kt: -len(kt[0]))
        items = [
            IndexItem(
                id=key,
                text=tag_index_text(t),
                metadata={"industry": t.industry, "category": t.category},
            )
            for key, t in self._tags.items()
        ]
        self._index.sync(items, progress=progress)

    @property
    def size(self) -> int:
        return len(self._tags)

    def _semantic(
        self,
        text: str,
        allowed: set[str] | None,
        query_vector: np.ndarray | None,
    ) -> list[tuple[TagRecord, float]]:
        """Tags whose description stands out for this message, best first.

        Raw cosine similarities of e5 embeddings sit in a narrow band whose position
        depends on the texts, so the threshold applies to the z-score of a tag's
        similarity among all candidate tags, not to the raw value: it carries over to
        other taxonomies without retuning.
        """
        where = {"industry": sorted(allowed)} if allowed else None
        scores = self._index.similarities(text, where=where, query_vector=query_vector)
        if len(scores) < MIN_TAGS_FOR_SEMANTIC:
            return []
        ids = list(scores)
        z = _zscores([scores[i] for i in ids])
        picked = [
            (self._tags[i], float(zi))
            for i, zi in zip(ids, z, strict=True)
            if zi >= self._settings.semantic_z and i in self._tags
        ]
        return sorted(picked, key=lambda tz: -tz[1])

    def suggest(
        self,
        text: str,
        *,
        industry: str | None,
        query_vector: np.ndarray | None = None,
        context: Sequence[str] = (),
    ) -> list[TagSuggestion]:
        """Tags of the customer's message ``text`` (``query_vector``: its embedding).

        ``context``: the customer's previous messages in this conversation, oldest first
        (``[context]``: the last few within some minutes, none from before the adviser's
        last reply) — the text to tag is ``text`` with these before it. Not used yet: tags
        are suggested from ``text`` alone (each earlier message was tagged when it came).
        """
        if not self._tags or not text.strip() or self._settings.max_tags == 0:
            return []
        norm = normalize(text)
        allowed = {industry, ANY_INDUSTRY} if industry else None
        found: dict[int, TagSuggestion] = {}
        for keyword, tag in self._keywords:
            if allowed is not None and tag.industry not in allowed:
                continue
            if tag.id in found:
                continue
            pos = _find_affirmed(norm, keyword)
            if pos >= 0:
                found[tag.id] = TagSuggestion(
                    name=tag.name,
                    category=tag.category,
                    evidence=f"「{_excerpt(text, norm, pos, len(keyword))}」含“{keyword}”",
                    score=KEYWORD_SCORE,
                    tag_id=tag.id,
                )
        negated = {
            tag.id for keyword, tag in self._keywords if keyword in norm and tag.id not in found
        }
        for tag, z in self._semantic(text, allowed, query_vector):
            if tag.id in found or tag.id in negated:
                continue
            # Semantic-only evidence is weaker: at most one such tag per category.
            if tag.category in {t.category for t in found.values()}:
                continue
            found[tag.id] = TagSuggestion(
                name=tag.name,
                category=tag.category,
                evidence=f"「{_shorten(text)}」与“{tag.description or tag.name}”语义相近",
                score=round(min(0.99, z / 10), 3),
                tag_id=tag.id,
            )
        ranked = sorted(found.values(), key=lambda t: -t.score)
        return ranked[: self._settings.max_tags]


def _zscores(similarities: Sequence[float]) -> np.ndarray:
    sims = np.asarray(similarities, dtype=np.float64)
    std = float(sims.std())
    return (sims - sims.mean()) / std if std > 1e-9 else np.zeros_like(sims)


def _find_affirmed(text: str, keyword: str) -> int:
    """Position of the first occurrence of ``keyword`` not directly negated, or -1."""
    pos = text.find(keyword)
    while pos >= 0:
        if not any(text.endswith(neg, 0, pos) for neg in NEGATIONS):
            return pos
        pos = text.find(keyword, pos + 1)
    return -1


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EVIDENCE_CHARS * 2 else flat[: EVIDENCE_CHARS * 2] + "…"


def _excerpt(original: str, norm: str, pos: int, length: int) -> str:
    """Quote the words around a keyword hit. ``normalize`` keeps character positions for
    Chinese text; if it changed the length, quote from the normalised text instead."""
    source = original if len(original) == len(norm) else norm
    start = max(0, pos - EVIDENCE_CHARS // 2)
    end = min(len(source), pos + length + EVIDENCE_CHARS // 2)
    snippet = " ".join(source[start:end].split())
    return ("…" if start > 0 else "") + snippet + ("…" if end < len(source) else "")
