"""Customer tags: the taxonomy file, and tag suggestions with evidence for one message.

A tag is suggested when the message contains one of its keywords (normalised, also
reworded: bot/pipeline/keywords.py); when the message is close to a labelled example of
the tag (written with the taxonomy, or a message people confirmed or added the tag on)
and not to one where it was rejected; or when the tag's description and keywords stand
out for the message among all tags and against neutral messages (greetings, thanks …).
Suggestions are stored as *suggested*; people confirm or reject them, and the tagger
learns from that (``Tagger.sync`` with the labelled examples).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BeforeValidator, Field, StringConstraints, ValidationError

from bot.domain import TagSuggestion
from bot.errors import InputError
from bot.learning.probe import Probe, fit_probe
from bot.pipeline.keywords import KeywordMatcher
from bot.pipeline.llm import TagChoice
from bot.pipeline.prompts import TagOption
from bot.settings import TaggingSettings
from bot.store.records import TagExampleRecord, TagRecord
from bot.store.tags import CategorySpec, TagSpec
from knowledge import HybridIndex, IndexItem, SyncStats, normalize
from knowledge.files import load_yaml_file, yaml_line
from knowledge.rows import Problem, RowModel, problems_of, refuse, stripped_text
from scripts_lib.model import ANY_INDUSTRY, canonical_industry, matching_industries

log = logging.getLogger(__name__)

KEYWORD_SCORE = 1.0
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


def _texts(value: object) -> object:
    return () if value is None else value


#: Longest taxonomy example (a customer message that shows the tag).
MAX_EXAMPLE_CHARS = 500
Example = Annotated[
    str, BeforeValidator(stripped_text), StringConstraints(max_length=MAX_EXAMPLE_CHARS)
]


class TagRow(RowModel):
    """A tag of the taxonomy file."""

    name: Name
    description: Text = ""
    #: Stripped; empty ones dropped.
    keywords: Annotated[tuple[Text, ...], BeforeValidator(_texts)] = ()
    #: Customer messages that show the tag (the tagger's first labelled examples);
    #: stripped, empty ones dropped.
    examples: Annotated[tuple[Example, ...], BeforeValidator(_texts)] = ()


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
    raw = load_yaml_file(path, what="标签体系")
    return taxonomy_from_data(raw, name=path.name)


def taxonomy_from_data(raw: Any, *, name: str = "taxonomy") -> list[CategorySpec]:
    """Validate loaded taxonomy data (``TaxonomyFile``); duplicate categories (name and
    industry) and duplicate tags of one category are problems too."""
    if not isinstance(raw, dict) or not isinstance(raw.get("categories"), list):
        raise InputError(f"{name}：应为含 categories 列表的映射")
    problems = _duplicates(raw)
    model: TaxonomyFile | None = None
    try:
        model = TaxonomyFile.model_validate(raw)
    except ValidationError as exc:
        problems += problems_of(exc, line=lambda loc: yaml_line(raw, loc))
    if problems or model is None:
        refuse(name, problems)
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
                    examples=tuple(dict.fromkeys(e for e in t.examples if e)),
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
                    f"行业 {industry!r} 里的分类 {cname!r} 重复",
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
                        f"分类 {cname!r} 里的标签 {tname!r} 重复",
                    )
                )
            seen_tags.add(tname)
    return problems


def tag_index_text(tag: TagRecord) -> str:
    """What the tag's embedding is computed from."""
    keywords = "、".join(tag.keywords)
    return f"{tag.name}：{tag.description}。{keywords}".strip()


