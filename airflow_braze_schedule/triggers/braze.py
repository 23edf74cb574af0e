"""The trigger of :class:`~airflow_braze_schedule.sensors.braze.BrazeScheduledSendSensor`.

It sleeps until the schedule has gone out in every time zone, then, for a send with analytics by send id,
asks ``/sends/data_series`` every ``poll_interval`` seconds until Braze reports figures. The HTTP calls
are the hook's own (synchronous, with its retries), run in a worker thread so the triggerer's event
loop never blocks; no async HTTP client is needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_braze_schedule.core.analytics import SendWatch

# Long waits are slept in slices, so a wall clock that jumps (suspend, NTP) delays the wake-up by a slice
# at most.
_LONGEST_SLEEP = 600.0


def _now() -> datetime:
    return datetime.now(UTC)


class BrazeScheduledSendTrigger(BaseTrigger):
    """Wait for a Braze schedule's send, then for its figures.

    Fires one event, ``{"status": ..., "watch": ...}`` with ``status`` one of ``"done"`` (gone out, no
    figures to wait for), ``"reported"`` (with ``"data_series"``, Braze's answer), ``"expired"``,
    ``"timed_out"`` or ``"error"`` (with ``"message"``).

    :param watch: :meth:`SendWatch.to_json() <airflow_braze_schedule.core.analytics.SendWatch.to_json>`.
    :param braze_conn_id: the Airflow connection of type ``braze``.
    :param poll_interval: seconds between two questions to Braze.
    """

    def __init__(self, *, watch: dict[str, Any], braze_conn_id: str, poll_interval: float) -> None:
        super().__init__()
        self.watch = watch
        self.braze_conn_id = braze_conn_id
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"watch": self.watch, "braze_conn_id": self.braze_conn_id, "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_braze_schedule.core.analytics import SendWatch, figures_reported
        from airflow_braze_schedule.core.errors import BrazeError

        watch = SendWatch.from_json(self.watch)
        event: dict[str, Any] = {"watch": self.watch}
        while (state := watch.state(_now())) == "waiting":
            seconds = (watch.last_delivery - _now()).total_seconds()
            self.log.info(
                "Waiting until %s, when schedule %s has gone out everywhere.",
                watch.last_delivery,
                watch.schedule_id,
            )
            await asyncio.sleep(min(max(seconds, 0.0), _LONGEST_SLEEP))
        while state == "poll":
            asked_at = _now()
            try:
                answer = await asyncio.to_thread(self._ask_braze, watch, watch.series_length(asked_at))
            except BrazeError as error:
                yield TriggerEvent({**event, "status": "error", "message": str(error)})
                return
            if figures_reported(answer):
                yield TriggerEvent({**event, "status": "reported", "data_series": answer})
                return
            if watch.gave_up(asked_at):
                state = "timed_out"
                break
            self.log.info("Braze reports no figures for send %s yet.", watch.analytics.send_id)
            left = (watch.give_up_at - _now()).total_seconds()
            await asyncio.sleep(min(self.poll_interval, max(left, 0.0), _LONGEST_SLEEP))
            state = watch.state(_now())
        yield TriggerEvent({**event, "status": state})

    def _ask_braze(self, watch: SendWatch, length: int) -> dict[str, Any]:
        from airflow_braze_schedule.hooks.braze import BrazeHook

        hook = BrazeHook(braze_conn_id=self.braze_conn_id)
        return hook.get_send_data_series(
            watch.analytics.campaign_id or "", watch.analytics.send_id or "", length=length
        )
