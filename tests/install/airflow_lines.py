"""The Airflow versions a user's install is checked against, read from where the project pins them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def newest_airflow() -> str:
    """The newest line: the version uv.lock holds, which `make test` runs on."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    [version] = [package["version"] for package in lock["package"] if package["name"] == "apache-airflow"]
    return version


def oldest_airflow() -> str:
    """The oldest line: the Airflow 2 version `make test-matrix` pins."""
    pins = (ROOT / "requirements" / "airflow-2.11.in").read_text()
    match = re.search(r"^apache-airflow==(\S+)$", pins, re.MULTILINE)
    assert match, "requirements/airflow-2.11.in pins no apache-airflow"
    return match.group(1)
