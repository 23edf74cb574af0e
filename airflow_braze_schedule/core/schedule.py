"""The schedule object (braze-api.md §3) and its time rules.

A schedule is sent in one of three modes:

* **UTC** (neither flag): ``time`` is an instant, sent in UTC with its ``Z`` designator.
* **local time** (``in_local_time``): ``time`` is a wall-clock time, delivered at that time in each
  user's time zone. Braze says not to send a time-zone designator, so it goes out without one.
* **optimal time** (``at_optimal_time``): only the date matters; each user gets the message at their
  optimal time that day. Also sent without a designator.

Both flags may be true: Braze's own ``/messages/schedule/create`` example sets both, and Braze documents
no precedence between them. Such a schedule is sent as given and checked by the rules of optimal time,
whose window (the whole day, in every zone) contains the local-time one.

If a local or optimal time is given with an offset (a templated ``{{ data_interval_end }}`` renders
as ``...+00:00``), its wall-clock time is kept and the offset is dropped; :attr:`BrazeSchedule.dropped_offset`
records it so the caller can say so in the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pendulum

from airflow_braze_schedule.core.errors import BrazeValidationError

SCHEDULE_KEYS = ("time", "in_local_time", "at_optimal_time")

# Time zones run from UTC-12 to UTC+14: a wall-clock time happens first 14 hours before it does in UTC,
# and last 12 hours after.
_EARLIEST_ZONE = timedelta(hours=14)
_LATEST_ZONE = timedelta(hours=12)
# Braze's advice for dashboard campaigns, applied to the API as a warning (braze-api.md §3.1).
LOCAL_TIME_LEAD = timedelta(hours=24)
OPTIMAL_TIME_LEAD = timedelta(hours=48)
# No horizon: Braze removed its 90-day limit on scheduling in 2023 (braze-api.md §12.7).

# ISO 8601 calendar dates only ("2026-12-01..."): pendulum alone also takes times of day (as today),
# bare years and week dates, none of which Braze documents.
_ISO_DATE_PREFIX = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]|$)")

_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_WALL_CLOCK_FORMAT = "%Y-%m-%dT%H:%M:%S"


def rendered_nothing(value: Any) -> bool:
    """True for a value a template left empty: None, an empty or blank string, or the text of None."""
    return value is None or (isinstance(value, str) and value.strip() in ("", "None", "null"))


def _flag(schedule: dict[str, Any], key: str) -> bool:
    value = schedule.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BrazeValidationError(f"schedule.{key}", f"{value!r} is not a boolean", "true or false")
    return value


def _parse_time(value: Any) -> datetime:
    """Parse ``schedule.time`` into a datetime, naive if and only if the input carried no offset."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise BrazeValidationError(
            "schedule.time",
            f"{value!r} ({type(value).__name__}) is not a time",
            "an ISO 8601 string such as 2026-12-01T09:00:00Z, or a datetime",
        )
    text = value.strip()
    if rendered_nothing(text):
        raise BrazeValidationError(
            "schedule.time",
            f"is empty ({value!r}); a template that rendered nothing gives this",
            "an ISO 8601 string such as 2026-12-01T09:00:00Z",
        )
    if not _ISO_DATE_PREFIX.match(text):
        raise BrazeValidationError(
            "schedule.time",
            f"{value!r} is not an ISO 8601 date and time",
            "a date and time such as 2026-12-01T09:00:00Z (or a date, 2026-12-01)",
        )
    try:
        # The standard library parses the usual forms ~30x faster than pendulum; pendulum takes the rest.
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        parsed = pendulum.parse(text, tz=None)
    except (ValueError, TypeError) as exc:  # pendulum's ParserError is a ValueError
        raise BrazeValidationError(
            "schedule.time", f"{value!r} is not an ISO 8601 time ({exc})", "for example 2026-12-01T09:00:00Z"
        ) from None
    if isinstance(parsed, datetime):
        return parsed
    if isinstance(parsed, date):
        return datetime(parsed.year, parsed.month, parsed.day)
    raise BrazeValidationError(
        "schedule.time",
        f"{value!r} is a duration or time of day, not a date and time",
        "an ISO 8601 date-time",
    )


