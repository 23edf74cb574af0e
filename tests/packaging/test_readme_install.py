"""The README's install commands name the wheel `make dist` builds and the Airflow the tests install."""

from __future__ import annotations

import re
from pathlib import Path

import airflow_braze_schedule
from tests.install.airflow_lines import newest_airflow

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_names_the_wheel_make_dist_builds():
    wheels = set(re.findall(r"airflow_braze_schedule-[^\s/\"'`]+\.whl", README))

    assert wheels == {f"airflow_braze_schedule-{airflow_braze_schedule.__version__}-py3-none-any.whl"}


def test_the_readme_installs_next_to_the_newest_airflow():
    versions = re.findall(
        r"apache-airflow==(\d[\d.]*)|apache/airflow:(\d[\d.]*)|AIRFLOW_VERSION=(\d[\d.]*)", README
    )

    assert len(versions) >= 4
    assert {version for groups in versions for version in groups if version} == {newest_airflow()}
