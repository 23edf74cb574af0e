"""Airflow finds the schedules plugin with no set-up, once, however it discovers providers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from airflow_braze_schedule.get_provider_info import get_provider_info
from tests.helpers import AIRFLOW_VERSION, lines_about_the_provider


@pytest.mark.parametrize(
    "lazy",
    # Airflow's default in make test; the other (an Airflow process each) in make test-slow.
    [
        pytest.param("True", id="lazy-providers (default)"),
        pytest.param("False", id="eager-providers", marks=pytest.mark.slow),
    ],
)
def test_airflow_loads_the_plugin_once_with_its_app_and_menu_entry(lazy):
    """Default (lazy) discovery loads the "airflow.plugins" entry point, eager discovery the provider's
    declared plugin: either way one plugin, and no "already registered" complaint."""
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "plugins", "--output", "json"],
        env={**os.environ, "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": lazy},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-2000:]
    # Airflow 3.0 logs its own INFO lines to stdout before the JSON with eager discovery.
    listing = re.search(r"^\[\s*\{", done.stdout, re.MULTILINE)
    assert listing is not None, done.stdout[-2000:]
    ours = [p for p in json.loads(done.stdout[listing.start() :]) if p["name"] == "braze_schedules"]
    assert len(ours) == 1
    # What each line gets: the app from 3.0, the menu entry from 3.1, neither on 2 (the CLI only).
    apps = [(a["name"], a["url_prefix"]) for a in ours[0].get("fastapi_apps") or []]
    views = [v["href"] for v in ours[0].get("external_views") or []]
    assert apps == ([("Braze schedules", "/braze")] if AIRFLOW_VERSION.major >= 3 else [])
    assert views == (["braze/"] if AIRFLOW_VERSION.release >= (3, 1) else [])
    assert "already registered" not in done.stdout + done.stderr
    assert lines_about_the_provider(done.stderr, "warning") == []


def test_the_provider_declares_the_plugin():
    assert get_provider_info()["plugins"] == [
        {"name": "braze_schedules", "plugin-class": "airflow_braze_schedule.plugins.BrazeSchedulesPlugin"}
    ]