def _offset_text(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = int(abs(offset).total_seconds()) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class BrazeSchedule:
    """A validated ``schedule`` object.

    :param time: for a UTC schedule an aware datetime in UTC; for local or optimal time a naive
        wall-clock datetime. Always whole seconds.
    :param in_local_time: deliver at ``time`` in each user's time zone.
    :param at_optimal_time: deliver on ``time``'s date at each user's optimal time.
    :param dropped_offset: the UTC offset removed from a local or optimal time, if the input had one.
    """

    time: datetime
    in_local_time: bool = False
    at_optimal_time: bool = False
    dropped_offset: str | None = None

    @classmethod
    def parse(cls, value: Any) -> BrazeSchedule:
        """Build a schedule from a ``schedule`` dict, a bare time (string or datetime), or a schedule.

        :raises BrazeValidationError: naming the field at fault.
        """
        if isinstance(value, BrazeSchedule):
            return value
        if value is None:
            raise BrazeValidationError(
                "schedule", "is missing", 'a schedule object such as {"time": "2026-12-01T09:00:00Z"}'
            )
        if isinstance(value, str | datetime | date):
            value = {"time": value}
        if not isinstance(value, dict):
            raise BrazeValidationError(
                "schedule",
                f"{value!r} ({type(value).__name__}) is not a schedule object",
                'a dict such as {"time": "2026-12-01T09:00:00", "in_local_time": true}',
            )
        unknown = sorted(set(value) - set(SCHEDULE_KEYS))
        if unknown:
            raise BrazeValidationError(
                f"schedule.{unknown[0]}", "is not a schedule field", f"only {', '.join(SCHEDULE_KEYS)}"
            )
        if value.get("time") is None:
            raise BrazeValidationError("schedule.time", "is missing", "an ISO 8601 time")
        in_local_time = _flag(value, "in_local_time")
        at_optimal_time = _flag(value, "at_optimal_time")
        moment = _parse_time(value["time"]).replace(microsecond=0)
        dropped_offset = None
        if in_local_time or at_optimal_time:
            if moment.tzinfo is not None:
                dropped_offset = _offset_text(moment)
                moment = moment.replace(tzinfo=None)
            moment = datetime(*moment.timetuple()[:6])  # a plain naive datetime, whatever came in
        else:
            # Braze reads a UTC schedule's time in UTC, so a time with no offset is taken as UTC.
            moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
        return cls(moment, in_local_time, at_optimal_time, dropped_offset)

    @property
    def mode(self) -> str:
        """``"utc"``, ``"local"`` or ``"optimal"``: whose time rules apply.

        With both flags, ``"optimal"``: its window is the wider one (see the module docstring).
        """
        if self.at_optimal_time:
            return "optimal"
        if self.in_local_time:
            return "local"
        return "utc"

    @property
    def time_string(self) -> str:
        """``time`` as Braze wants it: UTC with ``Z``, or a wall-clock time with no designator."""
        return self.time.strftime(_UTC_FORMAT if self.mode == "utc" else _WALL_CLOCK_FORMAT)

    def to_payload(self) -> dict[str, Any]:
        """The ``schedule`` object to send. Flags are sent explicitly: an update replaces the object."""
        return {
            "time": self.time_string,
            "in_local_time": self.in_local_time,
            "at_optimal_time": self.at_optimal_time,
        }

    def first_delivery(self) -> datetime:
        """The first UTC instant at which this schedule delivers somewhere (UTC+14 is the first zone)."""
        return self.delivery_window()[0]

    def delivery_window(self) -> tuple[datetime, datetime]:
        """The first and last UTC instants (aware) at which this schedule delivers somewhere on Earth: the one
        rule the accessors below and the registry's states read."""
        if self.mode == "utc":
            return self.time, self.time
        wall = self.time.replace(tzinfo=UTC)
        if self.mode == "local":
            return wall - _EARLIEST_ZONE, wall + _LATEST_ZONE
        day = wall.replace(hour=0, minute=0, second=0)
        return day - _EARLIEST_ZONE, day + timedelta(days=1) + _LATEST_ZONE

    def last_delivery(self) -> datetime:
        """The last UTC instant at which this schedule delivers anywhere: once it has passed, the send
        has gone out in every time zone. A UTC time is itself; a local time is that wall-clock time in
        UTC-12, the last zone; an optimal time is the end of its date in UTC-12."""
        return self.delivery_window()[1]

    def send_has_begun(self, now: datetime | None = None) -> bool:
        """Whether the send has begun somewhere on Earth by ``now`` (default: the current time).

        For a local or optimal time that is when its first time zone (UTC+14) reaches it, which is what
        Braze's rule on late updates of local-time schedules turns on (braze-api.md §12.5).
        """
        first, _ = self.delivery_window()
        return first <= _utc_now(now)

    def check(self, now: datetime | None = None) -> list[str]:
        """Check the time against ``now`` (default: the current time).

        :raises BrazeValidationError: for a UTC time in the past, or a local or optimal time that has
            passed in every time zone (Braze answers 400 to both).
        :return: advice worth logging: both flags set, Braze's lead-time recommendations, a dropped
            offset.
        """
        now = _utc_now(now)
        first, last = self.delivery_window()
        if last <= now:
            where = "" if self.mode == "utc" else " in every time zone"
            raise BrazeValidationError(
                "schedule.time",
                f"{self.time_string} ({self.mode} time) has already passed{where} (now {now:%Y-%m-%dT%H:%M:%SZ})",
                "a time in the future",
            )
        notes = []
        if self.in_local_time and self.at_optimal_time:
            notes.append(
                "in_local_time and at_optimal_time are both true: sent as given (Braze's own example sets "
                "both), but Braze documents no precedence between them; the time rules of optimal time, "
                "the wider window, are applied"
            )
        if self.dropped_offset is not None:
            notes.append(
                f"schedule.time had the offset {self.dropped_offset}, dropped: with {self.mode} time Braze takes "
                f"a wall-clock time with no zone, so {self.time_string} is sent"
            )
        if self.mode == "local" and first - now < LOCAL_TIME_LEAD:
            notes.append(
                f"{self.time_string} local time is less than 24 hours ahead in the earliest time zones; "
                "Braze advises scheduling local-time sends 24 hours ahead, and users whose local time has "
                "passed may not receive it"
            )
        if self.mode == "optimal" and first - now < OPTIMAL_TIME_LEAD:
            notes.append(
                f"{self.time:%Y-%m-%d} at optimal time is less than 48 hours ahead; Braze advises scheduling "
                "optimal-time sends 48 hours ahead"
            )
        return notes


def _utc_now(now: datetime | None) -> datetime:
    """``now`` as an aware UTC datetime (naive means UTC); the current time if None."""
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
