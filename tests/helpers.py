"""What the tests share: Airflow version facts, loading and running DAG files, reading their task logs.

The test environment itself (an isolated ``AIRFLOW_HOME``, the dags folder) is set up by ``conftest.py``
before Airflow is imported; this module only reads it, so importing it twice does no harm.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import io
import logging
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.version import Version

if TYPE_CHECKING:
    from collections.abc import Iterator

AIRFLOW_VERSION = Version(importlib.metadata.version("apache-airflow"))
#: Airflow 3.3 brought the task_state_store that lets a retried create find its earlier schedule,
#: and task retry policies.
HAS_TASK_STATE_STORE = Version("3.3.0") <= AIRFLOW_VERSION
HAS_TASK_RETRY_POLICY = Version("3.3.0") <= AIRFLOW_VERSION
#: Airflow 3's manual runs (UI, ``airflow dags trigger``, REST API) have no logical date, only run_after.
HAS_RUNS_WITHOUT_LOGICAL_DATE = Version("3.0.0") <= AIRFLOW_VERSION

_CHECKOUT = str(Path(__file__).resolve().parent.parent).lower()


def lines_about_the_provider(text: str, complaint: str) -> list[str]:
    """The lines of ``text`` that name this provider and match the regular expression ``complaint``.

    Paths into this checkout are left out first: its folder may itself be called airflow-braze-schedule
    (a clone usually is), which would make every warning from a package in its .venv look like ours.
    """
    return [
        line
        for line in text.splitlines()
        if "braze" in line.lower().replace(_CHECKOUT, "<checkout>")
        and re.search(complaint, line, re.IGNORECASE)
    ]


def dated_run(logical_date: Any, run_after: Any = None) -> dict[str, Any]:
    """``dag.test()`` arguments for a run with this logical date (Airflow 2 calls it ``execution_date``
    and has no ``run_after``; Airflow 3 takes ``run_after`` as now unless given)."""
    if not HAS_RUNS_WITHOUT_LOGICAL_DATE:
        return {"execution_date": logical_date}
    return {"logical_date": logical_date, **({"run_after": run_after} if run_after is not None else {})}


@contextlib.contextmanager
def rerunning(dag_run: Any) -> Iterator[None]:
    """Make ``dag.test()`` run ``dag_run`` again after clearing it, as the scheduler does after a clear.

    ``dag.test()`` clears the task instances of the run at its logical date (Airflow's own clear), then
    deletes that run and creates a new one, which takes the old run's XComs and task state with it.
    Within this block it gets the cleared run back instead, set running; call ``dag.test()`` with the
    run's logical date (``dated_run(dag_run.logical_date)``).
    """
    from unittest import mock

    import airflow.models.dag
    import airflow.models.dagrun
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    def cleared_run(*, dag: Any, session: Any, **kwargs: Any) -> Any:
        run = session.scalar(
            select(DagRun).where(DagRun.dag_id == dag_run.dag_id, DagRun.run_id == dag_run.run_id)
        )
        assert run is not None, f"{dag_run.run_id} is gone"
        run.state = DagRunState.RUNNING
        session.commit()
        run.dag = dag  # as creating a run sets it
        return run

    if hasattr(airflow.models.dagrun, "get_or_create_dagrun"):  # 3.3; 3.0 and 2.11: in airflow.models.dag
        target: tuple[Any, str] = (airflow.models.dagrun, "get_or_create_dagrun")
    else:
        target = (airflow.models.dag, "_get_or_create_dagrun")
    with mock.patch.object(*target, cleared_run):
        yield


def dags_folder() -> Path:
    return Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def load_dag(file_name: str, dag_id: str | None = None) -> Any:
    """Import a DAG file from the dags folder (so ``dag.test()`` finds it there) and return its DAG."""
    from airflow.providers.common.compat.sdk import DAG

    path = dags_folder() / file_name
    spec = importlib.util.spec_from_file_location(f"dagfile_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags = [value for value in vars(module).values() if isinstance(value, DAG)]
    if dag_id is not None:
        dags = [dag for dag in dags if dag.dag_id == dag_id]
    assert len(dags) == 1, f"{file_name} defines {len(dags)} matching DAGs"
    register_outlet_assets(dags[0])
    return dags[0]


def register_outlet_assets(dag: Any) -> None:
    """Register the assets the DAG's tasks declare as outlets, as a DAG processor does after parsing.

    ``dag.test()`` skips that step before Airflow 3.3 (3.3 does it itself): on 3.0 to 3.2 a task whose
    outlet asset is not active fails, and on Airflow 2 an event on a dataset the database does not know is
    dropped. Every Braze operator declares its connection's schedules asset.
    """
    register_assets(
        {outlet.uri for task in dag.tasks for outlet in (task.outlets or []) if hasattr(outlet, "uri")}
    )


def register_assets(uris: Iterable[str]) -> None:
    """Register assets (named by their URI) as the DAG processor would: active on Airflow 3.0 to 3.2, a
    ``DatasetModel`` on 2. Airflow 3.3's ``dag.test()`` does it itself."""
    uris = sorted(uris)
    if HAS_TASK_STATE_STORE or not uris:
        return
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        if AIRFLOW_VERSION.major < 3:
            from airflow.models.dataset import DatasetModel

            for uri in uris:
                if session.scalar(select(DatasetModel).where(DatasetModel.uri == uri)) is None:
                    session.add(DatasetModel(uri=uri))
            return
        from airflow.models.asset import AssetActive, AssetModel

        for uri in uris:
            asset = session.scalar(select(AssetModel).where(AssetModel.uri == uri, AssetModel.name == uri))
            if asset is None:
                asset = AssetModel(name=uri, uri=uri)
                session.add(asset)
                session.flush()
            if session.scalar(select(AssetActive).where(AssetActive.uri == uri)) is None:
                session.add(AssetActive.for_asset(asset))


def task_states(dag_run: Any) -> dict[str, str | None]:
    return {ti.task_id: (str(ti.state) if ti.state else None) for ti in dag_run.get_task_instances()}


@contextlib.contextmanager
def env_vars(**values: str) -> Iterator[None]:
    """Set environment variables for a block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def capture_output(path: Path) -> Iterator[None]:
    """Send everything a ``dag.test()`` run prints to one file, in order.

    ``dag.test()`` writes no task log files: it runs each task in-process and prints its log. Three
    routes lead to the terminal: file descriptors 1 and 2, ``sys.stdout`` / ``sys.stderr`` as they are
    now (structlog, which writes the task logs), and the stream Airflow's root ``logging.StreamHandler``
    was given when logging was configured (stdlib loggers such as the ``[DAG TEST]`` lines; on Airflow
    3.0 and 2.11 the task logs too). All three are pointed at ``path`` and restored afterwards.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    handlers = [h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler]
    with open(path, "wb") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        stream = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), write_through=True)
        sys.stdout = sys.stderr = stream
        saved_handler_streams = [h.setStream(stream) for h in handlers]
        try:
            yield
        finally:
            stream.flush()
            for handler, handler_stream in zip(handlers, saved_handler_streams, strict=True):
                handler.setStream(handler_stream)
            sys.stdout, sys.stderr = saved_streams
            stream.close()
            for fd, saved in zip((1, 2), saved_fds, strict=True):
                os.dup2(saved, fd)
                os.close(saved)


