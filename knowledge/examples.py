"""Labelled example texts as a retrieval channel: the centroid of each label's examples.

For scripts: the customer messages each script answered (its label) vote for it. Each
label gets the normalised mean of its examples' vectors (its *centroid*); a query is
scored by its cosine similarity to every centroid. In bench/learning.py the centroid
beat votes of the k nearest single examples, which are noisier: one stray example —
「好的谢谢」 answered by a price quote — pulls a neighbour.

Two refinements, both measured in bench/learning.py:

- a text that is an example of many labels says little about any of them (「在吗」
  precedes every kind of question): each example weighs ``1 / (labels sharing its
  text)`` in its centroid;
- a centroid only counts when it is really close to the query (``min_similarity``): a
  label with many examples must not win over labels that have none (proactive scripts,
  new ones) on a vague resemblance. The channel's scores are z-scores over the labels'
  centroids (``Channel(standardised=True)``), and zero below that similarity.

Vectors are kept in a Chroma collection (derived data: ``sync`` re-embeds what is missing)
and, for scoring, in memory (float16, 0.8 KB per example).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from knowledge.embeddings import Embedder
from knowledge.fusion import Channel
from knowledge.text import normalize
from knowledge.vectors import VectorCollection, VectorStore

__all__ = ["MIN_POPULATION", "Example", "ExampleIndex", "ExampleSync", "example_key"]

log = logging.getLogger(__name__)

#: Below this many labels with examples, their similarities are too few to standardise:
#: the caller's ``reference`` scale is used (``ExampleIndex.channel``).
MIN_POPULATION = 5
_HASH = "siyu_hash"
_LABEL = "label"


@dataclass(frozen=True, slots=True)
class Example:
    """One example text of ``label``. ``group`` identifies what produced it (a use of a
    script): ``count_similar`` counts distinct groups; None is never counted."""

    id: str
    label: str
    text: str
    group: str | None = None


@dataclass(frozen=True, slots=True)
class ExampleSync:
    examples: int
    embedded: int
    removed: int
    seconds: float


def example_key(text: str) -> str:
    """Texts that count as the same example: normalised, letters and digits only."""
    return "".join(ch for ch in normalize(text) if ch.isalnum())


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class _Centroids:
    labels: list[str]
    matrix: np.ndarray  # (len(labels), dim) unit rows
    #: Examples per label (weighted counts are not shown to anyone).
    sizes: dict[str, int] = field(default_factory=dict)


class ExampleIndex:
    """Example texts with labels; ``channel`` scores labels by their centroids.

    Reads may run from several threads, also during ``add``/``remove`` (they see the
    centroids before or after the change); writes are serialised.
    """

    def __init__(self, name: str, *, embedder: Embedder, vectors: VectorStore) -> None:
        self.name = name
        self._embedder = embedder
        self._collection: VectorCollection = vectors.collection(name, model=embedder.name)
        self._lock = threading.RLock()
        dim = embedder.dim
        self._matrix = np.zeros((0, dim), dtype=np.float16)
        self._rows: dict[str, int] = {}
        self._examples: list[Example | None] = []
        self._keys: list[str] = []
        self._by_label: dict[str, set[int]] = defaultdict(set)
        self._labels_of_key: dict[str, Counter[str]] = defaultdict(Counter)
        self._centroids = _Centroids([], np.zeros((0, dim), dtype=np.float32))
        self._sums: dict[str, np.ndarray] = {}
        #: Hash of the text of every vector in the collection (read once, then kept).
        self._stored: dict[str, str] | None = None

    def __len__(self) -> int:
        return len(self._rows)

    def labels(self) -> dict[str, int]:
        """Examples per label."""
        return dict(self._centroids.sizes)

    # ------------------------------------------------------------------ writes
    def sync(
        self,
        examples: Sequence[Example],
        *,
        active: Callable[[str], bool] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> ExampleSync:
        """Keep the vectors of exactly ``examples`` (unchanged texts keep theirs, new ones
        are embedded: ``progress(done, total)``, the others are deleted) and score with
        those whose label is ``active`` (all by default): an inactive label's examples
        cost nothing to bring back. Only what changed since the last sync is touched."""
        started = time.perf_counter()
        with self._lock:
            wanted = {e.id: e for e in examples}
            if self._stored is None:
                self._stored = {
                    i: str(meta.get(_HASH, ""))
                    for i, meta in self._collection.get_metadata().items()
                }
            stored = self._stored
            removed = [i for i in stored if i not in wanted]
            if removed:
                self._collection.delete(removed)
                for i in removed:
                    del stored[i]
            missing = [e for e in wanted.values() if stored.get(e.id) != _hash(e.text)]
            self._store(missing, None, progress)
            live = {i: e for i, e in wanted.items() if active is None or active(e.label)}
            stale = [i for i, row in self._rows.items() if live.get(i) != self._examples[row]]
            self._drop(stale)
            new = [e for i, e in live.items() if i not in self._rows]
            found = self._collection.get_vectors([e.id for e in new]) if new else {}
            new = [e for e in new if e.id in found]
            self._insert(new, [found[e.id] for e in new])
        stats = ExampleSync(len(wanted), len(missing), len(removed), time.perf_counter() - started)
        log.info(
            "examples %s synced: %d examples (%d scored), %d embedded, %d removed in %.1fs",
            self.name,
            stats.examples,
            len(self._rows),
            stats.embedded,
            stats.removed,
            stats.seconds,
        )
        return stats

    def add(self, examples: Sequence[Example], vectors: np.ndarray | None = None) -> None:
        """Add (or replace) examples; ``vectors`` when they are known already (a history
        import embeds each customer message once), else they are embedded here."""
        if not examples:
            return
        with self._lock:
            if vectors is None:
                vectors = np.concatenate(
                    list(self._embedder.embed_stream([e.text for e in examples]))
                )
            self._store(examples, vectors, None)
            self._drop([e.id for e in examples if e.id in self._rows])
            self._insert(list(examples), list(vectors))

    def remove(self, ids: Collection[str]) -> None:
        with self._lock:
            present = [i for i in ids if i in self._rows or (self._stored or {}).get(i)]
            if present:
                self._collection.delete(present)
                for i in present:
                    (self._stored or {}).pop(i, None)
                self._drop(present)

    def _store(
        self,
        examples: Sequence[Example],
        vectors: np.ndarray | None,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        """Write vectors to the collection (embedding them when ``vectors`` is None)."""
        total = len(examples)
        if progress is not None:
            progress(0, total)
        if not examples:
            return
        batches = (
            self._embedder.embed_stream([e.text for e in examples])
            if vectors is None
            else iter([np.asarray(vectors, dtype=np.float32)])
        )
        done = 0
        for batch in batches:
            part = examples[done : done + len(batch)]
            self._collection.upsert(
                [e.id for e in part],
                batch,
                [{_HASH: _hash(e.text), _LABEL: e.label} for e in part],
            )
            if self._stored is not None:
                self._stored.update((e.id, _hash(e.text)) for e in part)
            done += len(part)
            if progress is not None:
                progress(done, total)

    def _insert(self, examples: list[Example], vectors: Sequence[np.ndarray]) -> None:
        if not examples:
            self._refresh(set())
            return
        start = len(self._examples)
        block = np.asarray(np.stack(vectors), dtype=np.float16)
        self._matrix = np.concatenate([self._matrix, block]) if start else block
        touched: set[str] = set()
        for offset, example in enumerate(examples):
            row = start + offset
            self._rows[example.id] = row
            self._examples.append(example)
            key = example_key(example.text)
            self._keys.append(key)
            self._by_label[example.label].add(row)
            # A new label for a known text changes that text's weight in every label.
            touched |= set(self._labels_of_key[key])
            self._labels_of_key[key][example.label] += 1
            touched.add(example.label)
        self._refresh(touched)

    def _drop(self, ids: Collection[str]) -> None:
        touched: set[str] = set()
        for example_id in ids:
            row = self._rows.pop(example_id, None)
            if row is None:
                continue
            example = self._examples[row]
            self._examples[row] = None
            if example is None:
                continue
            self._by_label[example.label].discard(row)
            key = self._keys[row]
            labels = self._labels_of_key[key]
            labels[example.label] -= 1
            if labels[example.label] <= 0:
                del labels[example.label]
            touched |= set(labels) | {example.label}
        if touched:
            self._refresh(touched)

    def _refresh(self, labels: set[str]) -> None:
        """Recompute the centroids of ``labels`` and publish a new snapshot."""
        for label in labels:
            rows = sorted(self._by_label.get(label, ()))
            if not rows:
                self._sums.pop(label, None)
                self._by_label.pop(label, None)
                continue
            weights = np.array(
                [1.0 / max(1, len(self._labels_of_key[self._keys[r]])) for r in rows],
                dtype=np.float32,
            )
            total = weights @ self._matrix[rows].astype(np.float32)
            norm = float(np.linalg.norm(total))
            if norm > 0:
                self._sums[label] = total / norm
            else:
                self._sums.pop(label, None)
        names = sorted(self._sums)
        matrix = (
            np.stack([self._sums[n] for n in names]).astype(np.float32)
            if names
            else np.zeros((0, self._embedder.dim), dtype=np.float32)
        )
        self._centroids = _Centroids(
            names, matrix, {n: len(self._by_label.get(n, ())) for n in names}
        )

    # ------------------------------------------------------------------ reads
    def similarities(
        self, query_vector: np.ndarray, *, labels: Collection[str] | None = None
    ) -> dict[str, float]:
        """Cosine similarity of the query to each label's centroid (``labels``: only
        these), best first."""
        snap = self._centroids
        if not snap.labels:
            return {}
        scores = snap.matrix @ np.asarray(query_vector, dtype=np.float32)
        wanted = None if labels is None else set(labels)
        pairs = [
            (label, float(s))
            for label, s in zip(snap.labels, scores, strict=True)
            if wanted is None or label in wanted
        ]
        return dict(sorted(pairs, key=lambda p: -p[1]))

    def channel(
        self,
        query_vector: np.ndarray,
        *,
        weight: float,
        min_similarity: float,
        labels: Collection[str] | None = None,
        reference: tuple[float, float] | None = None,
    ) -> Channel:
        """The fusion channel: the centroid similarities among ``labels`` as z-scores, for
        the labels at least ``min_similarity`` similar (see the module doc). The scale is
        the labels' own (mean, deviation) once there are ``MIN_POPULATION`` of them, else
        ``reference``: the query's similarities to comparable texts (the script titles)."""
        sims = self.similarities(query_vector, labels=labels)
        empty = Channel([], weight, standardised=True)
        if not sims:
            return empty
        if len(sims) >= MIN_POPULATION:
            values = np.fromiter(sims.values(), dtype=np.float64)
            mean, std = float(values.mean()), float(values.std())
        elif reference is not None:
            mean, std = reference
        else:
            return empty
        if std <= 1e-9:
            return empty
        scores = [(k, (v - mean) / std) for k, v in sims.items() if v >= min_similarity]
        return Channel(scores, weight, standardised=True)

    def count_similar(self, query_vector: np.ndarray, label: str, *, min_similarity: float) -> int:
        """Distinct groups (uses) among ``label``'s examples at least ``min_similarity``
        similar to the query."""
        with self._lock:
            rows = sorted(self._by_label.get(label, ()))
            if not rows:
                return 0
            sims = self._matrix[rows].astype(np.float32) @ np.asarray(query_vector, np.float32)
            examples = [self._examples[r] for r in rows]
        return len(
            {
                e.group
                for e, s in zip(examples, sims, strict=True)
                if e is not None and e.group is not None and s >= min_similarity
            }
        )
