"""BrazeHook.get_send_data_series over real HTTP to the fake Braze: the query sent, the figures read,
and local checks that keep a bad query from reaching Braze."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_braze_schedule.core.errors import BrazeValidationError


def test_get_send_data_series_reads_the_figures_of_a_past_send(fake_braze, make_hook):
    hook = make_hook()
    hook.schedule_campaign(
        "camp-1",
        schedule=datetime.now(UTC) + timedelta(minutes=1),
        send_id="send-1",
        recipients=[{"external_user_id": "u1"}],
    )
    fake_braze.advance(3600)  # the send time passes, for the fake

    answer = hook.get_send_data_series("camp-1", "send-1", length=2)

    request = fake_braze.requests_to("/sends/data_series")[0]
    assert request.method == "GET"
    assert request.query == {"campaign_id": "camp-1", "send_id": "send-1", "length": "2"}
    assert answer["message"] == "success"
    assert answer["data"][0]["messages"] == {"email": [{"sent": 1, "delivered": 1}]}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"length": 0}, "length"), ({"length": 101}, "length"), ({"send_id": "s" * 65}, "send_id")],
)
def test_get_send_data_series_checks_before_sending(fake_braze, make_hook, kwargs, field):
    arguments = {"campaign_id": "camp-1", "send_id": "send-1", "length": 7, **kwargs}

    with pytest.raises(BrazeValidationError) as error:
        make_hook().get_send_data_series(**arguments)

    assert error.value.field == field
    assert fake_braze.received == []