_TRY_ENDS = re.compile(r"\[DAG TEST\] end task task_id=(\S+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^[\w.]+(?:Error|Exception): ")
# A new log line: "2026-11-24 03:46:20 [debug", "[2026-11-24T03:42:51.926+0000] {", "2026-11-24T02:51:25.85Z [info"
# (a wrapped message may itself start with a timestamp, but not with one followed by " [" or " {"),
# or rich's box drawing.
_LOG_LINE_START = re.compile(r"^(\[?\d{4}-\d{2}-\d{2}[T ][\d:.]+(?:Z|[+-]\d{4})?\]? [\[{]|[│╰╭])")


#: The instant a log line begins with, in either of the two formats Airflow 2.11 prints a task's records
#: in ("[2026-12-07 03:53:00,922]" and "[2026-12-07T03:53:00.922+0000]").
_RECORD_START = re.compile(r"\[(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})[,.](\d{3})[^\]]*\] ")


def records_holding(log: str, message: str) -> int:
    """How many log records of ``log`` (a task's log, as ``run_dag_logged`` splits it) hold ``message``,
    each counted once. Under ``dag.test()`` Airflow 2.11 may print every record of a task twice, through
    two handlers with two timestamp formats (and 3.0 adds lines of its own between them); a record is its
    instant, to the millisecond, and the ``{file:line}`` that logged it."""
    starts = list(_RECORD_START.finditer(log))
    if not starts:
        return log.count(message)
    records = set()
    for at, start in enumerate(starts):
        text = log[start.end() : starts[at + 1].start() if at + 1 < len(starts) else len(log)]
        if message in text:
            records.add((start.groups(), text.split(" ", 1)[0]))
    return len(records)


