"""Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

Kept free of imports: Airflow loads it whenever its CLI or API server starts.
"""

from __future__ import annotations

from typing import Any

#: The connection form (Airflow 3.2+ reads it from here; the hook serves it to older versions).
CONNECTION_UI: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "login", "extra"],
    "relabeling": {"host": "REST endpoint", "password": "REST API key"},
    "placeholders": {
        "host": "https://rest.iad-01.braze.com (or an instance name such as US-01, EU-01)",
        "password": "REST API key, without quotes",
    },
}

CONNECTION_FIELDS: dict[str, Any] = {
    "timeout": {
        "label": "Timeout",
        "description": "Seconds to wait for Braze to answer a request (default 30).",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
    "dry_run": {
        "label": "Dry run",
        "description": "Validate and log every request but send nothing (for staging environments).",
        "schema": {"type": ["boolean", "null"]},
    },
    "ca_bundle": {
        "label": "CA bundle",
        "description": "Path to a CA bundle on the workers, to trust a TLS-inspecting proxy. Leave empty normally.",
        "schema": {"type": ["string", "null"]},
    },
    "proxy": {
        "label": "Proxy",
        "description": "HTTP(S) proxy for every request, e.g. http://proxy.corp:3128 or "
        "http://user:password@proxy.corp:3128. Proxies set in the environment are ignored.",
        "schema": {"type": ["string", "null"]},
    },
}

#: The settings section of the schedules page and the ``airflow-braze-schedule`` command: where they
#: read the registry. Declared here so that ``airflow config list`` shows it with its defaults.
CONFIG_SECTION = "braze_schedule"
CONFIG: dict[str, Any] = {
    CONFIG_SECTION: {
        "description": "Where the Braze schedules page, its API and the airflow-braze-schedule command read the "
        "registry of keyed schedules. Keyed operators are told where to write by their own arguments.",
        "options": {
            "registry_conn_id": {
                "description": "A database connection holding the SQL registry (the operators' "
                "registry_conn_id). Empty: the asset store of each Braze connection (Airflow 3.3+).",
                "version_added": "0.1.0",
                "type": "string",
                "example": "braze_registry",
                "default": "",
            },
            "registry_table": {
                "description": "The SQL registry's table (the operators' registry_table).",
                "version_added": "0.1.0",
                "type": "string",
                "example": None,
                "default": "braze_schedule_registry",
            },
        },
    }
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-braze-schedule",
        "name": "Braze",
        "description": "Schedule, reschedule and cancel `Braze <https://www.braze.com/>`__ messages, "
        "API-triggered campaigns and Canvases.",
        "integrations": [
            {
                "integration-name": "Braze",
                "external-doc-url": "https://www.braze.com/docs/api/endpoints/messaging/schedule_messages/",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": "Braze", "python-modules": ["airflow_braze_schedule.hooks.braze"]}],
        "operators": [
            {
                "integration-name": "Braze",
                "python-modules": [
                    "airflow_braze_schedule.operators.braze",
                    "airflow_braze_schedule.operators.keyed",
                    "airflow_braze_schedule.operators.bulk",
                ],
            }
        ],
        "sensors": [
            {"integration-name": "Braze", "python-modules": ["airflow_braze_schedule.sensors.braze"]}
        ],
        "triggers": [
            {"integration-name": "Braze", "python-modules": ["airflow_braze_schedule.triggers.braze"]}
        ],
        "extra-links": ["airflow_braze_schedule.links.BrazeDashboardLink"],
        # The "Braze schedules" page and API at /braze (Airflow 3); see airflow_braze_schedule/plugins.
        "plugins": [
            {"name": "braze_schedules", "plugin-class": "airflow_braze_schedule.plugins.BrazeSchedulesPlugin"}
        ],
        "config": CONFIG,
        "connection-types": [
            {
                "hook-class-name": "airflow_braze_schedule.hooks.braze.BrazeHook",
                "hook-name": "Braze",
                "connection-type": "braze",
                "ui-field-behaviour": CONNECTION_UI,
                "conn-fields": CONNECTION_FIELDS,
            }
        ],
    }
