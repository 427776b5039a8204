# make demo  - create .venv, install tfsem, run the main job: train the quickstart (7-10 min on 2 CPU cores, measured: docs/getting-started.md)
# make test  - create .venv, install tfsem with test extras, run ruff, build the docs, run the tests (7-12 min, 2 cores)
# make test-slow - also the slow tests (real sizes, long training)
# make docs  - build the documentation site into site/ (mkdocs build --strict)
# make lint  - ruff check
# make bench-data - data pipeline benchmark (JSON)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tfsem-installed

.PHONY: venv demo test test-slow lint docs bench-data clean

$(STAMP): setup.py pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# PyTorch for tfsem.convert (reads official .pth checkpoints); pinned first, because
	# this version is the CPU build on our machines, a plain "torch" pulls a CUDA build of GBs
	$(PY) -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[cpu,test,convert,studio,docs]"
	# gRPC client protos; the package depends on full tensorflow, so no deps (see export/README.md)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps tensorflow-serving-api
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m tfsem.train --config configs/quickstart.json --out runs/quickstart
	$(PY) -m tfsem.generate --model runs/quickstart --labels examples/labels --instances examples/instances --out runs/quickstart/generated

# Three pytest workers (pytest-xdist), one test file each at a time (module fixtures are
# built once): TF traces models in Python, so 2 cores run 3 workers (measured: 10% less
# time than 2; 1 worker takes 2.3x as long). --durations: every run lists its slowest 25
# tests and fixtures (the suite should stay under 8 minutes here).
TEST_ARGS ?= -n 3 --dist loadfile --durations=25

test: lint docs
	$(PY) -m pytest -q $(TEST_ARGS) tests

lint: $(STAMP)
	$(PY) -m ruff check tfsem tests tools dev

# the site's generated pages (CLI, config fields, benchmarks) are made from the code
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet

test-slow: $(STAMP)
	$(PY) -m pytest -q $(TEST_ARGS) --run-slow tests

bench-data: $(STAMP)
	$(PY) dev/benchmark.py data

clean:
	rm -rf $(VENV) runs site .pytest_cache
