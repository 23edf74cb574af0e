"""Test DAGs: every templated field of the three operators given as a Jinja template.

``braze_e2e_templating`` renders with ``render_template_as_native_obj=True``. Every templated field of
``BrazeCreateScheduleOperator`` (on all three kinds, plus a Canvas using the older
``canvas_entry_properties``), ``BrazeUpdateScheduleOperator`` and ``BrazeCancelScheduleOperator`` is a
template or holds templates, down to values nested in ``messages``, ``recipients``, ``trigger_properties``,
``context``, ``audience``, ``user_aliases`` and ``schedule``. They use ``params``, ``ds``,
``macros.ds_add``, ``data_interval_end``, ``run_id``, ``dag.dag_id`` and ``ti.xcom_pull``.

Why native rendering: Airflow renders every template to a string unless the DAG sets
``render_template_as_native_obj=True``, so ``"{{ params.local }}"`` becomes ``"True"`` and
``"{{ params.user_ids }}"`` becomes ``"['user-1', 'user-2']"``. The operators check types strictly and
refuse those strings (the string ``"False"`` must never count as true). With native rendering the
templates give back what the user meant: booleans, lists, numbers, and ``data_interval_end`` as a datetime.
Two things to know there: a template that renders a number-like string (``"{{ ds_nodash }}"``) becomes a
number, which the identifier fields refuse; and a datetime (``"{{ data_interval_end }}"``) is fine as
``schedule.time`` but not inside ``context`` (not JSON), where ``"{{ data_interval_end | ts }}"`` is.

``braze_e2e_templating_strings`` is the same kind of DAG with Airflow's default string rendering: a
campaign whose templates render to strings works (a ``data_interval_end`` with ``in_local_time`` keeps
its wall clock and the log says the ``+00:00`` offset was dropped; a handle pulled through a template
arrives as its text and is read back), while a boolean template in ``schedule`` or in ``broadcast`` is
refused before any request. Its last two tasks give ``on_unknown_outcome`` a value it does not take;
they pin down a package bug (see the test).

The connection id is templated too (``braze_{{ params.braze_env }}``); the test defines
``BRAZE_CONN_ID`` to point at the fake Braze.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_braze_schedule.operators import (
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeUpdateScheduleOperator,
)

NATIVE_DAG_ID = "braze_e2e_templating"
STRINGS_DAG_ID = "braze_e2e_templating_strings"
BRAZE_CONN_ID = "braze_templated"
PARAMS = {
    "braze_env": "templated",  # -> braze_conn_id "braze_templated"
    "on_unknown_outcome": "fail",
    "campaign_id": "spring-api-campaign",
    "canvas_id": "spring-canvas",
    "legacy_canvas_id": "spring-legacy-canvas",
    "segment_id": "spring-segment",
    "sms_group": "sms-group-7",
    "sms_variation": "sms-variation-3",
    "user_ids": ["user-1", "user-2"],
    "alias_name": "alias-9",
    "subscription_state": "opted_in",
    "discount": 20,
    "hour": 11,
    "tier": "gold",
    "message_local": False,  # the message schedule stays in UTC
    "local": True,  # the campaign goes out in local time
    "optimal": True,  # the Canvas goes out at optimal time
    "broadcast": False,
    "override_limits": True,
    "existing_only": True,
    "schedule_key": None,  # renders to None: these tasks use no key (tests/keyed covers keyed runs)
}
CONN = "braze_{{ params.braze_env }}"
COUPON = "{{ ti.xcom_pull(task_ids='make_coupon') }}"
START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(
    dag_id=NATIVE_DAG_ID,
    schedule="@daily",
    start_date=START,
    catchup=False,
    params=PARAMS,
    render_template_as_native_obj=True,
) as native_dag:

    @task
    def make_coupon(ds: str | None = None) -> str:
        return f"SPRING-{(ds or '').replace('-', '')}"

    coupon = make_coupon()

    create_message = BrazeCreateScheduleOperator(
        task_id="create_message",
        braze_conn_id=CONN,
        schedule_key="{{ params.schedule_key }}",
        on_unknown_outcome="{{ params.on_unknown_outcome }}",
        campaign_id="{{ params.campaign_id }}",  # a message schedule attributed to the campaign
        messages={
            "sms": {
                "subscription_group_id": "{{ params.sms_group }}",
                "message_variation_id": "{{ params.sms_variation }}",  # the campaign's SMS variation
                "body": "Spring sale until {{ macros.ds_add(ds, 7) }}: code " + COUPON,
            }
        },
        external_user_ids="{{ params.user_ids }}",  # a list, thanks to native rendering
        user_aliases=[{"alias_name": "{{ params.alias_name }}", "alias_label": "{{ dag.dag_id }}"}],
        segment_id="{{ params.segment_id }}",
        audience={
            "AND": [
                {
                    "custom_attribute": {
                        "custom_attribute_name": "last_run",
                        "comparison": "equals",
                        "value": "{{ run_id }}",
                    }
                }
            ]
        },
        broadcast="{{ params.broadcast }}",
        send_id="{{ dag.dag_id }}-{{ ds }}",
        override_messaging_limits="{{ params.override_limits }}",
        recipient_subscription_state="{{ params.subscription_state }}",
        schedule={
            "time": "{{ data_interval_end + macros.timedelta(days=1) }}",
            "in_local_time": "{{ params.message_local }}",
        },
    )

    create_campaign = BrazeCreateScheduleOperator(
        task_id="create_campaign",
        braze_conn_id=CONN,
        on_unknown_outcome="{{ params.on_unknown_outcome }}",
        campaign_id="{{ params.campaign_id }}",
        send_id="{{ params.campaign_id }}-{{ macros.ds_add(ds, 2) }}",
        recipients=[
            {
                "external_user_id": "{{ params.user_ids[0] }}",
                "trigger_properties": {"coupon": COUPON, "run": "{{ run_id }}"},
            },
            {
                "user_alias": {"alias_name": "{{ params.alias_name }}", "alias_label": "{{ dag.dag_id }}"},
                "trigger_properties": {"coupon": COUPON},
            },
        ],
        trigger_properties={"discount": "{{ params.discount }}", "ends": "{{ macros.ds_add(ds, 7) }}"},
        broadcast="{{ params.broadcast }}",
        schedule={
            "time": "{{ data_interval_end + macros.timedelta(days=2) }}",  # an aware datetime: offset dropped
            "in_local_time": "{{ params.local }}",
        },
    )

    create_canvas = BrazeCreateScheduleOperator(
        task_id="create_canvas",
        braze_conn_id=CONN,
        on_unknown_outcome="{{ params.on_unknown_outcome }}",
        canvas_id="{{ params.canvas_id }}",
        recipients=[
            {
                "external_user_id": "{{ params.user_ids[1] }}",
                "send_to_existing_only": "{{ params.existing_only }}",
                "context": {"discount": "{{ params.discount }}", "day": "{{ ds }}"},
            }
        ],
        context={
            "run": "{{ run_id }}",
            "dag": "{{ dag.dag_id }}",
            "interval_end": "{{ data_interval_end | ts }}",
        },
        audience={
            "AND": [
                {
                    "custom_attribute": {
                        "custom_attribute_name": "tier",
                        "comparison": "equals",
                        "value": "{{ params.tier }}",
                    }
                }
            ]
        },
        broadcast="{{ params.broadcast }}",
        schedule={"time": "{{ macros.ds_add(ds, 3) }}", "at_optimal_time": "{{ params.optimal }}"},
    )

    create_legacy_canvas = BrazeCreateScheduleOperator(
        task_id="create_legacy_canvas",
        braze_conn_id=CONN,
        on_unknown_outcome="{{ params.on_unknown_outcome }}",
        canvas_id="{{ params.legacy_canvas_id }}",
        recipients=[{"external_user_id": "{{ params.user_ids[0] }}"}],
        canvas_entry_properties={"tier": "{{ params.tier }}", "coupon": COUPON},
        schedule="{{ data_interval_end + macros.timedelta(days=4) }}",  # the whole schedule: just a time
    )

    # Update: a bare id pulled through a template (message), a bare id plus the templated campaign_id,
    # and the whole handle pulled through a template plus a canvas_id that must match it.
    update_message = BrazeUpdateScheduleOperator(
        task_id="update_message",
        braze_conn_id=CONN,
        schedule_key="{{ params.schedule_key }}",
        schedule_id="{{ ti.xcom_pull(task_ids='create_message', key='schedule_id') }}",
        schedule={
            "time": "{{ macros.ds_add(ds, 2) }}T{{ params.hour }}:30:00Z",
            "in_local_time": "{{ params.message_local }}",
        },
        messages={
            "sms": {"subscription_group_id": "{{ params.sms_group }}", "body": "Moved by {{ run_id }}"}
        },
    )
    update_campaign = BrazeUpdateScheduleOperator(
        task_id="update_campaign",
        braze_conn_id=CONN,
        schedule_id="{{ ti.xcom_pull(task_ids='create_campaign', key='schedule_id') }}",
        campaign_id="{{ params.campaign_id }}",
        schedule={
            "time": "{{ macros.ds_add(ds, 2) }}T{{ params.hour }}:00:00",
            "in_local_time": "{{ params.local }}",
        },
    )
    update_canvas = BrazeUpdateScheduleOperator(
        task_id="update_canvas",
        braze_conn_id=CONN,
        schedule_id="{{ ti.xcom_pull(task_ids='create_canvas') }}",
        canvas_id="{{ params.canvas_id }}",
        schedule={"time": "{{ macros.ds_add(ds, 4) }}"},  # keeps at_optimal_time from the handle
    )

    cancel_message = BrazeCancelScheduleOperator(
        task_id="cancel_message",
        braze_conn_id=CONN,
        schedule_key="{{ params.schedule_key }}",
        schedule_id="{{ ti.xcom_pull(task_ids='update_message', key='schedule_id') }}",
    )
    cancel_campaign = BrazeCancelScheduleOperator(
        task_id="cancel_campaign",
        braze_conn_id=CONN,
        schedule_id="{{ ti.xcom_pull(task_ids='create_campaign', key='schedule_id') }}",
        campaign_id="{{ params.campaign_id }}",
    )
    cancel_canvas = BrazeCancelScheduleOperator(
        task_id="cancel_canvas",
        braze_conn_id=CONN,
        schedule_id="{{ ti.xcom_pull(task_ids='update_canvas')['schedule_id'] }}",
        canvas_id="{{ params.canvas_id }}",
    )
    cancel_legacy_canvas = BrazeCancelScheduleOperator(
        task_id="cancel_legacy_canvas",
        braze_conn_id=CONN,
        schedule_id="{{ ti.xcom_pull(task_ids='create_legacy_canvas', key='schedule_id') }}",
        canvas_id="{{ ti.xcom_pull(task_ids='create_legacy_canvas')['canvas_id'] }}",
    )

    coupon >> [create_message, create_campaign, create_legacy_canvas]
    create_message >> update_message >> cancel_message
    create_campaign >> update_campaign >> cancel_campaign
    create_canvas >> update_canvas >> cancel_canvas
    create_legacy_canvas >> cancel_legacy_canvas


with DAG(
    dag_id=STRINGS_DAG_ID,
    schedule="@daily",
    start_date=START,
    catchup=False,
    params=PARAMS,
) as strings_dag:
    create = BrazeCreateScheduleOperator(
        task_id="create",
        braze_conn_id=CONN,
        campaign_id="{{ params.campaign_id }}",
        recipients=[
            {
                "external_user_id": "{{ params.user_ids[0] }}",
                "trigger_properties": {"discount": "{{ params.discount }}", "run": "{{ run_id }}"},
            }
        ],
        # Renders like 2026-11-26T00:00:00+00:00: the wall clock is kept, the offset dropped and logged.
        schedule={"time": "{{ data_interval_end + macros.timedelta(days=2) }}", "in_local_time": True},
    )
    cancel = BrazeCancelScheduleOperator(
        task_id="cancel",
        braze_conn_id=CONN,
        schedule_id="{{ ti.xcom_pull(task_ids='create') }}",  # the handle's text (a Python repr)
    )
    create >> cancel

    # Booleans rendered as strings: refused before any request, never read as truthy text.
    BrazeCreateScheduleOperator(
        task_id="string_schedule_flag",
        braze_conn_id=CONN,
        campaign_id="{{ params.campaign_id }}",
        recipients=[{"external_user_id": "{{ params.user_ids[0] }}"}],
        schedule={"time": "{{ macros.ds_add(ds, 2) }}T09:00:00", "in_local_time": "{{ params.local }}"},
    )
    BrazeCreateScheduleOperator(
        task_id="string_broadcast",
        braze_conn_id=CONN,
        campaign_id="{{ params.campaign_id }}",
        broadcast="{{ params.broadcast }}",
        schedule={"time": "{{ macros.ds_add(ds, 2) }}T09:00:00Z"},
    )

    # on_unknown_outcome rendered to a value it does not take ("Resend" is not "resend"): like every other
    # field, it should be refused before any request, without Airflow retries, in a dry run too.
    BrazeCreateScheduleOperator(
        task_id="bad_on_unknown_outcome",
        braze_conn_id=CONN,
        campaign_id="{{ params.campaign_id }}",
        recipients=[{"external_user_id": "{{ params.user_ids[0] }}"}],
        schedule={"time": "{{ macros.ds_add(ds, 2) }}T09:00:00Z"},
        on_unknown_outcome="{{ params.outcome }}",
        params={"outcome": "Resend"},
        retries=1,
        retry_delay=timedelta(0),
    )
    BrazeCreateScheduleOperator(
        task_id="bad_on_unknown_outcome_dry_run",
        braze_conn_id=CONN,
        campaign_id="{{ params.campaign_id }}",
        recipients=[{"external_user_id": "{{ params.user_ids[0] }}"}],
        schedule={"time": "{{ macros.ds_add(ds, 2) }}T09:00:00Z"},
        on_unknown_outcome="{{ params.outcome }}",
        params={"outcome": "Resend"},
        dry_run=True,
    )
