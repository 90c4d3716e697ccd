# Everything creates / updates .venv itself; a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed
# uv installs exactly what uv.lock pins (runtime + dev extras) into .venv; it is itself
# pinned there (the dev extra), so the version below is only the bootstrap.
UV_BOOTSTRAP := uv==0.13.9
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1
# Compile .pyc at install (as pip does): a dependency whose source warns when compiled
# (stringcase) must not do so at import time under pytest's filterwarnings = error.
export UV_COMPILE_BYTECODE := 1

# The bundled embedding model is fast only with a single BLAS thread (see README, Performance).
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: venv lock run test test-fast lint format bench clean wechaty-server docs-img

venv: $(STAMP)

$(UV):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check '$(UV_BOOTSTRAP)'

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --quiet --frozen --extra dev --python $(BIN)/python
	touch $(STAMP)

# Refresh the lock on purpose: newest releases within pyproject's bounds. Commit uv.lock.
lock: $(UV)
	$(UV) lock --upgrade --python $(BIN)/python
	$(UV) sync --quiet --frozen --extra dev --python $(BIN)/python
	touch $(STAMP)

# The Node puppet-service server of the Wechaty end-to-end test (tests/wechaty_server),
# installed exactly as its package-lock.json says (`npm ci` never rewrites the lock).
WECHATY_SERVER := tests/wechaty_server
wechaty-server: $(WECHATY_SERVER)/node_modules/.installed

$(WECHATY_SERVER)/node_modules/.installed: $(WECHATY_SERVER)/package.json $(WECHATY_SERVER)/package-lock.json
	cd $(WECHATY_SERVER) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: venv
	$(BIN)/siyu demo

# The suite on every core (at most 4 worker processes, each with its own model): a test
# file stays on one worker, so module fixtures are built once. `PYTEST_WORKERS=0 make
# test` runs it in this process (pdb, -x, one traceback at a time).
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := $(if $(filter 0,$(PYTEST_WORKERS)),-p no:xdist,-n $(PYTEST_WORKERS) --maxprocesses 4 --dist loadfile)

test: venv wechaty-server
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL)

# While developing: everything but the tests marked slow (real embeddings over a whole
# library, end-to-end channel runs). CI runs `make test`.
test-fast: venv wechaty-server
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) -m "not slow"

# The screenshots of the README's Chinese quick start (docs/img/), from a small team's
# console in headless chromium (tests/test_docs_screenshots.py).
docs-img: venv
	SIYU_DOCS_IMG=1 $(BIN)/python -m pytest -q tests/test_docs_screenshots.py

lint: venv
	$(BIN)/ruff check bot knowledge scripts_lib tests bench
	$(BIN)/ruff format --check bot knowledge scripts_lib tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff format bot knowledge scripts_lib tests bench
	$(BIN)/ruff check --fix bot knowledge scripts_lib tests bench

bench: venv
	$(BIN)/python bench/eval.py
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) .siyu .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
