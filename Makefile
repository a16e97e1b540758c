# Two commands for a new user: `make run` and `make test`. Everything else is for maintainers.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORES ?= all

.PHONY: run test lint lock bench data publish report clean help power test-cluster manifest-check notebook

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# The environment is built once from the pinned lock file and rebuilt when the lock changes.
$(BIN)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# --keep-going: a wave that cannot be read stops alone; the other waves still get their reports.
# lcsurvey.pipeline.run starts Snakemake after releasing the lock of a run that was stopped hard
# (and says so), or stops if another run of this project is in progress.
run: $(BIN)/.installed  ## run the whole pipeline on the configured waves and render reports/
	$(BIN)/python -m lcsurvey.pipeline.run --cores $(CORES) --keep-going

test: $(BIN)/.installed  ## run the test suite
	$(BIN)/python -m pytest

lint: $(BIN)/.installed  ## ruff check, ruff format --check, snakemake --lint and snakefmt --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules

data: $(BIN)/.installed  ## regenerate the bundled synthetic waves (byte-identical for the same seed)
	$(BIN)/lcsurvey-simulate --out data/raw

# A third simulated wave, as a reviewer would add a real one: one file in data/raw/ and one line
# in config.yaml. Running it again changes nothing.
DEMO_WAVE := 2023-01
.PHONY: demo-wave
demo-wave: data/raw/wave_$(DEMO_WAVE).csv  ## add a simulated wave 2023-01 (returners of 2022-06) to data/raw/ and config.yaml
	$(BIN)/python -m lcsurvey.study.waves add-wave --config config.yaml --wave $(DEMO_WAVE) \
	  --path data/raw/wave_$(DEMO_WAVE).csv

data/raw/wave_$(DEMO_WAVE).csv: | $(BIN)/.installed
	$(BIN)/lcsurvey-simulate --out data/raw --wave $(DEMO_WAVE) --n 300 --format csv \
	  --previous data/raw/wave_2022-06.sav

bench: $(BIN)/.installed  ## time a cold pipeline run and a no-op rerun
	$(BIN)/python bench/pipeline.py

# Refactors keep every number: the tables under results/ and the reports' text equal the manifest
# recorded before (bench/results.sha256; `bench/manifest.py write` records a new one).
manifest-check: run  ## run the pipeline and compare results/ and the reports' text with bench/results.sha256
	$(BIN)/python bench/manifest.py check

power: $(BIN)/.installed  ## Monte Carlo power analysis for the next wave (config.yaml power:)
	$(BIN)/python -m lcsurvey.pipeline.run --cores $(CORES) power

test-cluster: $(BIN)/.installed  ## start a one-node SLURM cluster (root), run a small power analysis through it and locally, compare
	bash tests/cluster/run.sh

lock:  ## re-resolve pyproject.toml into requirements.lock and envs/lcsurvey.yaml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "setuptools>=75"
	.lock-venv/bin/python -m pip install --quiet ".[dev]"
	{ echo "# Pinned environment for lcsurvey. Regenerate with 'make lock' after changing pyproject.toml."; \
	  .lock-venv/bin/python -m pip freeze --all | grep -vE '^(-e|pip==|lcsurvey)'; } > requirements.lock
	.lock-venv/bin/python envs/from_lock.py requirements.lock envs/lcsurvey.yaml
	rm -rf .lock-venv

publish: run  ## assemble publish/: the reports, a validated data package of responses and scores (publish/data/), provenance
	$(BIN)/python -m lcsurvey.report.publish --reports reports --out publish --config config.yaml

# The rendered reports checked as readers get them: axe-core's WCAG 2.1 A/AA rules in headless
# Chromium, visible keyboard focus, and the PDFs' PDF/A-3a and PDF/UA-1 requirements
# (tests/browser/). browser-deps installs Debian's chromium and chromium-driver (as root; else it
# says what to install) and axe-core as pinned in tests/browser/package-lock.json.
BROWSER_DIR := tests/browser
.PHONY: browser-deps test-browser
browser-deps: $(BROWSER_DIR)/node_modules/.installed  ## install Chromium, chromedriver (Debian, as root) and axe-core (npm, pinned)
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      --no-install-recommends chromium chromium-driver; \
	  else \
	    echo "ERROR: install Debian's chromium and chromium-driver (apt-get install chromium chromium-driver, as root)" >&2; \
	    exit 1; \
	  fi; \
	fi

$(BROWSER_DIR)/node_modules/.installed: $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	npm ci --prefix $(BROWSER_DIR) --no-audit --no-fund --loglevel=error
	touch $@

test-browser: browser-deps publish  ## check every report and the published site in Chromium (axe-core, WCAG 2.1 AA) and the PDFs (PDF/A, PDF/UA)
	$(BIN)/python -m pytest -m rendered tests/browser

# One wave's two-pager notebook in JupyterLab, its parameters filled in as the pipeline passes
# them (results/WAVE/report/notebook_LANG.ipynb; the wave's results are brought up to date
# first). WAVE defaults to the last configured wave. LANG is also the locale variable of the
# shell: only nl or en count as a language here, anything else means nl.
WAVE ?=
NOTEBOOK_LANG = $(if $(filter nl en,$(LANG)),$(LANG),nl)
JUPYTER_ARGS ?=
notebook: $(BIN)/.installed  ## open a wave's two-pager notebook in JupyterLab (WAVE=2022-06 LANG=nl)
	$(BIN)/snakemake --cores $(CORES) \
	  $$($(BIN)/python -c 'import sys, yaml; w = list(yaml.safe_load(open("config.yaml"))["waves"]); print("reports/" + (sys.argv[1] or w[-1]) + "/two_pager_$(NOTEBOOK_LANG).pdf")' "$(WAVE)")
	notebook=$$($(BIN)/python -m lcsurvey.report.notebook --config config.yaml --wave "$(WAVE)" --lang $(NOTEBOOK_LANG)) && \
	  $(BIN)/jupyter lab $(JUPYTER_ARGS) "$$notebook"

report: run  ## Snakemake's own report of the run (figures and tables, captioned)
	$(BIN)/snakemake --report reports/workflow_report.html

clean:  ## remove results/, reports/ and publish/ (never data/raw)
	rm -rf results reports publish logs benchmarks .snakemake/log
