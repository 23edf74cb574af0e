# Two commands for a newcomer: `make demo` and `make test`. Everything they need is installed into
# this folder: uv (pinned) into .tools/, the locked environment into .venv/.

UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
# Never download a Python: use the machine's python3 (3.11+).
export UV_PYTHON_DOWNLOADS := never

.DEFAULT_GOAL := help
.PHONY: help install demo test test-slow test-matrix matrix-lock install-constraints bench lint typecheck clean dist test-install airflow test-deployment screenshots

help:
	@echo "make demo   - run the example lifecycle DAG against a local fake Braze and tell what happened"
	@echo "make test   - lint, type-check and run the whole test suite"
	@echo "make test-slow - the minutes-long suites: both fault campaigns, keyed schedules at scale, DAG tests of several runs"
	@echo "make test-matrix - the test suite on Airflow 2.11, 3.0 (oldest 3.x) and the newest 3.x"
	@echo "make bench  - the benchmarks under bench/"
	@echo "make dist   - build the wheel and sdist into dist/"
	@echo "make test-install - install the built wheel with pip next to a stock Airflow, as a user would"
	@echo "make airflow - a local Airflow (UI on 127.0.0.1:8080, admin/admin) with the example DAGs and a fake Braze"
	@echo "make test-deployment - the provider in real deployments: PostgreSQL + LocalExecutor, Redis + Celery (minutes)"
	@echo "make screenshots - run the lifecycle DAG in a local Airflow and screenshot its graph and XCom into docs/,"
	@echo "                   and the Braze schedules page"

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --quiet
	@touch $@

install: $(VENV)/.synced

demo: install
	$(PY) scripts/demo.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

# Two workers (these machines have two cores); whole files per worker, so a module's fixtures run once.
PYTEST_ARGS := -q -p no:cacheprovider -n 2 --dist loadfile

test: lint typecheck
	$(PY) -m pytest $(PYTEST_ARGS)

# The minutes-long suites (the fault campaign of single schedules, keyed schedules at scale: reconcile
# 300 -> 350 and the keyed fault campaign), marked `slow`: on the newest Airflow, outside `make test`'s
# three minutes.
test-slow: install
	$(PY) -m pytest $(PYTEST_ARGS) -m slow

# Older Airflow lines, each in its own environment under .matrix/, pinned by requirements/*.txt.
# Airflow installs with constraint files we cannot fetch here; the pins play their part. Airflow 3.0's
# are resolved as of its release (--exclude-newer), since today's cadwyn and FastAPI break its
# Execution API; common-compat stays current because the provider imports through its newest API.
MATRIX := 2.11 3.0
EXCLUDE_NEWER_3.0 := --exclude-newer 2025-09-20 --exclude-newer-package apache-airflow-providers-common-compat=2026-11-20

.matrix/%/.synced: requirements/airflow-%.txt | $(UV)
	$(UV) venv --quiet --allow-existing .matrix/$* --python python3
	$(UV) pip sync --quiet --python .matrix/$*/bin/python $<
	$(UV) pip install --quiet --python .matrix/$*/bin/python --no-deps -e .
	@touch $@

test-matrix: install $(foreach v,$(MATRIX),.matrix/$(v)/.synced)
	@for v in $(MATRIX); do echo "== Airflow $$v"; .matrix/$$v/bin/python -m pytest $(PYTEST_ARGS) || exit 1; done
	@echo "== Airflow $$($(PY) -c 'import importlib.metadata as m; print(m.version("apache-airflow"))') (newest, from uv.lock)"
	$(PY) -m pytest $(PYTEST_ARGS)

matrix-lock: | $(UV)
	$(UV) pip compile --quiet --python-version 3.11 requirements/airflow-2.11.in -o requirements/airflow-2.11.txt
	$(UV) pip compile --quiet --python-version 3.11 $(EXCLUDE_NEWER_3.0) requirements/airflow-3.0.in -o requirements/airflow-3.0.txt

# The stand-in for Airflow 2.11.2's constraint file that `make test-install` installs with (these
# machines cannot fetch Airflow's own): the versions of 2.11.2's release day, for Python 3.11.
CONSTRAINTS_2.11 := tests/install/constraints/constraints-2.11.2-python3.11.txt
install-constraints: | $(UV)
	@echo "# Stand-in for Airflow's constraints-2.11.2/constraints-3.11.txt: the same kind of pins (the" > $(CONSTRAINTS_2.11)
	@echo "# highest versions released by Airflow 2.11.2's release day, 2026-03-14), for what a plain install" >> $(CONSTRAINTS_2.11)
	@echo "# of Airflow and this provider resolves. Made by \`make install-constraints\` from airflow-2.11.2.in." >> $(CONSTRAINTS_2.11)
	$(UV) pip compile --quiet --python-version 3.11 --exclude-newer 2026-03-15 --no-header --no-annotate \
		tests/install/constraints/airflow-2.11.2.in >> $(CONSTRAINTS_2.11)

bench: install
	$(PY) bench/run.py

# The wheel and sdist a user installs (dist/ is ignored by git); emptied first so it holds one version.
dist: | $(UV)
	rm -rf dist
	$(UV) build --quiet --out-dir dist

# Minutes: `make dist`, then a fresh virtualenv per Airflow line with stock apache-airflow from PyPI and
# the wheel, installed by plain pip. Kept out of `make test` by the `install` marker (see pyproject.toml).
test-install: install
	$(PY) -m pytest -q -p no:cacheprovider -s -m install tests/install
# Real deployments: Airflow's components as separate processes (scripts/deployment/harness.py). The
# Celery and Postgres providers come from the lock file's `deployment` group, outside `make install`.
$(VENV)/.synced-deployment: $(VENV)/.synced
	$(UV) sync --frozen --quiet --group deployment
	@touch $@

airflow: install
	$(PY) scripts/airflow_local.py

test-deployment: $(VENV)/.synced-deployment
	$(PY) -m pytest -q -p no:cacheprovider --durations=0 -m deployment tests/deployment

screenshots: install
	$(PY) scripts/screenshot_lifecycle.py
	$(PY) scripts/screenshot_schedules.py

clean:
	rm -rf $(VENV) $(TOOLS) .matrix .airflow .pytest_cache .mypy_cache .ruff_cache
