"""A real Airflow deployment on this machine, started and stopped from Python: the services it needs
(PostgreSQL, Redis, the fake Braze) and Airflow's components, each in its own process.

Used by ``make test-deployment`` (``tests/deployment``), ``make airflow`` and ``make screenshots``. Everything
binds to loopback on free ports and lives under one folder (``.airflow/<name>/``, ignored by git): the
Airflow home, the DAGs folder, and one log file per process in ``logs/``, kept after a run so a failure
can be read. PostgreSQL's data directory is a temporary folder owned by the ``postgres`` user (initdb
refuses to run as root), removed when the server stops.

Debian's ``postgresql`` and ``redis-server`` are installed with apt when missing (we run as root).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
ADMIN_USER = "admin"
STARTUP_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
    """Call ``check`` until it returns something truthy (exceptions count as not yet); fail after
    ``timeout`` seconds, naming ``what`` and the last exception."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            if result := check():
                return result
        except Exception as exc:
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout:g} s waiting for {what}" + (f" ({last})" if last else "")
            )
        time.sleep(interval)


def ensure_debian_package(binary: str, package: str) -> str:
    """The path of ``binary``, installing Debian's ``package`` first if it is missing."""
    found = shutil.which(binary) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"))), None)
    if found:
        return found
    print(f"Installing Debian's {package} (apt-get), needed for {binary} ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", package], check=True, env=env, stdout=subprocess.DEVNULL
    )
    found = shutil.which(binary) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"))), None)
    if not found:
        raise RuntimeError(f"{binary} still not found after apt-get install {package}")
    return found


class Process:
    """A child process in its own session (so stopping it stops what it started), logging to a file."""

    def __init__(self, name: str, command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as sink:
            self.popen = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the process group, SIGKILL after ``timeout`` seconds."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=timeout)


# --- services -----------------------------------------------------------------------------------------


class PostgresServer:
    """A PostgreSQL server of its own (Debian's binaries) on a loopback port, with database ``airflow``."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.port = free_port()
        self.data: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/airflow"

    def _as_postgres(self, program: str, *args: str) -> None:
        """Run one of PostgreSQL's programs as user ``postgres`` (the server refuses to run as root)."""
        binary = str(self._bindir / program)
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", binary, *args], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{binary} {' '.join(args)} failed ({result.returncode}): {result.stderr or result.stdout}"
            )

    def start(self) -> PostgresServer:
        initdb = ensure_debian_package("initdb", "postgresql")
        self._bindir = Path(initdb).resolve().parent  # Debian links some binaries into /usr/local/bin
        self.data = Path(tempfile.mkdtemp(prefix="braze-deployment-pg-"))
        shutil.chown(self.data, "postgres", "postgres")
        cluster = self.data / "cluster"
        self._as_postgres("initdb", "-D", str(cluster), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"
        )
        self._as_postgres(
            "pg_ctl", "-D", str(cluster), "-l", str(self.data / "postgres.log"), "-w", "-o", options, "start"
        )
        self._as_postgres("createdb", "-h", "127.0.0.1", "-p", str(self.port), "airflow")
        return self

    def stop(self) -> None:
        if self.data is None:
            return
        with contextlib.suppress(RuntimeError):
            self._as_postgres("pg_ctl", "-D", str(self.data / "cluster"), "-m", "fast", "stop")
        with contextlib.suppress(OSError):
            shutil.copy(self.data / "postgres.log", self.logs / "postgres.log")
        shutil.rmtree(self.data, ignore_errors=True)
        self.data = None


