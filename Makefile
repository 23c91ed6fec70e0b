# fraudlab: one command each for setup, the local broker, tests, benchmarks and the demo.
# `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
FRAUDLAB := $(VENV)/bin/fraudlab
VENV_STAMP := $(VENV)/.installed
JVM_STAMP := jvm/lib/.resolved
# class-data-sharing archives of Spark's driver and the broker (fraudlab/class_archives.py)
CDS_STAMP := jvm/lib/cds/.written
MVN := mvn -B -q -f jvm/pom.xml
PYTEST_ARGS ?=
# e.g. SERVE_ARGS="--port 8080" for `make serve`
SERVE_ARGS ?=
# simulated minutes of the `history` scenario the default model is trained on
MODEL_MINUTES ?= 180
DEMO_SCENARIO ?= card-testing-burst
# 60 simulated minutes at 20x: alerts within the first minute, the whole run in about 3 minutes
DEMO_MINUTES ?= 60
DEMO_SPEED ?= 20
DEMO_PORT ?= 5006

# Test fixtures keep their brokers' data under this run's pytest folder, so that the clean-up
# after `make test` stops this checkout's brokers and nobody else's.
TEST_TMP := $(CURDIR)/var/pytest
# ([k] keeps the pattern from matching the shell that runs pkill)
TEST_BROKERS := [k]afka\.Kafka $(TEST_TMP)/
# Worker processes of the suite (pytest-xdist), each taking whole test files with their own
# broker and Spark session; 0 runs it in this process. A lone worker leaves about 30% of two
# cores idle (JVMs starting, paced producers, a broker outage waited out): on two cores the
# whole suite took 938 s in one process and 689 s in two.
TEST_WORKERS ?= 2

.PHONY: help
help: ## List the targets and what each does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: setup
setup: $(VENV_STAMP) $(JVM_STAMP) $(CDS_STAMP) browser ## Create .venv with fraudlab installed (editable), resolve the JVM parts with Maven, write the JVMs' class archives, install headless Chromium

.PHONY: browser
browser: ## Install Debian's chromium and chromium-driver when missing (browser tests, views benchmark)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "installing Debian's chromium and chromium-driver"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium chromium-driver >/dev/null; }

$(VENV_STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "fraudlab: Java 17+ is required (apt-get install openjdk-17-jre-headless)."; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

$(JVM_STAMP): jvm/pom.xml jvm/kafka/pom.xml jvm/spark/pom.xml
	@command -v mvn >/dev/null || { echo "fraudlab: Maven is required (apt-get install maven)."; exit 1; }
	rm -rf jvm/lib
	$(MVN) package
	@mkdir -p jvm/lib && touch $@

# a JVM maps its archive instead of loading its classes again: Spark's driver and the broker
# start seconds sooner. Written by a small run of the lab (about a minute); without them
# everything works, only slower, so a failure here is reported and setup goes on.
$(CDS_STAMP): $(VENV_STAMP) $(JVM_STAMP)
	@if $(PY) -m lab.class_archives; then touch $@; \
	else echo "fraudlab: the JVMs' class archives were not written; everything works without them, only slower to start"; fi

.PHONY: class-archives
class-archives: $(VENV_STAMP) $(JVM_STAMP) ## Write the JVMs' class-data-sharing archives again (jvm/lib/cds)
	rm -f $(CDS_STAMP)
	$(MAKE) $(CDS_STAMP)

.PHONY: model
model: $(VENV_STAMP) ## Install the default model the project ships (var/models/default) unless one is there
	@$(PY) -m lab.default_model install

.PHONY: model-train
model-train: $(VENV_STAMP) $(JVM_STAMP) ## Train the default model again from its recipe into var/models/default (lab/default_model.py; about ten minutes)
	rm -rf var/models/default
	$(PY) -m lab.default_model train

.PHONY: model-ship
model-ship: $(VENV_STAMP) $(JVM_STAMP) ## Train the default model from its recipe into models/shipped/default with its recipe inputs (about ten minutes); commit the folder
	$(PY) -m lab.default_model ship

.PHONY: model-check
model-check: $(VENV_STAMP) $(JVM_STAMP) ## Train the default model again from its recipe and check that it is the shipped one (about ten minutes)
	@mkdir -p $(dir $(TEST_TMP)); FRAUDLAB_CHECK_RECIPE=1 $(VENV)/bin/pytest --basetemp=$(TEST_TMP) \
	  tests/models/test_shipped_model.py $(PYTEST_ARGS); status=$$?; \
	pkill -f '$(TEST_BROKERS)' 2>/dev/null || true; exit $$status

.PHONY: model-clean
model-clean: ## Remove the default model, so that `make model` installs the shipped one again
	rm -rf var/models/default

.PHONY: kafka-up
kafka-up: setup ## Start the local broker at 127.0.0.1:9092 (data in var/kafka)
	$(FRAUDLAB) broker up

.PHONY: kafka-down
kafka-down: ## Stop the local broker and free its port
	@if [ -x $(FRAUDLAB) ]; then $(FRAUDLAB) broker down; else echo "nothing to stop"; fi

.PHONY: kafka-status
kafka-status: ## Say whether the local broker runs
	$(FRAUDLAB) broker status

.PHONY: test
test: setup ## Install what is missing, check the layers, then run the whole suite (unit, Kafka, Spark) with its own brokers
	$(VENV)/bin/lint-imports
	@mkdir -p $(dir $(TEST_TMP)); status=0; \
	$(VENV)/bin/pytest --basetemp=$(TEST_TMP) --durations=25 -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS) || status=$$?; \
	pkill -f '$(TEST_BROKERS)' 2>/dev/null || true; \
	exit $$status

