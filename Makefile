# Gantry: two commands do all set-up — `make run` and `make test`. Every target is idempotent.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
CHECKOV_VENV := .tools/checkov
# The provider mirror (TERRAFORM_PLUGIN_DIR) is found by portal/settings.py, for make and manage.py alike.
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: run test screenshots prerequisites-run prerequisites-test lint format lock venv tools assets system-packages migrate seed ci-check clean

$(BIN)/uv: requirements/bootstrap.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r requirements/bootstrap.lock
	touch $@

$(VENV)/.synced: $(BIN)/uv requirements/app.lock
	$(BIN)/uv pip sync -q --python $(PY) --require-hashes requirements/app.lock
	touch $@

$(CHECKOV_VENV)/.synced: $(BIN)/uv requirements/checkov.lock
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip sync -q --python $(CHECKOV_VENV)/bin/python --require-hashes requirements/checkov.lock
	touch $@

static/vendor/.installed: package.json package-lock.json scripts/vendor_assets.sh
	bash scripts/vendor_assets.sh
	touch $@

venv: $(VENV)/.synced
tools: $(CHECKOV_VENV)/.synced
assets: static/vendor/.installed

system-packages:
	bash scripts/ensure_system_packages.sh

migrate: venv
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

# What is missing and how to get it, before anything is installed (first prerequisite: make runs them in order).
prerequisites-run:
	PYTHON=$(PYTHON) bash scripts/check_prerequisites.sh run
prerequisites-test:
	PYTHON=$(PYTHON) bash scripts/check_prerequisites.sh test

# The portal, a Celery worker, beat and the embedded AWS sandbox, on embedded defaults. The demo AWS world is
# built by gantry_up once the sandbox answers; the sandbox keeps it in var/sandbox/ across restarts.
run: prerequisites-run venv tools assets seed
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py gantry_up

# Integration tests fail (never skip) when a service they need is missing.
test: export GANTRY_REQUIRE_SERVICES := 1
test: prerequisites-test venv tools assets system-packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest -n 2 --dist loadgroup  # browser tests share one stack on one worker

# Refreshes the README's screenshots in docs/screenshots (test runs write theirs under var/test/).
screenshots: export GANTRY_REQUIRE_SERVICES := 1
screenshots: prerequisites-test venv tools assets system-packages
	GANTRY_DOCS_SCREENSHOTS=$(CURDIR)/docs/screenshots $(PY) -m pytest -p no:warnings -q portal/tests/browser/test_request_to_apply.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

lock: $(BIN)/uv
	$(BIN)/uv pip compile -q --python-version 3.11 --generate-hashes requirements/bootstrap.in -o requirements/bootstrap.lock
	$(BIN)/uv pip compile -q --python-version 3.11 --generate-hashes requirements/app.in -o requirements/app.lock
	$(BIN)/uv pip compile -q --python-version 3.11 --generate-hashes requirements/checkov.in -o requirements/checkov.lock

clean:
	rm -rf $(VENV) .tools static/vendor node_modules var/test