class RedisServer:
    """A Redis server of its own (Debian's ``redis-server``) on a loopback port, nothing persisted."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.port = free_port()
        self.process: Process | None = None
        self.workdir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = ensure_debian_package("redis-server", "redis-server")
        self.workdir = workdir = Path(tempfile.mkdtemp(prefix="braze-deployment-redis-"))
        self.process = Process(
            "redis",
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            self.logs / "redis.log",
        )

        def ready() -> bool:
            assert self.process is not None
            self.process.check_alive()
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")

        wait_for("redis-server", ready, timeout=30, interval=0.1)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


class FakeBrazeProcess:
    """``python -m airflow_braze_schedule.testing`` on a free port: the fake Braze as a service."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.process: Process | None = None
        self.url = ""
        self.conn_env: tuple[str, str] = ("", "")

    def start(self) -> FakeBrazeProcess:
        log = self.logs / "fake-braze.log"
        self.process = Process(
            "fake-braze", [sys.executable, "-m", "airflow_braze_schedule.testing", "--port", "0"], log
        )

        def started() -> str:
            assert self.process is not None
            self.process.check_alive()
            first = log.read_text().splitlines()[0]
            return first if "listening on" in first else ""

        line = wait_for("the fake Braze", started, timeout=30, interval=0.1)
        self.url = line.split("listening on ", 1)[1].split(";", 1)[0]
        self.conn_env = (
            "AIRFLOW_CONN_BRAZE_DEFAULT",
            line.split("AIRFLOW_CONN_BRAZE_DEFAULT=", 1)[1].strip().strip("'"),
        )
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


# --- Airflow ------------------------------------------------------------------------------------------


class AirflowApi:
    """Airflow's REST API (``/api/v2``) as a user reaches it: a token from ``/auth/token``, then calls."""

    def __init__(self, url: str, password: str | None) -> None:
        self.url = url
        self.session = requests.Session()
        self.password = password

    def login(self) -> None:
        if self.password is None:  # all-admins mode: no login
            return
        answer = requests.post(
            self.url + "/auth/token", json={"username": ADMIN_USER, "password": self.password}, timeout=30
        )
        answer.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.session.request(method, self.url + "/api/v2" + path, timeout=60, **kwargs)
        if answer.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status_code}: {answer.text[:1000]}")
        return answer.json() if answer.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.call("POST", path, json=body)

    def patch(self, path: str, body: Any, **params: Any) -> Any:
        return self.call("PATCH", path, json=body, params=params)

    # --- what a user does

    def unpause(self, dag_id: str) -> None:
        self.patch(f"/dags/{dag_id}", {"is_paused": False}, update_mask="is_paused")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger ``dag_id`` now, without a logical date (as the UI's Trigger button does); the run id."""
        run = self.post(f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.get(f"/dags/{dag_id}/dagRuns/{run_id}")
        return run

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 180.0) -> str:
        """Wait until the run finishes; its final state (``success`` or ``failed``)."""
        state: str = wait_for(
            f"{dag_id} run {run_id} to finish",
            lambda: (state := self.run(dag_id, run_id)["state"]) in ("success", "failed") and state,
            timeout=timeout,
        )
        return state

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=500)
        return list(answer["task_instances"])

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        answer: dict[str, Any] = self.get(path if map_index < 0 else f"{path}/{map_index}")
        return answer

    def xcom(
        self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1
    ) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.get(path, map_index=map_index, deserialize=True)["value"]

    def log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        answer = self.get(path, map_index=map_index, full_content=True)
        content = answer.get("content")
        if isinstance(content, list):  # structured lines: the event, then its fields (an error's detail)
            return "\n".join(_log_line(entry) for entry in content)
        return str(content)


def _log_line(entry: Any) -> str:
    if not isinstance(entry, dict):
        return str(entry)
    fields = {k: v for k, v in entry.items() if k not in ("event", "timestamp", "logger")}
    return (
        f"{entry.get('event', '')} {json.dumps(fields, default=str)}"
        if fields
        else str(entry.get("event", ""))
    )


