"""When a run was due, and the send time a DAG derives from it, for every kind of run on every Airflow line.

The runs are stand-ins carrying the attributes Airflow gives ``dag_run``: on Airflow 3 ``run_after``
always, and a logical date and data interval only for scheduled, backfilled and explicitly dated runs;
on Airflow 2 a logical date (``logical_date``, an alias of ``execution_date``) and a data interval
always, and no ``run_after``. ``now`` is always passed explicitly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pendulum
import pytest

from airflow_braze_schedule.authoring import next_send_time, run_due_at

NOW = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def airflow3_run(run_after, logical_date=None, data_interval_end=None):
    return SimpleNamespace(
        run_after=run_after, logical_date=logical_date, data_interval_end=data_interval_end
    )


def airflow2_run(logical_date, data_interval_end):
    return SimpleNamespace(logical_date=logical_date, data_interval_end=data_interval_end)


# Each kind of run, due at DUE: what Airflow gives it.
DUE = datetime(2026, 6, 10, 0, 0, tzinfo=UTC)
RUNS = {
    # Airflow 3: manual runs have no logical date; a scheduled run's run_after is its interval's end.
    "af3-manual-no-logical-date": airflow3_run(DUE),
    "af3-manual-with-logical-date": airflow3_run(DUE, logical_date=DUE, data_interval_end=DUE - DAY),
    "af3-scheduled": airflow3_run(DUE, logical_date=DUE - DAY, data_interval_end=DUE),
    # Airflow 2: a scheduled run's logical date is its interval's start; a manual one's is when it was
    # triggered, with an inferred interval that ends before it.
    "af2-scheduled": airflow2_run(DUE - DAY, DUE),
    "af2-manual": airflow2_run(DUE, DUE - timedelta(hours=5)),
}


@pytest.mark.parametrize("kind", RUNS)
def test_every_kind_of_run_is_due_at_the_same_moment(kind):
    assert run_due_at(RUNS[kind]) == DUE


def test_due_moment_is_given_in_utc_whatever_zone_the_run_reports():
    due = run_due_at(airflow3_run(pendulum.datetime(2026, 6, 10, 2, 0, tz="Europe/Paris")))

    assert due == datetime(2026, 6, 10, 0, 0, tzinfo=UTC)
    assert due.utcoffset() == timedelta(0)


def test_a_naive_moment_is_taken_as_utc():
    assert run_due_at(airflow3_run(datetime(2026, 6, 10, 7, 0))) == datetime(2026, 6, 10, 7, 0, tzinfo=UTC)


def test_something_that_is_not_a_run_is_refused():
    with pytest.raises(ValueError, match="neither run_after nor a logical date"):
        run_due_at(SimpleNamespace())


@pytest.mark.parametrize("kind", RUNS)
def test_send_time_is_counted_from_the_day_the_run_was_due(kind):
    assert next_send_time(RUNS[kind], "16:00", days_after=0, now=NOW) == "2026-06-10T16:00:00"
    assert next_send_time(RUNS[kind], "09:00", days_after=1, now=NOW) == "2026-06-11T09:00:00"
    assert next_send_time(RUNS[kind], "00:00", days_after=3, now=NOW) == "2026-06-13T00:00:00"


def test_a_time_of_day_with_seconds_is_kept():
    assert next_send_time(airflow3_run(DUE), "16:45:30", now=NOW) == "2026-06-10T16:45:30"


@pytest.mark.parametrize(
    ("at", "now", "expected"),
    [
        # 08:00 on the day the run was due has passed: the next 08:00 at least an hour away.
        pytest.param("08:00", NOW, "2026-06-11T08:00:00", id="passed-today"),
        pytest.param("13:00", NOW, "2026-06-11T13:00:00", id="less-than-the-lead-away"),
        pytest.param("13:30", NOW, "2026-06-10T13:30:00", id="exactly-the-lead-away"),
        pytest.param("08:00", NOW + 30 * DAY, "2026-07-11T08:00:00", id="a-month-late"),
    ],
)
def test_a_time_already_past_or_too_close_moves_to_the_next_day_far_enough_ahead(at, now, expected):
    assert next_send_time(airflow3_run(DUE), at, now=now) == expected


def test_a_backfilled_run_of_an_old_interval_sends_at_the_next_time_still_ahead():
    backfilled = airflow3_run(
        datetime(2026, 1, 2, tzinfo=UTC),
        logical_date=datetime(2026, 1, 1, tzinfo=UTC),
        data_interval_end=datetime(2026, 1, 2, tzinfo=UTC),
    )

    assert next_send_time(backfilled, "16:00", days_after=1, now=NOW) == "2026-06-10T16:00:00"
    assert next_send_time(backfilled, "09:00", days_after=1, now=NOW) == "2026-06-11T09:00:00"


def test_the_lead_can_be_longer_for_local_time_sends():
    lead = timedelta(hours=24)

    assert next_send_time(airflow3_run(NOW), "10:00", min_lead=lead, now=NOW) == "2026-06-12T10:00:00"
    assert next_send_time(airflow3_run(NOW), "13:00", min_lead=lead, now=NOW) == "2026-06-11T13:00:00"


def test_now_in_another_zone_is_compared_as_the_same_instant():
    paris_now = NOW.astimezone(timezone(timedelta(hours=2)))  # 14:30 in Paris is 12:30 UTC

    assert next_send_time(airflow3_run(DUE), "14:00", now=paris_now) == "2026-06-10T14:00:00"


@pytest.mark.parametrize("at", ["8am", "25:00", "08:00+02:00"])
def test_a_time_of_day_that_is_not_a_wall_clock_time_is_refused(at):
    with pytest.raises(ValueError, match="at="):
        next_send_time(airflow3_run(DUE), at, now=NOW)
