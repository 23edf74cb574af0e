"""``airflow-braze-schedule list / show``: the schedules page from the command line, on every Airflow line.

Run it where Airflow's configuration reaches the metadata database and connections (next to the
scheduler, say). It reads the same registry as the page, never writes: ``--registry-conn-id`` (default:
``[braze_schedule] registry_conn_id``) for the SQL registry, else the asset store (Airflow 3.3+). To
cancel, trigger the ``braze_schedule_admin`` DAG (``airflow dags trigger``), as the page does.

    airflow-braze-schedule list --scope order-4711/ --state scheduled --send-before 2026-12-09T00:00:00Z
    airflow-braze-schedule list --next-24h --json
    airflow-braze-schedule show order-4711/reminder
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, timedelta
from typing import Any

from airflow_braze_schedule.core.registry_model import STATES

_COLUMNS = (
    ("KEY", "schedule_key"),
    ("STATE", "state"),
    ("KIND", "kind"),
    ("SEND TIME", "send_time"),
    ("MODE", "time_mode"),
    ("SCHEDULE IDS", "ids"),
    ("LAST CHANGE", "last"),
    ("FLAGS", "flags"),
)


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone: add Z or an offset")
    return moment


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="airflow-braze-schedule", description="Read the registry of keyed Braze schedules."
    )
    commands = main.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--conn-id", default="braze_default", help="the Braze connection (workspace)")
    common.add_argument("--registry-conn-id", help="the Airflow SQL connection the registry is kept in")
    common.add_argument("--registry-table", help="the registry's table (default braze_schedule_registry)")
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common.add_argument("--verbose", action="store_true", help="show Airflow's own log lines too")

    listing = commands.add_parser("list", parents=[common], help="one page of schedules, in key order")
    listing.add_argument("--scope", default="", help="keys starting with this")
    listing.add_argument("--state", choices=STATES)
    listing.add_argument(
        "--send-after", type=_instant, help="sends beginning at or after (ISO 8601, with zone)"
    )
    listing.add_argument("--send-before", type=_instant, help="sends beginning before")
    listing.add_argument("--next-24h", action="store_true", help="sends beginning in the next 24 hours")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--offset", type=int, default=0)

    show = commands.add_parser("show", parents=[common], help="one key with its whole history")
    show.add_argument("schedule_key")
    return main


def _reader(args: argparse.Namespace) -> Any:
    from airflow_braze_schedule.plugins.reading import open_reader

    return open_reader(
        args.conn_id, registry_conn_id=args.registry_conn_id, registry_table=args.registry_table
    )


def _dashboard(conn_id: str, handle: dict[str, Any] | None) -> str | None:
    from airflow_braze_schedule.links import dashboard_page
    from airflow_braze_schedule.plugins.reading import dashboard_of

    return dashboard_page(dashboard_of(conn_id), handle)


def _row(view: dict[str, Any]) -> dict[str, str]:
    ids = view["schedule_ids"]
    last = view["last_change"] or {}
    return {
        "schedule_key": view["schedule_key"],
        "state": view["state"] or "pending",
        "kind": view["kind"] or "",
        "send_time": view["send_time"] or "",
        "time_mode": view["time_mode"] or "",
        "ids": f"group of {ids['count']}" if ids["group"] else (ids["ids"][0] if ids["ids"] else ""),
        "last": f"{last.get('action', '')} {last.get('at', '')} {last.get('dag_id') or ''}/{last.get('task_id') or ''}"
        if last
        else "",
        "flags": ",".join(flag["code"] for flag in view["flags"]),
    }


def _table(rows: list[dict[str, str]]) -> str:
    widths = [max([len(title), *(len(row[name]) for row in rows)]) for title, name in _COLUMNS]
    lines = ["  ".join(title.ljust(width) for (title, _), width in zip(_COLUMNS, widths, strict=True))]
    for row in rows:
        lines.append(
            "  ".join(row[name].ljust(width) for (_, name), width in zip(_COLUMNS, widths, strict=True))
        )
    return "\n".join(line.rstrip() for line in lines)


def list_schedules(args: argparse.Namespace) -> dict[str, Any]:
    from airflow_braze_schedule.core.registry_model import utc_now
    from airflow_braze_schedule.plugins.entries import entry_view
    from airflow_braze_schedule.registry import RegistryQuery

    now = utc_now()
    send_after, send_before = args.send_after, args.send_before
    if args.next_24h:
        send_after, send_before = now, now + timedelta(hours=24)
    query = RegistryQuery(
        prefix=args.scope,
        state=args.state,
        send_after=send_after,
        send_before=send_before,
        limit=args.limit,
        offset=args.offset,
    )
    page = _reader(args).query(query, now=now)
    return {
        "conn_id": args.conn_id,
        "total": page.total,
        "limit": args.limit,
        "offset": args.offset,
        "entries": [
            entry_view(entry, now=now, dashboard_url=_dashboard(args.conn_id, entry.handle))
            for entry in page.entries
        ],
    }


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.verbose:
        return _run(args)
    # Airflow logs connection look-ups and the like to stdout on some lines: the table or the JSON must
    # be all a pipe gets. Errors of this command are printed, not logged. Logging is process-wide, so it
    # is given back as it was: main() may be called from other code (and the tests) in one process.
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        return _run(args)
    finally:
        logging.disable(previous)


def _run(args: argparse.Namespace) -> int:
    from airflow_braze_schedule.core.errors import BrazeError
    from airflow_braze_schedule.plugins.entries import entry_detail

    try:
        if args.command == "list":
            page = list_schedules(args)
            if args.json:
                print(json.dumps(page, indent=1))
            else:
                print(_table([_row(view) for view in page["entries"]]))
                shown = len(page["entries"])
                print(
                    f"\n{args.offset + 1 if shown else 0}-{args.offset + shown} of {page['total']} schedules"
                )
            return 0
        entry = _reader(args).get(args.schedule_key)
        if entry is None:
            print(
                f"No schedule is recorded under {args.schedule_key!r} for {args.conn_id!r}", file=sys.stderr
            )
            return 1
        detail = entry_detail(entry, dashboard_url=_dashboard(args.conn_id, entry.handle))
        if args.json:
            print(json.dumps(detail, indent=1))
            return 0
        print(_table([_row(detail)]))
        for flag in detail["flags"]:
            print(f"FLAG {flag['code']}: {flag['message']}")
        if detail["dashboard_url"]:
            print(f"Braze dashboard: {detail['dashboard_url']}")
        print("\nHISTORY")
        for line in detail["history"]:
            actor = "/".join(str(line.get(name) or "-") for name in ("dag_id", "run_id", "task_id"))
            note = f"  ({line['note']})" if line.get("note") else ""
            print(
                f"{line.get('seq')}  {line.get('at')}  {line.get('action')}  {line.get('state')}  {actor}{note}"
            )
        return 0
    except BrazeError as error:
        print(f"airflow-braze-schedule: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
