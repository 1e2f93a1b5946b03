# The two commands: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
BUN_VERSION := 1.4.5
BUN := $(TOOLS)/node_modules/.bin/bun
LIGHTHOUSE_VERSION := 12.8.2
LIGHTHOUSE := $(TOOLS)/node_modules/.bin/lighthouse
CHROMIUM := /usr/bin/chromium
PROMETHEUS := /usr/bin/prometheus
INITDB := /usr/lib/postgresql/15/bin/initdb
REDIS := /usr/bin/redis-server
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test lint deps test-deps bun system-packages unit e2e traffic stack-check bench audit clean

run: deps bun ## Set up, migrate, seed and serve the shop (http://127.0.0.1:8000 by default)
	$(PY) -m ecom_reflex.cli setup
	$(PY) -m ecom_reflex.cli serve

test: test-deps bun system-packages lint ## Install what tests need, then run every test (e2e included)
	$(PY) -m pytest

lint: test-deps ## ruff: lint and formatting
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: test-deps ## Unit and integration tests only (no browser, no running shop)
	$(PY) -m pytest tests --ignore=tests/security

e2e: test-deps bun system-packages ## Browser journeys and the attacks on the running shop
	$(PY) -m pytest e2e tests/security

deps: $(VENV)/.deps-installed
test-deps: $(VENV)/.test-deps-installed
bun: $(BUN)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.deps-installed: requirements.txt constraints.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.test-deps-installed: requirements-test.txt constraints.txt $(VENV)/.deps-installed
	$(PY) -m pip install --quiet -r requirements-test.txt -c constraints.txt
	touch $@

# Reflex's own bun installer downloads from the web; the npm package ships the binary.
$(BUN):
	npm install --prefix $(TOOLS) --no-audit --no-fund --silent bun@$(BUN_VERSION)

# Playwright's browser download is not reachable here: tests drive Debian's Chromium; the
# observability journey is scraped by Debian's Prometheus; the scale path runs on a throwaway
# PostgreSQL 15 cluster and Redis server. None of them is started as a service.
system-packages:
	@test -x $(CHROMIUM) -a -x $(PROMETHEUS) -a -x $(INITDB) -a -x $(REDIS) || { \
	  echo "installing chromium, prometheus, postgresql-15 and redis-server from Debian"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq --no-install-recommends chromium prometheus postgresql-15 redis-server; }

traffic: test-deps ## Gentle simulated shoppers against a running shop (HOST/PORT as for make run); Ctrl-C stops
	$(PY) -m bench.loadgen --url http://$${HOST:-127.0.0.1}:$${PORT:-8000} --shoppers $${SHOPPERS:-3}

# The compose stack's secrets (GRAFANA_ADMIN_PASSWORD) come from monitoring/.env, as for compose itself.
stack-check: deps ## Check a running compose stack: Grafana datasources, dashboards, alert rules, Prometheus targets and rules, logs in Loki, a trace in Tempo
	@set -a; if [ -f monitoring/.env ]; then . monitoring/.env; fi; set +a; \
	  $(PY) -m grafana_as_code.stack_check

bench: test-deps bun ## Benchmarks (not part of make test): results in bench/results/, tables printed
	$(PY) -m bench.run

# Lighthouse 12 (13 needs Node 22; Debian's is 20), from npm; Debian's Chromium.
audit: test-deps bun system-packages $(LIGHTHOUSE) ## Lighthouse on the storefront and admin, mobile and desktop (not part of make test): table in README
	$(PY) -m bench.audit

$(LIGHTHOUSE):
	npm install --prefix $(TOOLS) --no-audit --no-fund --silent lighthouse@$(LIGHTHOUSE_VERSION)

clean: ## Remove built frontend, tools and virtualenv (keeps data/)
	rm -rf $(VENV) $(TOOLS) .web artifacts
