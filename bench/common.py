"""Shared set-up for the bench scripts: a runtime over a given library in a data dir."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.pipeline.runtime import Runtime, open_runtime  # noqa: E402
from bot.pipeline.tagging import parse_taxonomy  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import tags as tags_repo  # noqa: E402

DEMO = ROOT / "bot" / "demo_data"


def open_library(
    data_dir: Path,
    *,
    scripts: Path,
    tags: Path | None,
    knowledge: list[tuple[Path, str | None]],
    settings_overrides: dict[str, Any] | None = None,
) -> tuple[Runtime, float]:
    """Open a runtime in ``data_dir`` and load the library; returns it and the seconds
    spent (a second call on the same dir reuses the index and is fast)."""
    raw: dict[str, Any] = {"data_dir": str(data_dir)} | (settings_overrides or {})
    settings = Settings.model_validate(raw)
    started = time.perf_counter()
    rt = open_runtime(settings)
    rt.library.import_file(scripts)
    if tags is not None:
        with rt.db.session() as session:
            tags_repo.replace_taxonomy(session=session, categories=parse_taxonomy(tags))
        rt.reload_tags()
    for path, industry in knowledge:
        rt.kb.ingest(path, industry=industry)
    return rt, time.perf_counter() - started


def demo_knowledge() -> list[tuple[Path, str | None]]:
    out = []
    for path in sorted((DEMO / "knowledge").iterdir()):
        industry = next((i for i in ("insurance", "kaoyan") if path.name.startswith(i)), None)
        out.append((path, industry))
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    idx = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[idx]


def micro_prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Micro precision, recall and F1 from counts over (message, tag) pairs (0 when
    undefined)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
