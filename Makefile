# Two entry points, both from a fresh machine with Python 3.10+ and make:
#   make demo   the testproject (web + worker + dashboard) on a private embedded Redis
#   make test   lint, types, the whole test suite, Django checks and the docs
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) testproject/manage.py
DOCS_OUT ?= docs/_build/html

.PHONY: demo test install lint typecheck pytest djangochecks docs bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,docs,tasks,embedded,yaml,prometheus]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(MANAGE) migrate --noinput
	$(MANAGE) demo_admin
	@echo "Demo: http://127.0.0.1:8000/  (admin: http://127.0.0.1:8000/admin/, admin/admin)"
	$(MANAGE) rqworker high default low --with-scheduler --with-cron & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(MANAGE) runserver 127.0.0.1:8000

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# django-stubs imports tests.settings; a given URL keeps it from starting the suite's Redis
# server (mypy ends with os._exit, so that server would outlive it).
typecheck: install
	TASKQ_TEST_REDIS_URL=redis://127.0.0.1:6379/15 $(VENV)/bin/mypy --cache-dir $(VENV)/.mypy_cache

pytest: install
	COVERAGE_FILE=$(VENV)/.coverage $(PY) -m pytest -p no:cacheprovider --cov --cov-report=term $(PYTEST_ARGS)

# Neither command connects to Redis: a URL of their own keeps the demo's server from starting.
djangochecks: install
	REDIS_URL=redis://127.0.0.1:6379/15 $(MANAGE) check --fail-level WARNING
	REDIS_URL=redis://127.0.0.1:6379/15 $(MANAGE) makemigrations --check --dry-run

docs: install
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs $(DOCS_OUT)

test: lint typecheck pytest djangochecks docs

bench: install
	$(PY) -m pip install --quiet django-rq
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .mypy_cache .ruff_cache
