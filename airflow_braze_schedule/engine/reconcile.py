"""A reconcile: its plan (:func:`plan_reconcile`), then carrying it out (:func:`carry_out_plan`):
requests concurrently, registry writes batched per wave.

Two phases, so a replace's cancel is recorded before its create starts: first every cancel (of keys no
longer desired, and the first half of each replace), then every create and update. Within a phase at most
``max_workers`` requests are in flight. Steps queue their writes in a
:class:`~airflow_braze_schedule.engine.recorder.BatchedRecorder`; before each wave of new requests one
``put_many`` writes the wave's intents together with the results answered since the last wave, so an
intent is durable before its request goes out and a crash leaves at most ``max_workers`` intents to
settle (the argument is in :mod:`~airflow_braze_schedule.engine.recorder`).

Then the groups (sends of one schedule per chunk of users), one key at a time, each sending its
schedules' requests ``max_workers`` at a time through the bulk machinery
(:class:`~airflow_braze_schedule.engine.group_steps.GroupSteps`), writing directly.
"""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_braze_schedule.core.errors import BrazeError
from airflow_braze_schedule.core.plan import Action
from airflow_braze_schedule.core.registry_model import BEST_EFFORT, request_fingerprints
from airflow_braze_schedule.engine.keyed_steps import change_of
from airflow_braze_schedule.engine.recorder import BatchedRecorder

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from airflow_braze_schedule.core.payload import BrazeRequest
    from airflow_braze_schedule.core.plan import KeyPlan, ScopePlan
    from airflow_braze_schedule.core.registry_model import RegistryEntry
    from airflow_braze_schedule.engine.keyed_steps import KeyedSteps
    from airflow_braze_schedule.engine.ports import Clock, GroupSteps, Log, RegistryStore

# A job is (key, start): start() writes the intent and returns (entry, send, finish), or None when
# nothing is to be sent (a refused change, queued). send() runs on a worker thread; finish(entry, answer)
# queues the result on the calling thread. The recorder writes what is queued before each wave.


#: Seconds between progress lines of a reconcile.
PROGRESS_INTERVAL = 5.0


class _Progress:
    """Keys done of the total, the rate and the time left, said every ``PROGRESS_INTERVAL`` s and at the end."""

    def __init__(self, log: Log, total: int, clock: Clock) -> None:
        self.log, self.total, self.done, self.clock = log, total, 0, clock
        self.started = self.last = clock()

    def step(self) -> None:
        self.done += 1
        now = self.clock()
        if now - self.last >= PROGRESS_INTERVAL or self.done == self.total:
            rate = self.done / max(now - self.started, 1e-6)
            left = (self.total - self.done) / rate if rate else 0
            self.log.info(
                "Reconcile: %d of %d keys done, %.1f/s, about %.0f s left.", self.done, self.total, rate, left
            )
            self.last = now


@contextmanager
def building_in_bulk() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector while a plan's many objects are built.

    Reading a scope and building a request per key allocates several objects per key, all kept and none
    in a cycle (reference counting frees whatever is dropped). Each full collection walks every live
    object, and full collections come more often the more is allocated, so with it on a plan's time per
    key grew with the scope (about 1.4x from 2,000 to 20,000 keys here; flat with it off). Collection
    resumes on leaving, if it was on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def naming_desired_item(key: str) -> Iterator[None]:
    """A validation error about one desired send names it: ``desired['<key>'].<field>``."""
    from airflow_braze_schedule.core.errors import BrazeValidationError

    try:
        yield
    except BrazeValidationError as error:
        raise BrazeValidationError(f"desired[{key!r}].{error.field}", error.problem, error.expected) from None


