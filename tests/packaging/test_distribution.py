"""The wheel and sdist hold the package and nothing else, and every operator argument is documented."""

from __future__ import annotations

import inspect
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

import airflow_braze_schedule
from airflow_braze_schedule.operators import (
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeReconcileSchedulesOperator,
    BrazeUpdateScheduleOperator,
    BrazeUpsertScheduleOperator,
)
from airflow_braze_schedule.sensors.braze import BrazeScheduledSendSensor

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([uv, "build", "--quiet", "--out-dir", str(out), str(ROOT)], check=True, timeout=300)
    [wheel] = out.glob("*.whl")
    [sdist] = out.glob("*.tar.gz")
    return wheel, sdist


def test_wheel_holds_the_package_and_its_metadata_only(built):
    wheel, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    version = airflow_braze_schedule.__version__
    assert top_level == {"airflow_braze_schedule", f"airflow_braze_schedule-{version}.dist-info"}
    assert "airflow_braze_schedule/py.typed" in names
    assert "airflow_braze_schedule/testing/fake_braze.py" in names
    for module in ("links.py", "sensors/braze.py", "triggers/braze.py"):
        assert f"airflow_braze_schedule/{module}" in names
    assert not [name for name in names if "tests/" in name or name.startswith("example_dags")]
    metadata = zipfile.ZipFile(wheel).read(f"airflow_braze_schedule-{version}.dist-info/METADATA").decode()
    assert f"Version: {version}" in metadata
    assert "Requires-Dist: apache-airflow>=2.11.0" in metadata
    assert "Provides-Extra: testing" in metadata
    assert "Project-URL: Documentation" in metadata
    entry_points = zipfile.ZipFile(wheel).read(f"airflow_braze_schedule-{version}.dist-info/entry_points.txt")
    assert b"[apache_airflow_provider]" in entry_points


def test_wheel_holds_the_schedules_page_and_declares_its_plugin_and_command(built):
    """The page's files are data, not modules: the wheel must carry them for the plugin to serve them."""
    wheel, _ = built
    version = airflow_braze_schedule.__version__
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("schedules.html", "schedules.js", "schedules.css"):
        assert f"airflow_braze_schedule/plugins/static/{name}" in names
    entry_points = zipfile.ZipFile(wheel).read(f"airflow_braze_schedule-{version}.dist-info/entry_points.txt")
    assert b"braze_schedules = airflow_braze_schedule.plugins:ENTRY_POINT_PLUGIN" in entry_points
    assert b"airflow-braze-schedule = airflow_braze_schedule.cli:main" in entry_points


def test_sdist_holds_the_package_readme_changelog_and_licence(built):
    _, sdist = built
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    top_level = {name.split("/")[0] for name in names} - {".gitignore"}  # hatchling always ships it
    assert top_level == {
        "airflow_braze_schedule",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "pyproject.toml",
        "PKG-INFO",
    }


@pytest.mark.parametrize(
    "operator",
    [
        BrazeCreateScheduleOperator,
        BrazeUpdateScheduleOperator,
        BrazeCancelScheduleOperator,
        BrazeScheduledSendSensor,
        BrazeUpsertScheduleOperator,
        BrazeReconcileSchedulesOperator,
    ],
)
def test_every_operator_argument_is_documented(operator):
    ours = [cls for cls in operator.__mro__ if cls.__module__.startswith("airflow_braze_schedule")]
    documented = {
        line.split(":param ", 1)[1].split(":", 1)[0].split()[-1]
        for cls in ours
        for line in (cls.__doc__ or "").splitlines()
        if ":param " in line
    }
    arguments = {
        name
        for cls in ours
        for name in inspect.signature(cls.__init__).parameters
        if name not in ("self", "args", "kwargs")
    }
    assert arguments
    assert arguments - documented == set()
