# nlp-workbench — the two commands a newcomer needs are `make report` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
KERNEL := nlp-workbench
PROFILE ?= default
PYTEST_ARGS ?=

.PHONY: setup report test lab clean help

help:
	@echo "make report   build .venv, run every notebook (profile $(PROFILE)), write reports/<run>/index.html"
	@echo "make test     build .venv, run the unit and notebook smoke tests"
	@echo "make lab      JupyterLab on localhost with the project's kernel"

setup: $(STAMP)

SETUP_SCRIPTS := scripts/setup_nltk_data.sh scripts/setup_postgres.sh scripts/setup_chromium.sh

# Rebuilt whenever the pinned dependencies or the set-up scripts change.
$(STAMP): pyproject.toml $(SETUP_SCRIPTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel these machines carry (other versions download gigabytes).
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (nlp-workbench)" >/dev/null
	# Offline resources and services the tests use, from Debian packages (each script is idempotent):
	# WordNet for augmentation (copied into .venv/nltk_data), PostgreSQL for the multi-worker sweep
	# tests, Chromium for the browser tests.
	scripts/setup_nltk_data.sh $(VENV)
	scripts/setup_postgres.sh
	scripts/setup_chromium.sh
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/workbench report --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lab: $(STAMP)
	$(BIN)/workbench lab

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
