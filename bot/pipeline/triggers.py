"""Learned triggers: the customer messages each script answered, as a retrieval channel.

SQL holds the examples (``script_examples``: learned from uses, written by operators);
this keeps their vectors (``knowledge.examples.ExampleIndex``, derived data) and scores
with those of approved scripts only — an archived or draft script's examples are
ignored until it is approved again — and gives
the script search its third channel beside the script text and title, and the count
behind a suggestion's reason (「相似问题已用过 12 次」).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from bot.settings import LearningSettings
from bot.store import Database
from bot.store import examples as examples_repo
from bot.store.examples import ExampleRecord
from knowledge import Channel, Embedder, VectorStore
from knowledge.examples import Example, ExampleIndex, ExampleSync

Progress = Callable[[int, int], None]
#: The Chroma collection of example vectors.
COLLECTION = "examples"


def example_item(record: ExampleRecord) -> Example:
    return Example(
        id=f"ex-{record.id}",
        label=record.script_id,
        text=record.text,
        group=f"use-{record.use_id}" if record.use_id is not None else None,
    )


class LearnedTriggers:
    def __init__(
        self,
        *,
        db: Database,
        embedder: Embedder,
        vectors: VectorStore,
        settings: LearningSettings,
    ) -> None:
        self._db = db
        self._settings = settings
        self.index = ExampleIndex(COLLECTION, embedder=embedder, vectors=vectors)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def enabled(self) -> bool:
        return self._settings.examples_weight > 0

    def sync(self, *, approved: Collection[str], progress: Progress | None = None) -> ExampleSync:
        """Bring the vectors in line with SQL; only the examples of ``approved`` scripts
        vote (an archived or draft script's are kept, and ignored)."""
        with self._db.session() as session:
            records = examples_repo.all_examples(session=session)
        active = set(approved)
        return self.index.sync(
            [example_item(r) for r in records],
            active=lambda script_id: script_id in active,
            progress=progress,
        )

    def add(self, records: Sequence[ExampleRecord], vectors: np.ndarray | None = None) -> None:
        """New examples (of approved scripts): vectors given, or embedded here."""
        self.index.add([example_item(r) for r in records], vectors)

    def remove(self, example_ids: Collection[int]) -> None:
        self.index.remove([f"ex-{i}" for i in example_ids])

    def channel(
        self,
        query_vector: np.ndarray,
        *,
        scripts: Collection[str],
        reference: tuple[float, float] | None = None,
    ) -> Channel:
        """The examples channel for fusion, over the candidate ``scripts``; ``reference``:
        the (mean, deviation) of the query's similarity to script titles, the scale while
        few scripts have examples."""
        return self.index.channel(
            query_vector,
            weight=self._settings.examples_weight,
            min_similarity=self._settings.examples_min_similarity,
            labels=scripts,
            reference=reference,
        )

    def similar_uses(self, query_vector: np.ndarray, script_id: str) -> int:
        """Uses of the script that answered messages like this one (the reason shown:
        ``examples_reason_similarity``)."""
        return self.index.count_similar(
            query_vector, script_id, min_similarity=self._settings.examples_reason_similarity
        )