.PHONY: test-fast
test-fast: setup ## Run only the tests that need no broker and no Spark
	$(VENV)/bin/pytest -m 'not kafka and not spark and not browser' $(PYTEST_ARGS)

# the regression suite's own pytest folder, so that its clean-up stops only its own broker
REGRESS_TMP := $(CURDIR)/var/pytest-regress

.PHONY: regress
regress: setup ## Run every scenario end to end against its golden events and alerts (part of `make test`; `fraudlab regress --update` rewrites the goldens)
	@mkdir -p $(dir $(REGRESS_TMP)); status=0; \
	$(VENV)/bin/pytest --basetemp=$(REGRESS_TMP) tests/regression $(PYTEST_ARGS) || status=$$?; \
	pkill -f '[k]afka\.Kafka $(REGRESS_TMP)/' 2>/dev/null || true; \
	exit $$status

# the notebooks' own pytest folder, so that its clean-up stops only its own broker
NOTEBOOKS_TMP := $(CURDIR)/var/pytest-notebooks

.PHONY: notebooks
notebooks: setup ## Execute the assignment's three notebooks (notebooks/) end to end against a broker of their own, each one's wall time printed (part of `make test`)
	@mkdir -p $(dir $(NOTEBOOKS_TMP)); status=0; \
	$(VENV)/bin/pytest --basetemp=$(NOTEBOOKS_TMP) tests/notebooks $(PYTEST_ARGS) || status=$$?; \
	pkill -f '[k]afka\.Kafka $(NOTEBOOKS_TMP)/' 2>/dev/null || true; \
	exit $$status

.PHONY: notebooks-strip
notebooks-strip: $(VENV_STAMP) ## Strip the notebooks' outputs and execution counts before committing them (nbstripout)
	$(VENV)/bin/nbstripout notebooks/*.ipynb

.PHONY: lint
lint: setup ## ruff, mypy and the layers (import-linter) over the code
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy fraudlab simulator features models rulebook engine delivery archive replay viz lab
	$(VENV)/bin/lint-imports

.PHONY: serve
serve: setup ## Serve the live, replay and compare views (and an index of runs) at http://localhost:5006/
	$(FRAUDLAB) serve $(SERVE_ARGS)

.PHONY: bench
bench: setup ## Run every benchmark (or those in BENCH="engine replay") and write the report under results/
	$(PY) -m tests.benchmarks.run $(BENCH)

.PHONY: demo
demo: ## Broker, default model, the views, and a fraud scenario played live (Ctrl-C stops it all)
	@# the virtual environment and the JVM parts download side by side on a new checkout
	@$(MAKE) --no-print-directory -j2 $(VENV_STAMP) $(JVM_STAMP)
	@$(MAKE) --no-print-directory model
	@$(FRAUDLAB) broker status >/dev/null 2>&1 || $(FRAUDLAB) broker up
	@mkdir -p var/logs; \
	$(FRAUDLAB) serve --port $(DEMO_PORT) >var/logs/serve.log 2>&1 & serve=$$!; \
	trap 'kill $$serve 2>/dev/null; wait $$serve 2>/dev/null; echo "views stopped"' EXIT; \
	sleep 3; kill -0 $$serve 2>/dev/null || { cat var/logs/serve.log; exit 1; }; \
	echo "views: http://127.0.0.1:$(DEMO_PORT)/live (this run, updating by itself), /replay, /compare"; \
	$(FRAUDLAB) run $(DEMO_SCENARIO) --minutes $(DEMO_MINUTES) --speed $(DEMO_SPEED) || exit $$?; \
	echo "the run is archived: replay it at http://127.0.0.1:$(DEMO_PORT)/replay; Ctrl-C stops the views"; \
	if [ ! -f $(CDS_STAMP) ]; then \
	  echo "meanwhile, the JVMs' class archives are written (about a minute): the next runs start sooner"; \
	  $(MAKE) --no-print-directory $(CDS_STAMP) >var/logs/class-archives.log 2>&1; fi; \
	wait $$serve

.PHONY: clean
clean: kafka-down ## Remove run data (var/) and test output; keep .venv and jvm/lib
	rm -rf var test-output results .pytest_cache

.PHONY: distclean
distclean: clean ## Also remove .venv and the resolved jars
	rm -rf $(VENV) jvm/lib
