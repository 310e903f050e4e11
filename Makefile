# The two commands a newcomer needs: `make demo` and `make test`.
# Both bootstrap the environment first (Python 3.11 + pip are all a fresh machine needs):
# a private copy of uv in .uv/, then the locked dependencies into .venv/ (skipped when uv.lock is unchanged).

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
STAMP := $(VENV)/.installed-$(UV_VERSION)
export UV_LINK_MODE := copy
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true

.PHONY: setup demo test test-fast lint bench clean mlflow-ui

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON)
	@touch $@

setup: $(STAMP)  ## install the locked environment into .venv

demo: setup  ## simulate a small bank and run the pipeline on it
	$(VENV)/bin/optichannel demo

test: setup  ## run the whole test suite (lint and import layers included)
	$(VENV)/bin/pytest

test-fast: setup  ## the unit tests without the slow ones (no training, no service): under a minute
	$(VENV)/bin/pytest tests/unit -m "not slow" -q

mlflow-ui: setup  ## browse runs and the model registry of the local store at http://127.0.0.1:5000
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow/mlflow.db --host 127.0.0.1 --port 5000

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: setup  ## print the benchmark figures quoted in the README (~70 min; serving needs `make demo` first)
	$(VENV)/bin/python benchmarks/decision_quality.py
	$(VENV)/bin/python benchmarks/simulate.py
	$(VENV)/bin/python benchmarks/feature_store.py
	$(VENV)/bin/python benchmarks/incremental_build.py
	$(VENV)/bin/python benchmarks/training.py
	$(VENV)/bin/python benchmarks/serving.py --scorer-customers 20000
	$(VENV)/bin/python benchmarks/allocation.py
	$(VENV)/bin/python benchmarks/experiment_analyze.py
	$(VENV)/bin/python benchmarks/learn.py
	$(VENV)/bin/python benchmarks/outcomes.py

clean:
	rm -rf data reports .pytest_cache .ruff_cache
