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
	rm -rf static/vendor && mkdir -p static/vendor/bootstrap static/vendor/bootstrap-icons static/vendor/htmx static/vendor/chartjs static/vendor/axe-core
	cp -r node_modules/bootstrap/dist/css node_modules/bootstrap/dist/js static/vendor/bootstrap/
	cp node_modules/bootstrap-icons/font/bootstrap-icons.min.css static/vendor/bootstrap-icons/
	cp -r node_modules/bootstrap-icons/font/fonts static/vendor/bootstrap-icons/
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx/
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map static/vendor/chartjs/
	# Accessibility checks of the browser tests (a dev dependency; no page loads it).
	cp node_modules/axe-core/axe.min.js static/vendor/axe-core/
	touch $@

vendor: static/vendor/.installed

chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "Installing Debian's chromium for browser tests…"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# --- the two commands ---------------------------------------------------------------------
# The portal runs with DEBUG off (styled 404/500 pages, compressed static files); `make run DEBUG=1`
# shows Django's debug pages. Off, it needs a secret key (made once, kept in var/), its host names and
# somewhere for e-mail (files in var/mail/), and is served over plain HTTP on this machine.
DEBUG ?= 0
RUN_ENV = DEBUG=$(DEBUG) SECRET_KEY="$${SECRET_KEY:-$$(cat var/secret_key)}" \
	ALLOWED_HOSTS="$${ALLOWED_HOSTS:-$(HOST),127.0.0.1,localhost}" EMAIL_URL="$${EMAIL_URL:-file://$(CURDIR)/var/mail}" \
	SERVE_OVER_HTTP=1

var/secret_key:
	mkdir -p var
	$(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@
	chmod 600 $@

run: install vendor var/secret_key
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py collectstatic --noinput -v 0
	$(RUN_ENV) $(PY) manage.py seed_demo --if-empty --leads $(DEMO_LEADS)
	$(RUN_ENV) $(PY) manage.py sla_refresh
	$(RUN_ENV) $(PY) manage.py weekly_report --if-missing
	@echo ""
	@echo "Accord is starting on http://$(HOST):$(PORT)/ — log in as marketing, sales, manager, sdr1…sdr4 or admin; password: accord-demo (demo only)."
	@mkdir -p var; trap 'kill $$(jobs -p) 2>/dev/null' EXIT; \
	if [ -n "$$REDIS_URL" ]; then \
		echo "REDIS_URL is set: starting a Celery worker and beat next to the web server (logs in var/)."; \
		$(RUN_ENV) $(VENV)/bin/celery -A portal worker --loglevel=info --concurrency=2 > var/worker.log 2>&1 & \
		$(RUN_ENV) $(VENV)/bin/celery -A portal beat --loglevel=info > var/beat.log 2>&1 & \
	else \
		echo "Embedded mode: SQLite file accord.sqlite3; scheduled jobs run in a scheduler process (log in var/scheduler.log)."; \
		$(RUN_ENV) $(PY) manage.py run_schedule > var/scheduler.log 2>&1 & \
	fi; \
	$(RUN_ENV) $(PY) manage.py runserver $(HOST):$(PORT)

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
