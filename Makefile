# Two commands do everything on a fresh machine (Python 3.11):
#   make book   install, then build the HTML book into _build/html (notebooks executed)
#   make test   install, then nbval over every notebook, unit tests, the -W book build, browser checks
#               (SMOKE=1: the full-profile smoke run too, after the unit tests)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export GAN_LESSONS_PROFILE ?= quick
NOTEBOOKS := $(sort $(wildcard book/*.ipynb))
SMOKE_STEP_SCALE ?= 0.002
# 1: `make test` runs the full-profile smoke as well. Off by default: on a 2-core AMD EPYC without AVX-512 it
# would take CI past its 90 minutes (nbval alone took 30 min there, against 5-7 min on a 2-core Xeon with AMX).
SMOKE ?= 0
# Tests and notebooks run in WORKERS pytest-xdist processes (a whole notebook or test file per process), each
# with a share of the cores as its torch threads: the book's small models gain nothing from a second thread.
WORKERS ?= 2
THREADS ?= $(shell n=$$(( $$(nproc) / $(WORKERS) )); echo $$(( n > 0 ? n : 1 )))
PARALLEL := -n $(WORKERS) --dist loadscope

.PHONY: install book test unit nbval smoke-full gpu-full build-book browser browser-deps student-edition benchmarks clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip "setuptools>=64"
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The HTML book. Progress bars are switched off so the static pages hold no live widgets.
book: install
	GAN_LESSONS_PROGRESS=0 $(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "Book built: $(CURDIR)/_build/html/index.html"

build-book: book

# nbval first: it trains every chapter's long runs once into the run cache (~/.cache/gan_lessons/runs, keyed by
# settings, initial weights and the gan_lessons source), so the book build and the student-edition tests that
# execute the same cells again load those runs instead of training them a second time.
test: install browser-deps
	$(MAKE) nbval
	$(MAKE) unit
	if [ "$(SMOKE)" = 1 ]; then $(MAKE) smoke-full; fi
	$(MAKE) book
	$(MAKE) browser

unit:
	OMP_NUM_THREADS=$(THREADS) $(PY) -m pytest $(PARALLEL) tests -m "not browser" --durations=10

nbval:
	GAN_LESSONS_PROGRESS=0 GAN_LESSONS_CLAIMS_DIR=$(CURDIR)/_build/claims OMP_NUM_THREADS=$(THREADS) $(PY) -m pytest $(PARALLEL) --nbval-lax --nbval-current-env $(NOTEBOOKS)

# The full profile's code paths on a CPU: full networks, data and sample counts, 0.2 % of the training steps
# (GAN_LESSONS_STEP_SCALE); expected claims report instead of failing, since so short a run need not show them.
# Part of `make test SMOKE=1`.
smoke-full:
	GAN_LESSONS_PROFILE=full GAN_LESSONS_STEP_SCALE=$(SMOKE_STEP_SCALE) GAN_LESSONS_CLAIMS=report GAN_LESSONS_PROGRESS=0 \
	  GAN_LESSONS_CLAIMS_DIR=$(CURDIR)/_build/claims-full \
	  OMP_NUM_THREADS=$(THREADS) $(PY) -m pytest $(PARALLEL) --nbval-lax --nbval-current-env -p no:cacheprovider $(NOTEBOOKS)

# The real full profile on a GPU machine, one call, report in _build/gpu_full.md (see the instructor guide).
gpu-full: install
	$(PY) benchmarks/gpu_full.py

browser:
	$(PY) -m pytest tests -m browser

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

student-edition: install
	$(PY) -m gan_lessons student-edition _build/student

benchmarks: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf _build .pytest_cache
