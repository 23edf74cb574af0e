"""Helpers for the BrazeHook tests: recorded sleeps on a virtual clock, connections, secret checks.

Every test in ``tests/hooks`` talks real HTTP over loopback to the fake Braze of
``airflow_braze_schedule.testing``; nothing in ``requests`` or the hook's session is mocked. Waits are
recorded instead of slept: :class:`SleepRecorder`'s ``append`` (the hook's ``sleep``) also advances its
``clock`` (the hook's ``clock``) by the recorded wait, so the hook sees time pass as if it had slept.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_braze_schedule.testing import FakeBraze

FUTURE = "2031-03-01T09:00:00Z"
LATER = "2031-03-02T10:30:00Z"
EMAIL = {"email": {"app_id": "app-1", "subject": "Hello", "body": "<p>Hi</p>", "from": "a@example.com"}}


class SleepRecorder(list):
    """A list of the waits the hook asked for; ``append`` is the hook's ``sleep``, ``clock`` its clock.

    :param start: the virtual time at creation (epoch seconds); the real time by default. The clock then
        runs with real time plus every recorded wait.
    """

    def __init__(self, start: float | None = None) -> None:
        super().__init__()
        self._origin = time.time()
        self._offset = 0.0 if start is None else start - self._origin
        self.on_sleep: Callable[[float], None] | None = None

    def append(self, seconds: float) -> None:  # type: ignore[override]
        super().append(seconds)
        self._offset += seconds
        if self.on_sleep is not None:
            self.on_sleep(seconds)

    def clock(self) -> float:
        return time.time() + self._offset


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    """Define an Airflow connection of type braze through ``AIRFLOW_CONN_<ID>``."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "braze", **fields}))


def closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_answered(fake: FakeBraze, count: int | None = None, timeout: float = 5.0) -> None:
    """Wait until the fake has finished every request it received (a Delay fault keeps one in flight).

    :param count: also wait until at least this many requests arrived.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        received = fake.received
        if (count is None or len(received) >= count) and all(r.status is not None for r in received):
            return
        time.sleep(0.01)
    raise AssertionError(f"the fake still has requests in flight: {fake.received}")


def assert_no_secret(error: BaseException, *secrets: str) -> None:
    """No text the error carries (str, repr, args, message, errors, reason) holds any of ``secrets``."""
    texts = [str(error), repr(error), *map(str, error.args)]
    texts += [str(getattr(error, name, "")) for name in ("message", "errors", "reason")]
    for secret in secrets:
        assert secret, "a secret to look for must not be empty"
        for text in texts:
            assert secret not in text, f"the key leaked into {type(error).__name__}: {text!r}"
