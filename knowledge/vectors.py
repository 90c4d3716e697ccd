"""The dense index: the Chroma adapter, and the only module that imports ``chromadb``.

Chroma never embeds anything here: collections are created without an embedding
function and always receive vectors from our ``Embedder`` (its default function would
download a model). Every Chroma error leaves this module as a ``RetrievalError``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from knowledge.errors import ConfigError, RetrievalError
from knowledge.settings import VectorSettings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.collection_configuration import CreateCollectionConfiguration
    from chromadb.api.models.Collection import Collection as ChromaCollection

__all__ = [
    "MetadataValue",
    "VectorCollection",
    "VectorStore",
    "VectorStoreCorrupted",
    "open_vector_store",
    "quarantine_vector_store",
]

log = logging.getLogger(__name__)

MetadataValue = str | int | float | bool
#: Collection metadata key recording which embedding model filled the collection.
MODEL_KEY = "siyu_model"
_SPACE = "cosine"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")
_PAGE = 5000
#: An id never stored: deleting it is the write that makes ``catch_up`` work.
_CATCH_UP_ID = "siyu-catch-up"


class VectorStoreCorrupted(RetrievalError):
    """The embedded store's directory is unreadable; ``path`` is that directory."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


@contextmanager
def _chroma_errors(action: str) -> Iterator[None]:
    """Translate whatever Chroma raises into ``RetrievalError``."""
    try:
        yield
    except RetrievalError:
        raise
    except Exception as exc:
        raise RetrievalError(f"向量库：{action} 失败：{exc}") from exc


