"""A reconcile's bad desired send is refused before anything is sent, naming the item and its field."""

from __future__ import annotations

import pytest

from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.operators import BrazeReconcileSchedulesOperator


def _reconcile():
    return BrazeReconcileSchedulesOperator(
        task_id="reconcile", scope="s/", desired=[], registry_conn_id="sql"
    )


def test_a_single_send_with_a_bad_field_is_named_by_its_key():
    bad = {"campaign_id": "c", "recipients": [{"external_user_id": "u"}], "schedule": {"time": "tomorrow"}}

    with pytest.raises(BrazeValidationError) as raised:
        _reconcile().desired_requests({"s/order-1": bad}, {})

    assert raised.value.field.startswith("desired['s/order-1'].schedule")


def test_a_group_send_with_a_bad_field_is_named_by_its_key():
    users = [{"external_user_id": f"u{n}"} for n in range(120)]  # over 50: sent as a group
    bad = {"campaign_id": "c", "recipients": users, "schedule": {"time": "tomorrow"}}

    with pytest.raises(BrazeValidationError) as raised:
        _reconcile()._group_member("s/big", bad)

    assert raised.value.field.startswith("desired['s/big'].schedule")


def test_a_field_no_send_has_is_named():
    with pytest.raises(BrazeValidationError) as raised:
        _reconcile()._group_member("s/big", {"campaign_id": "c", "recipient": []})

    assert raised.value.field == "desired['s/big'].recipient"
