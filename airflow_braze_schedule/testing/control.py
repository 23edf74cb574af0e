"""The fake Braze's control API (``/_fake/...``) and :class:`FakeBrazeControl`, a small client for it.

A :class:`~airflow_braze_schedule.testing.FakeBraze` running in another process (``python -m
airflow_braze_schedule.testing``, a CI service, ``make airflow``) is driven over HTTP with the same
vocabulary as in-process: faults, rate limit, latency, and what it received and holds. The control API
needs no Braze API key, is answered to loopback clients only (``403`` otherwise), is never recorded in
what the fake received, and never gets faults, latency or rate limits.

============================  ==================================================================================
``GET /_fake/state``          ``{"schedules": [...], "received": [...]}`` (the API key masked everywhere)
``GET /_fake/requests``       ``{"requests": [...]}``, in arrival order; ``?path=/messages/schedule/create``
                              keeps one path. A request still being answered has ``"status": null``.
``GET /_fake/schedules``      ``{"schedules": [...]}``, in creation order; ``?status=scheduled`` or ``cancelled``
``POST /_fake/reset``         back to the state right after start (forgets requests, schedules, faults, latency)
``POST /_fake/faults``        a JSON list of faults to queue, e.g. ``[{"kind": "status", "code": 503,
                              "times": 2, "path": "/messages/schedule/create"}]``
``POST /_fake/chaos``         ``{"rate": 0.2, "faults": [{"kind": "status", "code": 503}], "seed": 7}``
``POST /_fake/rate_limit``    ``{"limit": 10, "window": 60}``; ``"limit": null`` restores Braze's 250,000
``POST /_fake/latency``       ``{"seconds": 2.5, "path": "/campaigns/trigger/schedule/create"}``;
                              without ``path``, every Braze call; ``"seconds": 0`` removes it
============================  ==================================================================================

A fault's ``kind`` names one of the fault classes (:mod:`airflow_braze_schedule.testing.faults`), its
other keys are that class's parameters, plus ``times`` (how many matching requests, default 1) and
``path`` (the exact path to match, default any):

=============================  ====================================  ==========================
``kind``                       class                                 parameters
=============================  ====================================  ==========================
``status``                     :class:`~.faults.Status`              ``code``, ``body``, ``headers``
``rate_limited``               :class:`~.faults.RateLimited`         ``reset_in``
``html_error``                 :class:`~.faults.HtmlError`           ``code``
``delay``                      :class:`~.faults.Delay`               ``seconds``
``drop_before_processing``     :class:`~.faults.DropBeforeProcessing`
``drop_after_processing``      :class:`~.faults.DropAfterProcessing`
=============================  ====================================  ==========================

A list with one bad fault queues none, and the answer (``400``) names the fault and the parameter.

From Python, :class:`FakeBrazeControl` takes the fault objects themselves::

    from airflow_braze_schedule.testing import FakeBrazeControl, RateLimited

    braze = FakeBrazeControl("http://127.0.0.1:8765")
    braze.reset()
    braze.inject(RateLimited(reset_in=30), path="/campaigns/trigger/schedule/create")
    ...  # trigger the DAG in the deployment under test
    assert [r.status for r in braze.requests("/campaigns/trigger/schedule/create")] == [429, 200]
"""

from __future__ import annotations