#: Messages that say nothing about the customer: greetings, thanks, small talk, questions
#: about opening hours or paperwork. A message closer to these than to a tag gets no
#: semantic tag (``TaggingSettings.neutral_weight``).
NEUTRAL_MESSAGES = (
    "你好",
    "您好",
    "在吗",
    "在不在",
    "有人吗",
    "哈喽",
    "hello",
    "hi",
    "早上好",
    "晚上好",
    "老师好",
    "打扰一下",
    "好的",
    "嗯嗯",
    "嗯",
    "收到",
    "知道了",
    "明白了",
    "好的谢谢",
    "谢谢",
    "多谢",
    "辛苦了",
    "麻烦你了",
    "没问题",
    "可以的",
    "行",
    "OK",
    "哦哦",
    "哈哈哈",
    "👌",
    "🙏",
    "你们几点上班",
    "周末休息吗",
    "店在哪里",
    "怎么过去",
    "你们电话多少",
    "能开发票吗",
    "资料发我一下",
    "资料收到了",
    "文件打不开",
    "链接点不开",
    "图片看不清",
    "稍等一下",
    "我在开车",
    "我在忙 等下说",
    "刚才没看到消息",
    "不好意思才看到",
    "你是哪位",
    "怎么称呼你",
    "你们公司叫什么",
    "上次聊到哪了",
    "我看一下",
    "有个问题想问",
    "想咨询一下",
    "请问一下",
    "这个是什么意思",
    "没看懂",
    "能再说一遍吗",
    "你说的是哪个",
    "上次说的那个",
    # questions about the service itself, which any customer asks
    "多少钱",
    "流程是怎样的",
    "帮我查一下进度",
    "大概要多久",
    "在哪里可以查到",
    "你确认一下再告诉我",
    "在哪个平台上看",
    "一共有几个阶段",
    "什么时候发货",
    "快递到哪了",
    "怎么联系客服",
    "密码忘了怎么办",
    "要准备哪些材料",
    "信息填错了能改吗",
    "怎么退款",
    "登录不上去",
    "有什么要注意的",
    "怎么又加我一次",
    "我换手机号了",
    "上次的事处理好了吗",
)
#: The neutral similarity of a message is the mean of its this many closest neutral messages.
NEUTRAL_NEIGHBOURS = 3
#: Scores of a fuzzy keyword match, and the cap of semantic and example scores (an exact
#: keyword hit is ``KEYWORD_SCORE``).
FUZZY_SCORE = 0.9
INFERRED_CAP = 0.89
#: Score of a tag an LLM chose (``[tagging] llm``).
LLM_SCORE = 0.85


@dataclass(frozen=True, slots=True)
class _State:
    """Everything the tagger matches against, swapped as a whole (searches running
    meanwhile see the old or the new state, never a mix)."""

    tags: tuple[TagRecord, ...]
    #: Per tag: its keyword matchers (and the tag name's), longest keyword first.
    matchers: tuple[tuple[KeywordMatcher, ...], ...]
    industries: np.ndarray  # (tags,) str
    categories: tuple[str, ...]
    described: np.ndarray  # (tags, dim): the tag's description text
    keyworded: np.ndarray  # (tags, dim): the centroid of its keywords
    neutral: np.ndarray  # (neutral, dim)
    #: Labelled messages (the taxonomy's examples, and messages people labelled): their
    #: vectors, the tag rows each shows and does not show, and the text to quote as
    #: evidence (taxonomy examples only: a customer's message is not shown to others).
    labelled: np.ndarray  # (messages, dim)
    shows: tuple[frozenset[int], ...]
    lacks: tuple[frozenset[int], ...]
    quotes: tuple[str | None, ...]
    #: The classifier per tag learned from the labelled messages (None: too few).
    probe: Probe | None


@dataclass(frozen=True, slots=True)
class _Labelled:
    """A labelled message while the state is built."""

    item: IndexItem
    shows: set[int]
    lacks: set[int]
    quote: str | None


