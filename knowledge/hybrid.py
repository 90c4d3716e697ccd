"""Hybrid retrieval over one collection: dense (embeddings in Chroma) + lexical (BM25), fused
by z-scores or reciprocal rank fusion (``RetrievalSettings.fusion``), optionally with
channels the caller computed (``search(extra=...)``).

The database is the source of truth; a ``HybridIndex`` is derived from it. ``sync`` makes
the index match a list of items (embedding only what is new or changed), which serves as
both the start-up load and the incremental update; ``rebuild`` starts from empty.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from knowledge.embeddings import Embedder
from knowledge.errors import RetrievalError
from knowledge.fusion import Channel, rrf, zscore
from knowledge.lexical import LexicalIndex
from knowledge.settings import RetrievalSettings
from knowledge.vectors import MetadataValue, VectorCollection, VectorStore

__all__ = ["HASH_KEY", "Channel", "Hit", "HybridIndex", "IndexItem", "SyncStats"]

log = logging.getLogger(__name__)

#: Metadata key holding the hash of the embedded text (reserved: items may not use it).
HASH_KEY = "siyu_hash"
#: With a filter, the dense channel fetches this many times ``candidates`` and filters
#: in Python: an unfiltered Chroma query is several times faster than one with ``where``.
OVERFETCH = 4
#: Collections up to this size are searched densely with one matrix product in memory
#: (exact, ~0.1 ms at 1,000 scripts) instead of a Chroma query (~1 ms each, and a
#: message searches scripts, knowledge and tags): ~1.5 MB per 1,000 items.
IN_MEMORY_ITEMS = 5000
#: ... widening the fetch up to this many times ``candidates`` before it lets Chroma apply
#: the filter: at 100k chunks an unfiltered query of 960 took ~9 ms, one with ``where``
#: ~130 ms (bench/scale.py).
MAX_OVERFETCH = 32

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class IndexItem:
    """One retrievable unit: a knowledge chunk or a script.

    ``text`` is embedded and indexed as given (the caller prepends titles).
    ``metadata`` is what searches can filter on (industry, stage, document id …).
    """

    id: str
    text: str
    metadata: dict[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    """A fused search result. Ranks are 1-based; ``None`` = not found by that channel."""

    id: str
    score: float
    dense_rank: int | None
    lexical_rank: int | None
    #: Cosine similarity between query and item (when the dense channel found it).
    dense_score: float | None
    #: BM25 score (when the lexical channel found it).
    lexical_score: float | None = None


@dataclass(frozen=True, slots=True)
class SyncStats:
    """What a ``sync`` did: every item is counted once as added, changed, relabeled or
    unchanged; ``removed`` counts the vectors deleted. ``added`` + ``changed`` were
    embedded."""

    added: int
    removed: int
    unchanged: int
    #: Items whose text changed: embedded again.
    changed: int = 0
    #: Items whose metadata alone changed: metadata rewritten, vector kept.
    relabeled: int = 0
    seconds: float = 0.0

    @property
    def embedded(self) -> int:
        """Items embedded by this sync."""
        return self.added + self.changed


@dataclass(frozen=True, slots=True)
class _Matrix:
    """Every vector of a small collection, for an exact dense search without Chroma."""

    ids: list[str]
    vectors: np.ndarray  # (len(ids), dim), unit rows


@dataclass(frozen=True, slots=True)
class _State:
    metadata: dict[str, dict[str, MetadataValue]]
    lexical: LexicalIndex
    #: Set once every item is embedded, for collections up to ``IN_MEMORY_ITEMS``.
    matrix: _Matrix | None = None


class HybridIndex:
    """Dense + lexical search over one named collection of ``IndexItem``.

    Searches may run from several threads, also during a ``sync`` (see there). Syncs
    are serialised.
    """

    def __init__(
        self,
        name: str,
        *,
        embedder: Embedder,
        vectors: VectorStore,
        retrieval: RetrievalSettings,
        lexical_dir: Path | None = None,
        lexical: bool = True,
    ) -> None:
        """``lexical_dir``: where the built lexical index is kept between starts (see
        ``LexicalIndex.save``); None builds it in memory at every sync. ``lexical=False``:
        a dense-only collection (``similarities`` and ``vectors``; ``search`` finds
        nothing lexically), which syncs without building a lexical index."""
        self.name = name
        self._lexical_dir = lexical_dir
        self._with_lexical = lexical
        self._embedder = embedder
        self._retrieval = retrieval
        self._collection: VectorCollection = vectors.collection(name, model=embedder.name)
        self._state: _State | None = None
        self._sync_lock = threading.RLock()

    def __len__(self) -> int:
        state = self._state
        return 0 if state is None else len(state.metadata)

    @property
    def loaded(self) -> bool:
        """True once a ``sync`` or ``rebuild`` has completed."""
        return self._state is not None

    def embed_query(self, text: str) -> np.ndarray:
        """The query vector of ``text``: embed a message once, search several indexes."""
        return self._embedder.embed_one(text)

    def sync(
        self, items: Sequence[IndexItem], progress: ProgressCallback | None = None
    ) -> SyncStats:
        """Make the index hold exactly ``items``.

        Vectors are kept for items whose text is unchanged (a hash is stored with each
        vector), vectors of items not listed are deleted, the lexical index is rebuilt
        from ``items``, and new and changed items are embedded in batches
        (``progress(done, total)`` before the first and after each). Searches see the
        new items as soon as the embedding starts; the dense channel finds each one once
        its batch is stored. If embedding fails, the next sync resumes where it stopped.
        """
        started = time.perf_counter()
        wanted = _validated(items)
        with self._sync_lock:
            stored = self._collection.get_metadata()
            to_embed: list[IndexItem] = []
            relabel: list[IndexItem] = []
            added = changed = 0
            for item in wanted.values():
                meta = stored.get(item.id)
                if meta is None:
                    added += 1
                    to_embed.append(item)
                elif meta.get(HASH_KEY) != _text_hash(item.text):
                    changed += 1
                    to_embed.append(item)
                elif {k: v for k, v in meta.items() if k != HASH_KEY} != item.metadata:
                    relabel.append(item)
            removed = [id_ for id_ in stored if id_ not in wanted]
            if removed:
                self._collection.delete(removed)
            if relabel:
                self._collection.update_metadata(
                    [item.id for item in relabel],
                    [_stored_metadata(item, stored.get(item.id)) for item in relabel],
                )
            # Serve the new item set at once (lexically, and densely for what is already
            # embedded), then embed: a first start with thousands of items is searchable
            # long before the last batch is embedded.
            lexical = self._lexical(list(wanted), [item.text for item in wanted.values()])
            state = _State(
                metadata={id_: dict(item.metadata) for id_, item in wanted.items()},
                lexical=lexical,
            )
            self._state = state
            self._embed(to_embed, stored, progress)
            if len(wanted) <= IN_MEMORY_ITEMS:
                self._state = replace(state, matrix=self._matrix(list(wanted)))
        stats = SyncStats(
            added=added,
            removed=len(removed),
            unchanged=len(wanted) - added - changed - len(relabel),
            changed=changed,
            relabeled=len(relabel),
            seconds=time.perf_counter() - started,
        )
        log.info(
            "index %s synced: %d added, %d changed, %d removed, %d unchanged in %.1fs",
            self.name,
            stats.added,
            stats.changed,
            stats.removed,
            stats.unchanged,
            stats.seconds,
        )
        return stats

    def refresh(self, items: Sequence[IndexItem]) -> None:
        """Serve exactly ``items`` with the vectors already stored, writing nothing to the
        vector store: for a process following a change another process made (and embeds).

        An item not embedded yet is found lexically at once and densely as soon as its
        vector is stored (the dense channel then queries the vector store until a later
        refresh finds every vector and keeps them in memory again). Nothing is embedded
        and nothing is deleted, so a refresh that read an older item list can never undo
        the newer work of the process that made the change."""
        started = time.perf_counter()
        wanted = _validated(items)
        with self._sync_lock:
            self._collection.catch_up()
            before = self._state.metadata if self._state is not None else {}
            lexical = self._lexical(list(wanted), [item.text for item in wanted.values()])
            state = _State(
                metadata={id_: dict(item.metadata) for id_, item in wanted.items()},
                lexical=lexical,
            )
            matrix = self._matrix(list(wanted)) if len(wanted) <= IN_MEMORY_ITEMS else None
            self._state = replace(state, matrix=matrix)
        log.info(
            "index %s refreshed: %d items (%d new, %d gone) in %.2fs",
            self.name,
            len(wanted),
            sum(1 for id_ in wanted if id_ not in before),
            sum(1 for id_ in before if id_ not in wanted),
            time.perf_counter() - started,
        )

    def rebuild(
        self, items: Sequence[IndexItem], progress: ProgressCallback | None = None
    ) -> SyncStats:
        """Drop every vector, then ``sync(items)``: everything is embedded again."""
        with self._sync_lock:
            self._collection.clear()
            if self._lexical_dir is not None:
                shutil.rmtree(self._lexical_dir, ignore_errors=True)
            return self.sync(items, progress)

    def _lexical(self, ids: list[str], texts: list[str]) -> LexicalIndex:
        """The lexical index of these items: the saved one if it matches, else built."""
        lexical = LexicalIndex()
        if not self._with_lexical:
            lexical.build([], [])
            return lexical
        if self._lexical_dir is None:
            lexical.build(ids, texts)
            return lexical
        digest = lexical.digest(ids, texts)
        if lexical.load(self._lexical_dir, digest):
            return lexical
        lexical.build(ids, texts)
        try:
            lexical.save(self._lexical_dir, digest)
        except OSError as exc:  # a read-only or full disk: next start builds it again
            log.warning("cannot keep the lexical index of %s: %s", self.name, exc)
        return lexical

    def search(
        self,
        text: str,
        *,
        k: int,
        where: Mapping[str, object] | None = None,
        query_vector: np.ndarray | None = None,
        extra: Sequence[Channel] = (),
    ) -> list[Hit]:
        """The ``k`` best items for ``text``, best first.

        ``where`` filters on item metadata: each key maps to a value (equality) or to a
        list/set/tuple of values (membership); a ``None`` value does not filter. Pass
        ``query_vector`` (from ``embed_query``) to reuse one embedding across indexes.
        ``extra`` channels are fused with the dense and lexical ones; their ids that are
        not items of this index, or that ``where`` excludes, are dropped.
        """
        state = self._state
        if state is None:
            raise RetrievalError(f"索引 {self.name!r} 尚未加载：请先同步")
        if k <= 0 or not state.metadata:
            return []
        allowed = _matcher(where, state.metadata)
        settings = self._retrieval
        dense: list[tuple[str, float]] = []
        if settings.dense_weight > 0:
            if query_vector is None:
                query_vector = self._embedder.embed_one(text)
            dense = self._dense(query_vector, state, allowed, where)
        lexical: list[tuple[str, float]] = []
        if settings.lexical_weight > 0:
            lexical = state.lexical.search(text, settings.candidates, allowed)
        channels = [
            Channel(dense, settings.dense_weight),
            Channel(lexical, settings.lexical_weight, floor=0.0),
        ] + [
            Channel(
                [(i, s) for i, s in ch.scores if i in state.metadata], ch.weight, ch.standardised
            )
            for ch in extra
        ]
        if settings.fusion == "rrf":
            fused = rrf(
                [[id_ for id_, _ in ch.scores] for ch in channels],
                k=settings.rrf_k,
                weights=[ch.weight for ch in channels],
            )
        else:
            fused = zscore(channels)
        dense_at = {id_: (rank, score) for rank, (id_, score) in enumerate(dense, start=1)}
        lexical_at = {id_: (rank, score) for rank, (id_, score) in enumerate(lexical, start=1)}
        hits = []
        for id_, score in fused[:k]:
            d_rank, d_score = dense_at.get(id_, (None, None))
            l_rank, l_score = lexical_at.get(id_, (None, None))
            hits.append(Hit(id_, score, d_rank, l_rank, d_score, l_score))
        return hits

    def allowed(self, where: Mapping[str, object] | None) -> Callable[[str], bool]:
        """Whether an id is an item that ``where`` lets through (see ``search``)."""
        state = self._state
        metadata = {} if state is None else state.metadata
        matcher = _matcher(where, metadata)
        if matcher is None:
            return lambda item_id: item_id in metadata
        return matcher

    def similarities(
        self,
        text: str,
        *,
        where: Mapping[str, object] | None = None,
        query_vector: np.ndarray | None = None,
        limit: int | None = None,
    ) -> dict[str, float]:
        """Cosine similarity between the query and the items, dense channel only.

        Every embedded item passing ``where`` (same rules as ``search``), or only the
        ``limit`` most similar ones, as ``{id: similarity}`` best first. Meant for small
        collections such as a tag taxonomy, where callers score all items themselves.
        """
        state = self._state
        if state is None:
            raise RetrievalError(f"索引 {self.name!r} 尚未加载：请先同步")
        wanted = len(state.metadata) if limit is None else min(limit, len(state.metadata))
        if wanted <= 0:
            return {}
        if query_vector is None:
            query_vector = self._embedder.embed_one(text)
        allowed = _matcher(where, state.metadata)
        if state.matrix is not None:
            return dict(_best(state.matrix, self._checked(query_vector), wanted, allowed))
        fetch = len(state.metadata) if allowed is not None else wanted
        found: dict[str, float] = {}
        for id_, score in self._collection.query(self._checked(query_vector), fetch):
            if id_ in state.metadata and (allowed is None or allowed(id_)):
                found[id_] = score
                if len(found) >= wanted:
                    break
        return found

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of ``ids`` (unit length); items not embedded yet (or not in
        the index) are absent."""
        state = self._state
        if state is not None and state.matrix is not None:
            rows = {id_: i for i, id_ in enumerate(state.matrix.ids)}
            if all(id_ in rows for id_ in ids):
                return {id_: state.matrix.vectors[rows[id_]] for id_ in ids}
        return self._collection.get_vectors(list(ids))

    def _matrix(self, ids: list[str]) -> _Matrix | None:
        """The vectors of ``ids`` as a matrix, or None when some are missing (an
        embedding failed: Chroma serves the dense channel until the next sync)."""
        if not ids:
            return None
        stored = self._collection.get_vectors(ids)
        if len(stored) != len(ids):
            return None
        return _Matrix(ids=ids, vectors=np.stack([stored[id_] for id_ in ids]))

    def _dense(
        self,
        vector: np.ndarray,
        state: _State,
        allowed: Callable[[str], bool] | None,
        where: Mapping[str, object] | None,
    ) -> list[tuple[str, float]]:
        query = self._checked(vector)
        wanted = self._retrieval.candidates
        if state.matrix is not None:
            return _best(state.matrix, query, wanted, allowed)
        total = len(state.metadata)
        fetch = wanted if allowed is None else min(total, wanted * OVERFETCH)
        while True:
            results = self._collection.query(query, fetch)
            kept = [
                (id_, score)
                for id_, score in results
                if id_ in state.metadata and (allowed is None or allowed(id_))
            ]
            if allowed is None or len(kept) >= wanted or fetch >= total:
                return kept[:wanted]
            if fetch >= wanted * MAX_OVERFETCH:
                break
            fetch = min(total, fetch * OVERFETCH, wanted * MAX_OVERFETCH)
        # The filter is very selective: let Chroma apply it (slower, but complete).
        results = self._collection.query(query, wanted, where=where)
        kept = [(id_, score) for id_, score in results if id_ in state.metadata]
        return [(id_, score) for id_, score in kept if allowed(id_)][:wanted]

    def _checked(self, vector: np.ndarray) -> np.ndarray:
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (self._embedder.dim,):
            raise ValueError(
                f"query_vector has shape {query.shape}, expected ({self._embedder.dim},)"
            )
        return query

    def _embed(
        self,
        items: list[IndexItem],
        stored: Mapping[str, Mapping[str, object]],
        progress: ProgressCallback | None,
    ) -> None:
        total = len(items)
        if progress is not None:
            progress(0, total)
        done = 0
        for vectors in self._embedder.embed_stream([item.text for item in items]):
            batch = items[done : done + len(vectors)]
            self._collection.upsert(
                [item.id for item in batch],
                vectors,
                [_stored_metadata(item, stored.get(item.id)) for item in batch],
            )
            done += len(batch)
            if progress is not None:
                progress(done, total)


