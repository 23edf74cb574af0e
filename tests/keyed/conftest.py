"""A real PostgreSQL server for the SQL registry's tests, from Debian's ``postgresql`` package.

Started once per test session on a free loopback port, in a temporary directory, and stopped at the
end. Tests that need it are skipped, saying why, only when the package is not installed
(``apt-get update && apt-get install -y postgresql``).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.helpers import env_vars


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the package's postgres user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@pytest.fixture(scope="session")
def postgres_url():
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed: apt-get update && apt-get install -y postgresql")
    root = Path(tempfile.mkdtemp(prefix="braze_registry_pg_"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "braze", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgres://braze@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgres"])
def sql_registry_conn(request, tmp_path):
    """The name of an Airflow connection (``braze_registry_sql``) to an empty SQL registry database."""
    if request.param == "sqlite":
        url = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "registry.db")})
    else:
        url = request.getfixturevalue("postgres_url")
        import psycopg2

        with psycopg2.connect(url.replace("postgres://", "postgresql://")) as conn, conn.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS braze_schedule_registry, braze_schedule_registry_history")
    with env_vars(AIRFLOW_CONN_BRAZE_REGISTRY_SQL=url):
        yield "braze_registry_sql"


def _registry_params() -> list:
    from tests.keyed.keyed_support import HAS_ASSET_STATE_STORE

    # Where the asset registry exists, the SQL one's end-to-end runs repeat them: make test-keyed runs them.
    return ["asset", pytest.param("sql", marks=pytest.mark.slow) if HAS_ASSET_STATE_STORE else "sql"]


@pytest.fixture(params=_registry_params())
def registry_kind(request, tmp_path):
    """``asset`` (Airflow 3.3+'s asset_state_store) or ``sql`` (a SQLite registry database)."""
    from tests.keyed.keyed_support import HAS_ASSET_STATE_STORE, NO_ASSET_STORE

    if request.param == "asset":
        if not HAS_ASSET_STATE_STORE:
            pytest.skip(NO_ASSET_STORE)
        yield "asset"
        return
    from tests.keyed.keyed_support import activate_schedules_asset

    request.getfixturevalue("airflow_db")
    activate_schedules_asset()
    url = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "registry.db")})
    with env_vars(AIRFLOW_CONN_BRAZE_REGISTRY_SQL=url):
        yield "sql"
