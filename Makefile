# Accord — the two commands are `make run` and `make test`; the rest are for developers.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_LEADS ?= 5000
# The test suite runs on PostgreSQL and Redis (CI provides both on localhost).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/accord
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: run test worker beat lint format bench vendor install install-dev chromium migrate seed check clean

# --- set-up -------------------------------------------------------------------------------
$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Front-end packages come from the npm registry at the versions in package-lock.json and are
# copied to static/vendor/ (git-ignored); nothing loads from a CDN.
static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf static/vendor && mkdir -p static/vendor/bootstrap static/vendor/bootstrap-icons static/vendor/htmx static/vendor/chartjs
	cp -r node_modules/bootstrap/dist/css node_modules/bootstrap/dist/js static/vendor/bootstrap/
	cp node_modules/bootstrap-icons/font/bootstrap-icons.min.css static/vendor/bootstrap-icons/
	cp -r node_modules/bootstrap-icons/font/fonts static/vendor/bootstrap-icons/
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx/
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map static/vendor/chartjs/
	touch $@

vendor: static/vendor/.installed

chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "Installing Debian's chromium for browser tests…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# --- the two commands ---------------------------------------------------------------------
run: install vendor
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --if-empty --leads $(DEMO_LEADS)
	$(PY) manage.py sla_refresh
	$(PY) manage.py weekly_report --if-missing
	@echo ""
	@echo "Accord is starting on http://$(HOST):$(PORT)/ — log in as marketing, sales, manager, sdr1…sdr4 or admin; password: accord-demo (demo only)."
	@if [ -n "$$REDIS_URL" ]; then \
		echo "REDIS_URL is set: starting a Celery worker and beat next to the web server (logs in var/)."; \
		mkdir -p var; \
		$(VENV)/bin/celery -A portal worker --loglevel=info --concurrency=2 > var/worker.log 2>&1 & \
		$(VENV)/bin/celery -A portal beat --loglevel=info > var/beat.log 2>&1 & \
		trap 'kill $$(jobs -p) 2>/dev/null' EXIT; \
		$(PY) manage.py runserver $(HOST):$(PORT); \
	else \
		echo "Embedded mode: SQLite file accord.sqlite3, Celery tasks run inside the web process."; \
		$(PY) manage.py runserver $(HOST):$(PORT); \
	fi

test: install-dev vendor chromium
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CELERY_EAGER=1 \
		$(VENV)/bin/pytest --create-db $(PYTEST_ARGS)

# --- developer targets --------------------------------------------------------------------
worker: install
	$(VENV)/bin/celery -A portal worker --loglevel=info

beat: install
	$(VENV)/bin/celery -A portal beat --loglevel=info

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check: install-dev
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

BENCH_LEADS ?= 1000000
bench: install-dev
	@for b in bench/*.py; do echo "== $$b"; DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(PY) $$b --leads $(BENCH_LEADS) || exit 1; done

clean:
	rm -rf $(VENV) node_modules static/vendor staticfiles accord.sqlite3 var