def _best(
    matrix: _Matrix, query: np.ndarray, n: int | None, allowed: Callable[[str], bool] | None
) -> list[tuple[str, float]]:
    """The ``n`` (None: all) rows most similar to ``query`` that ``allowed`` accepts, as
    ``(id, cosine similarity)`` best first; equal scores keep the matrix order."""
    scores = matrix.vectors @ query
    rows = np.argsort(-scores, kind="stable")
    best: list[tuple[str, float]] = []
    for row in rows:
        id_ = matrix.ids[row]
        if allowed is None or allowed(id_):
            best.append((id_, float(scores[row])))
            if n is not None and len(best) >= n:
                break
    return best


def _validated(items: Sequence[IndexItem]) -> dict[str, IndexItem]:
    wanted: dict[str, IndexItem] = {}
    for item in items:
        if not item.id:
            raise ValueError("an index item has an empty id")
        if item.id in wanted:
            raise ValueError(f"duplicate index item id {item.id!r}")
        if HASH_KEY in item.metadata:
            raise ValueError(f"item {item.id!r}: metadata key {HASH_KEY!r} is reserved")
        for key, value in item.metadata.items():
            if not isinstance(value, str | int | float | bool):
                raise ValueError(
                    f"item {item.id!r}: metadata {key!r} must be str, int, float or bool, "
                    f"not {type(value).__name__}"
                )
        wanted[item.id] = item
    return wanted


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _stored_metadata(
    item: IndexItem, previous: Mapping[str, object] | None
) -> dict[str, MetadataValue | None]:
    """The metadata to store; keys of ``previous`` the item no longer has map to None,
    which removes them (Chroma merges metadata on upsert and update)."""
    meta: dict[str, MetadataValue | None] = dict.fromkeys(previous or {})
    meta.update(item.metadata)
    meta[HASH_KEY] = _text_hash(item.text)
    return meta


def _matcher(
    where: Mapping[str, object] | None, metadata: Mapping[str, Mapping[str, MetadataValue]]
) -> Callable[[str], bool] | None:
    """A predicate on item ids for ``where`` (``None`` when nothing is filtered)."""
    conditions: list[tuple[str, object, bool]] = []
    for key, value in (where or {}).items():
        if value is None:
            continue
        if isinstance(value, Collection) and not isinstance(value, str | bytes):
            conditions.append((key, frozenset(value), True))
        else:
            conditions.append((key, value, False))
    if not conditions:
        return None

    def allowed(item_id: str) -> bool:
        meta = metadata.get(item_id)
        if meta is None:
            return False
        for key, expected, is_set in conditions:
            if key not in meta:
                return False
            value = meta[key]
            if is_set:
                if value not in expected:  # type: ignore[operator]
                    return False
            elif value != expected:
                return False
        return True

    return allowed
