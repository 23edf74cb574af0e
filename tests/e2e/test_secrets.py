"""The REST API key stays secret, and the transport keeps it so.

A real DAG run (``tests/dags/braze_e2e_secrets.py``) against a fake Braze with long, distinctive keys:
the keys must be in no task log line, no XCom, no rendered template field, no row of the metadata
database, and no exception's text, while the fake shows the key did go over the wire (so these searches
can fail). Then the transport: https only (except loopback), certificate checks on by default with a CA
bundle extra, redirects never followed (so the ``Authorization`` header never reaches another host), and a
key wrapped in quotes caught before any request, with a message that names the quotes and not the key.

Where the task logs are: ``dag.test()`` writes no task log files (``$AIRFLOW_HOME/logs`` stays empty; it
runs each task in-process and prints its log). So the whole output of the run, stdout and stderr at the
file-descriptor, ``sys`` and logging-handler levels, is captured into one file and searched instead.
"""

from __future__ import annotations

import json
import tempfile
import traceback
from pathlib import Path

import pytest
import sqlalchemy as sa

from airflow_braze_schedule.core.errors import (
    BrazeApiError,
    BrazeConfigurationError,
    BrazeError,
    BrazeUnexpectedResponseError,
)
from airflow_braze_schedule.testing import DropAfterProcessing, FakeBraze, Status
from tests.dags.braze_e2e_secrets import DAG_ID, WRONG_KEY_CONN_ID
from tests.helpers import capture_output, env_vars, load_dag, plain_text, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

KEY = "bz-rest-7d1f6c2a-93e4-4b8e-a5d0-e8c1f4b27a96-SECRET"
WRONG_KEY = "bz-rest-0a5e9b3c-1f7d-4c26-b8e1-52d9a7c3e04f-WRONG"
SECRETS = (KEY, WRONG_KEY)
FUTURE = "2031-03-01T09:00:00Z"
EMAIL = {"email": {"app_id": "app-1", "subject": "Hello", "body": "<p>Hi</p>"}}
ECHOED_JSON = Status(
    400, body={"message": "Invalid request", "errors": [f"seen: Authorization: Bearer {KEY}"]}
)
ECHOED_PAGE = Status(
    400,
    body=f"<html><body><h1>400 Bad Request</h1><pre>Authorization: Bearer {KEY}</pre></body></html>",
    headers={"Content-Type": "text/html"},
)


def _connection(fake: FakeBraze, password: str, **extra: object) -> str:
    return json.dumps({"conn_type": "braze", "host": fake.url, "password": password, "extra": extra})