def desired_requests(
    desired: dict[str, dict[str, Any]], registered: Mapping[str, Any]
) -> dict[str, BrazeRequest]:
    """Every desired send validated (nothing is sent if one breaks a rule), as its key's request."""
    from airflow_braze_schedule.engine.keyed_steps import keyed_request

    requests: dict[str, BrazeRequest] = {}
    for key, fields in desired.items():
        with naming_desired_item(key):
            requests[key] = keyed_request(fields, registered.get(key))
    return requests


@dataclass
class ReconcilePlan:
    """What a reconcile will do: the scope's plan, the registry as read (earlier jobs settled), the
    desired groups by key, and the keys left out of this run (their earlier job could not be settled)."""

    plan: ScopePlan
    registered: dict[str, RegistryEntry]
    members: dict[str, Any]
    blocked: dict[str, BaseException]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.plan.to_json(),
            "blocked": {key: str(error)[:300] for key, error in self.blocked.items()},
        }


def plan_reconcile(
    scope: str,
    registry: RegistryStore,
    desired_fields: dict[str, dict[str, Any]],
    *,
    groups: GroupSteps,
    member: Callable[[str, dict[str, Any]], Any],
    freeze_window: Any,
    dry_run: bool,
    log: Log,
) -> ReconcilePlan:
    """Read the scope, settle what earlier tries left under way (not in a dry run), validate every
    desired send and plan the scope (:func:`~airflow_braze_schedule.core.plan.plan_scope`); nothing is
    sent but a settling's requests.

    :param desired_fields: the desired sends' create fields by key (keys checked); keys left out of the
        run are removed from it.
    :param groups: settles a key's earlier job (a group's or a single schedule's).
    :param member: a desired send sent as a group, validated whole: its ``send()`` is what is planned.
    """
    from airflow_braze_schedule.core.errors import BrazeError
    from airflow_braze_schedule.core.plan import GroupSend, plan_scope, sends_as_group
    from airflow_braze_schedule.engine.groups import BrazeGroupChangeError

    with building_in_bulk():
        registered = registry.scope(scope)
    # Keys whose earlier job cannot be settled now (a create whose answer never came, or Braze failing
    # again) are left out of this run, named in the plan, and fail the task at the end: one such key must
    # not hold up the rest of the scope.
    blocked: dict[str, BaseException] = {}
    if not dry_run:
        for key, entry in list(registered.items()):
            if entry.pending:
                try:
                    registered[key] = groups.settle(entry)
                except (BrazeError, BrazeGroupChangeError) as error:
                    blocked[key] = error
                    log.warning("schedule_key %r left out of this run: %s", key, error)
    for key in blocked:
        registered.pop(key)
        desired_fields.pop(key, None)
    # A send larger than one request, or under a key holding a group, is a group (as for upsert).
    with building_in_bulk():
        members = {
            key: member(key, fields)
            for key, fields in desired_fields.items()
            if sends_as_group(fields, registered.get(key))
        }
        desired: dict[str, BrazeRequest | GroupSend] = {
            **desired_requests(
                {key: fields for key, fields in desired_fields.items() if key not in members}, registered
            ),
            **{key: group.send() for key, group in members.items()},
        }
        plan = plan_scope(scope, registered, desired, freeze_window=freeze_window)
    log_plan(plan, log)
    return ReconcilePlan(plan, registered, members, blocked)


def log_plan(plan: ScopePlan, log: Log) -> None:
    """Log a scope's plan: counts and keys per action, groups, and why keys are frozen."""
    counts = plan.counts()
    log.info(
        "Reconcile plan for scope %r: %s; %d requests to send.",
        plan.scope,
        ", ".join(f"{action} {count}" for action, count in counts.items()),
        plan.requests_expected(),
    )
    for action, keys in plan.by_action().items():
        if keys and action != "unchanged":
            shown = ", ".join(keys[:20]) + (f", … ({len(keys)} in all)" if len(keys) > 20 else "")
            log.info("  %s: %s", action, shown)
    groups = [item for item in plan.keys if item.is_group and item.sends]
    if groups:
        log.info(
            "  groups: %s",
            ", ".join(f"{item.schedule_key} ({item.action}, {item.requests()} requests)" for item in groups),
        )
    for item in plan.keys:
        if item.action == "frozen":
            log.warning("  %s frozen: %s", item.schedule_key, item.reason)


