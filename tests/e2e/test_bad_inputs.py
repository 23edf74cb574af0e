"""Bad inputs fail before any request, without Airflow retries, naming the field and what is expected.

The table of cases lives in the DAG file ``tests/dags/braze_e2e_bad_inputs.py`` (see its docstring): one
DAG, one independent task per case. It runs once for this module with ``dag.test()`` against the fake
Braze; each case is then checked against its own task instance and its own task log.

``dag.test()`` writes no task log files (nothing appears under ``$AIRFLOW_HOME/logs``): it runs each task
in-process and prints the task's log to stdout/stderr. So the run's output is captured (both streams into
one file, in order) and split by task on the ``[DAG TEST] running task <TaskInstance: dag.task ...>`` and
``[DAG TEST] end task task_id=...`` lines that ``dag.test()`` prints around each try.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from tests.dags.braze_e2e_bad_inputs import CASES, DAG_ID, HOOK, PLAIN_HTTP_CONN_ID, QUOTED_KEY_CONN_ID, Case
from tests.helpers import (
    capture_output,
    env_vars,
    error_messages,
    load_dag,
    logs_by_task,
)

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(scope="module")
def bad_inputs_run(airflow_db, fake_braze_server):
    """Run the DAG once against the fake Braze; return (dag_run, logs by task, requests received)."""
    fake_braze_server.reset()
    quoted = fake_braze_server.airflow_connection()
    quoted["password"] = f'"{fake_braze_server.api_key}"'
    plain_http = {"conn_type": "braze", "host": "http://rest.iad-01.braze.com", "password": "not-a-real-key"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        env_vars(
            **dict([fake_braze_server.airflow_conn_env()]),
            **{
                f"AIRFLOW_CONN_{PLAIN_HTTP_CONN_ID.upper()}": json.dumps(plain_http),
                f"AIRFLOW_CONN_{QUOTED_KEY_CONN_ID.upper()}": json.dumps(quoted),
            },
        ),
    ):
        output = Path(tmp) / "dag_test_output.log"
        with capture_output(output):
            dag_run = load_dag("braze_e2e_bad_inputs.py", DAG_ID).test()
        logs = logs_by_task(output.read_text(errors="replace"), DAG_ID)
    return dag_run, logs, fake_braze_server.received


def test_the_table_covers_every_operator_and_the_hook():
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)
    kinds = {case.operator if case.operator is HOOK else case.operator.__name__ for case in CASES}
    assert kinds == {
        HOOK,
        "BrazeCreateScheduleOperator",
        "BrazeUpdateScheduleOperator",
        "BrazeCancelScheduleOperator",
    }


def test_dag_test_writes_no_task_log_files(bad_inputs_run):
    """Why the logs are read from the captured output (if this fails, read the files instead)."""
    from airflow.configuration import conf

    log_folder = Path(conf.get("logging", "base_log_folder"))
    assert [path for path in log_folder.rglob("*") if DAG_ID in str(path)] == []


def test_no_request_reached_braze(bad_inputs_run):
    _, logs, received = bad_inputs_run
    assert set(logs) == {case.id for case in CASES}  # every task ran, and its log was found
    assert received == []


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[case.id for case in CASES],
)
def test_bad_input_fails_at_once_naming_the_field_and_what_is_expected(bad_inputs_run, case: Case):
    dag_run, logs, _ = bad_inputs_run

    ti = dag_run.get_task_instance(case.id)
    assert ti.state == "failed"
    # retries=2, unused: the operators and the hook alike fail the task at once (a plain @task included)
    assert ti.try_number == case.tries == 1
    log = logs[case.id]
    assert "Sending to Braze" not in log
    errors = error_messages(log)
    assert errors, f"no error line in the log of {case.id}:\n{log}"
    # The error that failed the task (the last one printed) says all three things at once.
    message = errors[-1]
    if case.operator is not HOOK:
        assert "AirflowFailException: " in log  # the operators' own way of skipping retries
    assert case.problem in message
    if message.startswith("The Braze connection"):  # the connection, not a request field, is wrong
        assert case.field in message
        expected_part = message
    else:  # "<field>: <problem>; expected <what is accepted>"
        assert message.startswith(f"{case.field}: ")
        assert "; expected " in message
        expected_part = message.split("; expected ", 1)[1]
    assert case.expected in expected_part