def _assert_secret_free(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a REST API key is in {where}"
        assert secret[8:-7] not in text, f"the middle of a REST API key is in {where}"


def _airflows_own_masking_request(line: str) -> bool:
    """Airflow 3.0's dag.test() logs at debug level the message that registers a secret with its masker.

    The hook calls Airflow's ``mask_secret(key)`` so that logs are masked; Airflow 3.0 echoes that request
    (``msg=MaskSecret(value=...)``) in its own debug log, which dag.test() prints. Task logs run at INFO
    by default, and later Airflow lines do not print it. That is Airflow's record of the masking
    request, not this provider logging the key, so it is set aside here.
    """
    return "msg=MaskSecret(" in line


def _exception_texts(error: BaseException) -> str:
    """Everything an exception shows: str, repr, args, attributes, and its traceback with its causes."""
    texts = [str(error), repr(error), *map(repr, error.args), repr(vars(error))]
    texts += traceback.format_exception(error)
    return "\n".join(texts)


def _hook(*args: object, **kwargs: object):
    """The hook, imported when a test runs: importing Airflow before ``tests.conftest`` has set
    ``AIRFLOW_HOME`` (import order puts ``airflow_braze_schedule`` first) would use another database."""
    from airflow_braze_schedule.hooks.braze import BrazeHook

    return BrazeHook(*args, **kwargs)


@pytest.fixture(scope="module")
def secret_braze():
    """A fake Braze that accepts ``KEY`` only."""
    with FakeBraze(api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def secrets_run(airflow_db, secret_braze):
    """Run the DAG once; return (dag_run, its whole output, the requests the fake received)."""
    secret_braze.reset()
    secret_braze.inject(ECHOED_JSON, path="/canvas/trigger/schedule/create")
    secret_braze.inject(ECHOED_PAGE, path="/messages/schedule/delete")
    with (
        tempfile.TemporaryDirectory() as tmp,
        env_vars(
            AIRFLOW_CONN_BRAZE_DEFAULT=_connection(secret_braze, KEY),
            **{f"AIRFLOW_CONN_{WRONG_KEY_CONN_ID.upper()}": _connection(secret_braze, WRONG_KEY)},
        ),
    ):
        output = Path(tmp) / "dag_test_output.log"
        with capture_output(output):
            dag_run = load_dag("braze_e2e_secrets.py", DAG_ID).test()
        return dag_run, output.read_text(errors="replace"), secret_braze.received


def test_the_run_used_the_key_and_met_every_rejection(secrets_run):
    """The positive controls: without them, finding no key could mean the key was never used."""
    dag_run, output, received = secrets_run

    assert task_states(dag_run) == {
        "schedule_campaign": "success",
        "move": "success",
        "cancel": "success",
        "rejected_key": "failed",
        "rejected_request": "failed",
        "rejected_with_a_page": "failed",
        "show_hook": "success",
    }
    sent = sorted((r.path, r.headers["authorization"], r.status) for r in received)
    assert sent == [
        ("/campaigns/trigger/schedule/create", f"Bearer {WRONG_KEY}", 401),
        ("/campaigns/trigger/schedule/create", f"Bearer {KEY}", 200),
        ("/campaigns/trigger/schedule/delete", f"Bearer {KEY}", 200),
        ("/campaigns/trigger/schedule/update", f"Bearer {KEY}", 200),
        ("/canvas/trigger/schedule/create", f"Bearer {KEY}", 400),
        ("/messages/schedule/delete", f"Bearer {KEY}", 400),
    ]
    # The searches below look at real output: the rejections and the hook's self-description are in it.
    output = plain_text(output)  # Airflow 3.0 colours and wraps long exception messages
    assert "Braze answered 401 to POST /campaigns/trigger/schedule/create" in output
    assert "Braze answered 400 to POST /canvas/trigger/schedule/create" in output
    assert "Braze answered 400 to POST /messages/schedule/delete" in output
    assert "The hook: BrazeHook(braze_conn_id='braze_default')" in output
    assert "The header it sends, as a worker would log it: Authorization: Bearer ***" in output


def test_no_key_in_the_task_logs(secrets_run):
    from airflow.configuration import conf

    _, output, _ = secrets_run
    for number, line in enumerate(output.splitlines(), start=1):
        if _airflows_own_masking_request(line):
            continue
        _assert_secret_free(line, f"line {number} of the run's output: {line[:200]}")
    # dag.test() writes no task log files today; should a later Airflow write them, they are searched too.
    for path in Path(conf.get("logging", "base_log_folder")).rglob("*"):
        if path.is_file():
            _assert_secret_free(path.read_text(errors="replace"), f"the log file {path}")


def test_no_key_in_xcom(secrets_run):
    try:
        from airflow.models.xcom import XComModel
    except ImportError:  # Airflow 2
        from airflow.models.xcom import BaseXCom as XComModel
    from airflow.utils.session import create_session

    dag_run, _, _ = secrets_run
    with create_session() as session:
        rows = session.execute(
            sa.select(XComModel.task_id, XComModel.key, XComModel.value).where(
                XComModel.dag_id == DAG_ID, XComModel.run_id == dag_run.run_id
            )
        ).all()
    assert {(task_id, key) for task_id, key, _ in rows} >= {
        ("schedule_campaign", "return_value"),
        ("schedule_campaign", "schedule_id"),
        ("move", "return_value"),
        ("cancel", "return_value"),
        ("show_hook", "return_value"),
    }
    for task_id, key, value in rows:
        _assert_secret_free(json.dumps(value, default=str), f"XCom {task_id}/{key}")
    shown = dag_run.get_task_instance("show_hook").xcom_pull(task_ids="show_hook")
    assert shown["hook"] == "BrazeHook(braze_conn_id='braze_default')"
    assert shown["settings"].startswith("_ConnectionSettings(base_url='http://127.0.0.1:")
    assert shown["header"] == "Authorization: Bearer ***"  # the hook registered the key with the masker


def test_no_key_in_rendered_template_fields(secrets_run):
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    dag_run, _, _ = secrets_run
    with create_session() as session:
        rows = session.execute(
            sa.select(RenderedTaskInstanceFields.task_id, RenderedTaskInstanceFields.rendered_fields).where(
                RenderedTaskInstanceFields.dag_id == DAG_ID,
                RenderedTaskInstanceFields.run_id == dag_run.run_id,
            )
        ).all()
    fields = dict(rows)
    assert set(fields) == set(task_states(dag_run))
    assert fields["schedule_campaign"]["braze_conn_id"] == "braze_default"
    assert fields["rejected_key"]["braze_conn_id"] == WRONG_KEY_CONN_ID
    for task_id, rendered in fields.items():
        _assert_secret_free(json.dumps(rendered, default=str), f"the rendered fields of {task_id}")


def test_no_key_anywhere_in_the_metadata_database(secrets_run):
    """Belt and braces: every text in every table (task state store, audit log, ...) after the run."""
    from airflow.settings import engine

    with engine.connect() as connection:
        for table in sa.inspect(engine).get_table_names():
            for row in connection.execute(sa.text(f'SELECT * FROM "{table}"')):
                _assert_secret_free(" ".join(map(str, row)), f"a row of the {table} table")


@pytest.mark.parametrize(
    ("fault", "password", "call", "expected_error"),
    [
        pytest.param(None, WRONG_KEY, "create", "Braze answered 401", id="401-wrong-key"),
        pytest.param(ECHOED_JSON, KEY, "create", "Braze answered 400", id="400-errors-echo-the-key"),
        pytest.param(ECHOED_PAGE, KEY, "delete", "non-JSON text/html body", id="400-page-echoes-the-key"),
        pytest.param(Status(404, body=f"no route; Bearer {KEY}"), KEY, "delete", "404", id="404-text-echo"),
        pytest.param(
            DropAfterProcessing(), KEY, "create", "no answer came back", id="create-outcome-unknown"
        ),
        pytest.param(None, f'"{KEY}"', "create", "wrapped in quotes", id="key-in-quotes"),
    ],
)
def test_no_key_in_any_exception(secret_braze, monkeypatch, fault, password, call, expected_error):
    secret_braze.reset()
    if fault is not None:
        secret_braze.inject(fault)
    monkeypatch.setenv("AIRFLOW_CONN_BRAZE_SECRET", _connection(secret_braze, password))
    hook = _hook("braze_secret", timeout=2)

    calls = {
        "create": lambda: hook.schedule_message(
            schedule=FUTURE, messages=EMAIL, segment_id="segment-1", broadcast=True
        ),
        "delete": lambda: hook.delete_scheduled_message("sched-1"),
    }

    with pytest.raises(BrazeError) as caught:
        calls[call]()

    assert expected_error in str(caught.value)
    _assert_secret_free(_exception_texts(caught.value), f"the exception {caught.value!r}")
    _assert_secret_free(repr(hook) + repr(hook.__dict__.get("settings")), "the hook's repr")


# --- transport -------------------------------------------------------------------------------------------


def test_certificates_are_checked_by_default(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_TLS",
        json.dumps({"conn_type": "braze", "host": "https://rest.iad-01.braze.com", "password": KEY}),
    )
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nowhere/ca.pem")  # the worker's environment is not used
    hook = _hook("braze_tls")

    assert hook.session.verify is True
    assert hook.session.trust_env is False


def test_a_ca_bundle_extra_replaces_the_default_certificates(monkeypatch, tmp_path):
    bundle = tmp_path / "corporate-proxy-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_TLS",
        json.dumps(
            {
                "conn_type": "braze",
                "host": "rest.fra-01.braze.eu",
                "password": KEY,
                "extra": {"ca_bundle": str(bundle)},
            }
        ),
    )
    hook = _hook("braze_tls")

    assert hook.session.verify == str(bundle)
    assert hook.settings.base_url == "https://rest.fra-01.braze.eu"


@pytest.mark.parametrize(
    "host", ["http://rest.iad-01.braze.com", "http://10.20.30.40:8080", "http://braze-proxy.internal"]
)
def test_plain_http_to_a_non_loopback_host_is_refused_before_any_request(monkeypatch, host):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_PLAIN", json.dumps({"conn_type": "braze", "host": host, "password": KEY})
    )
    hook = _hook("braze_plain")

    with pytest.raises(BrazeConfigurationError) as caught:
        hook.delete_scheduled_message("sched-1")

    message = str(caught.value)
    assert "plain http to a non-loopback host" in message
    assert "use https" in message
    _assert_secret_free(_exception_texts(caught.value), "the refusal")