def _run_phase(
    jobs: Iterator[tuple[str, Any]],
    *,
    max_workers: int,
    recorder: BatchedRecorder,
    on_done: Callable[[str, RegistryEntry], None],
    on_error: Callable[[str, RegistryEntry | None, BaseException], None],
) -> None:
    pending = iter(jobs)
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="braze-reconcile") as pool:
        # A slot is held from the intent's write until its result's write (not its answer): see recorder.
        in_flight: dict[Future[Any], tuple[str, RegistryEntry, Any]] = {}
        exhausted = False

        def collect() -> None:
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for future in finished:
                key, entry, finish = in_flight.pop(future)
                try:
                    answer = future.result()
                except BaseException as error:
                    on_error(key, entry, error)
                    continue
                on_done(key, finish(entry, answer))

        try:
            while True:
                wave: list[tuple[str, RegistryEntry, Any, Any]] = []
                while not exhausted and len(in_flight) + len(wave) < max_workers:
                    try:
                        key, start = next(pending)
                    except StopIteration:
                        exhausted = True
                        break
                    try:
                        started = start()
                    except BrazeError as error:
                        on_error(key, None, error)
                        continue
                    if started is not None:
                        wave.append((key, *started))
                # The wave's intents and the results answered meanwhile, in one write, before any send.
                recorder.flush()
                for key, entry, send, finish in wave:
                    in_flight[pool.submit(send)] = (key, entry, finish)
                if not in_flight:
                    break
                collect()
        finally:
            # Results answered before an error are written too; a lost process writes nothing more,
            # leaving at most max_workers intents, as the slots above guarantee.
            for future in in_flight:
                future.cancel()
            with suppress(Exception):
                recorder.flush()


