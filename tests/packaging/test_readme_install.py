"""The README's install commands name the wheel `make dist` builds and the Airflow the tests install.

Its marked install blocks are what `make test-install` runs as written (minutes): these quick checks
keep them in step with the pins. Each Airflow line has its block, naming the version the project pins
and the wheel; 2.11 installs with constraints, whose stand-in keeps cryptography below 51 and still
carries the common-compat pin the block drops.
"""

from __future__ import annotations

import re
from pathlib import Path

import airflow_braze_schedule
from tests.install.airflow_lines import newest_airflow, oldest_airflow
from tests.install.test_install_like_a_user import (
    CASES,
    CONSTRAINTS_STAND_IN,
    WHEEL_NAME,
    readme_install_block,
    runnable_install_block,
)

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_names_the_wheel_make_dist_builds():
    wheels = set(re.findall(r"airflow_braze_schedule-[^\s/\"'`]+\.whl", README))

    assert wheels == {f"airflow_braze_schedule-{airflow_braze_schedule.__version__}-py3-none-any.whl"}


def test_the_readme_installs_next_to_the_newest_or_the_oldest_airflow():
    versions = re.findall(
        r"apache-airflow==(\d[\d.]*)|apache/airflow:(\d[\d.]*)|AIRFLOW_VERSION=(\d[\d.]*)", README
    )

    assert len(versions) >= 4
    assert {version for groups in versions for version in groups if version} == {
        newest_airflow(),
        oldest_airflow(),
    }


def test_every_airflow_line_has_a_readme_block_naming_its_pinned_version_and_the_wheel():
    for case in CASES:
        block = runnable_install_block(case)  # asserts the version and the wheel itself

        assert f'"dist/{WHEEL_NAME}[testing]"' in block
        assert "curl" not in block


def test_airflow_2_11_installs_with_constraints_less_the_common_compat_pin():
    [case] = [case for case in CASES if case.version.startswith("2.")]
    written = readme_install_block(case.block)
    block = runnable_install_block(case)

    assert "curl -sSL" in written
    assert "--constraint constraints.txt" in written
    assert "grep -v '^apache-airflow-providers-common-compat=='" in written
    assert f'cat "{CONSTRAINTS_STAND_IN}"' in block


def test_the_stand_in_pins_a_cryptography_that_airflow_2_11_can_use():
    pins = dict(line.split("==", 1) for line in CONSTRAINTS_STAND_IN.read_text().splitlines() if "==" in line)

    assert pins["apache-airflow"] == next(c.version for c in CASES if c.version.startswith("2."))
    # cryptography 51 refuses the attribute Airflow 2.11.2 sets on MultiFernet: no connection reads.
    assert int(re.match(r"\d+", pins["cryptography"]).group()) < 51
    assert "apache-airflow-providers-common-compat" in pins


def test_the_newest_line_installs_with_no_constraints():
    [case] = [case for case in CASES if not case.version.startswith("2.")]

    assert "--constraint" not in readme_install_block(case.block)
