"""Shared fixtures. The embedding model is fast only with one BLAS thread (DESIGN.md),
and that must be set before numpy is imported, so it happens here, first."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
