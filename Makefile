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
.PHONY: help install demo test lint typecheck unit clean

help:
	@echo "make demo   - run the example lifecycle DAG against a local fake Braze and tell what happened"
	@echo "make test   - lint, type-check and run the whole test suite"

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

test: lint typecheck
	$(PY) -m pytest

clean:
	rm -rf $(VENV) $(TOOLS) .airflow .pytest_cache .mypy_cache .ruff_cache
