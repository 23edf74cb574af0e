"""When a schedule has gone out everywhere, the rules of /sends/data_series, and the sensor's wait plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_braze_schedule.core.analytics import (
    RETENTION,
    SendWatch,
    build_data_series_request,
    figures_reported,
    send_analytics_for,
    series_length,
)
from airflow_braze_schedule.core.endpoints import ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.handle import ScheduleHandle
from airflow_braze_schedule.core.schedule import BrazeSchedule

NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "first", "last"),
    [
        ({"time": "2026-12-01T12:00:00Z"}, NOON, NOON),
        # Local time: 12:00 in UTC+14 first, in UTC-12 last.
        (
            {"time": "2026-12-01T12:00:00", "in_local_time": True},
            datetime(2026, 11, 30, 22, 0, tzinfo=UTC),
            datetime(2026, 12, 2, 0, 0, tzinfo=UTC),
        ),
        # Optimal time: the whole date, from its start in UTC+14 to its end in UTC-12.
        (
            {"time": "2026-12-01T12:00:00", "at_optimal_time": True},
            datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
            datetime(2026, 12, 2, 12, 0, tzinfo=UTC),
        ),
    ],
)
def test_delivery_window_per_mode(schedule, first, last):
    parsed = BrazeSchedule.parse(schedule)

    assert parsed.first_delivery() == first
    assert parsed.last_delivery() == last


def test_data_series_request_carries_the_query():
    request = build_data_series_request(
        "camp-1", "send-1", length=3, ending_at=datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    )

    assert (request.method, request.path, request.body) == ("GET", "/sends/data_series", None)
    assert request.params == {
        "campaign_id": "camp-1",
        "send_id": "send-1",
        "length": "3",
        "ending_at": "2026-12-02T01:00:00Z",
    }
    assert request.idempotent


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"length": 0}, "length"),
        ({"length": 101}, "length"),
        ({"length": True}, "length"),
        ({"length": "7"}, "length"),
        ({"length": 7, "send_id": "é-send"}, "send_id"),
        ({"length": 7, "send_id": "s" * 65}, "send_id"),
        ({"length": 7, "send_id": "None"}, "send_id"),
        ({"length": 7, "campaign_id": ""}, "campaign_id"),
        ({"length": 7, "ending_at": "yesterday"}, "ending_at"),
    ],
)
def test_data_series_request_is_checked_before_sending(kwargs, field):
    arguments = {"campaign_id": "camp-1", "send_id": "send-1", **kwargs}

    with pytest.raises(BrazeValidationError) as error:
        build_data_series_request(arguments.pop("campaign_id"), arguments.pop("send_id"), **arguments)

    assert error.value.field == field


def test_a_64_character_ascii_send_id_is_accepted():
    assert build_data_series_request("c", "s" * 64, length=100).params["send_id"] == "s" * 64


@pytest.mark.parametrize(
    ("answer", "reported"),
    [
        ({"data": [], "message": "success"}, False),
        ({"data": [{"time": "2026-12-01", "messages": {"email": [{"sent": 0, "delivered": 0}]}}]}, False),
        ({"data": [{"time": "2026-12-01", "messages": {"email": [{"sent": 2, "delivered": 2}]}}]}, True),
        (
            {
                "data": [
                    {"time": "2026-12-01", "messages": {"ios_push": [{"variation_name": "A", "sent": 1}]}}
                ]
            },
            True,
        ),
        ({"data": [{"time": "2026-12-01", "messages": {"email": [{"sent": True}]}}]}, False),
        ({"message": "success"}, False),
        ("not a dict", False),
    ],
)
def test_figures_reported(answer, reported):
    assert figures_reported(answer) is reported


def test_series_length_covers_the_send_and_a_day_of_time_zone_slack():
    assert series_length(NOON, NOON) == 2
    assert series_length(NOON, NOON + timedelta(days=3)) == 5
    assert series_length(NOON, NOON + timedelta(days=400)) == 100


def test_which_schedules_have_analytics_by_send():
    campaign = send_analytics_for(ScheduleKind.CAMPAIGN, campaign_id="c", send_id="s")
    attributed_message = send_analytics_for(ScheduleKind.MESSAGE, campaign_id="c", send_id="s")
    plain_message = send_analytics_for(ScheduleKind.MESSAGE, campaign_id=None, send_id="s")
    no_send_id = send_analytics_for(ScheduleKind.CAMPAIGN, campaign_id="c", send_id=None)
    canvas = send_analytics_for(ScheduleKind.CANVAS, campaign_id=None, send_id=None)

    assert (campaign.campaign_id, campaign.send_id, campaign.available) == ("c", "s", True)
    assert attributed_message.available
    assert "attributed to no campaign" in (plain_message.unavailable or "")
    assert "without a send_id" in (no_send_id.unavailable or "")
    assert "Canvas schedules take no send_id" in (canvas.unavailable or "")
    with pytest.raises(BrazeValidationError, match="send_id: is given for a Canvas"):
        send_analytics_for(ScheduleKind.CANVAS, campaign_id=None, send_id="s")


def _watch(kind=ScheduleKind.CAMPAIGN, send_id="s", timeout=timedelta(hours=6), **handle):
    handle.setdefault("schedule", {"time": "2026-12-01T12:00:00Z"})
    handle.setdefault("campaign_id", "c" if kind is not ScheduleKind.CANVAS else None)
    return SendWatch.plan(ScheduleHandle("sched-1", kind, send_id=send_id, **handle), figures_timeout=timeout)


def test_watch_of_a_campaign_send_waits_then_polls_then_gives_up():
    watch = _watch()

    assert watch.state(NOON - timedelta(seconds=1)) == "waiting"
    assert watch.state(NOON) == "poll"
    assert not watch.gave_up(NOON + timedelta(hours=6) - timedelta(seconds=1))
    # Past the timeout Braze is still asked (a late sensor may find the figures), then given up on.
    assert watch.state(NOON + timedelta(hours=6)) == "poll"
    assert watch.gave_up(NOON + timedelta(hours=6))
    assert watch.state(NOON + RETENTION) == "expired"


def test_watch_never_waits_for_figures_past_braze_retention():
    watch = _watch(timeout=timedelta(days=30))

    assert watch.give_up_at == NOON + RETENTION == watch.kept_until
    assert watch.state(NOON + RETENTION - timedelta(seconds=1)) == "poll"
    assert watch.state(NOON + RETENTION) == "expired"
    assert "dropped at 2026-12-15T12:00:00Z" in watch.expired_message(NOON + RETENTION)


def test_watch_of_a_canvas_is_done_once_sent_everywhere():
    watch = _watch(
        ScheduleKind.CANVAS,
        send_id=None,
        canvas_id="cv",
        schedule={"time": "2026-12-01T12:00:00", "in_local_time": True},
    )

    assert watch.state(datetime(2026, 12, 1, 23, 59, tzinfo=UTC)) == "waiting"
    assert watch.state(datetime(2026, 12, 2, 0, 0, tzinfo=UTC)) == "done"
    result = watch.result()
    assert result["analytics"] == "unavailable"
    assert result["data"] is None
    assert "Canvas schedules take no send_id" in result["reason"]
    assert result["delivered_everywhere_at"] == "2026-12-02T00:00:00Z"


def test_watch_of_a_dry_run_is_done_at_once():
    watch = _watch(dry_run=True)

    assert watch.state(NOON - timedelta(days=1)) == "done"
    assert watch.result()["reason"] == "a dry run: nothing was scheduled in Braze"


def test_watch_needs_the_schedule():
    with pytest.raises(BrazeValidationError, match="schedule: is unknown for the bare schedule_id"):
        SendWatch.plan(ScheduleHandle("sched-1", ScheduleKind.CAMPAIGN), figures_timeout=timedelta(hours=1))


def test_watch_needs_a_positive_figures_timeout():
    with pytest.raises(BrazeValidationError, match="figures_timeout: 0:00:00 is not a wait"):
        _watch(timeout=timedelta(0))


def test_watch_round_trips_through_json():
    watch = _watch()

    assert SendWatch.from_json(watch.to_json()) == watch


def test_handle_carries_the_send_id():
    handle = ScheduleHandle("sched-1", ScheduleKind.CAMPAIGN, campaign_id="c", send_id="s")

    assert handle.to_xcom()["send_id"] == "s"
    assert ScheduleHandle.from_xcom(handle.to_xcom()) == handle
    assert "send_id" not in ScheduleHandle("sched-2", ScheduleKind.MESSAGE).to_xcom()
