"""The built wheel, installed the way the README tells a user to add the provider to their Airflow.

For the oldest and the newest supported Airflow line, a fresh ``python3 -m venv`` runs the README's own
install block for that line, read from README.md and run by bash as written, with two changes only: the
wheel gets ``[testing]`` (for the fake Braze), and the 2.11 block's ``curl`` of Airflow's constraint file
becomes ``cat`` of a checked-in stand-in (``constraints/``; these machines cannot reach the host of
Airflow's constraint files), holding the highest versions released by Airflow 2.11.2's release day. The
newest line installs with no constraints at all, whatever the package index resolves today: the
configuration that meets a moving dependency first. Each case prints the versions it resolved of the
packages whose releases have moved under us before (:data:`DRIFT_PACKAGES`), so a failure names them.

Then, from that virtualenv only: Airflow's CLI lists the provider without a warning and registers the
``braze`` connection type, and ``airflow dags test`` runs a DAG that schedules and cancels a send against
the fake Braze, started there with ``python -m airflow_braze_schedule.testing``.

Each line takes a minute or more (pip installs about 150 packages; pip's cache makes reruns faster), so
these tests carry the ``install`` marker, which ``make test`` deselects; ``make test-install`` runs them
and prints each step with its elapsed time, and how long each install took.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import airflow_braze_schedule
from tests.helpers import lines_about_the_provider
from tests.install.airflow_lines import newest_airflow, oldest_airflow

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[2]
WHEEL_NAME = f"airflow_braze_schedule-{airflow_braze_schedule.__version__}-py3-none-any.whl"
DAG_FILE = Path(__file__).with_name("braze_install_check.py")
#: Stands in for constraints-2.11.2/constraints-3.11.txt (``make install-constraints``).
CONSTRAINTS_STAND_IN = Path(__file__).with_name("constraints") / "constraints-2.11.2-python3.11.txt"
PIP_TIMEOUT = 20 * 60
HEARTBEAT = 15.0
#: Printed for every case: the releases that broke or may break an install.
DRIFT_PACKAGES = (
    "apache-airflow",
    "cryptography",
    "apache-airflow-providers-common-compat",
    "requests",
    "pendulum",
    "werkzeug",
)


@dataclass(frozen=True)
class InstallCase:
    """One Airflow line, installed by the README block marked ``<!-- install: <block> ...``."""

    version: str
    block: str
    how: str


CASES = [
    InstallCase(oldest_airflow(), "airflow-2.11", "with its constraints"),
    InstallCase(newest_airflow(), "airflow-3", "with no constraints"),
]
INSTALL_SECONDS: dict[str, float] = {}
RESOLVED: dict[str, dict[str, str]] = {}


def readme_install_block(block: str) -> str:
    """The bash block the README marks ``<!-- install: <block> ...``, as written there."""
    readme = (ROOT / "README.md").read_text()
    marker = f"<!-- install: {block} "
    assert marker in readme, f"README.md has no install block marked {marker!r}"
    match = re.search(r"```bash\n(.*?)```", readme.split(marker, 1)[1], re.DOTALL)
    assert match, f"no bash block follows {marker!r} in README.md"
    return match.group(1)


def runnable_install_block(case: InstallCase) -> str:
    """The README's block for ``case``, with the wheel's ``[testing]`` extra and the stand-in constraints."""
    block = readme_install_block(case.block)
    # The README and the pins must name the same Airflow and the same wheel, or the test runs neither.
    assert re.search(rf"(AIRFLOW_VERSION=|apache-airflow==){re.escape(case.version)}\b", block), (
        f"README.md's {case.block} block does not install Airflow {case.version}:\n{block}"
    )
    assert f"dist/{WHEEL_NAME}" in block, f"README.md's {case.block} block does not name {WHEEL_NAME}"
    block = block.replace(f"dist/{WHEEL_NAME}", f'"dist/{WHEEL_NAME}[testing]"')
    block, fetched = re.subn(
        r'^curl -sSL "[^"]+"', f'cat "{CONSTRAINTS_STAND_IN}"', block, flags=re.MULTILINE
    )
    assert fetched <= 1, block
    return block


def resolved_versions(python: Path) -> dict[str, str]:
    """The installed version of each of :data:`DRIFT_PACKAGES` in a virtualenv ('-' if absent)."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "def version(name):\n"
        "    try:\n"
        "        return m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        return '-'\n"
        "print(json.dumps({name: version(name) for name in sys.argv[1:]}))\n"
    )
    result = subprocess.run(
        [str(python), "-c", script, *DRIFT_PACKAGES], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(result.stdout)


def _say(label: str, started: float, message: str) -> None:
    print(f"[{label} +{time.monotonic() - started:5.1f}s] {message}", file=sys.stderr, flush=True)


def _run_with_heartbeat(command: list[str], label: str, started: float, **kwargs) -> tuple[int, str]:
    """Run a long command, printing its latest output line every HEARTBEAT seconds; return (rc, output)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + PIP_TIMEOUT
    while True:
        try:
            process.wait(timeout=HEARTBEAT)
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                process.kill()
                raise
            # pip's own lines say where it is (Collecting, Downloading, Installing); warnings do not.
            news = [line.strip() for line in lines if not line.startswith("WARNING")]
            latest = news[-1] if news else "(no output yet)"
            _say(label, started, f"  ... still running; latest: {latest[:120]}")
    reader.join()
    return process.returncode, "".join(lines)


@pytest.fixture(scope="session")
def wheel() -> Path:
    """The wheel the README tells users to build: `make dist`, then dist/<name>.whl."""
    subprocess.run(["make", "--no-print-directory", "dist"], cwd=ROOT, check=True, timeout=300)
    path = ROOT / "dist" / WHEEL_NAME
    assert path.is_file(), f"make dist did not build {path}"
    return path


@dataclass
class InstalledAirflow:
    """A virtualenv holding a stock Airflow and the provider's wheel, with its own AIRFLOW_HOME."""

    case: InstallCase
    venv: Path
    home: Path
    started: float

    @property
    def version(self) -> str:
        return self.case.version

    @property
    def label(self) -> str:
        return f"Airflow {self.version} {self.case.how}, {CASES.index(self.case) + 1} of {len(CASES)}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a user's shell in this virtualenv: none of the project's settings leak in."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("AIRFLOW") and name not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
        }
        env.update(
            PATH=f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            VIRTUAL_ENV=str(self.venv),
            AIRFLOW_HOME=str(self.home),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.home / "dags"),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            **extra,
        )
        return env

    def run(self, *command: str, timeout: float = 300, **extra_env: str) -> subprocess.CompletedProcess[str]:
        """Run a command of this virtualenv (``airflow``, ``python``) from AIRFLOW_HOME, not the clone."""
        _say(self.label, self.started, " ".join(command))
        executable = str(self.venv / "bin" / command[0])
        return subprocess.run(
            [executable, *command[1:]],
            env=self.env(**extra_env),
            cwd=self.home,  # never the clone: `python -m` would import the package from the source tree
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="module", params=CASES, ids=lambda case: f"airflow-{case.version}")
def installed(request, wheel, tmp_path_factory) -> Iterator[InstalledAirflow]:
    case = request.param
    root = tmp_path_factory.mktemp(f"airflow-{case.version}")
    target = InstalledAirflow(case=case, venv=root / "venv", home=root / "home", started=time.monotonic())
    (target.home / "dags").mkdir(parents=True)
    (target.home / "dist").mkdir()
    shutil.copy(wheel, target.home / "dist" / WHEEL_NAME)  # where the README's commands find it
    _say(target.label, target.started, f"python3 -m venv {target.venv}")
    subprocess.run(["python3", "-m", "venv", str(target.venv)], check=True, timeout=120)

    block = runnable_install_block(case)
    _say(target.label, target.started, f"README.md's {case.block} block (a minute or more):\n{block}")
    install_started = time.monotonic()
    returncode, output = _run_with_heartbeat(
        ["bash", "-euo", "pipefail", "-c", block],
        target.label,
        target.started,
        env=target.env(),
        cwd=target.home,
    )
    INSTALL_SECONDS[case.version] = time.monotonic() - install_started
    # Before any assertion: when an install or a later step fails, these say which release moved.
    RESOLVED[f"{case.version} {case.how}"] = versions = resolved_versions(target.venv / "bin" / "python")
    _say(target.label, target.started, "resolved: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    assert returncode == 0, f"pip install failed:\n{output[-5000:]}"
    _say(target.label, target.started, f"installed in {INSTALL_SECONDS[case.version]:.1f} s")
    yield target
    shutil.rmtree(root)  # half a gigabyte per virtualenv
    _say(target.label, target.started, "done")


@pytest.fixture(scope="module", autouse=True)
def _report_install_times() -> Iterator[None]:
    yield
    for version, seconds in INSTALL_SECONDS.items():
        print(
            f"README install of apache-airflow=={version} + wheel[testing]: {seconds:.1f} s", file=sys.stderr
        )
    print("Versions resolved (the drift report):", file=sys.stderr)
    width = max(map(len, DRIFT_PACKAGES))
    for line, versions in RESOLVED.items():
        print(f"  Airflow {line}:", file=sys.stderr)
        for name, version in versions.items():
            print(f"    {name:<{width}}  {version}", file=sys.stderr)


def _provider_complaints(result: subprocess.CompletedProcess[str]) -> list[str]:
    """Lines of a command's output that warn or error about this provider."""
    return lines_about_the_provider(result.stdout + result.stderr, r"warn|error|exception|traceback|fail")


def test_the_provider_is_imported_from_the_virtualenv(installed):
    result = installed.run(
        "python", "-c", "import airflow_braze_schedule as p; print(p.__version__, p.__file__)"
    )

    assert result.returncode == 0, result.stderr
    version, location = result.stdout.split()
    assert version == airflow_braze_schedule.__version__
    assert Path(location).is_relative_to(installed.venv)


def test_airflow_lists_the_provider_without_a_warning(installed):
    result = installed.run("airflow", "providers", "list")

    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("airflow-braze-schedule ")]
    assert len(rows) == 1, result.stdout
    assert f"| {airflow_braze_schedule.__version__}" in rows[0]
    assert _provider_complaints(result) == []


