"""The operators package imports each operator's module only when that operator is asked for."""

from __future__ import annotations

import subprocess
import sys

import pytest

import airflow_braze_schedule.operators as operators


def _modules_loaded_by(statement: str) -> set[str]:
    code = (
        "import sys\n"
        f"{statement}\n"
        "print(' '.join(m for m in sys.modules if m.startswith('airflow_braze_schedule.operators.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_a_lifecycle_dag_loads_only_the_create_update_cancel_module():
    loaded = _modules_loaded_by(
        "from airflow_braze_schedule.operators import BrazeCreateScheduleOperator, "
        "BrazeUpdateScheduleOperator, BrazeCancelScheduleOperator"
    )
    assert loaded == {"airflow_braze_schedule.operators.braze"}


def test_every_public_name_resolves_to_its_class():
    for name in operators.__all__:
        cls = getattr(operators, name)
        assert cls.__name__ == name
        assert name in dir(operators)
    assert sorted(operators.__all__) == sorted(operators._MODULE_OF)


def test_star_import_gives_every_operator():
    loaded = _modules_loaded_by("from airflow_braze_schedule.operators import *")
    assert {"airflow_braze_schedule.operators.bulk", "airflow_braze_schedule.operators.keyed"} <= loaded


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="BrazeNoSuchOperator"):
        operators.BrazeNoSuchOperator  # noqa: B018
