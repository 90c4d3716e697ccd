# Everything creates / updates .venv itself; a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The bundled embedding model is fast only with a single BLAS thread (see DESIGN.md).
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: venv run test lint format bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: venv
	$(BIN)/siyu demo

test: venv
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
