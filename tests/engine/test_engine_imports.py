"""The engine is the provider's second layer: it must import without Airflow."""

from __future__ import annotations

import pkgutil

import airflow_braze_schedule.engine as engine
from tests.engine.engine_support import import_without_airflow


def test_the_engine_imports_no_airflow_module():
    modules = [f"airflow_braze_schedule.engine.{m.name}" for m in pkgutil.iter_modules(engine.__path__)]
    assert modules, "no engine modules found"
    result = import_without_airflow(modules)
    assert result.returncode == 0, result.stderr
