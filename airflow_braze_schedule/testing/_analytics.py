"""The fake's model of Braze's analytics by send id, ``GET /sends/data_series`` (braze-api.md §5.1,
§12.10), and of the dashboard pages the provider's links open. Pure functions over the fake's schedules;
like :mod:`._rules`, independent of the provider's own code.

What Braze documents: the endpoint serves API campaigns only; it takes ``campaign_id``, ``send_id``,
``length`` (1 to 100 days) and optionally ``ending_at``; it answers per-day figures by channel; Braze
keeps them 14 days after the send. What the fake decides where Braze says nothing:

- A send has figures once it has gone out everywhere: its UTC time; a local time in UTC-12, the last zone;
  an optimal-time date once it has ended in UTC-12. It then counts every recipient at once, on the date of
  its ``time``. A schedule cancelled before that has none.
- Recipients: the users a request named; a broadcast, segment or audience counts as
  :data:`BROADCAST_AUDIENCE` users.
- Channels: a message schedule's ``messages`` keys; an API-triggered campaign's content lives in the
  dashboard, so its figures are reported under :data:`CAMPAIGN_CHANNEL`.
- A campaign or send id the fake does not know, a Canvas, or figures older than 14 days: ``{"data": []}``.
- Each day entry is ``{"time": "YYYY-MM-DD", "messages": {channel: [{"sent": n, "delivered": n}]},
  "unique_recipients": n}``; only days with a send are listed, oldest first.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_braze_schedule.testing._rules import (
    _LAST_TIME_ZONE,
    MAX_SEND_ID_LENGTH,
    BrazeError,
    Endpoint,
    parse_iso_datetime,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow_braze_schedule.testing.fake_braze import StoredSchedule

DATA_SERIES = Endpoint("/sends/data_series", "GET", "sends.data_series", None, "data_series", frozenset())
#: "Braze stores send analytics for 14 days after the send."
RETENTION = timedelta(days=14)
MAX_LENGTH = 100
BROADCAST_AUDIENCE = 100
CAMPAIGN_CHANNEL = "email"
#: The dashboard paths the provider links to; the fake serves a page for each.
DASHBOARD_PAGES = {"/engagement/campaigns/": "campaign_id", "/engagement/canvas/": "canvas_id"}


def check_query(args: Mapping[str, str]) -> tuple[str, str, int, datetime | None]:
    """Validate the query of ``/sends/data_series``: ``(campaign_id, send_id, length, ending_at)``.

    :raises BrazeError: 400 naming every problem.
    """
    problems = []
    campaign_id = (args.get("campaign_id") or "").strip()
    send_id = (args.get("send_id") or "").strip()
    if not campaign_id:
        problems.append("'campaign_id' query parameter is required")
    if not send_id:
        problems.append("'send_id' query parameter is required")
    elif not send_id.isascii() or len(send_id) > MAX_SEND_ID_LENGTH:
        problems.append(f"'send_id' must be ASCII and at most {MAX_SEND_ID_LENGTH} characters long")
    raw_length = args.get("length")
    length = 0
    if raw_length is None:
        problems.append("'length' query parameter is required")
    else:
        try:
            length = int(raw_length)
        except ValueError:
            length = 0
        if not 1 <= length <= MAX_LENGTH:
            problems.append(f"'length' must be an integer from 1 to {MAX_LENGTH}, got {raw_length!r}")
    ending_at = None
    if args.get("ending_at"):
        ending_at = parse_iso_datetime(args["ending_at"])
        if ending_at is None:
            problems.append(f"Cannot parse 'ending_at' {args['ending_at']!r}: expected an ISO 8601 date-time")
        elif ending_at.tzinfo is None:
            ending_at = ending_at.replace(tzinfo=UTC)
    if problems:
        raise BrazeError(400, problems[0], problems)
    return campaign_id, send_id, length, ending_at


def gone_out_at(schedule: Mapping[str, Any]) -> tuple[datetime, date] | None:
    """When a schedule object has gone out everywhere, and the date its figures fall on."""
    raw = schedule.get("time")
    parsed = parse_iso_datetime(raw) if isinstance(raw, str) else None
    if parsed is None:
        return None
    if schedule.get("in_local_time") is True:
        return parsed.replace(tzinfo=UTC) + _LAST_TIME_ZONE, parsed.date()
    if schedule.get("at_optimal_time") is True:
        day_end = datetime.combine(parsed.date(), datetime.min.time(), UTC) + timedelta(days=1)
        return day_end + _LAST_TIME_ZONE, parsed.date()
    utc = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return utc.astimezone(UTC), utc.astimezone(UTC).date()


def _recipients(body: Mapping[str, Any]) -> int:
    named = len(body.get("recipients") or []) + len(body.get("external_user_ids") or [])
    named += len(body.get("user_aliases") or [])
    return named or BROADCAST_AUDIENCE


def data_series(schedules: Iterable[StoredSchedule], args: Mapping[str, str], now: float) -> dict[str, Any]:
    """Answer ``/sends/data_series`` from the fake's schedules at the fake's time ``now``."""
    campaign_id, send_id, length, ending_at = check_query(args)
    current = datetime.fromtimestamp(now, UTC)
    last_day = (ending_at or current).astimezone(UTC).date()
    first_day = last_day - timedelta(days=length - 1)
    days: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for stored in schedules:
        if (
            stored.kind == "canvas"
            or stored.campaign_id != campaign_id
            or stored.body.get("send_id") != send_id
        ):
            continue
        moment = gone_out_at(stored.schedule)
        if moment is None:
            continue
        gone_out, day = moment
        cancelled_first = stored.status == "cancelled" and stored.updated_at < gone_out.timestamp()
        if gone_out > current or cancelled_first or gone_out + RETENTION <= current:
            continue
        if not first_day <= day <= last_day:
            continue
        channels = list(stored.messages or {}) if stored.kind == "message" else [CAMPAIGN_CHANNEL]
        for channel in channels:
            days[day][channel] += _recipients(stored.body)
    data = [
        {
            "time": day.isoformat(),
            "messages": {channel: [{"sent": n, "delivered": n}] for channel, n in sorted(counts.items())},
            "unique_recipients": max(counts.values()),
        }
        for day, counts in sorted(days.items())
    ]
    return {"data": data, "message": "success"}


def dashboard_page(path: str, schedules: Iterable[StoredSchedule]) -> dict[str, Any] | None:
    """The fake's page for a dashboard link (``/engagement/campaigns/<id>``, ``/engagement/canvas/<id>``),
    listing the schedules it holds for that campaign or Canvas; None for another path."""
    for prefix, field_name in DASHBOARD_PAGES.items():
        if path.startswith(prefix) and "/" not in path[len(prefix) :] and path[len(prefix) :]:
            owner = path[len(prefix) :]
            held = [
                {"schedule_id": s.schedule_id, "kind": s.kind, "status": s.status, "schedule": s.schedule}
                for s in schedules
                if getattr(s, field_name) == owner
            ]
            return {field_name: owner, "schedules": held}
    return None
