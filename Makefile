# The two commands a newcomer needs: `make demo` and `make test`.
# Both bootstrap the environment first (Python 3.11 + pip are all a fresh machine needs):
# a private copy of uv in .uv/, then the locked dependencies into .venv/ (skipped when uv.lock is unchanged).
# `make test` adds the `spark` extra (pyspark, for the Spark tests); `make demo` does not need it. The two
# stamps follow what .venv holds: a plain sync removes pyspark, so it also drops the Spark stamp.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .uv/bin/uv
VENV := .venv
STAMP := $(VENV)/.installed-$(UV_VERSION)
SPARK_STAMP := $(VENV)/.installed-spark-$(UV_VERSION)
export UV_LINK_MODE := copy
export MLFLOW_DISABLE_TELEMETRY := true
export BENTOML_DO_NOT_TRACK := true

.PHONY: setup setup-spark demo test test-fast lint bench clean mlflow-ui docs docs-gen

$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --extra dev --python $(PYTHON)
	@rm -f $(SPARK_STAMP)
	@touch $@

# the dev environment plus pyspark: a superset, so it also stands for the plain stamp
$(SPARK_STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --extra dev --extra spark --python $(PYTHON)
	@touch $@ $(STAMP)

setup: $(STAMP)  ## install the locked environment into .venv

setup-spark: $(SPARK_STAMP)  ## the same plus pyspark (Spark feature build, Feast's Spark offline store)

demo: setup  ## simulate a small bank and run the pipeline on it
	$(VENV)/bin/optichannel demo

test: setup-spark  ## run the whole test suite (lint and import layers included; Spark in local mode)
	$(VENV)/bin/pytest

test-fast: setup  ## the unit tests without the slow ones (no training, no service): under a minute
	$(VENV)/bin/pytest tests/unit -m "not slow" -q

docs-gen: setup  ## rewrite the docs pages generated from the code: settings, CLI, API, notebooks, benchmark results
	$(VENV)/bin/python docs/gen/generate.py

docs: docs-gen  ## serve the documentation site at http://127.0.0.1:8000 (reloads on edits)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

mlflow-ui: setup  ## browse runs and the model registry of the local store at http://127.0.0.1:5000
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow/mlflow.db --host 127.0.0.1 --port 5000

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: setup  ## measure; each script writes benchmarks/results/<name>.json (~70 min; serving needs `make demo` first)
	$(VENV)/bin/python benchmarks/decision_quality.py
	$(VENV)/bin/python benchmarks/simulate.py
	$(VENV)/bin/python benchmarks/feature_store.py
	$(VENV)/bin/python benchmarks/incremental_build.py
	$(VENV)/bin/python benchmarks/training.py
	$(VENV)/bin/python benchmarks/serving.py --scorer-customers 20000
	$(VENV)/bin/python benchmarks/response_gap.py
	$(VENV)/bin/python benchmarks/allocation.py
	$(VENV)/bin/python benchmarks/experiment_analyze.py
	$(VENV)/bin/python benchmarks/learn.py
	$(VENV)/bin/python benchmarks/outcomes.py

clean:
	rm -rf data reports .pytest_cache .ruff_cache
