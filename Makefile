# Everything creates / updates .venv itself; a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The bundled embedding model is fast only with a single BLAS thread (see DESIGN.md).
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: venv run test lint format bench clean wechaty-server

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The Node puppet-service server of the Wechaty end-to-end test (tests/wechaty_server),
# pinned by its package-lock.json. Needs node + npm (Node 18+). `npm install`, not `npm ci`:
# npm 11's ci rejects this lock file over @swc/core's optional per-platform packages.
WECHATY_SERVER := tests/wechaty_server
wechaty-server: $(WECHATY_SERVER)/node_modules/.installed

$(WECHATY_SERVER)/node_modules/.installed: $(WECHATY_SERVER)/package.json $(WECHATY_SERVER)/package-lock.json
	cd $(WECHATY_SERVER) && npm install --no-audit --no-fund --loglevel=error
	touch $@

run: venv
	$(BIN)/siyu demo

test: venv wechaty-server
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check bot knowledge scripts_lib tests bench
	$(BIN)/ruff format --check bot knowledge scripts_lib tests bench
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format bot knowledge scripts_lib tests bench
	$(BIN)/ruff check --fix bot knowledge scripts_lib tests bench

bench: venv
	$(BIN)/python bench/eval.py
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) .siyu .pytest_cache .mypy_cache .ruff_cache
