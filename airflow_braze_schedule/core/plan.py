"""What to do for a keyed send: compare what should exist with what the registry holds.

One rule, :func:`plan_key`, decides for one key, and :func:`plan_scope` applies it to a whole scope
(a key prefix) for reconcile, adding a cancel for every live key no longer desired:

* no live schedule under the key -> ``create``;
* the very same request -> ``unchanged`` (no request at all);
* only the schedule changed -> ``update``;
* anything else changed (recipients, properties, messages, the campaign) -> ``replace``: cancel the
  old schedule, then create the new one;
* an interrupted job under the key (an intent left by a crashed try) -> ``resume`` it;
* a change that falls inside the freeze window before the send -> ``frozen``: nothing is sent.

:func:`plan_group` is the same rule for a send made of a *group* of schedules (one per chunk of at most
50 users: a bulk create), compared by the fingerprints of its whole audience and request; whether a
desired send is a group is :func:`sends_as_group`. A group counts as one key in a plan, and as one
request per schedule in :meth:`ScopePlan.requests_expected`.

Pure: no Airflow import.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_braze_schedule.core.audience import USER_FIELDS
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.payload import MAX_USERS_PER_REQUEST
from airflow_braze_schedule.core.registry_model import (
    DEFAULT_FREEZE_WINDOW,
    RegistryEntry,
    request_fingerprints,
    utc_now,
)
from airflow_braze_schedule.core.schedule import rendered_nothing

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from airflow_braze_schedule.core.payload import BrazeRequest


class Action(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    CANCEL = "cancel"
    UNCHANGED = "unchanged"
    RESUME = "resume"
    FROZEN = "frozen"


#: The order in which a plan is reported.
ACTIONS = tuple(Action)


@dataclass
class KeyPlan:
    """The decision for one key, with the reason in words."""

    schedule_key: str
    action: Action
    reason: str
    entry: RegistryEntry | None = None
    request: BrazeRequest | None = None
    #: The desired send when it is a group of schedules (``request`` is then None).
    group: GroupSend | None = None

    @property
    def sends(self) -> bool:
        return self.action not in (Action.UNCHANGED, Action.FROZEN)

    @property
    def is_group(self) -> bool:
        """Carried out as a group: the desired send is one, or the key holds one (and is cancelled)."""
        return self.group is not None or holds_group(self.entry)

    def requests(self) -> int:
        """How many requests carrying this decision out sends: one per schedule created, changed or
        cancelled (a group's every schedule); a replace cancels the old send and creates the new one."""
        new = self.group.chunks if self.group is not None else 1
        old = schedules_held(self.entry)
        return {
            Action.CREATE: new,
            Action.UPDATE: old,
            Action.CANCEL: old,
            Action.REPLACE: old + new,
        }.get(self.action, 0)


@dataclass(frozen=True)
class GroupSend:
    """A desired send made of a group of schedules, as a bulk create would make it.

    :param fingerprint: of the whole audience and request (the bulk plan's).
    :param content_fingerprint: the same without the schedule: equal, only the schedule changed.
    :param chunks: the schedules (one create request each) it is made of.
    """

    fingerprint: str
    content_fingerprint: str
    chunks: int


#: The intents a group's steps write (see engine/group_steps.py); a key with one is a group's.
GROUP_OPS = ("group_create", "group_update", "group_cancel", "group_replace")


def holds_group(entry: RegistryEntry | None) -> bool:
    """The key holds (or held) a bulk create's group of schedules, or a group's step is under way."""
    if entry is None:
        return False
    return "chunks" in (entry.handle or {}) or (entry.pending or {}).get("op") in GROUP_OPS


def schedules_held(entry: RegistryEntry | None) -> int:
    """How many schedules the key's send is made of: a group's chunks, else one."""
    chunks = (entry.handle or {}).get("chunks") if entry is not None else None
    return len(chunks) if isinstance(chunks, list) else 1


def sends_as_group(fields: Mapping[str, Any], entry: RegistryEntry | None) -> bool:
    """Whether a keyed send is planned and carried out as a group: its audience is larger than one
    request takes (over 50 users, or a ``recipients_path`` file), or its key holds a group."""
    if holds_group(entry):
        return True
    if not rendered_nothing(fields.get("recipients_path")):
        return True
    users = sum(len(value) for name in USER_FIELDS if isinstance(value := fields.get(name), list | tuple))
    return users > MAX_USERS_PER_REQUEST


def _frozen(entry: RegistryEntry, now: datetime, freeze_window: timedelta) -> str | None:
    starts = entry.send_starts()
    if starts is not None and starts - now <= freeze_window:
        return (
            f"its send begins at {starts:%Y-%m-%dT%H:%M:%SZ}, inside the freeze window of {freeze_window} "
            "before the send: left as it is"
        )
    return None


def _decide(
    schedule_key: str,
    entry: RegistryEntry | None,
    fingerprints: tuple[str, str],
    *,
    request: BrazeRequest | None,
    group: GroupSend | None,
    now: datetime,
    freeze_window: timedelta,
) -> KeyPlan:
    """The rule of :func:`plan_key` and :func:`plan_group`: the desired send's fingerprints (whole, and
    without the schedule) against the key's registry entry."""

    def plan(action: Action, reason: str) -> KeyPlan:
        return KeyPlan(schedule_key, action, reason, entry, request, group)

    if entry is not None and entry.pending:
        pending = entry.pending
        if group is not None and (
            pending.get("op") == "group_create"
            or (pending.get("op") == "group_replace" and pending.get("stage") == "creating")
        ):
            # The old send is cancelled (or there was none): the group's create goes on; the bulk
            # create's ledger keeps the chunks an earlier try of this task created from being resent.
            return plan(Action.CREATE, f"resuming the group's create, left under way at {pending.get('at')}")
        return plan(
            Action.RESUME, f"an earlier try left {pending.get('op')!r} under way at {pending.get('at')}"
        )
    if entry is None or not entry.is_live(now):
        why = "no schedule yet" if entry is None else f"the last schedule is {entry.effective_state(now)}"
        return plan(Action.CREATE, why)
    same_form = holds_group(entry) == (group is not None)  # a group and a single schedule never match
    full, content = fingerprints
    if same_form and full == entry.fingerprint:
        return plan(Action.UNCHANGED, "the same request as recorded")
    frozen = _frozen(entry, now, freeze_window)
    if frozen:
        return plan(Action.FROZEN, frozen)
    if same_form and content == entry.content_fingerprint:
        return plan(Action.UPDATE, "only the schedule changed")
    if not same_form:
        held = "a group of schedules" if group is None else "a single schedule"
        return plan(Action.REPLACE, f"the key holds {held}, and the send is now the other kind")
    return plan(
        Action.REPLACE, "the send changed beyond its schedule (recipients, properties, messages or owner)"
    )


def plan_key(
    schedule_key: str,
    entry: RegistryEntry | None,
    request: BrazeRequest,
    *,
    now: datetime | None = None,
    freeze_window: timedelta = DEFAULT_FREEZE_WINDOW,
) -> KeyPlan:
    """Decide what one keyed create request means, given the key's registry entry."""
    return _decide(
        schedule_key,
        entry,
        request_fingerprints(request),
        request=request,
        group=None,
        now=now or utc_now(),
        freeze_window=freeze_window,
    )


def plan_group(
    schedule_key: str,
    entry: RegistryEntry | None,
    send: GroupSend,
    *,
    now: datetime | None = None,
    freeze_window: timedelta = DEFAULT_FREEZE_WINDOW,
) -> KeyPlan:
    """Decide what a keyed group send means, given the key's registry entry: the rule of
    :func:`plan_key`, the group compared whole (every schedule is created, updated or cancelled), and
    ``create`` where an earlier try's group create (or the create half of a replace) is to be resumed."""
    return _decide(
        schedule_key,
        entry,
        (send.fingerprint, send.content_fingerprint),
        request=None,
        group=send,
        now=now or utc_now(),
        freeze_window=freeze_window,
    )


def check_scope(scope: Any, keys: Iterable[str]) -> str:
    """A reconcile scope is a non-empty key prefix, and every desired key must start with it."""
    if not isinstance(scope, str) or not scope:
        raise BrazeValidationError("scope", f"{scope!r} is not a key prefix", 'a prefix such as "orders/"')
    outside = [key for key in keys if not key.startswith(scope)]
    if outside:
        raise BrazeValidationError(
            "desired",
            f"{len(outside)} schedule_key(s) do not start with the scope {scope!r}, e.g. {outside[0]!r}",
            "keys under the scope only: reconcile cancels what is not desired within its scope",
        )
    return scope


@dataclass
class ScopePlan:
    """A reconcile plan: one decision per key, and the counts."""

    scope: str
    keys: list[KeyPlan] = field(default_factory=list)

    def by_action(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {action.value: [] for action in ACTIONS}
        for item in self.keys:
            grouped[item.action.value].append(item.schedule_key)
        return grouped

    def counts(self) -> dict[str, int]:
        return {action: len(keys) for action, keys in self.by_action().items()}

    def requests_expected(self) -> int:
        """How many requests carrying out this plan sends: a replace is a cancel and a create; a group's
        create, update or cancel is one request per schedule of the group."""
        return sum(item.requests() for item in self.keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "counts": self.counts(),
            "keys": self.by_action(),
            "reasons": {item.schedule_key: item.reason for item in self.keys if item.action == Action.FROZEN},
            "groups": {
                item.schedule_key: item.requests() for item in self.keys if item.is_group and item.sends
            },
            "requests_expected": self.requests_expected(),
        }


def plan_scope(
    scope: str,
    registered: Mapping[str, RegistryEntry],
    desired: Mapping[str, BrazeRequest | GroupSend],
    *,
    now: datetime | None = None,
    freeze_window: timedelta = DEFAULT_FREEZE_WINDOW,
) -> ScopePlan:
    """Plan a reconcile: ``desired`` is every send that should exist under ``scope``, by key: a create
    request, or a :class:`GroupSend` for a send made of a group of schedules."""
    now = now or utc_now()
    check_scope(scope, desired)
    plan = ScopePlan(scope)
    for key in sorted(desired):
        send, entry = desired[key], registered.get(key)
        if isinstance(send, GroupSend):
            plan.keys.append(plan_group(key, entry, send, now=now, freeze_window=freeze_window))
        else:
            plan.keys.append(plan_key(key, entry, send, now=now, freeze_window=freeze_window))
    for key in sorted(set(registered) - set(desired)):
        entry = registered[key]
        if not key.startswith(scope):
            continue
        if entry.pending:
            plan.keys.append(
                KeyPlan(
                    key, Action.RESUME, f"an earlier try left {entry.pending.get('op')!r} under way", entry
                )
            )
        elif entry.is_live(now):
            frozen = _frozen(entry, now, freeze_window)
            if frozen:
                plan.keys.append(KeyPlan(key, Action.FROZEN, "not desired, but " + frozen, entry))
            else:
                plan.keys.append(KeyPlan(key, Action.CANCEL, "no longer desired", entry))
    return plan
