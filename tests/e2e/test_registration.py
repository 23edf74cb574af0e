"""Airflow's own CLI sees the provider: registration, the connection form, and connection testing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from airflow_braze_schedule.get_provider_info import CONNECTION_FIELDS, get_provider_info
from tests.helpers import lines_about_the_provider


def _airflow(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("providers", "list"), "airflow-braze-schedule"),
        (("providers", "hooks"), "airflow_braze_schedule.hooks.braze.BrazeHook"),
        # Five seconds each, for an Airflow process: these two in `make test-slow`, within make test's budget.
        pytest.param(
            ("providers", "links"), "airflow_braze_schedule.links.BrazeDashboardLink", marks=pytest.mark.slow
        ),
        pytest.param(
            ("providers", "triggers"), "airflow_braze_schedule.triggers.braze", marks=pytest.mark.slow
        ),
    ],
)
def test_airflow_cli_lists_the_provider_without_warnings(command, expected):
    result = _airflow(*command)

    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    # Airflow 2.11 prints deprecation warnings of its own; none may concern this provider.
    assert lines_about_the_provider(result.stdout + result.stderr, "warning") == []


def test_provider_info_declares_the_connection_form():
    [conn_type] = get_provider_info()["connection-types"]
    assert conn_type["connection-type"] == "braze"
    assert conn_type["ui-field-behaviour"]["relabeling"] == {
        "host": "REST endpoint",
        "password": "REST API key",
    }
    assert set(conn_type["ui-field-behaviour"]["hidden-fields"]) >= {"schema", "port", "login"}
    assert "timeout" in CONNECTION_FIELDS


@pytest.mark.usefixtures("airflow_db")
def test_airflow_connections_test_reaches_braze(fake_braze):
    result = _airflow("connections", "test", "braze_default", AIRFLOW__CORE__TEST_CONNECTION="Enabled")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection success!" in result.stdout
    [request] = fake_braze.received
    assert request.path == "/messages/scheduled_broadcasts"
    assert fake_braze.api_key not in result.stdout + result.stderr


def test_provider_info_matches_airflows_schema_and_declares_the_registry_settings():
    """Airflow validates provider info against its schema; the settings' defaults are the registry's."""
    import json
    from pathlib import Path

    import airflow
    import jsonschema

    from airflow_braze_schedule.registry import DEFAULT_TABLE

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    options = info["config"]["braze_schedule"]["options"]
    assert options["registry_table"]["default"] == DEFAULT_TABLE
    assert options["registry_conn_id"]["default"] == ""


@pytest.mark.slow
def test_airflow_config_shows_the_registry_settings_with_their_defaults():
    result = _airflow(
        "config", "list", "--section", "braze_schedule", "--show-values", "--include-descriptions"
    )

    assert result.returncode == 0, result.stderr
    assert "registry_table = braze_schedule_registry" in result.stdout
    assert "registry_conn_id = \n" in result.stdout + "\n"
    assert lines_about_the_provider(result.stdout + result.stderr, "warning") == []
