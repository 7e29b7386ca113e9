# Entry points: `make test` (the linters, then the whole suite), `make lint`,
# `make test-fast` (the suite without the end-to-end tool runs) and `make demo`
# (train, evaluate, re-parameterise and evaluate again on synthetic ADE20K,
# CPU).
# Both create or reuse .venv and install the pinned stack when missing; every
# pip call uses requirements/constraints.txt so torch stays at the CPU 2.13.0.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install -c requirements/constraints.txt
STAMP := $(VENV)/.mmreplk-installed
# The suite runs on every core (pytest-xdist; tests/conftest.py splits the
# threads among the workers); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto
PYTEST_ARGS ?=

.PHONY: install lint test test-fast demo

install: $(STAMP)

LINT_PATHS := mmreplk tools tests .dev_scripts configs setup.py

$(STAMP): requirements/constraints.txt requirements/build.txt \
          requirements/runtime.txt requirements/tests.txt \
          requirements/lint.txt setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -q -r requirements/build.txt
	@if ! $(BIN)/python -c "import mmcv.ops" >/dev/null 2>&1; then \
	  echo ">>> Building mmcv 2.1.0 with CPU ops from source: ~10 minutes on 2 cores, once (pip caches the wheel)."; \
	  MMCV_WITH_OPS=1 FORCE_CUDA=0 $(PIP) -q --no-build-isolation mmcv || exit 1; \
	fi
	$(PIP) -q -r requirements/runtime.txt -r requirements/tests.txt \
	  -r requirements/lint.txt
	$(PIP) -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/python -m flake8 $(LINT_PATHS)
	$(BIN)/python -m isort --check-only --diff $(LINT_PATHS)
	$(BIN)/python -m yapf --diff --recursive $(LINT_PATHS)

test: lint
	$(BIN)/python -m pytest tests -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not slow" -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python tools/demo/replknet_ade20k_demo.py
