# cocEval: two commands do all the set-up on a fresh machine with Python 3.11+ and make.
#   make reports   build .venv, install cocEval and the `cocEval` Jupyter kernel, generate and
#                  validate data/synthetic/ if absent, render every report into reports/
#   make test      the same set-up, then the test suite
# Re-running is cheap: the venv is rebuilt only when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.cocEval-installed
KERNEL := $(VENV)/share/jupyter/kernels/coceval/kernel.json
DATA   := data/synthetic
PYTEST_ARGS ?=
JOBS ?=

.PHONY: setup data validate reports test lint docs lab fixtures benchmarks clean help

help:
	@echo "make reports  - set up and render all reports into reports/"
	@echo "make test     - set up, lint (ruff, mypy) and run the test suite"
	@echo "make lint     - ruff check, ruff format --check, mypy"
	@echo "make docs     - build the documentation site into docs/_build/html"
	@echo "make lab      - open JupyterLab on the cocEval kernel"
	@echo "make fixtures - regenerate R reference fixtures (installs R from Debian)"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "cocEval needs Python 3.11+"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,docs]'
	@touch $@

$(KERNEL): $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name cocEval --display-name "Python (cocEval)" >/dev/null
	@touch $@

setup: $(STAMP) $(KERNEL)

data: setup
	@test -f $(DATA)/participation.csv || $(PY) -m cocEval synthesise --out $(DATA)

validate: data
	$(PY) -m cocEval validate --data $(DATA)

# Byte-compile cocEval first: with PYTHONDONTWRITEBYTECODE set (as on this machine) an editable
# install is otherwise compiled from source by every process the batch starts (about 0.5 s each).
reports: validate
	$(PY) -m compileall -q cocEval
	$(PY) -m cocEval reports --data $(DATA) $(if $(JOBS),--jobs $(JOBS),)

test: setup data lint docs
	$(PY) -m compileall -q cocEval
	$(PY) -m pytest $(PYTEST_ARGS)

# lint: ruff (lint + format) and mypy (config in pyproject.toml); `make test` runs it first
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# the documentation site, tutorials executed, warnings as errors (docs/_build/html)
docs: setup data
	$(PY) -m sphinx -E -W --keep-going -q -b html docs docs/_build/html

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

fixtures:
	command -v Rscript >/dev/null || (apt-get update && apt-get install -y r-base-core r-cran-sandwich r-cran-nlme r-cran-mass r-cran-metafor r-cran-metadat)
	for f in tests/reference/*.R; do Rscript "$$f" || exit 1; done

benchmarks: setup
	for f in benchmarks/*.py; do $(PY) "$$f" || exit 1; done

clean:
	rm -rf $(VENV) reports/providers reports/executed reports/stale reports/.coc-tmp reports/*.html reports/manifest.json reports/run.log
