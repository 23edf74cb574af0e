"""Run a fake Braze server until SIGINT or SIGTERM: ``python -m airflow_braze_schedule.testing``.

It prints one line, e.g.::

    Fake Braze listening on http://127.0.0.1:8765; export AIRFLOW_CONN_BRAZE_DEFAULT='{"conn_type": ...}'

then a second line naming its control API (``/_fake/...``, loopback clients only: faults, rate limit,
latency, what it received and holds; see :mod:`airflow_braze_schedule.testing.control` and its client
``FakeBrazeControl``), serves Braze's scheduled-messaging endpoints, and exits 0 on a signal.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from typing import TYPE_CHECKING

from airflow_braze_schedule.testing.fake_braze import DEFAULT_API_KEY, FakeBraze

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_braze_schedule.testing",
        description="Serve an in-memory fake of Braze's scheduled-messaging REST API until SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port to bind, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key", default=DEFAULT_API_KEY, help="REST API key to accept (default: %(default)s)"
    )
    parser.add_argument(
        "--rate-limit", type=int, default=None, help="requests per window (default: Braze's 250000)"
    )
    parser.add_argument(
        "--rate-limit-window", type=float, default=3600.0, help="window in seconds (default: %(default)s)"
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds to wait before answering each call (default: 0)"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, serve until SIGINT/SIGTERM, and return the exit status (0).

    :param argv: command-line arguments (``sys.argv[1:]`` when ``None``).
    """
    args = _parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    braze = FakeBraze(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        rate_limit=args.rate_limit,
        rate_limit_window=args.rate_limit_window,
        verbose=args.verbose,
    )
    try:
        with braze:
            name, value = braze.airflow_conn_env()
            if args.latency:
                braze.set_latency(args.latency)
            print(f"Fake Braze listening on {braze.url}; export {name}={shlex.quote(value)}", flush=True)
            print(f"Control API (loopback only): {braze.url}/_fake/state, /_fake/faults, ...", flush=True)
            # A timed wait keeps the main thread responsive to signals on every platform.
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
