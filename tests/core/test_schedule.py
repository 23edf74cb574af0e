"""The schedule object and its time rules (braze-api.md §3). ``now`` is always passed explicitly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pendulum
import pytest

from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.schedule import BrazeSchedule

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LOCAL = {"in_local_time": True}
OPTIMAL = {"at_optimal_time": True}


def payload(time, **flags):
    return BrazeSchedule.parse({"time": time, **flags}).to_payload()


# --- parsing and output format --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        pytest.param("2026-12-01T09:00:00Z", "2026-12-01T09:00:00Z", id="z"),
        pytest.param("2026-12-01T09:00:00+00:00", "2026-12-01T09:00:00Z", id="plus-zero"),
        pytest.param("2026-12-01T09:00:00-05:00", "2026-12-01T14:00:00Z", id="negative-offset"),
        pytest.param("2026-12-01T09:00:00+05:30", "2026-12-01T03:30:00Z", id="half-hour-offset"),
        pytest.param("2026-12-01T09:00:00+14:00", "2026-11-30T19:00:00Z", id="offset-crosses-day"),
        pytest.param("2026-12-01T09:00:00", "2026-12-01T09:00:00Z", id="naive-is-utc"),
        pytest.param("2026-12-01", "2026-12-01T00:00:00Z", id="date-only"),
        pytest.param(" 2026-12-01T09:00:00Z ", "2026-12-01T09:00:00Z", id="surrounding-space"),
        pytest.param("2026-12-01T09:00:00.999999Z", "2026-12-01T09:00:00Z", id="microseconds-truncated"),
        pytest.param(datetime(2026, 12, 1, 9, 0, 0, 500000), "2026-12-01T09:00:00Z", id="naive-datetime"),
        pytest.param(
            datetime(2026, 12, 1, 9, tzinfo=timezone(timedelta(hours=-5))),
            "2026-12-01T14:00:00Z",
            id="aware-datetime-fixed-offset",
        ),
        pytest.param(
            datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("America/New_York")),
            "2026-12-01T14:00:00Z",
            id="aware-datetime-zoneinfo",
        ),
        pytest.param(
            pendulum.datetime(2026, 12, 1, 9, tz="Europe/Paris"), "2026-12-01T08:00:00Z", id="pendulum"
        ),
        pytest.param(date(2026, 12, 1), "2026-12-01T00:00:00Z", id="date-object"),
    ],
)
def test_utc_time_is_converted_to_utc_with_z(time, expected):
    schedule = BrazeSchedule.parse({"time": time})
    assert schedule.mode == "utc"
    assert schedule.dropped_offset is None
    assert schedule.to_payload() == {"time": expected, "in_local_time": False, "at_optimal_time": False}


@pytest.mark.parametrize("flags", [LOCAL, OPTIMAL], ids=["local", "optimal"])
@pytest.mark.parametrize(
    ("time", "wall", "dropped"),
    [
        pytest.param("2026-12-01T09:00:00-05:00", "2026-12-01T09:00:00", "-05:00", id="negative-offset"),
        pytest.param("2026-12-01T09:00:00+05:30", "2026-12-01T09:00:00", "+05:30", id="half-hour-offset"),
        pytest.param("2026-12-01T09:00:00Z", "2026-12-01T09:00:00", "+00:00", id="z"),
        pytest.param("2026-12-01T09:00:00", "2026-12-01T09:00:00", None, id="naive"),
        pytest.param("2026-12-01", "2026-12-01T00:00:00", None, id="date-only"),
        pytest.param("2026-12-01T09:00:00.75", "2026-12-01T09:00:00", None, id="microseconds-truncated"),
        pytest.param(datetime(2026, 12, 1, 9), "2026-12-01T09:00:00", None, id="naive-datetime"),
        pytest.param(
            datetime(2026, 12, 1, 9, tzinfo=ZoneInfo("America/New_York")),
            "2026-12-01T09:00:00",
            "-05:00",
            id="zoneinfo",
        ),
        pytest.param(
            pendulum.datetime(2026, 12, 1, 9, tz="Europe/Paris"),
            "2026-12-01T09:00:00",
            "+01:00",
            id="pendulum",
        ),
    ],
)
def test_local_and_optimal_time_keep_the_wall_clock_and_drop_the_offset(flags, time, wall, dropped):
    schedule = BrazeSchedule.parse({"time": time, **flags})
    assert schedule.time_string == wall
    assert schedule.dropped_offset == dropped
    assert schedule.time.tzinfo is None
    assert schedule.to_payload() == {
        "time": wall,
        "in_local_time": flags.get("in_local_time", False),
        "at_optimal_time": flags.get("at_optimal_time", False),
    }


def test_braze_example_times_section_3():
    """ "use 2015-02-20T13:14:47 instead of 2015-02-20T13:14:47-05:00" with local or optimal time."""
    plain = BrazeSchedule.parse({"time": "2015-02-20T13:14:47", "in_local_time": True})
    with_offset = BrazeSchedule.parse({"time": "2015-02-20T13:14:47-05:00", "in_local_time": True})
    assert plain.time_string == with_offset.time_string == "2015-02-20T13:14:47"
    assert (plain.dropped_offset, with_offset.dropped_offset) == (None, "-05:00")
    # In UTC mode the offset is honoured instead.
    assert payload("2015-02-20T13:14:47-05:00")["time"] == "2015-02-20T18:14:47Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2026-12-01T09:00:00Z", "2026-12-01T09:00:00Z", id="string"),
        pytest.param(datetime(2026, 12, 1, 9), "2026-12-01T09:00:00Z", id="datetime"),
        pytest.param(date(2026, 12, 1), "2026-12-01T00:00:00Z", id="date"),
    ],
)
def test_bare_time_is_a_utc_schedule(value, expected):
    assert BrazeSchedule.parse(value).to_payload() == {
        "time": expected,
        "in_local_time": False,
        "at_optimal_time": False,
    }


def test_parse_returns_a_schedule_unchanged():
    schedule = BrazeSchedule.parse({"time": "2026-12-01T09:00:00", "in_local_time": True})
    assert BrazeSchedule.parse(schedule) is schedule


def test_explicit_false_and_none_flags_mean_utc():
    assert payload("2026-12-01T09:00:00Z", in_local_time=False, at_optimal_time=None) == {
        "time": "2026-12-01T09:00:00Z",
        "in_local_time": False,
        "at_optimal_time": False,
    }


# --- parse errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "field"),
    [
        pytest.param(
            {"time": "2026-12-01T09:00:00", "in_local_time": "true"}, "schedule.in_local_time", id="str-flag"
        ),
        pytest.param(
            {"time": "2026-12-01T09:00:00", "in_local_time": 1}, "schedule.in_local_time", id="int-flag"
        ),
        pytest.param(
            {"time": "2026-12-01T09:00:00", "at_optimal_time": "false"},
            "schedule.at_optimal_time",
            id="str-optimal",
        ),
        pytest.param(
            {"time": "2026-12-01T09:00:00Z", "timezone": "UTC"}, "schedule.timezone", id="unknown-key"
        ),
        pytest.param({"in_local_time": True}, "schedule.time", id="missing-time"),
        pytest.param({"time": None}, "schedule.time", id="none-time"),
        pytest.param({"time": ""}, "schedule.time", id="empty-time"),
        pytest.param({"time": "   "}, "schedule.time", id="whitespace-time"),
        pytest.param({"time": "None"}, "schedule.time", id="rendered-None"),
        pytest.param({"time": "null"}, "schedule.time", id="rendered-null"),
        pytest.param({"time": "next tuesday"}, "schedule.time", id="unparseable"),
        pytest.param({"time": "2026-13-45T09:00:00Z"}, "schedule.time", id="out-of-range"),
        pytest.param({"time": "P1D"}, "schedule.time", id="duration"),
        pytest.param({"time": 1780000000}, "schedule.time", id="int-time"),
        pytest.param({"time": 5.0}, "schedule.time", id="float-time"),
        pytest.param(None, "schedule", id="missing-schedule"),
        pytest.param(1780000000, "schedule", id="int-schedule"),
        pytest.param(["2026-12-01T09:00:00Z"], "schedule", id="list-schedule"),
    ],
)
def test_parse_errors_name_the_field(value, field):
    with pytest.raises(BrazeValidationError) as info:
        BrazeSchedule.parse(value)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")


def test_time_of_day_without_a_date_is_refused():
    with pytest.raises(BrazeValidationError) as info:
        BrazeSchedule.parse({"time": "09:00"})
    assert info.value.field == "schedule.time"


# --- check(now) -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "now"),
    [
        pytest.param({"time": "2026-06-01T11:59:59Z"}, NOW, id="utc-past"),
        pytest.param({"time": "2026-06-01T12:00:00Z"}, NOW, id="utc-now"),
        pytest.param({"time": "2026-06-01T13:59:59+02:00"}, NOW, id="utc-past-via-offset"),
        pytest.param({"time": "2026-06-01T11:00:00Z"}, datetime(2026, 6, 1, 12), id="naive-now-is-utc"),
        # wall + 12 h <= now: the wall-clock time has passed even at UTC-12.
        pytest.param({"time": "2026-06-01T00:00:00", **LOCAL}, NOW, id="local-passed-everywhere"),
        pytest.param({"time": "2026-05-30T09:00:00", **LOCAL}, NOW, id="local-long-past"),
        # the date has ended at UTC-12: 2026-05-31 ends at 2026-06-01T12:00Z.
        pytest.param({"time": "2026-05-31", **OPTIMAL}, NOW, id="optimal-day-over-everywhere"),
        pytest.param({"time": "2026-05-31T23:59:59", **OPTIMAL}, NOW, id="optimal-time-of-day-ignored"),
    ],
)
def test_check_refuses_a_time_that_has_passed(schedule, now):
    with pytest.raises(BrazeValidationError) as info:
        BrazeSchedule.parse(schedule).check(now)
    assert info.value.field == "schedule.time"
    assert "has already passed" in info.value.problem


@pytest.mark.parametrize(
    ("schedule", "now"),
    [
        pytest.param({"time": "2026-06-01T12:00:01Z"}, NOW, id="utc-one-second-ahead"),
        pytest.param({"time": "2026-06-01T00:00:01", **LOCAL}, NOW, id="local-still-ahead-at-utc-12"),
        pytest.param({"time": "2026-06-01T09:00:00", **LOCAL}, NOW, id="local-passed-in-some-zones"),
        pytest.param({"time": "2026-05-31", **OPTIMAL}, NOW - timedelta(seconds=1), id="optimal-last-second"),
    ],
)
def test_check_accepts_a_time_still_ahead_somewhere(schedule, now):
    BrazeSchedule.parse(schedule).check(now)


def test_local_time_passed_in_some_zones_gives_a_note_not_an_error():
    notes = BrazeSchedule.parse({"time": "2026-06-01T09:00:00", "in_local_time": True}).check(NOW)
    assert len(notes) == 1
    assert "less than 24 hours ahead" in notes[0]
    assert "passed may not receive it" in notes[0]


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        pytest.param({"time": "2026-06-10T09:00:00Z"}, [], id="utc-9-days"),
        pytest.param({"time": "2026-06-01T12:00:01Z"}, [], id="utc-no-lead-note"),
        # earliest zone (UTC+14) reaches 2026-06-03T09:00 at 2026-06-02T19:00Z: 31 h ahead.
        pytest.param({"time": "2026-06-03T09:00:00", **LOCAL}, [], id="local-31h"),
        # ... reaches 2026-06-03T01:00 at 2026-06-02T11:00Z: 23 h ahead.
        pytest.param({"time": "2026-06-03T01:00:00", **LOCAL}, ["less than 24 hours"], id="local-23h"),
        pytest.param({"time": "2026-06-02T02:00:00", **LOCAL}, ["less than 24 hours"], id="local-tomorrow"),
        # 2026-06-05 starts at UTC+14 on 2026-06-04T10:00Z: 70 h ahead.
        pytest.param({"time": "2026-06-05", **OPTIMAL}, [], id="optimal-70h"),
        # 2026-06-04 starts at UTC+14 on 2026-06-03T10:00Z: 46 h ahead.
        pytest.param({"time": "2026-06-04", **OPTIMAL}, ["less than 48 hours"], id="optimal-46h"),
        pytest.param({"time": "2026-06-01", **OPTIMAL}, ["less than 48 hours"], id="optimal-today"),
        # No horizon: Braze removed its 90-day limit in 2023 (braze-api.md §12.7).
        pytest.param({"time": "2026-08-30T12:00:01Z"}, [], id="over-90-days-no-note"),
        pytest.param({"time": "2031-12-01T09:00:00", **LOCAL}, [], id="local-years-ahead-no-note"),
        pytest.param(
            {"time": "2026-06-05T09:00:00-05:00", **LOCAL},
            ["offset -05:00, dropped"],
            id="dropped-offset",
        ),
        pytest.param(
            {"time": "2026-06-02T09:00:00Z", **OPTIMAL},
            ["offset +00:00, dropped", "less than 48 hours"],
            id="dropped-offset-and-lead",
        ),
    ],
)
def test_check_notes(schedule, expected):
    notes = BrazeSchedule.parse(schedule).check(NOW)
    assert len(notes) == len(expected), notes
    for note, fragment in zip(notes, expected, strict=True):
        assert fragment in note


def test_dropped_offset_note_names_what_is_sent():
    (note,) = BrazeSchedule.parse({"time": "2026-06-05T09:00:00-05:00", "in_local_time": True}).check(NOW)
    assert note == (
        "schedule.time had the offset -05:00, dropped: with local time Braze takes a wall-clock time "
        "with no zone, so 2026-06-05T09:00:00 is sent"
    )


# --- both flags -------------------------------------------------------------------------------------


BOTH = {"in_local_time": True, "at_optimal_time": True}


def test_both_flags_are_sent_as_given_with_a_note():
    """Braze's own /messages/schedule/create example sets both (braze-api.md §12.1)."""
    schedule = BrazeSchedule.parse({"time": "2026-06-10T09:00:00Z", **BOTH})
    assert schedule.to_payload() == {"time": "2026-06-10T09:00:00", **BOTH}
    assert schedule.mode == "optimal"
    notes = schedule.check(NOW)
    assert "Braze documents no precedence between them" in notes[0]
    assert "time rules of optimal time" in notes[0]


