# Bali booking assistant. Two commands do everything on a fresh machine: `make run`, `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
STAMP := $(VENV)/.installed
MODEL := models/assistant.tar.gz
TRAINING := domain.yml config.yml $(shell find data -name '*.yml' 2>/dev/null) $(wildcard nlu/*.py)

export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONDONTWRITEBYTECODE := 1

# Python 3.10 (rasa 3.6 needs < 3.11): pyenv's versions first, then PATH; each must really run.
PYTHON310 := $(shell for p in $$HOME/.pyenv/versions/3.10*/bin/python3.10 $$(command -v python3.10); do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo "$$p"; break; }; done)

.PHONY: help install run run-cluster cluster-deps test-deps shell test unit train seed report admin reconcile bench nlu-eval i18n flows-keys mongo-start mongo-stop clean

help:
	@echo "make run     install, start MongoDB, seed, train if needed, run the sandbox (local WhatsApp"
	@echo "             phone and Xendit, when no credentials are set), action + Rasa servers and"
	@echo "             the business console (http://127.0.0.1:8001)"
	@echo "make test    the same set-up, then every test"
	@echo "make shell   talk to the bot in the terminal (rasa shell)"
	@echo "make admin ARGS=\"add|reset|remove|list ...\"  console accounts (owners, front desk)"
	@echo "make run-cluster  2 Rasa + 2 action servers behind nginx, Redis lock store, shared MongoDB"
	@echo "make train | seed | report | reconcile | bench | nlu-eval | i18n | flows-keys | unit | mongo-start | mongo-stop | clean"

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt
	@if [ -z "$(PYTHON310)" ]; then \
		echo "error: Python 3.10 is required (rasa 3.6 needs Python < 3.11)."; \
		echo "Install it, e.g. 'pyenv install 3.10.13', or put python3.10 on PATH."; exit 1; fi
	@[ -x $(PY) ] || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip==24.0
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
	@touch $@

# Rasa itself skips training when the fingerprint is unchanged; make skips even asking.
train: $(MODEL)

$(MODEL): $(STAMP) $(TRAINING)
	$(RASA) train --fixed-model-name assistant --out models
	@touch $@

seed: $(STAMP)
	$(PY) -m tools.seed

report: $(STAMP)
	$(PY) -m tools.report $(ARGS)

# Console accounts: make admin ARGS="add --business ID --username NAME --role owner|staff",
# "reset --username NAME", "remove --username NAME", "list [--business ID]".
admin: $(STAMP)
	$(PY) -m tools.admin $(ARGS)

# Payments: apply what Xendit knows and callbacks missed (the Rasa server also does it every minute).
reconcile: $(STAMP)
	$(PY) -m tools.reconcile

run: $(STAMP) $(MODEL)
	$(PY) -m tools.run

# The cluster needs Debian's nginx, redis-server and prometheus; installed once when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
cluster-deps:
	@if ! { command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null || ! command -v redis-server >/dev/null \
			|| ! command -v prometheus >/dev/null; then \
		echo "installing nginx, redis-server and prometheus (Debian packages)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
			--no-install-recommends nginx-light redis-server prometheus >/dev/null; fi

# `make test` also needs Debian's chromium (the sandbox's browser tests drive it with Playwright;
# no browser download), an emoji font for its screenshots and promtool (Debian's prometheus, to
# check the alert rules): one apt-get update for whatever is missing.
test-deps:
	@missing=""; \
	{ command -v nginx || [ -x /usr/sbin/nginx ]; } >/dev/null || missing="$$missing nginx-light"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -d /usr/share/fonts/truetype/noto ] || missing="$$missing fonts-noto-color-emoji"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then echo "installing$$missing (Debian packages)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null; fi

run-cluster: $(STAMP) $(MODEL) cluster-deps
	$(PY) -m tools.cluster $(ARGS)

shell: $(STAMP) $(MODEL)
	$(PY) -m tools.run shell

# Unit and MongoDB tests only (no trained model needed); pass PYTEST_ARGS to select.
# Tests run in TEST_WORKERS processes (pytest-xdist), each test file whole in one of them, each
# process with its own mongod and stacks on free ports; TEST_WORKERS=0 runs them in this one.
TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
unit: $(STAMP)
	$(PY) -m pytest -q $(XDIST) -m "not e2e" $(PYTEST_ARGS) tests

test: $(STAMP) $(MODEL) test-deps
	promtool check rules monitoring/alerts.yml
	$(RASA) data validate --quiet
	$(PY) -m pytest -q $(XDIST) $(PYTEST_ARGS) tests
	$(RASA) test core --model models --stories tests/stories --fail-on-prediction-errors --out results

# Message catalogs (booking/i18n.py): extract what the code says into locale/messages.pot and
# update each language's locale/<lang>/LC_MESSAGES/messages.po, whose new entries translators
# then fill in (tests/booking/test_i18n.py fails while one is missing).
I18N_LANGUAGES := id
i18n: $(STAMP)
	$(VENV)/bin/pybabel -q extract -F babel.cfg -k t -k tx -k N_ --no-location --sort-output \
		--project "Bali booking assistant" -o locale/messages.pot .
	@for lang in $(I18N_LANGUAGES); do \
		if [ -f locale/$$lang/LC_MESSAGES/messages.po ]; then \
			$(VENV)/bin/pybabel -q update --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date -i locale/messages.pot -d locale -l $$lang; \
		else $(VENV)/bin/pybabel -q init -i locale/messages.pot -d locale -l $$lang; fi; done

# Each language's booking Flow JSON (flows/booking_flow.<lang>.json), generated from the English
# flows/booking_flow.json through the catalogs (tools/flow_json.py; translate with `make i18n`).
.PHONY: flows
flows: $(STAMP)
	$(PY) -m tools.flow_json

nlu-eval: $(STAMP) $(MODEL)
	$(PY) -m tools.language_eval
	$(PY) -m tools.nlu_eval

flows-keys: $(STAMP)
	$(PY) -m tools.flows_keys

bench: $(STAMP) cluster-deps
	$(PY) -m tools.bench $(ARGS)

mongo-start: $(STAMP)
	$(PY) -m tools.mongod start

mongo-stop: $(STAMP)
	$(PY) -m tools.mongod stop

clean:
	rm -rf models results .pytest_cache .hypothesis