import dataclasses
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from airflow_braze_schedule.testing.fake_braze import ReceivedRequest, StoredSchedule
from airflow_braze_schedule.testing.faults import (
    Delay,
    DropAfterProcessing,
    DropBeforeProcessing,
    Fault,
    HtmlError,
    RateLimited,
    Status,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from werkzeug.wrappers import Request

    from airflow_braze_schedule.testing.fake_braze import FakeBraze

__all__ = ["FAULT_KINDS", "ControlError", "FakeBrazeControl", "fault_from_json", "fault_to_json"]

#: The ``kind`` of each fault class in the control API.
FAULT_KINDS: dict[str, type[Fault]] = {
    "status": Status,
    "rate_limited": RateLimited,
    "html_error": HtmlError,
    "delay": Delay,
    "drop_before_processing": DropBeforeProcessing,
    "drop_after_processing": DropAfterProcessing,
}
_KIND_OF = {cls: kind for kind, cls in FAULT_KINDS.items()}
_PLACEMENT = ("times", "path")


class ControlError(ValueError):
    """A control request the fake refuses (answered ``400``), or that a :class:`FakeBrazeControl` call
    got refused; the message says what to change."""


# ------------------------------------------------------------------------------------ fault <-> JSON


def fault_to_json(fault: Fault, *, times: int = 1, path: str | None = None) -> dict[str, Any]:
    """Return the control API's JSON object for ``fault`` (``{"kind": ..., <parameters>, "times": ...}``)."""
    try:
        kind = _KIND_OF[type(fault)]
    except KeyError:
        raise TypeError(f"not one of the fake's fault classes: {fault!r}") from None
    body: dict[str, Any] = {"kind": kind, **dataclasses.asdict(fault), "times": times}
    if path is not None:
        body["path"] = path
    return body


def fault_from_json(body: Any, *, where: str = "fault") -> tuple[Fault, int, str | None]:
    """Parse one fault object of the control API into ``(fault, times, path)``.

    :param body: e.g. ``{"kind": "status", "code": 503, "times": 2}``.
    :param where: how to name this object in an error message, e.g. ``"faults[1]"``.
    :raises ControlError: naming ``where`` and the key at fault.
    """
    if not isinstance(body, dict):
        raise ControlError(f"{where}: expected a JSON object with a 'kind', got {json.dumps(body)}")
    parameters = dict(body)
    kind = parameters.pop("kind", None)
    cls = FAULT_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ControlError(
            f"{where}.kind: {json.dumps(kind)} is not a fault kind; expected one of {sorted(FAULT_KINDS)}"
        )
    times = parameters.pop("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ControlError(f"{where}.times: expected an integer >= 1, got {json.dumps(times)}")
    path = parameters.pop("path", None)
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise ControlError(
            f"{where}.path: expected a URL path such as '/messages/schedule/create', got {json.dumps(path)}"
        )
    accepted = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(parameters) - set(accepted))
    if unknown:
        raise ControlError(
            f"{where}: {kind!r} takes {accepted or 'no parameters'} (and {list(_PLACEMENT)}), not {unknown}"
        )
    try:
        fault = cls(**parameters)
    except (TypeError, ValueError) as exc:
        raise ControlError(f"{where}: {exc}") from None
    return fault, times, path


# ------------------------------------------------------------------------------------------- server


def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def _json_body(raw: bytes) -> Any:
    if not raw:
        raise ControlError("expected a JSON body")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ControlError(f"the body is not JSON: {exc}") from None


def _number(body: dict[str, Any], key: str, *, minimum: float, default: Any = ...) -> Any:
    value = body.get(key, default)
    if value is ...:
        raise ControlError(f"{key}: required")
    if value is None and default is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < minimum
    ):
        raise ControlError(f"{key}: expected a number >= {minimum:g}, got {json.dumps(value)}")
    return value


