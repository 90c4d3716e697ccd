"""Shared fixtures. The embedding model is fast only with one BLAS thread (README.md, Performance),
and that must be set before numpy is imported, so it happens here, first."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chroma_server import chroma_server  # noqa: F401  (fixture: `chroma run` on 127.0.0.1)
from hypothesis import settings as hypothesis_settings
from openai_stub import openai_stub  # noqa: F401  (fixture: local OpenAI-compatible server)
from store_backends import database_url, db  # noqa: F401  (fixtures: SQLite / PostgreSQL)

from bot.pipeline.runtime import Runtime, open_runtime
from bot.pipeline.tagging import parse_taxonomy
from bot.settings import Settings
from bot.store import tags as tags_repo

LIBRARY = Path(__file__).parent / "data" / "library"

# Property tests explore new random examples on every developer run; CI (.ci/run sets
# HYPOTHESIS_PROFILE=ci) runs the same derandomized examples every time, so that what lands
# is what was tested. A failure prints the blob that reproduces it.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

RuntimeFactory = Callable[..., Runtime]


def load_small_library(rt: Runtime) -> None:
    """Ten scripts (one draft), four tags, two knowledge documents: see tests/data/library."""
    rt.library.import_file(LIBRARY / "scripts.csv")
    with rt.db.session() as session:
        tags_repo.replace_taxonomy(
            session=session, categories=parse_taxonomy(LIBRARY / "tags.yaml")
        )
    rt.reload_tags()
    rt.kb.ingest(LIBRARY / "kb" / "insurance.md", industry="insurance")
    rt.kb.ingest(LIBRARY / "kb" / "kaoyan.md", industry="kaoyan")


@pytest.fixture
def make_runtime(tmp_path: Path) -> Iterator[RuntimeFactory]:
    """Build a runtime in a fresh data dir (real SQLite, real Chroma, real embeddings)."""
    opened: list[Runtime] = []

    def factory(*, load: bool = True, data_dir: Path | None = None, **settings: Any) -> Runtime:
        raw = {"data_dir": str(data_dir or tmp_path / "data")} | settings
        rt = open_runtime(Settings.model_validate(raw))
        opened.append(rt)
        if load:
            load_small_library(rt)
        return rt

    yield factory
    for rt in opened:
        rt.close()


@pytest.fixture(scope="module")
def shared_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """One loaded runtime for read-only tests of a module."""
    data_dir = tmp_path_factory.mktemp("shared") / "data"
    rt = open_runtime(Settings.model_validate({"data_dir": str(data_dir)}))
    load_small_library(rt)
    yield rt
    rt.close()
