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

Pure: no Airflow import.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.registry_model import (
    DEFAULT_FREEZE_WINDOW,
    RegistryEntry,
    request_fingerprints,
    utc_now,
)

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

    @property
    def sends(self) -> bool:
        return self.action not in (Action.UNCHANGED, Action.FROZEN)


def _frozen(entry: RegistryEntry, now: datetime, freeze_window: timedelta) -> str | None:
    starts = entry.send_starts()
    if starts is not None and starts - now <= freeze_window:
        return (
            f"its send begins at {starts:%Y-%m-%dT%H:%M:%SZ}, inside the freeze window of {freeze_window} "
            "before the send: left as it is"
        )
    return None


def plan_key(
    schedule_key: str,
    entry: RegistryEntry | None,
    request: BrazeRequest,
    *,
    now: datetime | None = None,
    freeze_window: timedelta = DEFAULT_FREEZE_WINDOW,
) -> KeyPlan:
    """Decide what one keyed create request means, given the key's registry entry."""
    now = now or utc_now()
    if entry is not None and entry.pending:
        return KeyPlan(
            schedule_key,
            Action.RESUME,
            f"an earlier try left {entry.pending.get('op')!r} under way at {entry.pending.get('at')}",
            entry,
            request,
        )
    if entry is None or not entry.is_live(now):
        why = "no schedule yet" if entry is None else f"the last schedule is {entry.effective_state(now)}"
        return KeyPlan(schedule_key, Action.CREATE, why, entry, request)
    full, content = request_fingerprints(request)
    if full == entry.fingerprint:
        return KeyPlan(schedule_key, Action.UNCHANGED, "the same request as recorded", entry, request)
    frozen = _frozen(entry, now, freeze_window)
    if frozen:
        return KeyPlan(schedule_key, Action.FROZEN, frozen, entry, request)
    if content == entry.content_fingerprint:
        return KeyPlan(schedule_key, Action.UPDATE, "only the schedule changed", entry, request)
    return KeyPlan(
        schedule_key,
        Action.REPLACE,
        "the send changed beyond its schedule (recipients, properties, messages or owner)",
        entry,
        request,
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
        """How many requests carrying out this plan sends: a replace is a cancel and a create."""
        per_action = {Action.CREATE: 1, Action.UPDATE: 1, Action.CANCEL: 1, Action.REPLACE: 2}
        return sum(per_action.get(item.action, 0) for item in self.keys)

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "counts": self.counts(),
            "keys": self.by_action(),
            "reasons": {item.schedule_key: item.reason for item in self.keys if item.action == Action.FROZEN},
            "requests_expected": self.requests_expected(),
        }


def plan_scope(
    scope: str,
    registered: Mapping[str, RegistryEntry],
    desired: Mapping[str, BrazeRequest],
    *,
    now: datetime | None = None,
    freeze_window: timedelta = DEFAULT_FREEZE_WINDOW,
) -> ScopePlan:
    """Plan a reconcile: ``desired`` is every send that should exist under ``scope``, by key."""
    now = now or utc_now()
    check_scope(scope, desired)
    plan = ScopePlan(scope)
    for key in sorted(desired):
        plan.keys.append(
            plan_key(key, registered.get(key), desired[key], now=now, freeze_window=freeze_window)
        )
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
