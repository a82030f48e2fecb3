# diodenet: `make demo` runs the main job, `make test` runs the tests.
# Both first do the whole setup: ngspice (apt, when root or sudo is available),
# a virtual environment in .venv, and an editable install pinned by constraints.txt.
# Setup is idempotent: a second run takes a second or two.
# The checks CI runs besides the tests: `make lint typecheck docs` (or `make check`).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.diodenet-installed
EXTRAS := dev,dask,docs,bench

.PHONY: setup ngspice venv demo test lint typecheck docs check bench clean

setup: ngspice venv

ngspice:
	@bash scripts/setup-ngspice.sh

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@echo "setup: creating the virtual environment in $(VENV) and installing diodenet[$(EXTRAS)] ..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install -q -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)
	@echo "setup: done ($$($(PY) -c 'import diodenet; print("diodenet", diodenet.__version__)'))."

demo: setup
	$(VENV)/bin/diodenet demo

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .

typecheck: setup
	$(VENV)/bin/mypy

# the documentation site, into build/site; warnings are errors
docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir build/site
	@echo "docs: built build/site/index.html"

# everything CI runs
check: lint typecheck docs test

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache .mypy_cache