def _object(body: Any, keys: Sequence[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ControlError(f"expected a JSON object with {list(keys)}, got {json.dumps(body)}")
    unknown = sorted(set(body) - set(keys))
    if unknown:
        raise ControlError(f"unknown keys {unknown}; expected some of {list(keys)}")
    return body


def _state(fake: FakeBraze, request: Request, raw: bytes) -> Response:
    return _answer(200, fake.state())


def _requests(fake: FakeBraze, request: Request, raw: bytes) -> Response:
    received = fake.state()["received"]
    if path := request.args.get("path"):
        received = [r for r in received if r["path"] == path]
    return _answer(200, {"requests": received})


def _schedules(fake: FakeBraze, request: Request, raw: bytes) -> Response:
    schedules = fake.state()["schedules"]
    if status := request.args.get("status"):
        schedules = [s for s in schedules if s["status"] == status]
    return _answer(200, {"schedules": schedules})


def _reset(fake: FakeBraze, request: Request, raw: bytes) -> Response:
    fake.reset()
    return _answer(200, {"message": "success"})


def _faults(fake: FakeBraze, request: Request, raw: bytes) -> Response:
    body = _json_body(raw)
    if not isinstance(body, list):
        raise ControlError(f"expected a JSON list of faults, got {json.dumps(body)[:200]}")
    parsed = [fault_from_json(item, where=f"faults[{index}]") for index, item in enumerate(body)]
    for fault, times, path in parsed:  # every fault was valid: queue them all, in order
        fake.inject(fault, times=times, path=path)
    return _answer(200, {"message": "success", "queued": len(parsed)})


def _chaos(fake: FakeBraze, request: Request, raw: bytes) -> Response:
    body = _object(_json_body(raw), ("rate", "faults", "seed"))
    rate = _number(body, "rate", minimum=0)
    items = body.get("faults", [])
    if not isinstance(items, list):
        raise ControlError(f"faults: expected a JSON list, got {json.dumps(items)}")
    faults = [fault_from_json(item, where=f"faults[{index}]")[0] for index, item in enumerate(items)]
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ControlError(f"seed: expected an integer or null, got {json.dumps(seed)}")
    try:
        fake.set_chaos(rate, faults, seed=seed)
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    return _answer(200, {"message": "success"})


def _rate_limit(fake: FakeBraze, request: Request, raw: bytes) -> Response:
    body = _object(_json_body(raw), ("limit", "window"))
    if "limit" not in body:
        raise ControlError("limit: required (null for Braze's default)")
    limit = body["limit"]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ControlError(f"limit: expected an integer >= 0 or null, got {json.dumps(limit)}")
    window = _number(body, "window", minimum=0, default=3600.0)
    if window <= 0:
        raise ControlError("window: expected a number of seconds > 0")
    fake.set_rate_limit(limit, float(window))
    return _answer(200, {"message": "success"})


def _latency(fake: FakeBraze, request: Request, raw: bytes) -> Response:
    body = _object(_json_body(raw), ("seconds", "path"))
    seconds = _number(body, "seconds", minimum=0)
    path = body.get("path")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise ControlError(
            f"path: expected a URL path such as '/messages/schedule/create', got {json.dumps(path)}"
        )
    fake.set_latency(float(seconds), path=path)
    return _answer(200, {"message": "success"})


_ROUTES: dict[str, tuple[str, Callable[[FakeBraze, Request, bytes], Response]]] = {
    "/_fake/state": ("GET", _state),
    "/_fake/requests": ("GET", _requests),
    "/_fake/schedules": ("GET", _schedules),
    "/_fake/reset": ("POST", _reset),
    "/_fake/faults": ("POST", _faults),
    "/_fake/chaos": ("POST", _chaos),
    "/_fake/rate_limit": ("POST", _rate_limit),
    "/_fake/latency": ("POST", _latency),
}


def dispatch(fake: FakeBraze, request: Request, raw: bytes) -> Response:
    """Answer one control request (a path under ``/_fake/``) for ``fake`` (whose server has already
    refused non-loopback clients)."""
    route = _ROUTES.get(request.path)
    if route is None:
        return _answer(404, {"message": "Not Found", "endpoints": sorted(_ROUTES)})
    method, handler = route
    if request.method != method:
        return _answer(405, {"message": f"Method Not Allowed: use {method}"}, {"Allow": method})
    try:
        return handler(fake, request, raw)
    except ControlError as error:
        return _answer(400, {"message": str(error)})


# ------------------------------------------------------------------------------------------- client


class FakeBrazeControl:
    """Drive a fake Braze running elsewhere (another process, a CI service) through its control API.

    Standard library only (``urllib``); each call is one HTTP request with ``timeout`` seconds.

    :param url: the fake's base URL, e.g. ``"http://127.0.0.1:8765"`` (the Braze connection's host).
    :param timeout: seconds to wait for each answer.
    """

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"FakeBrazeControl({self.url!r})"

    def _call(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        url = f"{self.url}/_fake/{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                message = json.loads(text)["message"]
            except (ValueError, KeyError, TypeError):
                message = text[:300]
            raise ControlError(f"{method} {url}: HTTP {error.code}: {message}") from None

    # --- what it received and holds

    def state(self) -> dict[str, Any]:
        """``GET /_fake/state``: ``{"schedules": [...], "received": [...]}`` as JSON objects."""
        state: dict[str, Any] = self._call("GET", "state")
        return state

    def requests(self, path: str | None = None) -> list[ReceivedRequest]:
        """The requests received (all, or those on ``path``), in arrival order."""
        answer = self._call("GET", "requests", query={"path": path} if path else None)
        return [ReceivedRequest(**entry) for entry in answer["requests"]]

    def schedules(self, status: str | None = None) -> list[StoredSchedule]:
        """The schedules created (all, or those with ``status`` ``"scheduled"`` / ``"cancelled"``)."""
        answer = self._call("GET", "schedules", query={"status": status} if status else None)
        return [StoredSchedule(**entry) for entry in answer["schedules"]]

    def active_schedules(self) -> list[StoredSchedule]:
        """The schedules not cancelled, in creation order."""
        return self.schedules("scheduled")

    # --- what it does next

    def reset(self) -> None:
        """Forget requests, schedules, queued faults, chaos and latency; restore the rate limit."""
        self._call("POST", "reset")

    def inject(self, fault: Fault, *, times: int = 1, path: str | None = None) -> None:
        """Queue ``fault`` for the next ``times`` requests on ``path`` (any path when ``None``)."""
        self._call("POST", "faults", [fault_to_json(fault, times=times, path=path)])

    def inject_all(self, faults: Sequence[tuple[Fault, int, str | None]]) -> None:
        """Queue several ``(fault, times, path)`` at once: all of them or, if one is refused, none."""
        self._call("POST", "faults", [fault_to_json(f, times=t, path=p) for f, t, p in faults])

    def set_chaos(self, rate: float, faults: Sequence[Fault], *, seed: int | None = None) -> None:
        """Fault a random share ``rate`` of requests with one of ``faults``; ``set_chaos(0, [])`` stops."""
        bodies = [{k: v for k, v in fault_to_json(f).items() if k != "times"} for f in faults]
        self._call("POST", "chaos", {"rate": rate, "faults": bodies, "seed": seed})

    def set_rate_limit(self, limit: int | None, window: float = 3600.0) -> None:
        """Allow ``limit`` requests per ``window`` seconds (``None``: Braze's default) and restart counting."""
        self._call("POST", "rate_limit", {"limit": limit, "window": window})

    def set_latency(self, seconds: float, *, path: str | None = None) -> None:
        """Answer every call (or those on ``path``) ``seconds`` late; ``0`` removes the latency."""
        body: dict[str, Any] = {"seconds": seconds}
        if path is not None:
            body["path"] = path
        self._call("POST", "latency", body)