def test_both_flags_take_the_wider_window_of_optimal_time():
    # 2026-06-01T00:00 wall: gone at UTC-12 at 12:00Z (local), but the day lasts there until 2026-06-02T12:00Z.
    both = BrazeSchedule.parse({"time": "2026-06-01T00:00:00", **BOTH})
    both.check(NOW + timedelta(hours=23))
    with pytest.raises(BrazeValidationError):
        BrazeSchedule.parse({"time": "2026-06-01T00:00:00", **LOCAL}).check(NOW + timedelta(hours=23))
    with pytest.raises(BrazeValidationError) as info:
        both.check(NOW + timedelta(hours=24))
    assert "(optimal time) has already passed in every time zone" in info.value.problem
    # The optimal lead-time advice applies, not the local one.
    assert any("less than 48 hours" in note for note in both.check(NOW))


# --- send_has_begun ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "begins"),
    [
        pytest.param({"time": "2026-06-10T09:00:00Z"}, datetime(2026, 6, 10, 9, tzinfo=UTC), id="utc"),
        # UTC+14 reaches 09:00 on the 10th at 19:00Z on the 9th.
        pytest.param(
            {"time": "2026-06-10T09:00:00", **LOCAL}, datetime(2026, 6, 9, 19, tzinfo=UTC), id="local"
        ),
        # ... and the 10th itself at 10:00Z on the 9th.
        pytest.param(
            {"time": "2026-06-10T09:00:00", **OPTIMAL}, datetime(2026, 6, 9, 10, tzinfo=UTC), id="optimal"
        ),
        pytest.param(
            {"time": "2026-06-10T09:00:00", **BOTH}, datetime(2026, 6, 9, 10, tzinfo=UTC), id="both"
        ),
    ],
)
def test_send_has_begun_in_the_earliest_zone(schedule, begins):
    parsed = BrazeSchedule.parse(schedule)
    assert not parsed.send_has_begun(begins - timedelta(seconds=1))
    assert parsed.send_has_begun(begins)
    assert parsed.send_has_begun(begins.replace(tzinfo=None))  # naive means UTC