def carry_out_plan(
    plan: ScopePlan,
    steps: KeyedSteps,
    *,
    max_workers: int,
    log: Log,
    groups: GroupSteps | None = None,
    members: Mapping[str, Any] | None = None,
    clock: Clock = time.monotonic,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, BaseException]]:
    """Carry out ``plan``; return the outcome, the changes made (for the event) and per-key errors.

    :param groups: carries out the group keys' decisions.
    :param members: the desired groups, by key.
    :param clock: monotonic seconds, for the progress lines.
    """
    sent = 0
    count_lock = threading.Lock()
    errors: dict[str, BaseException] = {}
    changes: list[dict[str, Any]] = []
    done: list[str] = []
    best_effort: list[str] = []
    refused: dict[str, str | None] = {}
    entries: dict[str, RegistryEntry | None] = {item.schedule_key: item.entry for item in plan.keys}
    actions = {item.schedule_key: item.action for item in plan.keys}
    working = [item for item in plan.keys if item.sends and not item.is_group]
    working_groups = [item for item in plan.keys if item.sends and item.is_group]
    progress = _Progress(log, len(working) + len(working_groups), clock)

    def noted(key: str, entry: RegistryEntry) -> None:
        entries[key] = entry
        if (
            entry.outcome == BEST_EFFORT
            and entry.history
            and entry.history[-1]["action"] in ("update", "cancel")
        ):
            best_effort.append(key)

    def on_error(key: str, entry: RegistryEntry | None, error: BaseException) -> None:
        if entry is not None:
            entries[key] = steps.failed(entry, error)
        errors[key] = error
        log.warning("schedule_key %r: %s failed: %s", key, actions[key].value, error)
        progress.step()

    def finished(key: str, entry: RegistryEntry) -> None:
        noted(key, entry)
        done.append(key)
        changes.append(change_of(entry, actions[key].value))
        progress.step()

    def refuse(key: str, entry: RegistryEntry) -> None:
        entries[key] = entry
        refused[key] = entry.history[-1].get("note") if entry.history else None
        progress.step()

    def counted(send: Callable[[], Any]) -> Callable[[], Any]:
        def go() -> Any:
            nonlocal sent
            with count_lock:
                sent += 1
            return send()

        return go

    # --- phase 1: cancels, and the first half of each replace ---
    def cancel_jobs() -> Iterator[tuple[str, Any]]:
        for item in working:
            if item.action not in (Action.CANCEL, Action.REPLACE):
                continue

            def start(item: KeyPlan = item) -> Any:
                entry = entries[item.schedule_key]
                assert entry is not None
                replacing = None
                if item.action == Action.REPLACE:
                    assert item.request is not None
                    replacing = request_fingerprints(item.request)[0]
                entry, go = steps.begin_cancel(entry, replacing=replacing)
                if not go:
                    refuse(item.schedule_key, entry)
                    return None
                request = steps.cancel_request(entry)

                def finish(entry: RegistryEntry, answer: Any) -> RegistryEntry:
                    return steps.finish_cancel(entry, answer[1])

                return entry, counted(partial(steps.send_cancel, request)), finish

            yield item.schedule_key, start

    def after_cancel(key: str, entry: RegistryEntry) -> None:
        if actions[key] == Action.CANCEL:
            finished(key, entry)
        else:
            noted(key, entry)  # the replace goes on to its create

    recorder = BatchedRecorder(steps.registry)
    with steps.recording_to(recorder):
        _run_phase(
            cancel_jobs(), max_workers=max_workers, recorder=recorder, on_done=after_cancel, on_error=on_error
        )

    # --- phase 2: creates, updates, and the second half of each replace ---
    def create_jobs() -> Iterator[tuple[str, Any]]:
        for item in working:
            key = item.schedule_key
            if (
                key in errors
                or key in refused
                or item.action not in (Action.CREATE, Action.UPDATE, Action.REPLACE)
            ):
                continue

            def start(item: KeyPlan = item) -> Any:
                key = item.schedule_key
                request = item.request
                assert request is not None
                if item.action == Action.UPDATE:
                    entry = entries[key]
                    assert entry is not None
                    assert request.body is not None
                    update = steps.update_request(entry, request.body["schedule"])
                    entry, go = steps.begin_update(entry, update)
                    if not go:
                        refuse(key, entry)
                        return None

                    def finish_update(entry: RegistryEntry, answer: Any) -> RegistryEntry:
                        return steps.finish_update(entry, update)

                    return entry, counted(partial(steps.send, update)), finish_update
                entry = steps.begin_create(key, entries[key], request)

                def finish_create(entry: RegistryEntry, answer: Any) -> RegistryEntry:
                    return steps.finish_create(entry, request, answer)

                return entry, counted(partial(steps.send, request)), finish_create

            yield key, start

    with steps.recording_to(recorder):
        _run_phase(
            create_jobs(), max_workers=max_workers, recorder=recorder, on_done=finished, on_error=on_error
        )

    # --- phase 3: groups, one key at a time, each group's requests concurrently ---
    for item in working_groups:
        key = item.schedule_key
        assert groups is not None
        try:
            entry = groups.carry_out(item, (members or {}).get(key))
        except Exception as error:  # the intent stays: the next try settles it
            on_error(key, None, error)
            continue
        assert entry is not None
        if entry.refusal_reason() is not None and entry.pending is None:
            refuse(key, entry)
        else:
            finished(key, entry)

    outcome = {
        "requests_sent": sent + (groups.sent if groups is not None else 0),
        "done": sorted(done),
        "failed": {key: str(error)[:300] for key, error in sorted(errors.items())},
        "best_effort": sorted(best_effort),
        "refused_too_late": dict(sorted(refused.items())),
    }
    return outcome, changes, errors