class VectorCollection:
    """One named set of vectors with flat metadata; similarity is cosine."""

    def __init__(
        self, client: ClientAPI, name: str, model: str | None, *, embedded: bool = False
    ) -> None:
        self.name = name
        self.model = model
        self._client = client
        self._embedded = embedded
        self._collection = self._open()
        with _chroma_errors("reading the batch size"):
            self._max_batch = max(1, int(client.get_max_batch_size()))

    def _open(self) -> ChromaCollection:
        metadata = {MODEL_KEY: self.model} if self.model else None
        with _chroma_errors(f"opening collection {self.name!r}"):
            collection = self._client.get_or_create_collection(
                self.name,
                configuration=_configuration(),
                metadata=metadata,
                embedding_function=None,
            )
            stored_model = (collection.metadata or {}).get(MODEL_KEY)
            hnsw = (collection.configuration_json or {}).get("hnsw") or {}
            space = hnsw.get("space", _SPACE)
            if (self.model and stored_model != self.model) or space != _SPACE:
                # Derived data: vectors of another model or metric cannot be reused.
                log.warning(
                    "collection %s holds %s vectors (%s space); recreating it for %s",
                    self.name,
                    stored_model or "unknown-model",
                    space,
                    self.model,
                )
                self._client.delete_collection(self.name)
                collection = self._client.create_collection(
                    self.name,
                    configuration=_configuration(),
                    metadata=metadata,
                    embedding_function=None,
                )
        return collection

    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[Mapping[str, MetadataValue | None]] | None = None,
    ) -> None:
        """Insert or replace vectors (shape ``(len(ids), dim)``) with their metadata.

        As in Chroma, the metadata of an existing id is merged: keys not given are kept,
        a key given as ``None`` is removed.
        """
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(ids):
            raise ValueError(f"expected {len(ids)} vectors, got an array of shape {matrix.shape}")
        if metadatas is not None and len(metadatas) != len(ids):
            raise ValueError("ids and metadatas differ in length")
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            batch_meta = None if metadatas is None else _metadatas(metadatas[start:end])
            with _chroma_errors(f"upserting into {self.name!r}"):
                self._collection.upsert(
                    ids=list(ids[start:end]),
                    embeddings=matrix[start:end],
                    metadatas=batch_meta,  # type: ignore[arg-type]
                )

    def update_metadata(
        self, ids: Sequence[str], metadatas: Sequence[Mapping[str, MetadataValue | None]]
    ) -> None:
        """Change the metadata of existing vectors (merged as in ``upsert``), keeping the
        vectors."""
        if len(metadatas) != len(ids):
            raise ValueError("ids and metadatas differ in length")
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            with _chroma_errors(f"updating metadata in {self.name!r}"):
                self._collection.update(
                    ids=list(ids[start:end]),
                    metadatas=_metadatas(metadatas[start:end]),  # type: ignore[arg-type]
                )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id (unknown ids are ignored)."""
        for start in range(0, len(ids), self._max_batch):
            with _chroma_errors(f"deleting from {self.name!r}"):
                self._collection.delete(ids=list(ids[start : start + self._max_batch]))

    def query(
        self,
        vector: np.ndarray,
        n: int,
        *,
        where: Mapping[str, object] | None = None,
    ) -> list[tuple[str, float]]:
        """The ``n`` nearest vectors as ``(id, cosine similarity)``, best first.

        ``where`` maps a metadata key to a value (equality) or to a list/set/tuple of
        values (membership); keys whose value is ``None`` are ignored. Filtering inside
        Chroma is several times slower than an unfiltered query: prefer over-fetching.
        """
        if n <= 0:
            return []
        clause = chroma_where(where) if where else None
        if clause is False:
            return []
        query_vector = np.asarray(vector, dtype=np.float32).reshape(1, -1)
        with _chroma_errors(f"querying {self.name!r}"):
            # Chroma returns fewer results when the collection is smaller than n (also when
            # empty); a count() first would cost a second round trip per query.
            result = self._collection.query(
                query_embeddings=query_vector,
                n_results=n,
                where=clause or None,  # type: ignore[arg-type]
                include=["distances"],
            )
        ids = result["ids"][0] if result["ids"] else []
        distances = (result["distances"] or [[]])[0]
        return [(id_, 1.0 - float(dist)) for id_, dist in zip(ids, distances, strict=True)]

    def get_metadata(self, ids: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Metadata by id: of ``ids`` (unknown ones are absent), or of every vector."""
        found: dict[str, dict[str, Any]] = {}
        if ids is None:
            offset = 0
            while True:
                with _chroma_errors(f"reading {self.name!r}"):
                    page = self._collection.get(
                        limit=_PAGE,
                        offset=offset,
                        include=["metadatas"],
                    )
                _collect(page, found)
                if len(page["ids"]) < _PAGE:
                    return found
                offset += _PAGE
        for start in range(0, len(ids), _PAGE):
            with _chroma_errors(f"reading {self.name!r}"):
                page = self._collection.get(
                    ids=list(ids[start : start + _PAGE]),
                    include=["metadatas"],
                )
            _collect(page, found)
        return found

    def get_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of ``ids`` (unknown ones are absent)."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(ids), _PAGE):
            with _chroma_errors(f"reading {self.name!r}"):
                page = self._collection.get(
                    ids=list(ids[start : start + _PAGE]), include=["embeddings"]
                )
            embeddings = page["embeddings"]
            if embeddings is None:
                continue
            for id_, vector in zip(page["ids"], embeddings, strict=True):
                found[id_] = np.asarray(vector, dtype=np.float32)
        return found

    def catch_up(self) -> None:
        """See what other processes wrote to an embedded store since this one last wrote.

        Chroma's embedded store (chromadb 1.5) keeps each process's copy of the vector
        index in memory and applies the writes other processes logged only when this
        process writes itself: until then reading an id another process added fails
        ("Error finding id") and queries miss it. A ``siyu scripts import`` run beside
        ``siyu serve`` on one data directory left the console unable to follow the
        change until restarted. Deleting an id that was never stored is such a write
        (a few ms). Nothing to do for a Chroma server, which every process shares."""
        if self._embedded:
            with _chroma_errors(f"catching up with {self.name!r}"):
                self._collection.delete(ids=[_CATCH_UP_ID])

    def count(self) -> int:
        """Number of vectors."""
        with _chroma_errors(f"counting {self.name!r}"):
            return int(self._collection.count())

    def clear(self) -> None:
        """Remove every vector (the collection is dropped and created again)."""
        with _chroma_errors(f"clearing {self.name!r}"):
            try:
                self._client.delete_collection(self.name)
            except Exception as exc:  # already gone (e.g. removed by another process)
                log.debug("delete_collection(%s): %s", self.name, exc)
        self._collection = self._open()


