"""Test DAG: bad inputs that must fail before any request is sent, without Airflow retries.

``CASES`` is the table: one independent task per case in the DAG ``braze_e2e_bad_inputs``, and one
parametrised check per case in ``tests/e2e/test_bad_inputs.py``. Each case names the field its error
must name and the text after "expected" in the message (Braze-rule errors read
``<field>: <problem>; expected <what would be accepted>``; connection errors name the connection part).

The valid parts of each request are templated relative to ``ds`` (two days ahead), so each case fails
for its own reason only. Big values (over 50 KB, over 4 MB) are built by Jinja when the task renders,
so this file stays cheap to parse (every ``dag.test()`` parses the whole dags folder).

Hook cases run as ``@task`` functions calling a ``BrazeHook`` method, as a TaskFlow user would write
them, with the DAG's ``retries=2`` and no task retry policy. The hook itself makes an error that no retry
can fix (here a ``BrazeValidationError``) reach Airflow as an ``AirflowFailException`` too, as the operators
do, so every hook case fails at its first try on every Airflow line.

Cases whose connection is bad use their own connection ids; the test defines them through environment
variables: ``braze_plain_http`` (``http://`` to Braze's real, non-loopback host) and ``braze_quoted_key``
(the fake Braze's key wrapped in quotes).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_braze_schedule.operators import (
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeUpdateScheduleOperator,
)

DAG_ID = "braze_e2e_bad_inputs"
HOOK = "hook"
PLAIN_HTTP_CONN_ID = "braze_plain_http"
QUOTED_KEY_CONN_ID = "braze_quoted_key"


class Case(NamedTuple):
    """One bad input.

    :param id: the task id.
    :param operator: the operator class, or ``HOOK`` for a ``@task`` calling ``BrazeHook``;
        its ``kwargs`` then hold ``method`` and the method's arguments (and maybe ``braze_conn_id``).
    :param kwargs: the operator's arguments (templated like any operator's).
    :param field: the field (or connection part) the error message must name.
    :param expected: text the message must hold after "; expected " (for connection errors: anywhere).
    :param problem: what the message must say is wrong.
    :param tries: the task's try number at the end: 1 (failed without Airflow retries).
    """

    id: str
    operator: Any
    kwargs: dict[str, Any]
    field: str
    expected: str
    problem: str = ""
    tries: int = 1


CREATE = BrazeCreateScheduleOperator
UPDATE = BrazeUpdateScheduleOperator
CANCEL = BrazeCancelScheduleOperator

IN_2_DAYS = "{{ macros.ds_add(ds, 2) }}T09:00:00Z"
LOCAL_IN_2_DAYS = {"time": "{{ macros.ds_add(ds, 2) }}T09:00:00", "in_local_time": True}
EMAIL = {"email": {"app_id": "app-1", "subject": "Hello", "body": "<p>Hi</p>"}}
ONE_USER = [{"external_user_id": "user-1"}]
FIFTY_ONE_USERS = [f"user-{i}" for i in range(51)]
OVER_50_KB = "{{ 'x' * 52000 }}"
OVER_4_MB = "{{ 'x' * (4 * 1024 * 1024) }}"
AT_MOST_50 = "at most 50 per request"
NOT_AN_ID = "a non-empty string"
A_CAMPAIGN = {"campaign_id": "campaign-1", "broadcast": True}
HANDLE = {
    "schedule_id": "sched-1",
    "dispatch_id": "dispatch-1",
    "kind": "campaign",
    "campaign_id": "campaign-1",
    "schedule": {"time": "2031-01-01T09:00:00", "in_local_time": True, "at_optimal_time": False},
}

CASES: list[Case] = [
    # --- create: the schedule and its time -----------------------------------------------------------
    Case(
        "create_time_unparseable",
        CREATE,
        {**A_CAMPAIGN, "schedule": {"time": "next tuesday at nine"}},
        "schedule.time",
        "a date and time such as 2026-12-01T09:00:00Z",
        "is not an ISO 8601 date and time",
    ),
    Case(
        "create_time_out_of_range",
        CREATE,
        {**A_CAMPAIGN, "schedule": "{{ macros.ds_add(ds, 2) }}T25:00:00Z"},
        "schedule.time",
        "for example 2026-12-01T09:00:00Z",
        "is not an ISO 8601 time",
    ),
    Case(
        "create_schedule_missing",
        CREATE,
        {**A_CAMPAIGN, "schedule": None},
        "schedule",
        'a schedule object such as {"time": "2026-12-01T09:00:00Z"}',
        "is missing",
    ),
    Case(
        "create_time_missing",
        CREATE,
        {**A_CAMPAIGN, "schedule": {"in_local_time": True}},
        "schedule.time",
        "an ISO 8601 time",
        "is missing",
    ),
    Case(
        "create_time_rendered_empty",
        CREATE,
        {**A_CAMPAIGN, "schedule": {"time": "{{ dag_run.conf.get('send_at', '') }}"}},
        "schedule.time",
        "an ISO 8601 string such as 2026-12-01T09:00:00Z",
        "a template that rendered nothing",
    ),
    Case(
        "create_time_wrong_type",
        CREATE,
        {**A_CAMPAIGN, "schedule": {"time": 20311201}},
        "schedule.time",
        "an ISO 8601 string such as 2026-12-01T09:00:00Z, or a datetime",
        "20311201 (int) is not a time",
    ),
    Case(
        "create_schedule_wrong_type",
        CREATE,
        {**A_CAMPAIGN, "schedule": [IN_2_DAYS]},
        "schedule",
        'a dict such as {"time": "2026-12-01T09:00:00", "in_local_time": true}',
        "(list) is not a schedule object",
    ),
    Case(
        "create_flag_wrong_type",
        CREATE,
        {**A_CAMPAIGN, "schedule": {"time": IN_2_DAYS, "in_local_time": "yes"}},
        "schedule.in_local_time",
        "true or false",
        "'yes' is not a boolean",
    ),
    Case(
        "create_both_flags",
        CREATE,
        {**A_CAMPAIGN, "schedule": {**LOCAL_IN_2_DAYS, "at_optimal_time": True}},
        "schedule",
        "at most one of them",
        "in_local_time and at_optimal_time are both true",
    ),
    Case(
        "create_schedule_unknown_key",
        CREATE,
        {**A_CAMPAIGN, "schedule": {"time": IN_2_DAYS, "timezone": "Europe/Paris"}},
        "schedule.timezone",
        "only time, in_local_time, at_optimal_time",
        "is not a schedule field",
    ),
    Case(
        "create_utc_time_in_the_past",
        CREATE,
        {**A_CAMPAIGN, "schedule": "{{ macros.ds_add(ds, -2) }}T09:00:00Z"},
        "schedule.time",
        "a time in the future",
        "(utc time) has already passed (now ",
    ),
    Case(
        "create_local_time_gone_in_every_zone",
        CREATE,
        {**A_CAMPAIGN, "schedule": {"time": "{{ macros.ds_add(ds, -2) }}T09:00:00", "in_local_time": True}},
        "schedule.time",
        "a time in the future",
        "(local time) has already passed in every time zone",
    ),
    Case(
        "create_optimal_date_ended_in_every_zone",
        CREATE,
        {**A_CAMPAIGN, "schedule": {"time": "{{ macros.ds_add(ds, -3) }}", "at_optimal_time": True}},
        "schedule.time",
        "a time in the future",
        "(optimal time) has already passed in every time zone",
    ),
    # --- create: the kind rule and the fields each kind takes ----------------------------------------
    Case(
        "create_nothing_to_schedule",
        CREATE,
        {"broadcast": True, "schedule": IN_2_DAYS},
        "canvas_id / campaign_id / messages",
        "canvas_id for an API-triggered Canvas, campaign_id for an API-triggered campaign",
        "none is set",
    ),
    Case(
        "create_campaign_and_canvas",
        CREATE,
        {**A_CAMPAIGN, "canvas_id": "canvas-1", "schedule": IN_2_DAYS},
        "campaign_id",
        "one of them: a schedule is for a campaign or a Canvas",
        "is set together with canvas_id",
    ),
    Case(
        "create_recipients_on_a_message",
        CREATE,
        {"messages": EMAIL, "recipients": ONE_USER, "schedule": IN_2_DAYS},
        "recipients",
        "external_user_ids or user_aliases",
        "is not accepted by message schedules",
    ),
    Case(
        "create_send_id_on_a_canvas",
        CREATE,
        {"canvas_id": "canvas-1", "broadcast": True, "send_id": "send-1", "schedule": IN_2_DAYS},
        "send_id",
        "no send_id: Braze's Canvas schedule endpoint has none",
        "is not accepted by canvas schedules",
    ),
    Case(
        "create_trigger_properties_on_a_canvas",
        CREATE,
        {"canvas_id": "canvas-1", "broadcast": True, "trigger_properties": {"a": 1}, "schedule": IN_2_DAYS},
        "trigger_properties",
        "context, the Canvas equivalent",
        "is not accepted by canvas schedules",
    ),
    Case(
        "create_context_and_canvas_entry_properties",
        CREATE,
        {
            "canvas_id": "canvas-1",
            "broadcast": True,
            "context": {"a": 1},
            "canvas_entry_properties": {"a": 1},
            "schedule": IN_2_DAYS,
        },
        "canvas_entry_properties",
        "only context",
        "is set together with context",
    ),
    Case(
        "create_messages_unknown_channel",
        CREATE,
        {"messages": {"whatsapp": {"body": "Hi"}}, "segment_id": "segment-1", "schedule": IN_2_DAYS},
        "messages.whatsapp",
        "android_push, apple_push, content_card, email",
        "is not a channel Braze schedules",
    ),
    # --- create: the audience ------------------------------------------------------------------------
    Case(
        "create_campaign_with_no_audience",
        CREATE,
        {"campaign_id": "campaign-1", "schedule": IN_2_DAYS},
        "audience",
        "recipients",  # a campaign's usual audience; see KNOWN_BUGS in the test
        "no one would receive this send",
    ),
    Case(
        "create_message_with_no_audience",
        CREATE,
        {"messages": EMAIL, "schedule": IN_2_DAYS},
        "audience",
        "external_user_ids, user_aliases",  # a message's usual audience; see KNOWN_BUGS in the test
        "no one would receive this send",
    ),
    Case(
        "create_broadcast_with_recipients",
        CREATE,
        {**A_CAMPAIGN, "recipients": ONE_USER, "schedule": IN_2_DAYS},
        "broadcast",
        "broadcast only to send to the whole segment, or a list of users without it",
        "is true together with recipients",
    ),
    Case(
        "create_51_external_user_ids",
        CREATE,
        {"messages": EMAIL, "external_user_ids": FIFTY_ONE_USERS, "schedule": IN_2_DAYS},
        "external_user_ids",
        AT_MOST_50,
        "has 51 entries",
    ),
    Case(
        "create_51_recipients",
        CREATE,
        {
            "campaign_id": "campaign-1",
            "recipients": [{"external_user_id": user} for user in FIFTY_ONE_USERS],
            "schedule": IN_2_DAYS,
        },
        "recipients",
        AT_MOST_50,
        "has 51 entries",
    ),
    Case(
        "create_51_ids_and_aliases_together",
        CREATE,
        {
            "messages": EMAIL,
            "external_user_ids": FIFTY_ONE_USERS[:30],
            "user_aliases": [{"alias_name": f"a-{i}", "alias_label": "crm"} for i in range(21)],
            "schedule": IN_2_DAYS,
        },
        "external_user_ids + user_aliases",
        AT_MOST_50,
        "name 51 users",
    ),
    Case(
        "create_recipient_without_identifier",
        CREATE,
        {
            "campaign_id": "campaign-1",
            "recipients": [{"trigger_properties": {"a": 1}}],
            "schedule": IN_2_DAYS,
        },
        "recipients[0]",
        "exactly one of external_user_id, user_alias, braze_id, email",
        "has no user identifier",
    ),
    Case(
        "create_recipient_with_two_identifiers",
        CREATE,
        {
            "campaign_id": "campaign-1",
            "recipients": [{"external_user_id": "user-1", "braze_id": "b-1"}],
            "schedule": IN_2_DAYS,
        },
        "recipients[0]",
        "exactly one of external_user_id, user_alias, braze_id, email",
        "has 2 identifiers (external_user_id, braze_id)",
    ),
    Case(
        "create_recipient_unknown_field",
        CREATE,
        {
            "campaign_id": "campaign-1",
            "recipients": [{"external_user_id": "user-1", "first_name": "Ada"}],
            "schedule": IN_2_DAYS,
        },
        "recipients[0].first_name",
        "attributes, braze_id, canvas_entry_properties, context, email",
        "is not a recipient field",
    ),
    # --- create: sizes ---------------------------------------------------------------------------------
    Case(
        "create_trigger_properties_over_50_kb",
        CREATE,
        {**A_CAMPAIGN, "trigger_properties": {"note": OVER_50_KB}, "schedule": IN_2_DAYS},
        "trigger_properties",
        "at most 51200 bytes (50 KB)",
        "is 52011 bytes of JSON",
    ),
    Case(
        "create_canvas_context_over_50_kb",
        CREATE,
        {"canvas_id": "canvas-1", "broadcast": True, "context": {"note": OVER_50_KB}, "schedule": IN_2_DAYS},
        "context",
        "at most 51200 bytes (50 KB)",
        "is 52011 bytes of JSON",
    ),
    Case(
        "create_body_over_4_mb",
        CREATE,
        {
            "messages": {"email": {"app_id": "app-1", "subject": "Hello", "body": OVER_4_MB}},
            "segment_id": "segment-1",
            "schedule": IN_2_DAYS,
        },
        "body",
        "at most 4194304 bytes (4 MB)",
        "bytes of JSON",
    ),
    # --- create: wrong types and values ----------------------------------------------------------------
    Case(
        "create_campaign_id_whitespace",
        CREATE,
        {**A_CAMPAIGN, "campaign_id": "   ", "schedule": IN_2_DAYS},
        "campaign_id",
        NOT_AN_ID,
        "'   ' is not an identifier",
    ),
    Case(
        "create_campaign_id_wrong_type",
        CREATE,
        {**A_CAMPAIGN, "campaign_id": 12345, "schedule": IN_2_DAYS},
        "campaign_id",
        NOT_AN_ID,
        "12345 is not an identifier",
    ),
    Case(
        "create_broadcast_rendered_as_text",
        CREATE,
        {**A_CAMPAIGN, "broadcast": "{{ dag_run.conf.get('broadcast', True) }}", "schedule": IN_2_DAYS},
        "broadcast",
        "true or false",
        "'True' (str) is not a boolean",
    ),
    Case(
        "create_external_user_ids_as_text",
        CREATE,
        {"messages": EMAIL, "external_user_ids": "user-1,user-2", "schedule": IN_2_DAYS},
        "external_user_ids",
        "a list",
        "str is not a list",
    ),
    Case(
        "create_audience_wrong_type",
        CREATE,
        {"campaign_id": "campaign-1", "audience": "segment-1", "schedule": IN_2_DAYS},
        "audience",
        "a dict (JSON object)",
        "str is not an object",
    ),
    Case(
        "create_subscription_state_unknown",
        CREATE,
        {
            "messages": EMAIL,
            "segment_id": "segment-1",
            "recipient_subscription_state": "everyone",
            "schedule": IN_2_DAYS,
        },
        "recipient_subscription_state",
        "opted_in or subscribed or all",
        "'everyone' is not a state",
    ),
    Case(
        "create_send_id_too_long",
        CREATE,
        {**A_CAMPAIGN, "send_id": "s" * 65, "schedule": IN_2_DAYS},
        "send_id",
        "ASCII, at most 64 characters",
        "is not a valid send id",
    ),
    Case(
        "create_trigger_properties_not_json",
        CREATE,
        {**A_CAMPAIGN, "trigger_properties": {"tags": {"vip", "winter"}}, "schedule": IN_2_DAYS},
        "trigger_properties",
        "strings, numbers, booleans, lists and dicts only",
        "cannot be sent as JSON (Object of type set is not JSON serializable)",
    ),
    # --- create: the connection ------------------------------------------------------------------------
    Case(
        "create_endpoint_plain_http",
        CREATE,
        {**A_CAMPAIGN, "schedule": IN_2_DAYS, "braze_conn_id": PLAIN_HTTP_CONN_ID},
        "REST endpoint 'http://rest.iad-01.braze.com'",
        "use https (http is only allowed for 127.0.0.1/localhost)",
        "uses plain http to a non-loopback host",
    ),
    # --- update ----------------------------------------------------------------------------------------
    Case(
        "update_schedule_id_empty",
        UPDATE,
        {"schedule_id": "", "campaign_id": "campaign-1", "schedule": IN_2_DAYS},
        "schedule_id",
        "the schedule_id returned by the create call, or the create task's output",
        "is '': the create task's XCom is probably missing",
    ),
    Case(
        "update_schedule_id_none",
        UPDATE,
        {"schedule_id": None, "schedule": IN_2_DAYS},
        "schedule_id",
        "the schedule_id returned by the create call, or the create task's output",
        "is None",
    ),
    Case(
        "update_campaign_with_nothing_to_change",
        UPDATE,
        {"schedule_id": "sched-1", "campaign_id": "campaign-1"},
        "schedule",
        "schedule",
        "nothing to update",
    ),
    Case(
        "update_message_with_nothing_to_change",
        UPDATE,
        {"schedule_id": "sched-1"},
        "schedule",
        "schedule and/or messages",
        "nothing to update",
    ),
    Case(
        "update_messages_of_a_canvas",
        UPDATE,
        {"schedule_id": "sched-1", "canvas_id": "canvas-1", "messages": EMAIL, "schedule": IN_2_DAYS},
        "messages",
        "only schedule; the content lives in Braze",
        "cannot be updated on canvas schedules",
    ),
    Case(
        "update_to_a_past_time",
        UPDATE,
        {"schedule_id": HANDLE, "schedule": {"time": "{{ macros.ds_add(ds, -2) }}T09:00:00"}},
        "schedule.time",
        "a time in the future",
        "(local time) has already passed in every time zone",
    ),
    Case(
        "update_time_unparseable",
        UPDATE,
        {"schedule_id": "sched-1", "campaign_id": "campaign-1", "schedule": "tomorrow at 9am"},
        "schedule.time",
        "a date and time such as 2026-12-01T09:00:00Z",
        "is not an ISO 8601 date and time",
    ),
    Case(
        "update_handle_with_another_campaign",
        UPDATE,
        {"schedule_id": HANDLE, "campaign_id": "campaign-2", "schedule": IN_2_DAYS},
        "campaign_id",
        "no campaign_id: the handle already says which schedule this is",
        "'campaign-2' does not match the handle's campaign_id 'campaign-1'",
    ),
    Case(
        "update_handle_of_unknown_kind",
        UPDATE,
        {"schedule_id": {**HANDLE, "kind": "sms"}, "schedule": IN_2_DAYS},
        "schedule_id",
        "the create task's output, unchanged",
        "the handle's kind 'sms' is not one of message, campaign, canvas",
    ),
    # --- cancel ----------------------------------------------------------------------------------------
    Case(
        "cancel_schedule_id_whitespace",
        CANCEL,
        {"schedule_id": "   ", "campaign_id": "campaign-1"},
        "schedule_id",
        "the schedule_id returned by the create call, or the create task's output",
        "is '   '",
    ),
    Case(
        "cancel_schedule_id_rendered_none",
        CANCEL,
        {"schedule_id": "{{ dag_run.conf.get('schedule_id') }}", "campaign_id": "campaign-1"},
        "schedule_id",
        "the schedule_id returned by the create call, or the create task's output",
        "is 'None'",
    ),
    Case(
        "cancel_schedule_id_padded",
        CANCEL,
        {"schedule_id": " sched-1 ", "canvas_id": "canvas-1"},
        "schedule_id",
        "the id exactly",
        "' sched-1 ' has surrounding whitespace",
    ),
    Case(
        "cancel_schedule_id_wrong_type",
        CANCEL,
        {"schedule_id": 12345},
        "schedule_id",
        "a string",
        "int is not an id",
    ),
    Case(
        "cancel_canvas_id_empty",
        CANCEL,
        {"schedule_id": "sched-1", "canvas_id": ""},
        "canvas_id",
        NOT_AN_ID,
        "'' is not an identifier",
    ),
    Case(
        "cancel_unreadable_handle",
        CANCEL,
        {"schedule_id": "{'schedule_id': 'sched-1', 'kind': "},
        "schedule_id",
        "a schedule_id or a handle",
        "looks like a handle but cannot be read",
    ),
    Case(
        "cancel_key_in_quotes",
        CANCEL,
        {"schedule_id": "sched-1", "braze_conn_id": QUOTED_KEY_CONN_ID},
        f"connection '{QUOTED_KEY_CONN_ID}' has its REST API key wrapped in quotes",
        "store the key without quotes",
        "Braze rejects with 401",
    ),
    # --- the hook, from @task --------------------------------------------------------------------------
    Case(
        "hook_unknown_field",
        HOOK,
        {"method": "schedule_campaign", "campaign_id": "campaign-1", "schedule": IN_2_DAYS, "sendid": "s-1"},
        "sendid",
        "audience, broadcast, campaign_id, canvas_entry_properties",
        "is not a Braze schedule field",
    ),
    Case(
        "hook_value_not_json_serialisable",
        HOOK,
        {
            "method": "schedule_campaign",
            "campaign_id": "campaign-1",
            "broadcast": True,
            "trigger_properties": {"renews_on": pendulum.datetime(2031, 1, 1, tz="UTC")},
            "schedule": IN_2_DAYS,
        },
        "trigger_properties",
        "strings, numbers, booleans, lists and dicts only",
        "cannot be sent as JSON (Object of type DateTime is not JSON serializable)",
    ),
    Case(
        "hook_datetime_in_the_past",
        HOOK,
        {
            "method": "schedule_campaign",
            "campaign_id": "campaign-1",
            "broadcast": True,
            "schedule": pendulum.datetime(2020, 1, 1, 9, tz="UTC"),
        },
        "schedule.time",
        "a time in the future",
        "2020-01-01T09:00:00Z (utc time) has already passed",
    ),
    Case(
        "hook_nothing_to_schedule",
        HOOK,
        {"method": "create_schedule", "broadcast": True, "schedule": IN_2_DAYS},
        "canvas_id / campaign_id / messages",
        "canvas_id for an API-triggered Canvas, campaign_id for an API-triggered campaign",
        "none is set",
    ),
    Case(
        "hook_recipients_on_a_message",
        HOOK,
        {"method": "schedule_message", "messages": EMAIL, "recipients": ONE_USER, "schedule": IN_2_DAYS},
        "recipients",
        "external_user_ids or user_aliases",
        "is not accepted by message schedules",
    ),
    Case(
        "hook_send_id_on_a_canvas",
        HOOK,
        {
            "method": "schedule_canvas",
            "canvas_id": "canvas-1",
            "broadcast": True,
            "send_id": "send-1",
            "schedule": IN_2_DAYS,
        },
        "send_id",
        "no send_id: Braze's Canvas schedule endpoint has none",
        "is not accepted by canvas schedules",
    ),
    Case(
        "hook_update_with_nothing_to_change",
        HOOK,
        {
            "method": "update_canvas_schedule",
            "canvas_id": "canvas-1",
            "schedule_id": "sched-1",
            "schedule": None,
        },
        "schedule",
        "schedule",
        "nothing to update",
    ),
    Case(
        "hook_delete_schedule_id_none",
        HOOK,
        {"method": "delete_scheduled_message", "schedule_id": None},
        "schedule_id",
        "the schedule_id returned by the create call, or the create task's output",
        "is None",
    ),
    Case(
        "hook_delete_campaign_id_missing",
        HOOK,
        {"method": "delete_campaign_schedule", "campaign_id": None, "schedule_id": "sched-1"},
        "campaign_id",
        "the campaign_id the schedule was created with, or the create task's output",
        "is missing",
    ),
    Case(
        "hook_endpoint_plain_http",
        HOOK,
        {
            "method": "schedule_campaign",
            "campaign_id": "campaign-1",
            "broadcast": True,
            "schedule": IN_2_DAYS,
            "braze_conn_id": PLAIN_HTTP_CONN_ID,
        },
        "REST endpoint 'http://rest.iad-01.braze.com'",
        "use https (http is only allowed for 127.0.0.1/localhost)",
        "uses plain http to a non-loopback host",
    ),
    Case(
        "hook_key_in_quotes",
        HOOK,
        {"method": "delete_scheduled_message", "schedule_id": "sched-1", "braze_conn_id": QUOTED_KEY_CONN_ID},
        f"connection '{QUOTED_KEY_CONN_ID}' has its REST API key wrapped in quotes",
        "store the key without quotes",
        "Braze rejects with 401",
    ),
]


@task
def call_hook(method: str, fields: dict[str, Any], braze_conn_id: str = "braze_default") -> Any:
    """What a TaskFlow user writes: a hook call (imported at run time, as the operators do)."""
    from airflow_braze_schedule.hooks.braze import BrazeHook

    return getattr(BrazeHook(braze_conn_id=braze_conn_id), method)(**fields)


with DAG(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=0)},
) as dag:
    for case in CASES:
        if case.operator is HOOK:
            fields = dict(case.kwargs)
            method = fields.pop("method")
            conn_id = fields.pop("braze_conn_id", "braze_default")
            call_hook.override(task_id=case.id)(method, fields, conn_id)
        else:
            case.operator(task_id=case.id, **case.kwargs)
