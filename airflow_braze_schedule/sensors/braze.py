"""A sensor for after the send: wait until a Braze schedule has gone out everywhere, then for its figures.

As in the operators module, only Airflow's base class is imported at module level; the core, the hook
and the trigger are imported when the task runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
)

from airflow_braze_schedule.operators.braze import DEFAULT_CONN_ID, _failing_fast_where_retries_cannot_help

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_braze_schedule.core.analytics import SendWatch
    from airflow_braze_schedule.hooks.braze import BrazeHook

#: Braze's rate limit is shared by the whole workspace: ask about a send every five minutes by default.
DEFAULT_POLL_INTERVAL = 300.0
DEFAULT_FIGURES_TIMEOUT = timedelta(hours=24)
# Airflow's own sensor timeout (7 days by default) would cut short a wait for a schedule further ahead;
# the sensor's deadlines are its own (figures_timeout, and Braze's 14-day retention).
_AIRFLOW_TIMEOUT = timedelta(days=400).total_seconds()


class BrazeScheduledSendSensor(BaseSensorOperator):
    """Wait until a Braze schedule has been sent in every time zone, then return its figures.

    The schedule has gone out everywhere at its time (UTC schedules); at its wall-clock time in UTC-12,
    the last time zone (local time); at the end of its date in UTC-12 (optimal time). For a schedule with
    analytics by send id (an API campaign, or a message schedule attributed to one, made with a
    ``send_id``) the sensor then reads ``GET /sends/data_series`` until Braze reports figures for the send,
    and returns them. Braze keeps them 14 days after the send: a sensor started later fails saying so,
    and waiting never goes beyond that day. Canvas schedules (no ``send_id``) and schedules made without one
    have no figures by send: the sensor returns once the send has gone out, saying why there are none.

    Returns (XCom ``return_value``) ``{"schedule_id", "kind", "campaign_id", "send_id",
    "delivered_everywhere_at", "analytics": "reported" | "unavailable", "data", "reason"}``, where ``data``
    is Braze's list of per-day figures, ``[{"time": "2026-12-01", "messages": {"email": [{"sent": 2,
    ...}]}, ...}]``, ready to load into a warehouse.

    :param schedule_id: the create (or update) task's handle, ``create.output``; or a bare ``schedule_id``
        with ``schedule`` and, for figures, ``campaign_id`` and ``send_id``. (templated)
    :param schedule: the schedule object as sent; needed with a bare ``schedule_id``, and overrides the
        handle's. (templated)
    :param campaign_id: with a bare ``schedule_id``: the campaign. (templated)
    :param canvas_id: with a bare ``schedule_id``: the Canvas. (templated)
    :param send_id: with a bare ``schedule_id``, or a handle without one: the send id. (templated)
    :param figures_timeout: how long after the send has gone out everywhere to wait for figures (seconds
        or a timedelta; default 24 hours), at most until Braze drops them.
    :param braze_conn_id: the Airflow connection of type ``braze``. (templated)
    :param deferrable: wait in the triggerer, freeing the worker slot (default True). Otherwise the sensor
        pokes every ``poke_interval`` seconds (default 300); ``mode="reschedule"`` frees the slot between
        pokes.
    """

    template_fields: Sequence[str] = (
        "schedule_id",
        "schedule",
        "campaign_id",
        "canvas_id",
        "send_id",
        "braze_conn_id",
    )
    template_fields_renderers: ClassVar[dict[str, str]] = {"schedule_id": "json", "schedule": "json"}
    ui_color = "#e8d5ff"

    def __init__(
        self,
        *,
        schedule_id: str | dict[str, Any],
        schedule: Any = None,
        campaign_id: str | None = None,
        canvas_id: str | None = None,
        send_id: str | None = None,
        figures_timeout: float | timedelta = DEFAULT_FIGURES_TIMEOUT,
        braze_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", DEFAULT_POLL_INTERVAL)
        kwargs.setdefault("timeout", _AIRFLOW_TIMEOUT)
        super().__init__(**kwargs)
        self.schedule_id = schedule_id
        self.schedule = schedule
        self.campaign_id = campaign_id
        self.canvas_id = canvas_id
        self.send_id = send_id
        self.figures_timeout = figures_timeout
        self.braze_conn_id = braze_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> BrazeHook:
        from airflow_braze_schedule.hooks.braze import BrazeHook

        return BrazeHook(braze_conn_id=self.braze_conn_id)

    def _watch(self) -> SendWatch:
        """What to wait for, from the rendered arguments; every mistake is reported before any wait."""
        from dataclasses import replace

        from airflow_braze_schedule.core.analytics import SendWatch
        from airflow_braze_schedule.core.errors import BrazeValidationError
        from airflow_braze_schedule.core.handle import _as_mapping, resolve_schedule

        value = _as_mapping(self.schedule_id)
        if isinstance(value, dict) and value.get("cancelled") is True:
            raise BrazeValidationError(
                "schedule_id",
                f"schedule {value.get('schedule_id')!r} was cancelled: it will not be sent",
                "the handle of a schedule that was not cancelled (the create or update task's output)",
            )
        handle = resolve_schedule(value, campaign_id=self.campaign_id, canvas_id=self.canvas_id)
        if self.schedule is not None:
            handle = replace(handle, schedule=self.schedule)
        if self.send_id is not None:
            if handle.send_id is not None and handle.send_id != self.send_id:
                raise BrazeValidationError(
                    "send_id",
                    f"{self.send_id!r} does not match the handle's send_id {handle.send_id!r}",
                    "no send_id: the handle already says which send this is",
                )
            handle = replace(handle, send_id=self.send_id)
        timeout = self.figures_timeout
        if not isinstance(timeout, timedelta):
            try:
                timeout = timedelta(seconds=float(timeout))
            except (TypeError, ValueError):
                raise BrazeValidationError(
                    "figures_timeout", f"{timeout!r} is not a duration", "seconds, or a timedelta"
                ) from None
        return SendWatch.plan(handle, figures_timeout=timeout)

    def _describe(self, watch: SendWatch) -> None:
        if watch.analytics.available:
            self.log.info(
                "Schedule %s goes out everywhere by %s; then its figures (campaign %s, send %s) are read from "
                "Braze until %s.",
                watch.schedule_id,
                watch.last_delivery,
                watch.analytics.campaign_id,
                watch.analytics.send_id,
                watch.give_up_at,
            )
            if watch.give_up_at == watch.kept_until:
                self.log.warning(
                    "Waiting for figures stops at %s: Braze keeps analytics by send 14 days after the send.",
                    watch.kept_until,
                )
        else:
            self.log.info(
                "Schedule %s goes out everywhere by %s. No analytics by send will follow: %s.",
                watch.schedule_id,
                watch.last_delivery,
                watch.why_no_figures(),
            )

    def _check(self, watch: SendWatch) -> dict[str, Any] | None:
        """One look: the result if the wait is over, None to wait on. Fails when it never will be."""
        now = datetime.now(UTC)
        state = watch.state(now)
        if state == "done":
            return watch.result()
        if state == "expired":
            raise AirflowFailException(watch.expired_message(now))
        if state == "poll":
            with _failing_fast_where_retries_cannot_help(creates=False):
                answer = self.hook.get_send_data_series(
                    watch.analytics.campaign_id or "",
                    watch.analytics.send_id or "",
                    length=watch.series_length(now),
                )
            from airflow_braze_schedule.core.analytics import figures_reported

            if figures_reported(answer):
                return watch.result(answer)
            if watch.gave_up(now):
                raise AirflowSensorTimeout(watch.timed_out_message())
            self.log.info("Braze reports no figures for send %s yet.", watch.analytics.send_id)
        return None

    def execute(self, context: Context) -> Any:
        with _failing_fast_where_retries_cannot_help(creates=False):
            watch = self._watch()
        self._describe(watch)
        if not self.deferrable:
            return super().execute(context)
        result = self._check(watch)
        if result is not None:
            return self._finish(result)
        from airflow_braze_schedule.triggers.braze import BrazeScheduledSendTrigger

        self.defer(
            trigger=BrazeScheduledSendTrigger(
                watch=watch.to_json(), braze_conn_id=self.braze_conn_id, poll_interval=self.poke_interval
            ),
            method_name="execute_complete",
        )
        return None

    def poke(self, context: Context) -> bool | PokeReturnValue:
        with _failing_fast_where_retries_cannot_help(creates=False):
            watch = self._watch()
        result = self._check(watch)
        if result is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(result))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: return the result, or fail saying why there is none."""
        from airflow_braze_schedule.core.analytics import SendWatch

        if not isinstance(event, dict) or "watch" not in event:
            raise AirflowFailException(f"The Braze trigger sent an event this sensor cannot read: {event!r}")
        watch = SendWatch.from_json(event["watch"])
        status = event.get("status")
        if status == "reported":
            return self._finish(watch.result(event["data_series"]))
        if status == "done":
            return self._finish(watch.result())
        if status == "expired":
            raise AirflowFailException(watch.expired_message(datetime.now(UTC)))
        if status == "timed_out":
            raise AirflowSensorTimeout(watch.timed_out_message())
        # A failed call to Braze, after the hook's own retries: the task's retries may still help.
        raise AirflowException(f"Waiting for schedule {watch.schedule_id} failed: {event.get('message')}")

    def _finish(self, result: dict[str, Any]) -> dict[str, Any]:
        if result["analytics"] == "reported":
            self.log.info(
                "Braze reports figures for send %s on %d day(s).",
                result["send_id"],
                len(result["data"] or []),
            )
        else:
            self.log.info("Schedule %s has gone out everywhere. %s.", result["schedule_id"], result["reason"])
        return result