def test_the_braze_connection_type_is_registered(installed):
    result = installed.run("airflow", "providers", "hooks", "--output", "json")

    assert result.returncode == 0, result.stderr
    hooks = [hook for hook in json.loads(result.stdout) if hook["connection_type"] == "braze"]
    assert hooks == [
        {
            "connection_type": "braze",
            "class": "airflow_braze_schedule.hooks.braze.BrazeHook",
            "conn_id_attribute_name": "braze_conn_id",
            "package_name": "airflow-braze-schedule",
            "hook_name": "Braze",
        }
    ]
    assert _provider_complaints(result) == []


@pytest.fixture
def fake_braze_from_the_virtualenv(installed) -> Iterator[tuple[str, str, str]]:
    """Start the fake Braze as a user would: ``python -m airflow_braze_schedule.testing --port 0``.

    Yields its URL and the connection variable it prints (name, value).
    """
    _say(installed.label, installed.started, "python -m airflow_braze_schedule.testing --port 0")
    process = subprocess.Popen(
        [str(installed.venv / "bin" / "python"), "-m", "airflow_braze_schedule.testing", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=installed.env(),
        cwd=installed.home,
    )
    try:
        banner = process.stdout.readline()  # type: ignore[union-attr]
        match = re.match(r"Fake Braze listening on (\S+); export (.+)$", banner.strip())
        assert match, (
            f"unexpected banner {banner!r}; stderr: {process.stderr.read() if process.poll() else ''}"
        )  # type: ignore[union-attr]
        url, assignment = match.groups()
        name, value = shlex.split(assignment)[0].split("=", 1)
        yield url, name, value
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_dag_schedules_and_cancels_a_send_against_the_fake_braze(installed, fake_braze_from_the_virtualenv):
    url, conn_name, conn_value = fake_braze_from_the_virtualenv
    shutil.copy(DAG_FILE, installed.home / "dags" / DAG_FILE.name)

    migrated = installed.run("airflow", "db", "migrate")
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    run = installed.run("airflow", "dags", "test", "braze_install_check", **{conn_name: conn_value})
    output = run.stdout + run.stderr
    with urllib.request.urlopen(f"{url}/_fake/state", timeout=30) as answer:
        state = json.load(answer)

    assert run.returncode == 0, output[-5000:]
    assert [(request["method"], request["path"]) for request in state["received"]] == [
        ("POST", "/campaigns/trigger/schedule/create"),
        ("POST", "/campaigns/trigger/schedule/delete"),
    ]
    [schedule] = state["schedules"]
    assert schedule["campaign_id"] == "install-check-campaign"
    assert schedule["status"] == "cancelled"
    assert state["received"][1]["json"]["schedule_id"] == schedule["schedule_id"]
    assert json.loads(conn_value)["password"] not in output
    assert _provider_complaints(run) == []