class VectorStore:
    """A Chroma client (embedded or HTTP) handing out prefixed collections."""

    def __init__(
        self, client: ClientAPI, settings: VectorSettings, location: str, *, embedded: bool
    ) -> None:
        self._client = client
        self._settings = settings
        self._embedded = embedded
        #: Where the vectors live: a directory or ``http://host:port``.
        self.location = location

    def collection(self, name: str, *, model: str | None = None) -> VectorCollection:
        """The collection ``<collection_prefix>-<name>``, created if missing.

        With ``model`` given, a collection filled by another model (or with another
        distance) is emptied first: its vectors cannot be compared with new ones.
        """
        full_name = f"{self._settings.collection_prefix}-{name}"
        if not _NAME.match(full_name) or ".." in full_name:
            if not re.fullmatch(r"[a-zA-Z0-9._-]+", self._settings.collection_prefix):
                raise ConfigError(
                    f"vectors.collection_prefix {self._settings.collection_prefix!r}："
                    "只能用字母、数字、'.'、'_' 和 '-'"
                )
            raise ValueError(
                f"集合名 {full_name!r} 无效：需 3-512 个字符 [a-zA-Z0-9._-]，以字母或数字开头和结尾"
            )
        return VectorCollection(self._client, full_name, model, embedded=self._embedded)

    def close(self) -> None:
        """Release the client (file handles of an embedded store)."""
        close = getattr(self._client, "close", None)
        if close is not None:
            with _chroma_errors("closing the client"):
                close()
                _close_http_session(self._client)

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_vector_store(settings: VectorSettings, data_dir: Path) -> VectorStore:
    """Connect to the vector store configured in ``settings``.

    Embedded mode keeps its files in ``data_dir / "chroma"``; an unreadable or corrupted
    directory is reported as a ``RetrievalError`` naming it (the index is derived data:
    deleting the directory and rebuilding from the database is always safe).
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.mode == "http":
        location = f"http://{settings.host}:{settings.port}"
        try:
            client = chromadb.HttpClient(
                host=settings.host, port=settings.port, settings=chroma_settings
            )
            client.heartbeat()
        except Exception as exc:
            raise RetrievalError(f"无法连接 Chroma 服务 {location}：{exc}") from exc
        return VectorStore(client, settings, location, embedded=False)

    path = Path(data_dir) / "chroma"
    if path.exists() and not path.is_dir():
        raise VectorStoreCorrupted(f"vector store {path} is not a directory", path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RetrievalError(f"无法创建向量库目录 {path}：{exc}") from exc
    try:
        client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:
        _evict_broken_system(str(path))
        raise VectorStoreCorrupted(
            f"the vector store in {path} is unreadable or corrupted ({exc}); "
            "delete that directory and rebuild the index",
            path,
        ) from exc
    try:
        for collection in client.list_collections():
            # count() reads Chroma's catalogue; a one-result query also loads the vector
            # segment, so damaged index files are found here and not at the first search.
            if collection.count():
                collection.query(query_embeddings=collection.peek(1)["embeddings"], n_results=1)
    except Exception as exc:
        VectorStore(client, settings, str(path), embedded=True).close()
        raise VectorStoreCorrupted(
            f"the vector store in {path} is unreadable or corrupted ({exc}); "
            "delete that directory and rebuild the index",
            path,
        ) from exc
    return VectorStore(client, settings, str(path), embedded=True)


def _evict_broken_system(identifier: str) -> None:
    """chromadb caches one system per directory and keeps it when its start fails, so
    every later client of that path fails too ("no attribute 'bindings'"), even once the
    directory is replaced. Drop it when no live client uses it."""
    from chromadb.api.shared_system_client import SharedSystemClient

    with SharedSystemClient._refcount_lock:
        if SharedSystemClient._identifier_to_refcount.get(identifier, 0) > 0:
            return
        system = SharedSystemClient._identifier_to_system.pop(identifier, None)
    if system is not None:
        try:
            system.stop()
        except Exception as exc:  # it never started properly
            log.debug("stopping the failed chroma system for %s: %s", identifier, exc)


def quarantine_vector_store(path: Path) -> Path:
    """Move a corrupted store out of the way (kept for inspection, never deleted);
    returns where it went. The next ``open_vector_store`` starts an empty one."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    try:
        path.rename(target)
    except OSError as exc:
        raise RetrievalError(f"无法把损坏的向量库 {path} 移到一边：{exc}") from exc
    return target


def _close_http_session(client: ClientAPI) -> None:
    """chromadb's HTTP client (1.5) never closes its httpx sessions (its own and its admin
    client's), leaving sockets open. Each HTTP client has a system of its own, stopped by
    ``close()``; only then are its sessions closed here (never one still in use)."""
    admin = getattr(client, "_admin_client", None)
    for server in (getattr(client, "_server", None), getattr(admin, "_server", None)):
        session = getattr(server, "_session", None)
        if session is not None and not getattr(server, "_running", True):
            session.close()


def _configuration() -> CreateCollectionConfiguration:
    return {"hnsw": {"space": "cosine"}}


def chroma_where(where: Mapping[str, object] | None) -> dict[str, Any] | bool:
    """Our filter (key → value or collection of values) as a Chroma ``where`` clause.

    Returns ``{}`` when nothing is filtered and ``False`` when nothing can match (an
    empty collection of allowed values).
    """
    clauses: list[dict[str, Any]] = []
    for key, value in (where or {}).items():
        if value is None:
            continue
        if isinstance(value, Collection) and not isinstance(value, str | bytes):
            values = list(value)
            if not values:
                return False
            clauses.append({key: {"$in": values}})
        else:
            clauses.append({key: {"$eq": value}})
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _metadatas(
    metadatas: Sequence[Mapping[str, MetadataValue | None]],
) -> list[dict[str, MetadataValue | None] | None]:
    # Chroma rejects empty metadata dicts; None leaves a record's metadata as it is.
    return [dict(m) or None for m in metadatas]


def _collect(page: Mapping[str, Any], found: dict[str, dict[str, Any]]) -> None:
    metadatas = page.get("metadatas") or [None] * len(page["ids"])
    for id_, meta in zip(page["ids"], metadatas, strict=True):
        found[id_] = dict(meta or {})
