"""Customer tags: the taxonomy file, and tag suggestions with evidence for one message.

A tag is suggested when the message contains one of its keywords (after normalising
Traditional/Simplified, width and case), or when the message's embedding is close to
the tag's description. Suggestions are stored as *suggested*; people confirm them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.domain import TagSuggestion
from bot.errors import InputError
from bot.settings import TaggingSettings
from bot.store.records import TagRecord
from bot.store.tags import CategorySpec, TagSpec
from knowledge import HybridIndex, IndexItem, normalize
from scripts_lib.io import load_yaml_file
from scripts_lib.model import ANY_INDUSTRY

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


def parse_taxonomy(path: Path) -> list[CategorySpec]:
    """Read a taxonomy YAML file (format in the README); every problem is reported at once.

    The file may be UTF-8 (BOM optional), GB18030/GBK or UTF-16 with a BOM, like every
    other import file.
    """
    raw = load_yaml_file(path, what="taxonomy")
    return taxonomy_from_data(raw, name=path.name)


def taxonomy_from_data(raw: Any, *, name: str = "taxonomy") -> list[CategorySpec]:
    problems: list[str] = []
    if not isinstance(raw, dict) or not isinstance(raw.get("categories"), list):
        raise InputError(f"{name}: expected a mapping with a 'categories' list")
    if "version" not in raw:
        problems.append("missing 'version'")
    categories: list[CategorySpec] = []
    seen_cats: set[tuple[str, str]] = set()
    for ci, cat in enumerate(raw["categories"], start=1):
        where = f"categories[{ci}]"
        if not isinstance(cat, dict):
            problems.append(f"{where}: expected a mapping")
            continue
        cname = str(cat.get("name") or "").strip()
        industry = str(cat.get("industry") or ANY_INDUSTRY).strip()
        if not cname:
            problems.append(f"{where}: missing 'name'")
        elif len(cname) > MAX_NAME_CHARS:
            problems.append(f"{where}: the name is longer than {MAX_NAME_CHARS} characters")
        if len(industry) > MAX_INDUSTRY_CHARS:
            problems.append(f"{where}: the industry is longer than {MAX_INDUSTRY_CHARS} characters")
        if (cname, industry) in seen_cats:
            problems.append(f"{where}: duplicate category {cname!r} for industry {industry!r}")
        seen_cats.add((cname, industry))
        tags: list[TagSpec] = []
        seen_tags: set[str] = set()
        raw_tags = cat.get("tags")
        if not isinstance(raw_tags, list) or not raw_tags:
            problems.append(f"{where} ({cname}): 'tags' must be a non-empty list")
            raw_tags = []
        for ti, tag in enumerate(raw_tags, start=1):
            twhere = f"{where}.tags[{ti}]"
            if not isinstance(tag, dict) or not str(tag.get("name") or "").strip():
                problems.append(f"{twhere}: each tag needs a 'name'")
                continue
            tname = str(tag["name"]).strip()
            if len(tname) > MAX_NAME_CHARS:
                problems.append(f"{twhere}: the name is longer than {MAX_NAME_CHARS} characters")
            if tname in seen_tags:
                problems.append(f"{twhere}: duplicate tag {tname!r} in {cname!r}")
            seen_tags.add(tname)
            keywords = tag.get("keywords") or []
            if not isinstance(keywords, list) or not all(
                isinstance(k, str | int) for k in keywords
            ):
                problems.append(f"{twhere} ({tname}): 'keywords' must be a list of strings")
                keywords = []
            tags.append(
                TagSpec(
                    name=tname,
                    description=str(tag.get("description") or "").strip(),
                    keywords=tuple(str(k).strip() for k in keywords if str(k).strip()),
                )
            )
        categories.append(
            CategorySpec(
                name=cname,
                industry=industry,
                description=str(cat.get("description") or "").strip(),
                tags=tuple(tags),
            )
        )
    if problems:
        raise InputError(f"{name}: {len(problems)} problems, nothing imported", problems)
    return categories


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
    ) -> list[TagSuggestion]:
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
