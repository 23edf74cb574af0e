"""Chunking, streaming JSON Lines, the plan, the bulk ledger and the group handle (no Airflow, no HTTP)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from airflow_braze_schedule.core.audience import (
    AudienceChangedError,
    Sender,
    check_against_plan,
    chunk_request,
    chunked,
    list_entries,
    make_plan,
    read_json_lines,
)
from airflow_braze_schedule.core.endpoints import ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.group import (
    BulkLedger,
    BulkReport,
    ChunkFailure,
    ChunkSchedule,
    GroupHandle,
    as_group_handle,
)
from airflow_braze_schedule.core.ledger import EarlierAttemptError

NOW = datetime(2026, 11, 30, tzinfo=UTC)
BASE = {"campaign_id": "c", "schedule": {"time": "2027-01-01T09:00:00", "in_local_time": True}}


def entries(count: int, name: str = "recipients"):
    return list(list_entries(name, [{"external_user_id": f"u{n}"} for n in range(count)]))


@pytest.mark.parametrize(
    ("count", "sizes"), [(0, []), (1, [1]), (49, [49]), (50, [50]), (51, [50, 1]), (2001, [50] * 40 + [1])]
)
def test_chunks_keep_input_order_and_never_exceed_the_size(count, sizes):
    chunks = list(chunked(entries(count), 50))
    assert [len(c.users) for c in chunks] == sizes
    assert [c.position for c in chunks] == list(range(len(sizes)))
    assert [u["external_user_id"] for c in chunks for u in c.users] == [f"u{n}" for n in range(count)]


def test_chunk_size_is_checked():
    with pytest.raises(BrazeValidationError, match="chunk_size"):
        list(chunked(entries(3), 51))


def test_json_lines_are_streamed_with_their_line_numbers_and_blank_lines_skipped():
    stream = io.StringIO('{"external_user_id": "a"}\n\n{"external_user_id": "b"}\n')
    assert list(read_json_lines(stream, name="recipients_path")) == [
        ("recipients_path line 1", {"external_user_id": "a"}),
        ("recipients_path line 3", {"external_user_id": "b"}),
    ]
    with pytest.raises(BrazeValidationError, match="recipients_path line 2: is not JSON"):
        list(read_json_lines(io.BytesIO(b'"a"\n{oops\n'), name="recipients_path"))


def test_a_bad_recipient_is_named_by_its_line_and_field():
    lines = [json.dumps({"external_user_id": f"u{n}"}) for n in range(137_500)]
    lines[137_411] = json.dumps({"user_alias": {"alias_name": "x"}})

    def source():
        return read_json_lines(io.StringIO("\n".join(lines)), name="recipients_path")

    with pytest.raises(BrazeValidationError) as caught:
        make_plan(BASE, ScheduleKind.CAMPAIGN, source, now=NOW)
    assert str(caught.value).startswith("recipients_path line 137,412: user_alias.alias_label: is missing")


def test_message_users_are_split_into_ids_and_aliases_and_blamed_by_index():
    users = ["a", {"alias_name": "b", "alias_label": "crm"}, "c", {"alias_name": "d"}]
    [chunk] = chunked(list_entries("users", users), 50)
    base = {"messages": {"sms": {"body": "hi"}}, "schedule": "2027-01-01T09:00:00Z"}
    with pytest.raises(BrazeValidationError, match=r"^users\[3\]: alias_label: is missing"):
        chunk_request(base, ScheduleKind.MESSAGE, chunk, now=NOW)
    [good] = chunked(list_entries("users", users[:3]), 50)
    body = chunk_request(base, ScheduleKind.MESSAGE, good, now=NOW).body
    assert body["external_user_ids"] == ["a", "c"]
    assert body["user_aliases"] == [{"alias_name": "b", "alias_label": "crm"}]


def test_the_plan_fingerprints_the_audience_and_the_sending_pass_is_checked_against_it():
    plan = make_plan(BASE, ScheduleKind.CAMPAIGN, lambda: iter(entries(120)), now=NOW)
    assert (plan.chunks, plan.recipients, plan.sizes) == (3, 120, [50, 50, 20])
    same = make_plan(BASE, ScheduleKind.CAMPAIGN, lambda: iter(entries(120)), now=NOW)
    other = make_plan(BASE, ScheduleKind.CAMPAIGN, lambda: iter(entries(121)), now=NOW)
    moved = make_plan(
        {**BASE, "schedule": "2027-01-02T09:00:00Z"},
        ScheduleKind.CAMPAIGN,
        lambda: iter(entries(120)),
        now=NOW,
    )
    assert plan.fingerprint == same.fingerprint
    assert len({plan.fingerprint, other.fingerprint, moved.fingerprint}) == 3
    chunk = next(chunked(entries(120), 50))
    check_against_plan(plan, chunk, chunk_request(BASE, ScheduleKind.CAMPAIGN, chunk, now=NOW))
    changed = next(chunked(entries(120)[1:], 50))
    with pytest.raises(AudienceChangedError, match="changed while the task ran"):
        check_against_plan(plan, changed, chunk_request(BASE, ScheduleKind.CAMPAIGN, changed, now=NOW))


def test_an_empty_audience_still_has_its_shared_fields_checked():
    with pytest.raises(BrazeValidationError, match="schedule"):
        make_plan(
            {"campaign_id": "c", "schedule": "yesterday"}, ScheduleKind.CAMPAIGN, lambda: iter([]), now=NOW
        )
    assert make_plan(BASE, ScheduleKind.CAMPAIGN, lambda: iter([]), now=NOW).chunks == 0


class Store:
    """A task_state_store stand-in: a dict, counting writes."""

    def __init__(self):
        self.data, self.writes = {}, 0

    def get(self, key, default=None):
        return json.loads(self.data[key]) if key in self.data else default

    def set(self, key, value, *, retention=None):
        self.writes += 1
        self.data[key] = json.dumps(value)


def ledger(store, fingerprint="f", chunks=100, try_number=1, **kwargs):
    return BulkLedger(
        store, fingerprint=fingerprint, chunks=chunks, window=32, try_number=try_number, **kwargs
    )


def test_the_ledger_writes_once_a_window_and_a_retry_knows_each_chunk():
    store = Store()
    first = ledger(store)
    first.begin(first.earlier())
    for position in range(40):  # window 0 answered; window 1 half sent when the worker dies
        first.sending(position)
        if position < 32:
            first.created(position, f"s{position}", f"d{position}")
    first.refused(32, "Braze answered 500")
    assert store.writes == 3  # the header, window 0 marked, window 1 marked with window 0's outcomes
    # (the worker dies here: the outcome of chunk 32 is never written)
    second = ledger(store, try_number=2)
    earlier = second.earlier()
    assert earlier.created == {p: (f"s{p}", f"d{p}") for p in range(32)}
    assert earlier.unknown == set(range(32, 64))  # marked sending, no outcome written: unknown
    assert ledger(store, try_number=2, resend_unknown=True).earlier().unknown == set()
    # The retry marks only what it will send, and its records follow the first try's.
    second.begin(earlier)
    second.sending(64)
    third = ledger(store, try_number=3).earlier()
    assert set(third.created) == set(range(32))
    assert third.unknown == set(range(32, 96))


def test_a_try_that_stops_early_records_what_it_never_sent():
    store = Store()
    first = ledger(store)
    first.begin(first.earlier())
    first.sending(0)
    first.created(0, "s0", None)
    first.finish(never_sent=range(1, 100))
    earlier = ledger(store, try_number=2).earlier()
    assert (earlier.created, earlier.unknown) == ({0: ("s0", None)}, set())


def test_a_changed_audience_is_refused_once_something_was_created():
    store = Store()
    first = ledger(store)
    first.begin(first.earlier())
    first.sending(0)
    first.created(0, "s0", None)
    first.finish(never_sent=[])
    with pytest.raises(EarlierAttemptError, match=r"another audience or request.*s0"):
        ledger(store, fingerprint="g", try_number=2).earlier()
    untouched = Store()
    nothing = ledger(untouched)
    nothing.begin(nothing.earlier())
    nothing.finish(never_sent=[])
    assert ledger(untouched, fingerprint="g", try_number=2).earlier().created == {}


def test_without_a_store_a_retry_refuses_to_send():
    assert ledger(None).earlier().created == {}
    with pytest.raises(EarlierAttemptError, match="no task_state_store"):
        ledger(None, try_number=2).earlier()


def test_the_group_handle_round_trips_and_is_told_from_a_single_handle():
    group = GroupHandle(
        kind=ScheduleKind.CANVAS,
        schedule={"time": "2027-01-01T09:00:00", "in_local_time": True, "at_optimal_time": False},
        recipients=51,
        chunk_size=50,
        chunks=(ChunkSchedule(0, "a", "d", 50), ChunkSchedule(1, "b", None, 1)),
        canvas_id="cv",
    )
    value = group.to_xcom()
    assert GroupHandle.from_xcom(json.loads(json.dumps(value))) == group
    assert as_group_handle(json.dumps(value)) == group  # a handle rendered by a template
    assert as_group_handle({"schedule_id": "x", "kind": "message"}) is None
    assert group.member(group.chunks[1]).owner_id == "cv"


def test_the_failure_summary_names_each_chunk_without_a_schedule():
    report = BulkReport(total_chunks=5, total_recipients=210)
    report.created[0] = ChunkSchedule(0, "s0", None, 50)
    report.refused.append(
        ChunkFailure(1, 50, "recipients[50] to recipients[99]", "Braze answered 400: Invalid alias")
    )
    report.unknown.append(
        ChunkFailure(2, 50, "recipients[100] to recipients[149]", "no answer", users="external_user_id:u100")
    )
    report.stopped_by = "Braze answered 401"
    text = report.summary(what="Bulk create")
    assert "1 of 5 chunks created (50 of 210 recipients)" in text
    assert (
        "chunk 1 (recipients[50] to recipients[99], 50 recipients): Braze answered 400: Invalid alias" in text
    )
    assert "recipients external_user_id:u100" in text
    assert "Not sent (the task stopped after: Braze answered 401): 2 chunks: 3-4" in text
    assert "s0" in text


@pytest.mark.parametrize(
    ("base", "users"),
    [
        (BASE, [{"external_user_id": f"u{n}", "trigger_properties": {"n": n}} for n in range(120)]),
        (
            {"messages": {"sms": {"body": "hi"}}, "schedule": "2027-01-01T09:00:00Z", "send_id": "s"},
            ["a", {"alias_name": "b", "alias_label": "crm"}] * 30
            + ["c"] * 50
            + [{"alias_name": "d", "alias_label": "x"}] * 50,
        ),
    ],
)
def test_the_sending_pass_sends_the_very_bytes_the_rules_validated(base, users):
    kind = ScheduleKind.MESSAGE if "messages" in base else ScheduleKind.CAMPAIGN
    plan = make_plan(base, kind, lambda: list_entries("users", users), now=NOW)
    sender = Sender(plan, base, NOW)
    for chunk in chunked(list_entries("users", users), 50):  # ids and aliases, ids only, aliases only
        assert sender.request(chunk).payload == chunk_request(base, kind, chunk, now=NOW).payload


def test_a_user_list_rendered_by_a_template_is_read_back():
    from airflow_braze_schedule.core.audience import as_user_list

    users = [{"external_user_id": "a", "trigger_properties": {"vip": True}}]
    assert as_user_list("recipients", json.dumps(users)) == users
    assert as_user_list("recipients", repr(users)) == users  # Jinja renders Python's repr
    with pytest.raises(BrazeValidationError, match="recipients: 'None' is not a list of users"):
        as_user_list("recipients", "None")


def test_progress_names_done_of_total_rate_waits_and_time_left():
    from airflow_braze_schedule.core.fanout import Progress

    progress = Progress(total=200, recipients_total=10_000, started=0.0)
    progress.done, progress.recipients, progress.requests = 50, 2_500, 55
    progress.waits, progress.waited_seconds = 2, 3.5
    assert progress.line(now=10.0) == (
        "50 of 200 chunks (25%), 2,500 of 10,000 recipients, 5.5 requests/s, "
        "2 waits for Braze (3.5 s), about 30 s left"
    )
