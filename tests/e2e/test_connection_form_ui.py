"""The connection form as Airflow's own UI gets it: a real API server on loopback.

The server (``airflow api-server``) runs in a child process with this session's ``AIRFLOW_HOME``, started
once for the module. Authentication is switched off the way Airflow 3's SimpleAuthManager allows for a
local environment (``[core] simple_auth_manager_all_admins``), and connection testing is enabled. The UI
builds its new-connection form from ``GET /ui/connections/hook_meta``; its "Test" button calls
``POST /api/v2/connections/test``, which runs ``BrazeHook.test_connection()`` inside the server, here
against the fake Braze.

Airflow 3.2+ reads the form from ``get_provider_info()`` (``ui-field-behaviour``, ``conn-fields``); older
versions ask the hook, which ``tests/hooks`` cover, so the module is skipped there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_braze_schedule.get_provider_info import CONNECTION_FIELDS, CONNECTION_UI
from tests.helpers import AIRFLOW_VERSION, lines_about_the_provider

if TYPE_CHECKING:
    from collections.abc import Iterator

if AIRFLOW_VERSION.release < (3, 2):
    pytest.skip(
        "Airflow before 3.2 builds the connection form from the hook, not from provider info",
        allow_module_level=True,
    )

STARTUP_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0


class ApiServer:
    """A running ``airflow api-server``: its base URL and its log file."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def get(self, path: str) -> requests.Response:
        return requests.get(self.url + path, timeout=REQUEST_TIMEOUT)

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=REQUEST_TIMEOUT)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and every process it started (it runs in its own process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def _wait_until_healthy(server: ApiServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"airflow api-server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if requests.get(server.url + "/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"airflow api-server did not answer within {STARTUP_TIMEOUT:g} s:\n{server.log_tail()}"
            )
        time.sleep(0.25)


@pytest.fixture(scope="module")
def api_server(airflow_db, tmp_path_factory) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free loopback port, answering within ``STARTUP_TIMEOUT`` seconds."""
    port = _free_port()
    log = tmp_path_factory.mktemp("api_server") / "api-server.log"
    env = {
        **os.environ,
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        # No login for a server that only this test reaches, on loopback.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }
    env.pop("AIRFLOW_CONN_BRAZE_DEFAULT", None)
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        server = ApiServer(f"http://127.0.0.1:{port}", log)
        _wait_until_healthy(server, process)
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def braze_form(api_server: ApiServer) -> dict[str, Any]:
    """The UI's metadata for connection type ``braze``, as the new-connection form receives it."""
    response = api_server.get("/ui/connections/hook_meta")
    assert response.status_code == 200, response.text
    forms = [form for form in response.json() if form["connection_type"] == "braze"]
    assert len(forms) == 1, (
        f"connection types served: {sorted(f['connection_type'] for f in response.json())}"
    )
    return forms[0]


def test_the_form_is_the_braze_hook(braze_form):
    assert braze_form["hook_name"] == "Braze"
    assert braze_form["hook_class_name"] == "airflow_braze_schedule.hooks.braze.BrazeHook"


def test_the_form_relabels_host_and_password_with_placeholders(braze_form):
    fields = braze_form["standard_fields"]

    assert fields["host"] == {
        "hidden": False,
        "title": "REST endpoint",
        "placeholder": "https://rest.iad-01.braze.com (or an instance name such as US-01, EU-01)",
    }
    assert fields["password"] == {
        "hidden": False,
        "title": "REST API key",
        "placeholder": "REST API key, without quotes",
    }
    assert fields["host"]["placeholder"] == CONNECTION_UI["placeholders"]["host"]


def test_the_form_hides_schema_port_and_login(braze_form):
    fields = braze_form["standard_fields"]

    # The UI calls the schema field "url_schema".
    assert {name for name in ("url_schema", "port", "login") if (fields[name] or {}).get("hidden")} == {
        "url_schema",
        "port",
        "login",
    }
    assert not fields["host"]["hidden"]
    assert not fields["password"]["hidden"]


def test_the_form_has_the_extra_fields_with_labels(braze_form):
    extra = braze_form["extra_fields"]

    assert list(extra) == ["timeout", "dry_run", "ca_bundle", "proxy"]
    assert {name: field["schema"]["title"] for name, field in extra.items()} == {
        "timeout": "Timeout",
        "dry_run": "Dry run",
        "ca_bundle": "CA bundle",
        "proxy": "Proxy",
    }
    assert extra["timeout"]["schema"]["type"] == ["integer", "null"]
    assert extra["timeout"]["schema"]["minimum"] == 1
    assert extra["dry_run"]["schema"]["type"] == ["boolean", "null"]
    assert extra["ca_bundle"]["schema"]["type"] == ["string", "null"]
    assert extra["proxy"]["schema"]["type"] == ["string", "null"]
    for name, field in extra.items():
        assert field["description"] == CONNECTION_FIELDS[name]["description"]


def _braze_connection(fake_braze, **changes: Any) -> dict[str, Any]:
    """The body the form's "Test" button sends for a braze connection pointing at the fake."""
    conn = fake_braze.airflow_connection()
    body = {
        "connection_id": "braze_ui_form",
        "conn_type": conn["conn_type"],
        "host": conn["host"],
        "password": conn["password"],
        "extra": json.dumps(conn["extra"]),
    }
    return {**body, **changes}


def test_testing_a_braze_connection_reaches_braze(api_server, fake_braze):
    response = api_server.post("/api/v2/connections/test", _braze_connection(fake_braze))

    assert response.status_code == 200, response.text
    assert response.json() == {"status": True, "message": f"Connected to Braze at {fake_braze.url}"}
    [call] = fake_braze.received
    assert (call.method, call.path, call.status) == ("GET", "/messages/scheduled_broadcasts", 200)


def test_testing_a_braze_connection_with_a_wrong_key_tells_401(api_server, fake_braze):
    response = api_server.post(
        "/api/v2/connections/test", _braze_connection(fake_braze, password="not-the-workspace-key")
    )

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] is False
    assert result["message"].startswith("Braze rejected the REST API key (401)"), result["message"]
    assert "not-the-workspace-key" not in result["message"]
    [call] = fake_braze.received
    assert (call.path, call.status) == ("/messages/scheduled_broadcasts", 401)


def test_the_server_logged_no_warning_about_the_provider(api_server, braze_form):
    log = api_server.log.read_text(errors="replace")

    assert lines_about_the_provider(log, r"warn|deprecat") == []