@dataclass
class Deployment:
    """One Airflow deployment: its folder, settings, services and running components.

    :param name: the folder under ``.airflow/`` (recreated at start).
    :param executor: ``"LocalExecutor"`` or ``"CeleryExecutor"``.
    :param database: ``"postgres"`` or ``"sqlite"``.
    :param celery_workers: how many Celery workers (CeleryExecutor only).
    :param extra_dags: folders whose ``*.py`` files join the example DAGs in the DAGs folder.
    :param all_admins: no login at all (``simple_auth_manager_all_admins``) instead of user ``admin``.
    :param password: user ``admin``'s password (a random one when ``None``).
    :param port: the API server's port (a free one when ``None``).
    :param connection_in_db: store ``braze_default`` in the metadata database, where the UI lists it,
        instead of giving it as ``AIRFLOW_CONN_BRAZE_DEFAULT``.
    :param parallelism: ``[core] parallelism``: how many task instances run at once (the LocalExecutor
        starts up to as many worker processes).
    :param users: more users of the simple auth manager beside ``admin``, name -> role (``viewer``,
        ``user``, ``op``, ``admin``); their passwords are in :attr:`passwords`.
    """

    name: str
    executor: str = "LocalExecutor"
    database: str = "postgres"
    celery_workers: int = 0
    extra_dags: list[Path] = field(default_factory=list)
    all_admins: bool = False
    password: str | None = None
    port: int | None = None
    connection_in_db: bool = False
    parallelism: int = 8
    users: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder = ROOT / ".airflow" / self.name
        self.home = self.folder / "home"
        self.logs = self.folder / "logs"
        self.dags = self.folder / "dags"
        if self.all_admins:
            self.password = None
        elif self.password is None:
            self.password = secrets.token_urlsafe(12)
        self.passwords = {name: secrets.token_urlsafe(12) for name in self.users}
        self.components: dict[str, Process] = {}
        self.services: list[Any] = []
        self.fake: FakeBrazeProcess | None = None
        self.api: AirflowApi | None = None
        self.env: dict[str, str] = {}
        self.api_url = ""

    # --- lifecycle

    def start(self) -> Deployment:
        """Start the services and every component; return once the API answers and the DAGs are parsed."""
        started = time.monotonic()
        shutil.rmtree(self.folder, ignore_errors=True)
        for folder in (self.home, self.logs, self.dags):
            folder.mkdir(parents=True)
        # Copies, not links: the DAG processor lists the folder as a user's would hold real files.
        for source in [
            *sorted(EXAMPLE_DAGS.glob("*.py")),
            *(p for d in self.extra_dags for p in sorted(d.glob("*.py"))),
        ]:
            shutil.copy(source, self.dags / source.name)

        # Each service is registered before it starts, so that stop() ends one that failed half-way.
        self.fake = FakeBrazeProcess(self.logs)
        self.services.append(self.fake)
        self.fake.start()
        if self.database == "postgres":
            postgres = PostgresServer(self.logs)
            self.services.append(postgres)
            postgres.start()
            sql_alchemy_conn = postgres.url
        else:
            sql_alchemy_conn = f"sqlite:///{self.home / 'airflow.db'}"
        broker = None
        if self.executor == "CeleryExecutor":
            redis = RedisServer(self.logs)
            self.services.append(redis)
            redis.start()
            broker = redis.url

        port = self.port or free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        self.env = self._environment(sql_alchemy_conn, broker)
        self._write_password()
        self._airflow("db", "migrate")
        if self.connection_in_db:
            name, value = self.fake.conn_env
            self._airflow("connections", "add", "braze_default", "--conn-json", value)
            self.env.pop(name)
        self._start_components(port)
        self.api = AirflowApi(self.api_url, self.password)
        wait_for("the API server", self._healthy, timeout=STARTUP_TIMEOUT)
        self.api.login()
        wait_for("the DAGs to be parsed", self._dags_parsed, timeout=STARTUP_TIMEOUT, interval=1.0)
        if self.executor == "CeleryExecutor":
            wait_for("the Celery workers", self._workers_ready, timeout=STARTUP_TIMEOUT, interval=1.0)
        self.started_in = time.monotonic() - started
        return self

    def stop(self) -> None:
        """Stop every component, then the services; idempotent."""
        for process in reversed(list(self.components.values())):
            process.stop()
        for service in reversed(self.services):
            service.stop()
        self.services.clear()

    def __enter__(self) -> Deployment:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- what a failure report needs

    def tails(self, lines: int = 15, width: int = 400) -> str:
        """The last lines of every process's log (long lines cut), and where the whole logs are."""
        parts = [f"Deployment logs (kept): {self.logs}"]
        for path in sorted(self.logs.glob("*.log")):
            text = [line[:width] for line in path.read_text(errors="replace").splitlines()[-lines:]]
            parts.append(f"----- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    # --- internals

    def _environment(self, sql_alchemy_conn: str, broker: str | None) -> dict[str, str]:
        assert self.fake is not None
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("AIRFLOW") and key not in ("PYTHONPATH",)
        }
        settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{name}:{role}" for name, role in {ADMIN_USER: "admin", **self.users}.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": str(self.all_admins),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn,
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__WORKERS": "1",
            # One secret for every component: each signs or checks the tokens of the others.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__TRIGGERER__DEFAULT_CAPACITY": "50",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            # Let worker_identity.py be imported by the Celery workers (see _start_components).
            "PYTHONPATH": str(ROOT),
            self.fake.conn_env[0]: self.fake.conn_env[1],
            # The same fake with a long client timeout, for tests that hold a request in flight.
            "AIRFLOW_CONN_BRAZE_PATIENT": json.dumps(
                {**json.loads(self.fake.conn_env[1]), "extra": {"timeout": 120}}
            ),
        }
        if broker is not None:
            settings |= {
                "AIRFLOW__CELERY__BROKER_URL": broker,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sql_alchemy_conn.replace("+psycopg2", ""),
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
            }
        return env | settings

    def _write_password(self) -> None:
        passwords = {ADMIN_USER: self.password or secrets.token_urlsafe(12), **self.passwords}
        (self.home / "passwords.json").write_text(json.dumps(passwords))

    def _airflow(self, *args: str) -> None:
        log = self.logs / f"airflow-{args[0]}-{args[1] if len(args) > 1 else ''}.log".replace("-.log", ".log")
        with open(log, "ab") as sink:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", *args], env=self.env, stdout=sink, stderr=subprocess.STDOUT
            )
        if result.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
            raise RuntimeError(f"airflow {' '.join(args)} failed ({result.returncode}):\n{tail}")

    def _start_components(self, port: int) -> None:
        airflow = [sys.executable, "-m", "airflow"]
        commands = {
            "api-server": [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            "scheduler": [*airflow, "scheduler"],
            "dag-processor": [*airflow, "dag-processor"],
            "triggerer": [*airflow, "triggerer"],
        }
        for number in range(1, self.celery_workers + 1 if self.executor == "CeleryExecutor" else 1):
            commands[f"worker{number}"] = [
                *airflow,
                "celery",
                "worker",
                "--celery-hostname",
                f"worker{number}@%h",
                "--concurrency",
                "1",
                "--without-mingle",
                "--without-gossip",
            ]
        for name, command in commands.items():
            env = self.env
            if name.startswith("worker"):
                # Each worker names itself (a task instance's "hostname") and serves its logs on its own port.
                env = {
                    **self.env,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "scripts.deployment.worker_identity.hostname",
                    "BRAZE_DEPLOYMENT_WORKER": name,
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                }
            self.components[name] = Process(name, command, self.logs / f"{name}.log", env)

    def _check_components(self) -> None:
        for process in self.components.values():
            process.check_alive()

    def _healthy(self) -> bool:
        self._check_components()
        return requests.get(self.api_url + "/api/v2/monitor/health", timeout=5).status_code == 200

    def _dags_parsed(self) -> bool:
        assert self.api is not None
        self._check_components()
        errors = self.api.get("/importErrors")["import_errors"]
        if errors:
            raise RuntimeError(f"DAG import errors: {json.dumps(errors, indent=1)[:3000]}")
        expected = {p.stem for p in self.dags.glob("*.py")}
        parsed = {
            d["fileloc"].rsplit("/", 1)[-1].removesuffix(".py")
            for d in self.api.get("/dags", limit=500)["dags"]
        }
        return expected <= parsed

    def _workers_ready(self) -> bool:
        self._check_components()
        ready = [
            p
            for n, p in self.components.items()
            if n.startswith("worker") and " ready." in p.log.read_text(errors="replace")
        ]
        return len(ready) == self.celery_workers

    def dag_ids(self) -> list[str]:
        assert self.api is not None
        return sorted(d["dag_id"] for d in self.api.get("/dags", limit=500)["dags"])

    @contextlib.contextmanager
    def kept_logs_on_failure(self) -> Iterator[None]:
        try:
            yield
        except BaseException:
            print(self.tails(), file=sys.stderr)
            raise


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
