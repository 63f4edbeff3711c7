# nlp-workbench — the two commands a newcomer needs are `make report` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
KERNEL := nlp-workbench
PROFILE ?= default
# Notebooks run at once; those that time things (tokenization, sweeps, compression) always run alone.
JOBS ?= 2
PYTEST_ARGS ?=

.PHONY: setup report test lab clean help

help:
	@echo "make report   build .venv, run every notebook (profile $(PROFILE)), write reports/<run>/index.html"
	@echo "make test     build .venv, run the unit and notebook smoke tests"
	@echo "make lab      JupyterLab on localhost with the project's kernel"

setup: $(STAMP)

# Rebuilt whenever the pinned dependencies or the set-up scripts change. Needs neither root nor apt:
# WordNet is copied in when the machine has it, else the WordNet augmenters report `skipped`.
$(STAMP): pyproject.toml constraints.txt scripts/setup_nltk_data.sh
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "nlp-workbench needs Python 3.11 or newer (its pinned numpy, pandas and scipy do); got " + sys.version.split()[0] + ". Fix: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel these machines carry (other versions download gigabytes).
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	# The package with the extras reports use, at the exact versions of the lock (constraints.txt).
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[augment-resources]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (nlp-workbench)" >/dev/null
	scripts/setup_nltk_data.sh --if-available $(VENV)
	touch $(STAMP)

# What the tests use besides, from Debian packages (root or sudo; each script is idempotent): WordNet
# for augmentation (copied into .venv/nltk_data), PostgreSQL for the multi-worker sweep tests,
# Chromium for the browser tests.
$(TEST_STAMP): $(STAMP) scripts/setup_postgres.sh scripts/setup_chromium.sh scripts/apt_install.sh
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[all]"
	scripts/setup_nltk_data.sh $(VENV)
	scripts/setup_postgres.sh
	scripts/setup_chromium.sh
	touch $(TEST_STAMP)

report: $(STAMP)
	$(BIN)/workbench report --profile $(PROFILE) --jobs $(JOBS)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lab: $(STAMP)
	$(BIN)/workbench lab

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