class Tagger:
    """Suggests tags for a message: taxonomy keywords (also reworded), the nearest
    labelled messages (the taxonomy's examples, and messages people confirmed, added or
    rejected a tag on), and the similarity of the tags' descriptions and keywords, against
    neutral messages."""

    def __init__(
        self, *, index: HybridIndex, references: HybridIndex, settings: TaggingSettings
    ) -> None:
        """``index`` holds the tags' description texts, ``references`` (dense only) the
        keywords, labelled messages and neutral messages."""
        self._index = index
        self._references = references
        self._settings = settings
        self._state: _State | None = None
        self._lock = threading.Lock()

    def sync(
        self,
        tags: Sequence[TagRecord],
        examples: Sequence[TagExampleRecord] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> SyncStats:
        """Load the active taxonomy and the labelled examples (embeds only texts that are
        new or changed). Examples of tags not in ``tags`` are ignored."""
        rows, items, references, parts = self._items(tags, examples)
        with self._lock:
            stats = self._index.sync(items, progress=progress)
            self._references.sync(references, progress=progress)
            self._state = self._load(tuple(tags), rows, *parts)
        return stats

    def refresh(self, tags: Sequence[TagRecord], examples: Sequence[TagExampleRecord] = ()) -> None:
        """Load the taxonomy and labelled examples as another process left them: the
        vectors it stored are read, nothing is embedded (bot/pipeline/changes.py)."""
        rows, items, references, parts = self._items(tags, examples)
        with self._lock:
            self._index.refresh(items)
            self._references.refresh(references)
            self._state = self._load(tuple(tags), rows, *parts)

    def _items(
        self, tags: Sequence[TagRecord], examples: Sequence[TagExampleRecord]
    ) -> tuple[
        dict[int, int],
        list[IndexItem],
        list[IndexItem],
        tuple[list[IndexItem], list[IndexItem], list[_Labelled]],
    ]:
        """The index items of ``tags`` (their descriptions) and of the references (neutral
        messages, keywords, labelled messages)."""
        rows = {t.id: i for i, t in enumerate(tags)}
        items = [
            IndexItem(
                id=_tag_key(t.id),
                text=tag_index_text(t),
                metadata={"industry": t.industry, "category": t.category},
            )
            for t in tags
        ]
        # Without a taxonomy nothing is tagged: nothing to embed.
        neutral = [
            IndexItem(id=f"neutral-{i}", text=text, metadata={"kind": "neutral"})
            for i, text in enumerate(NEUTRAL_MESSAGES if tags else ())
        ]
        keywords = [
            IndexItem(id=f"kw-{t.id}-{j}", text=k, metadata={"kind": "keyword", "tag": t.id})
            for t in tags
            for j, k in enumerate(t.keywords)
        ]
        labelled = _labelled(tags, rows, examples if self._settings.learn_from_review else ())
        references = [*neutral, *keywords, *(m.item for m in labelled)]
        return rows, items, references, (neutral, keywords, labelled)

    def _load(
        self,
        tags: tuple[TagRecord, ...],
        rows: dict[int, int],
        neutral: list[IndexItem],
        keywords: list[IndexItem],
        labelled: list[_Labelled],
    ) -> _State:
        described = self._index.vectors([_tag_key(t.id) for t in tags])
        stored = self._references.vectors(
            [i.id for i in neutral] + [i.id for i in keywords] + [m.item.id for m in labelled]
        )
        width = _width(described, stored)
        keyword_vectors: dict[int, list[np.ndarray]] = {i: [] for i in range(len(tags))}
        for item in keywords:
            vector = stored.get(item.id)
            if vector is not None:  # None: an embedding failed; left out until next sync
                keyword_vectors[rows[int(item.metadata["tag"])]].append(vector)
        zero = np.zeros(width, dtype=np.float32)
        described_rows = [described.get(_tag_key(t.id), zero) for t in tags]
        keyword_rows = [
            _unit(np.mean(keyword_vectors[i], axis=0)) if keyword_vectors[i] else described_rows[i]
            for i in range(len(tags))
        ]
        kept = [m for m in labelled if m.item.id in stored]
        fuzzy = self._settings.fuzzy_keywords
        matchers = tuple(
            tuple(
                sorted(
                    (
                        KeywordMatcher(k, fuzzy=fuzzy)
                        for k in dict.fromkeys((*t.keywords, t.name))
                        if normalize(k)
                    ),
                    key=lambda m: -len(m.keyword),
                )
            )
            for t in tags
        )
        neutral_vectors = _matrix([stored[i.id] for i in neutral if i.id in stored], width)
        labelled_vectors = _matrix([stored[m.item.id] for m in kept], width)
        return _State(
            tags=tags,
            matchers=matchers,
            industries=np.array([t.industry for t in tags], dtype=object),
            categories=tuple(t.category for t in tags),
            described=_matrix(described_rows, width),
            keyworded=_matrix(keyword_rows, width),
            neutral=neutral_vectors,
            labelled=labelled_vectors,
            shows=tuple(frozenset(m.shows) for m in kept),
            lacks=tuple(frozenset(m.lacks) for m in kept),
            quotes=tuple(m.quote for m in kept),
            probe=_probe(kept, labelled_vectors, neutral_vectors, len(tags)),
        )

    def options(self, industry: str | None) -> list[TagOption]:
        """The tags a message of ``industry`` may get (all of them when None), in the
        taxonomy's order: what an LLM is offered to choose from."""
        state = self._state
        if state is None:
            return []
        allowed = _allowed(state, industry)
        return [
            TagOption(
                name=key, category=state.tags[row].category, description=state.tags[row].description
            )
            for key, row in _option_keys(state, allowed).items()
        ]

    @property
    def size(self) -> int:
        return 0 if self._state is None else len(self._state.tags)

    @property
    def examples(self) -> int:
        """How many labelled messages (taxonomy examples and reviewed messages) the tagger
        holds."""
        return 0 if self._state is None else len(self._state.shows)

    def suggest(
        self,
        text: str,
        *,
        industry: str | None,
        query_vector: np.ndarray | None = None,
        context: Sequence[str] = (),
        chosen: Sequence[TagChoice] | None = None,
    ) -> list[TagSuggestion]:
        """Tags of the customer's message ``text`` (``query_vector``: its embedding).

        ``context``: the customer's previous messages in this conversation, oldest first.
        Not used: tags are suggested from ``text`` alone (each earlier message was tagged
        when it came), so evidence always points at one message.

        ``chosen``: the tags an LLM chose for the message (``[tagging] llm``, named as
        ``options`` names them); they take the place of the semantic guess from the tags'
        descriptions (the one-per-category rule and the review classifier's doubts are
        for guesses, not for the model's reading). Keyword hits and what review taught
        (the nearest reviewed message, the classifier's sure tags) still count, and a tag
        people rejected on a message this close is still not suggested. None: no LLM
        answer.
        """
        del context
        state = self._state
        settings = self._settings
        if state is None or not state.tags or not text.strip() or settings.max_tags == 0:
            return []
        norm = normalize(text)
        allowed = _allowed(state, industry)
        if allowed.size == 0:
            return []
        query = self._index.embed_query(text) if query_vector is None else query_vector
        evidence = _Evidence.of(state, allowed, np.asarray(query, dtype=np.float32), settings)
        found: dict[int, TagSuggestion] = {}
        negated: set[int] = set()
        for row in map(int, allowed):
            hit = next((m for m in (x.find(norm) for x in state.matchers[row]) if m), None)
            if hit is None:
                if any(m.occurs(norm) for m in state.matchers[row]):
                    negated.add(row)
                continue
            if evidence.rejected(row):
                continue
            tag = state.tags[row]
            quote = _excerpt(text, norm, hit.start, hit.end - hit.start)
            found[row] = TagSuggestion(
                name=tag.name,
                category=tag.category,
                evidence=f"「{quote}」含“{hit.keyword}”"
                if hit.kind == "exact"
                else f"「{quote}」近似“{hit.keyword}”",
                score=KEYWORD_SCORE if hit.kind == "exact" else FUZZY_SCORE,
                tag_id=tag.id,
            )
        if chosen is not None:
            rows = _option_keys(state, allowed)
            for choice in chosen:
                row = rows.get(choice.name, -1)
                if row < 0 or row in found or row in negated or evidence.rejected(row):
                    continue
                tag = state.tags[row]
                found[row] = TagSuggestion(
                    name=tag.name,
                    category=tag.category,
                    evidence=f"「{_shorten(text)}」大模型判断：{choice.why or tag.name}",
                    score=LLM_SCORE,
                    tag_id=tag.id,
                )
        # Inferred tags (no keyword): at most one per category, none in a category that
        # has a keyword hit (or a tag the model chose); the surest first, none the
        # classifier learned from review doubts; then those the classifier is sure of.
        # With the model's choices, the semantic guess from descriptions is left out.
        doubted, confident = _classified(state, np.asarray(query), settings)
        permitted = set(map(int, allowed)) if confident else set()
        inferred = evidence.inferred(exclude=set(found) | negated, semantic=chosen is None)
        candidates = [c for c in inferred if c[1] not in doubted]
        candidates += [
            (chance, row, f"像已审核为“{state.tags[row].name}”的消息（把握 {chance:.2f}）")
            for chance, row in confident
            if row in permitted and not evidence.rejected(row)
        ]
        categories = {state.categories[row] for row in found}
        for score, row, why in candidates:
            if row in found or row in negated or state.categories[row] in categories:
                continue
            categories.add(state.categories[row])
            tag = state.tags[row]
            found[row] = TagSuggestion(
                name=tag.name,
                category=tag.category,
                evidence=f"「{_shorten(text)}」{why}",
                score=round(min(INFERRED_CAP, score), 3),
                tag_id=tag.id,
            )
        ranked = sorted(found.values(), key=lambda t: -t.score)
        return ranked[: settings.max_tags]


def _allowed(state: _State, industry: str | None) -> np.ndarray:
    """The tag rows a message of ``industry`` may get (every row when None)."""
    if industry:
        return np.flatnonzero(np.isin(state.industries, matching_industries(industry)))
    return np.arange(len(state.tags))


def _option_keys(state: _State, rows: np.ndarray) -> dict[str, int]:
    """How an LLM names each of ``rows``: the tag's name, or ``分类/标签`` when another of
    them has the same name (names are unique within a category only)."""
    shared = Counter(state.tags[int(r)].name for r in rows)
    keys = {}
    for row in map(int, rows):
        tag = state.tags[row]
        keys[tag.name if shared[tag.name] == 1 else f"{tag.category}/{tag.name}"] = row
    return keys


def _classified(
    state: _State, query: np.ndarray, settings: TaggingSettings
) -> tuple[frozenset[int], list[tuple[float, int]]]:
    """What the classifier learned from review says of a message: the tag rows it doubts
    (below ``classifier_veto``) and those it is sure of (``classifier_suggest`` or more,
    as (probability, row), surest first). Only tags it was trained for."""
    if state.probe is None:
        return frozenset(), []
    chances = state.probe.probabilities(query)
    trained = state.probe.trained
    doubted = frozenset(map(int, np.flatnonzero(trained & (chances < settings.classifier_veto))))
    sure = np.flatnonzero(trained & (chances >= settings.classifier_suggest))
    confident = sorted(((float(chances[r]), int(r)) for r in sure), reverse=True)
    return doubted, confident


def _probe(
    kept: Sequence[_Labelled], labelled: np.ndarray, neutral: np.ndarray, tags: int
) -> Probe | None:
    """The classifier per tag over the labelled messages (those that show a tag are its
    positives; every other labelled message and the neutral ones its negatives)."""
    if not kept:
        return None
    labels = np.zeros((len(kept) + len(neutral), tags), dtype=bool)
    for i, m in enumerate(kept):
        labels[i, sorted(m.shows)] = True
    return fit_probe(np.vstack([labelled, neutral]), labels)


def _labelled(
    tags: Sequence[TagRecord], rows: dict[int, int], examples: Sequence[TagExampleRecord]
) -> list[_Labelled]:
    """The taxonomy's examples, each a message showing its tag, and the labelled messages
    (each message once, with every tag it was labelled for)."""
    out = [
        _Labelled(
            IndexItem(id=f"ex-{t.id}-{j}", text=e, metadata={"kind": "example"}),
            shows={rows[t.id]},
            lacks=set(),
            quote=e,
        )
        for t in tags
        for j, e in enumerate(t.examples)
    ]
    messages: dict[int, _Labelled] = {}
    for e in examples:
        if e.tag_id not in rows or not e.text.strip():
            continue
        m = messages.get(e.message_id)
        if m is None:
            item = IndexItem(
                id=f"msg-{e.message_id}",
                text=e.text[:MAX_EXAMPLE_CHARS],
                metadata={"kind": "message"},
            )
            m = messages[e.message_id] = _Labelled(item, shows=set(), lacks=set(), quote=None)
        (m.shows if e.positive else m.lacks).add(rows[e.tag_id])
    return out + list(messages.values())


#: The nearest labelled messages looked at for one message.
NEAREST_LABELLED = 64


@dataclass(frozen=True, slots=True)
class _Evidence:
    """The vector evidence for one message over the allowed tags (by tag row)."""

    state: _State
    settings: TaggingSettings
    #: The tag rows of the message's industry.
    allowed: frozenset[int]
    #: Per allowed tag: the semantic score (z-score plus the weighted neutral margin).
    semantic: dict[int, float]
    #: Per tag: the similarity of the closest labelled message that shows it, and which.
    shown: dict[int, tuple[float, int]]
    #: Per tag: the similarity of the closest labelled message that does not show it.
    lacked: dict[int, float]
    #: Labelled messages closest first (positions in ``state.labelled``) with their
    #: similarities, and the similarity of the closest neutral message.
    nearest: list[tuple[int, float]]
    neutral: float

    @classmethod
    def of(
        cls, state: _State, allowed: np.ndarray, query: np.ndarray, settings: TaggingSettings
    ) -> _Evidence:
        neutral_sims = state.neutral @ query if len(state.neutral) else np.zeros(1)
        neutral = float(np.sort(neutral_sims)[-NEUTRAL_NEIGHBOURS:].mean())
        semantic: dict[int, float] = {}
        if allowed.size >= MIN_TAGS_FOR_SEMANTIC:
            described = state.described[allowed] @ query
            keyworded = state.keyworded[allowed] @ query
            z = (_zscores(described) + _zscores(keyworded)) / 2
            margin = (described + keyworded) / 2 - neutral
            scores = z + settings.neutral_weight * margin
            semantic = {int(r): float(s) for r, s in zip(allowed, scores, strict=True)}
        nearest: list[tuple[int, float]] = []
        shown: dict[int, tuple[float, int]] = {}
        lacked: dict[int, float] = {}
        if len(state.shows):
            sims = state.labelled @ query
            top = min(NEAREST_LABELLED, len(sims))
            best = np.argpartition(-sims, top - 1)[:top]
            best = best[np.argsort(-sims[best], kind="stable")]
            nearest = [(int(i), float(sims[i])) for i in best]
            for i, sim in nearest:
                for row in state.shows[i]:
                    shown.setdefault(row, (sim, i))
                for row in state.lacks[i]:
                    lacked.setdefault(row, sim)
        return cls(
            state,
            settings,
            frozenset(map(int, allowed)),
            semantic,
            shown,
            lacked,
            nearest,
            float(neutral_sims.max()),
        )

    def rejected(self, row: int) -> bool:
        """A person rejected the tag on a message this close (and closer than any message
        that shows it): not even a keyword hit suggests it."""
        neg = self.lacked.get(row, -1.0)
        pos = self.shown.get(row, (-1.0, -1))[0]
        return neg >= self.settings.negative_similarity and neg > pos

    def _without(self, row: int) -> float:
        """The similarity of the closest labelled or neutral message that does not show
        the tag."""
        for i, sim in self.nearest:
            if row not in self.state.shows[i]:
                return max(sim, self.neutral)
        return self.neutral

    def _contradicted(self, row: int) -> bool:
        """The labelled messages speak against the tag: the closest one (at least
        ``example_similarity`` close) does not show it, and is ``example_margin`` closer
        than any that does."""
        s = self.settings
        if not self.nearest:
            return False
        first, sim = self.nearest[0]
        if sim < s.example_similarity or row in self.state.shows[first]:
            return False
        return sim - self.shown.get(row, (-1.0, -1))[0] >= s.example_margin

    def inferred(self, *, exclude: set[int], semantic: bool = True) -> list[tuple[float, int, str]]:
        """Tags without a keyword hit, as (score, row, why), surest first: those whose
        closest labelled message shows them (and is close enough, and closer by
        ``example_margin`` than any message that does not), then (``semantic``) the
        semantic best if it stands out."""
        s = self.settings
        out: list[tuple[float, int, str]] = []
        for row, (sim, which) in self.shown.items():
            if row in exclude or row not in self.allowed or sim < s.example_similarity:
                continue
            if self.rejected(row) or sim - self._without(row) < s.example_margin:
                continue
            quote = self.state.quotes[which]
            name = self.state.tags[row].name
            why = (
                f"与示例「{_shorten(quote)}」相近"
                if quote
                else f"与已标注为“{name}”的消息相近（相似度 {sim:.2f}）"
            )
            out.append((sim, row, why))
        if semantic and self.semantic:
            row, score = max(self.semantic.items(), key=lambda rs: rs[1])
            chosen = {r for _, r, _ in out}
            if (
                score >= s.semantic_z
                and row not in exclude
                and row not in chosen
                and not self._contradicted(row)
            ):
                tag = self.state.tags[row]
                why = f"与“{tag.description or tag.name}”语义相近"
                out.append((min(score / 10, INFERRED_CAP - 0.01), row, why))
        return sorted(out, key=lambda o: -o[0])


def _tag_key(tag_id: int) -> str:
    return f"tag-{tag_id}"


def _width(*found: dict[str, np.ndarray]) -> int:
    for vectors in found:
        for vector in vectors.values():
            return int(vector.shape[0])
    return 0


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _matrix(rows: Sequence[np.ndarray], width: int) -> np.ndarray:
    if not rows:
        return np.zeros((0, width), dtype=np.float32)
    return np.stack(rows).astype(np.float32)


def _zscores(similarities: np.ndarray) -> np.ndarray:
    sims = np.asarray(similarities, dtype=np.float64)
    std = float(sims.std())
    return (sims - sims.mean()) / std if std > 1e-9 else np.zeros_like(sims)


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EVIDENCE_CHARS * 2 else flat[: EVIDENCE_CHARS * 2] + "…"


def _in_word(text: str, cut: int) -> bool:
    """Whether a cut before ``text[cut]`` falls inside a run of ASCII letters / digits."""
    before, after = text[cut - 1], text[cut]
    return before.isascii() and before.isalnum() and after.isascii() and after.isalnum()


def _excerpt(original: str, norm: str, pos: int, length: int) -> str:
    """Quote the words around a keyword hit. ``normalize`` keeps character positions for
    Chinese text; if it changed the length, quote from the normalised text instead."""
    source = original if len(original) == len(norm) else norm
    start = max(0, pos - EVIDENCE_CHARS // 2)
    end = min(len(source), pos + length + EVIDENCE_CHARS // 2)
    # never cut a code, number or Latin word in two (「…2611，想了解」): take it whole when
    # it is short, else leave it out
    if 0 < start < pos and _in_word(source, start):
        first = start
        while first > 0 and _in_word(source, first):
            first -= 1
        if pos - first <= EVIDENCE_CHARS:
            start = first
        else:
            while start < pos and _in_word(source, start):
                start += 1
    if pos + length < end < len(source) and _in_word(source, end):
        last = end
        while last < len(source) and _in_word(source, last):
            last += 1
        if last - pos - length <= EVIDENCE_CHARS:
            end = last
        else:
            while end > pos + length and _in_word(source, end):
                end -= 1
    snippet = " ".join(source[start:end].split())
    return ("…" if start > 0 else "") + snippet + ("…" if end < len(source) else "")