def plain_text(text: str) -> str:
    """``text`` without terminal colour codes and with white space collapsed (Airflow 3.0's rich
    tracebacks colour and wrap long messages)."""
    return " ".join(_ANSI.sub("", text).split())


def error_messages(log: str) -> list[str]:
    """The messages of the exceptions a task log shows, in order, each joined into one line.

    Airflow 3.0 renders tracebacks with rich, which wraps a long message over several lines; it ends
    at a blank line or the next log line.
    """
    messages: list[str] = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if not _EXCEPTION_LINE.match(line):
            continue
        parts = [line.split(": ", 1)[1].strip()]
        for following in lines[i + 1 :]:
            if not following.strip() or _LOG_LINE_START.match(following) or _EXCEPTION_LINE.match(following):
                break
            parts.append(following.strip())
        messages.append(" ".join(parts))
    return messages


def logs_by_task(output: str, dag_id: str) -> dict[str, str]:
    """Each task's log lines (all its tries), split on the lines ``dag.test()`` prints around each try."""
    starts = re.compile(rf"\[DAG TEST\] running task <TaskInstance: {re.escape(dag_id)}\.(\S+) ")
    logs: dict[str, list[str]] = {}
    current = None
    for line in _ANSI.sub("", output).splitlines():
        if started := starts.search(line):
            current = started.group(1)
            logs.setdefault(current, [])
        elif _TRY_ENDS.search(line):
            current = None
        elif current is not None:
            logs[current].append(line)
    return {task_id: "\n".join(lines) for task_id, lines in logs.items()}


# --- the fake Braze's state, for one campaign (tests give each its own campaign_id) ------------------------

CAMPAIGN_CREATE = "/campaigns/trigger/schedule/create"
CAMPAIGN_UPDATE = "/campaigns/trigger/schedule/update"
CAMPAIGN_DELETE = "/campaigns/trigger/schedule/delete"


def campaign_requests(fake_braze: Any, path: str, campaign: str, *, answered: bool = False) -> int:
    """How many requests on ``path`` named ``campaign``; ``answered``: only those Braze answered with success."""
    return sum(
        1
        for r in fake_braze.requests_to(path)
        if (r.json or {}).get("campaign_id") == campaign
        and (not answered or (r.status is not None and r.status < 300))
    )


def campaign_live(fake_braze: Any, campaign: str) -> dict[str, Any]:
    """The campaign's live schedules in the fake, by schedule_id."""
    return {s.schedule_id: s for s in fake_braze.active_schedules() if s.body.get("campaign_id") == campaign}
