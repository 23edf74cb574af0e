"""A registry_conn_id whose hook cannot be built says which connection, which type and what to install."""

from __future__ import annotations

import json

import pytest

from airflow_braze_schedule.registry import RegistryUnavailableError, open_registry


@pytest.mark.parametrize(
    ("conn_type", "advice"),
    [
        # a SQL type whose provider is not in the test environment, named by its package
        ("mssql", "install apache-airflow-providers-microsoft-mssql next to Airflow"),
        # a type nobody registers: the general advice
        ("warehouse9", "install the provider package that registers connection type 'warehouse9'"),
    ],
)
def test_a_connection_whose_provider_is_missing_names_connection_type_and_package(
    monkeypatch, conn_type, advice
):
    secret = "db-password-4711"
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_REGISTRY_NO_PROVIDER",
        json.dumps({"conn_type": conn_type, "host": "db.internal", "password": secret}),
    )

    with pytest.raises(RegistryUnavailableError) as raised:
        open_registry(braze_conn_id="braze_default", registry_conn_id="braze_registry_no_provider")

    message = str(raised.value)
    assert "registry_conn_id='braze_registry_no_provider'" in message
    assert f"a connection of type {conn_type!r}" in message
    assert advice in message
    assert secret not in message