def test_plain_http_to_loopback_is_allowed(fake_braze):
    hook = _hook()

    assert hook.test_connection() == (True, f"Connected to Braze at {fake_braze.url}")
    assert [r.path for r in fake_braze.received] == ["/messages/scheduled_broadcasts"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_not_followed(fake_braze, status):
    with FakeBraze(host="127.0.0.2", api_key=fake_braze.api_key) as other_host:
        target = other_host.url + "/messages/schedule/create"
        fake_braze.inject(Status(status, headers={"Location": target}), path="/messages/schedule/create")
        hook = _hook()

        with pytest.raises(BrazeApiError) as caught:
            hook.schedule_message(schedule=FUTURE, messages=EMAIL, segment_id="segment-1", broadcast=True)

        assert other_host.received == []  # neither the key nor the send ever reached it
    assert isinstance(caught.value, BrazeUnexpectedResponseError)
    assert caught.value.status_code == status
    assert f"redirect to '{target}', not followed" in str(caught.value)
    [request] = fake_braze.received  # sent once, not retried
    assert request.headers["authorization"] == f"Bearer {fake_braze.api_key}"
    assert fake_braze.api_key not in _exception_texts(caught.value)


@pytest.mark.parametrize(
    "password",
    [f'"{KEY}"', f"'{KEY}'", f'"{KEY}', f"{KEY}'", f'  "{KEY}"  '],
    ids=["double", "single", "leading-only", "trailing-only", "padded"],
)
def test_a_key_wrapped_in_quotes_is_caught_before_any_request(fake_braze, monkeypatch, password):
    monkeypatch.setenv("AIRFLOW_CONN_BRAZE_QUOTED", _connection(fake_braze, password))
    hook = _hook("braze_quoted")

    with pytest.raises(BrazeConfigurationError) as caught:
        hook.schedule_campaign("campaign-1", schedule=FUTURE, broadcast=True)

    message = str(caught.value)
    assert "'braze_quoted'" in message
    assert "wrapped in quotes" in message
    assert "store the key without quotes" in message
    _assert_secret_free(_exception_texts(caught.value), "the quotes error")
    assert fake_braze.received == []
