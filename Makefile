# EMMA-X Book: one-command set-up on a fresh machine.
#   make test   -> creates .venv if missing, installs what is missing, runs the tests
#   make book   -> same set-up, executes every notebook, builds _build/html
#   make bench  -> performance comparisons, writes benchmarks/results/*.json
#   make results-> trains what is missing and runs the XRETE-mini experiment (results/)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The offline, deterministic environment every target runs in.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export TQDM_DISABLE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export HF_DATASETS_DISABLE_PROGRESS_BARS := 1
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: install test test-fast book book-clean bench results lint clean help

help:
	@echo "make test | make book | make bench | make results | make lint | make clean"

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first: on our machines torch==2.13.0 is a local CPU wheel; any other version downloads
# a multi-GB CUDA build. The package itself only declares torch>=2.2 (Colab keeps its own torch).
$(STAMP): pyproject.toml | $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "torch==2.13.0"
	$(PY) -m pip install -e ".[book,test]"
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	@$(VENV)/bin/pytest -q -rs tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the set-up is broken (exit 5)"; exit 1; fi; \
	exit $$rc

test-fast: $(STAMP)
	@$(VENV)/bin/pytest -q -m "not slow" tests; rc=$$?; [ $$rc -eq 5 ] && exit 1; exit $$rc

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@test -f _build/html/index.html && echo "Book built: _build/html/index.html"

book-clean:
	$(VENV)/bin/jupyter-book clean . --all

bench: $(STAMP)
	$(PY) -m benchmarks

results: $(STAMP)
	$(PY) -m emmax_core.experiment --output-dir results

lint: $(STAMP)
	$(VENV)/bin/ruff check emmax_core tests scripts benchmarks

clean:
	rm -rf _build .pytest_cache .ruff_cache
