"""Analytics by send id (braze-api.md §5.1, §12.10): ``GET /sends/data_series``, its request rules, and
when a send's figures can be expected and until when Braze keeps them.

Only API campaigns have them: a campaign schedule, or a message schedule attributed to a campaign, made
with a ``send_id``. Canvas schedules take no ``send_id`` and their ``dispatch_id`` is random per step,
so nothing joins a Canvas schedule to figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_braze_schedule.core.endpoints import SEND_DATA_SERIES_PATH, Action, ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.payload import BrazeRequest, check_send_id
from airflow_braze_schedule.core.schedule import BrazeSchedule, rendered_nothing

if TYPE_CHECKING:
    from airflow_braze_schedule.core.handle import ScheduleHandle

#: "Braze stores send analytics for 14 days after the send." (§12.10)
RETENTION = timedelta(days=14)
#: ``length``: "1 to 100 days" (§12.10).
MAX_SERIES_LENGTH = 100


def check_length(value: Any) -> int:
    """``length``, the number of days of the series: an integer from 1 to 100."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SERIES_LENGTH:
        raise BrazeValidationError(
            "length",
            f"{value!r} is not a number of days Braze accepts",
            f"an integer from 1 to {MAX_SERIES_LENGTH}",
        )
    return value


def _ending_at(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, str) and not rendered_nothing(value):
        try:
            datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return value.strip()
    raise BrazeValidationError(
        "ending_at",
        f"{value!r} is not an ISO 8601 date-time",
        "for example 2026-12-01T23:59:59Z, or a datetime",
    )


def build_data_series_request(
    campaign_id: Any, send_id: Any, *, length: Any, ending_at: Any = None
) -> BrazeRequest:
    """Validate and build ``GET /sends/data_series?campaign_id=..&send_id=..&length=..[&ending_at=..]``."""
    if not isinstance(campaign_id, str) or rendered_nothing(campaign_id):
        raise BrazeValidationError(
            "campaign_id", f"{campaign_id!r} is not an identifier", "the API campaign the send belongs to"
        )
    params = {
        "campaign_id": campaign_id,
        "send_id": check_send_id(send_id),
        "length": str(check_length(length)),
    }
    if ending_at is not None:
        params["ending_at"] = _ending_at(ending_at)
    return BrazeRequest("GET", SEND_DATA_SERIES_PATH, Action.LIST, params=params)


def figures_reported(answer: Any) -> bool:
    """True once Braze's answer holds a figure for the send: a positive count on some day, channel and
    variation (``{"data": [{"time", "messages": {channel: [{"sent": n, ...}]}, ...}]}``)."""
    days = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(days, list):
        return False
    for day in days:
        channels = day.get("messages") if isinstance(day, dict) else None
        if not isinstance(channels, dict):
            continue
        for variations in channels.values():
            for variation in variations if isinstance(variations, list) else []:
                if isinstance(variation, dict) and any(
                    isinstance(v, int | float) and not isinstance(v, bool) and v > 0
                    for v in variation.values()
                ):
                    return True
    return False


def series_length(first_delivery: datetime, now: datetime) -> int:
    """Days of series that cover a send from its first delivery up to ``now``.

    One day more than the UTC dates span: Braze cuts days in the workspace's time zone, which may put
    the first delivery on the day before its UTC date.
    """
    days = (now.astimezone(UTC).date() - first_delivery.astimezone(UTC).date()).days + 2
    return max(1, min(days, MAX_SERIES_LENGTH))


@dataclass(frozen=True)
class SendAnalytics:
    """Whether a schedule's send has figures by send id, and the key to read them.

    :param campaign_id: the API campaign, when figures exist.
    :param send_id: the send id, when figures exist.
    :param unavailable: why there are none, when there are none.
    """

    campaign_id: str | None = None
    send_id: str | None = None
    unavailable: str | None = None

    @property
    def available(self) -> bool:
        return self.unavailable is None

    @staticmethod
    def kept_until(last_delivery: datetime) -> datetime:
        """The last instant Braze still holds the figures of a send that ended at ``last_delivery``."""
        return last_delivery + RETENTION


def send_analytics_for(kind: ScheduleKind, *, campaign_id: str | None, send_id: Any) -> SendAnalytics:
    """Which figures a schedule of ``kind`` made with ``send_id`` has (see the module docstring).

    :raises BrazeValidationError: a send id given for a Canvas, or an invalid send id.
    """
    if kind is ScheduleKind.CANVAS:
        if send_id is not None and not rendered_nothing(send_id):
            raise BrazeValidationError(
                "send_id", "is given for a Canvas schedule", "no send_id: Braze's Canvas schedules take none"
            )
        return SendAnalytics(
            unavailable="Canvas schedules take no send_id, so Braze has no analytics by send for them "
            "(see the Canvas's analytics in the dashboard)"
        )
    if send_id is None or rendered_nothing(send_id):
        return SendAnalytics(
            unavailable=f"this {kind.value} schedule was made without a send_id, so its figures cannot be "
            "told apart from the campaign's other sends"
        )
    if campaign_id is None:
        return SendAnalytics(
            unavailable="this message schedule is attributed to no campaign; Braze keeps analytics by send "
            "for API campaigns only"
        )
    return SendAnalytics(campaign_id=campaign_id, send_id=check_send_id(send_id))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SendWatch:
    """What waiting for a scheduled send means, as one rule for the sensor's pokes and its trigger.

    First the send must have gone out everywhere (:meth:`BrazeSchedule.last_delivery`). Then, for a send
    with analytics by send id, Braze is asked for its figures until it reports some, until
    ``give_up_at``, or until Braze drops them (:data:`RETENTION` after the send), whichever comes first.

    :param schedule_id: the schedule watched.
    :param kind: its kind.
    :param first_delivery: when it starts going out (the first time zone).
    :param last_delivery: when it has gone out everywhere (the last time zone).
    :param analytics: whether it has figures by send id, and their key.
    :param give_up_at: when to stop waiting for figures Braze has not reported.
    :param dry_run: the schedule was never sent (a dry run): nothing to wait for.
    """

    schedule_id: str
    kind: ScheduleKind
    first_delivery: datetime
    last_delivery: datetime
    analytics: SendAnalytics
    give_up_at: datetime
    dry_run: bool = False

    @classmethod
    def plan(cls, handle: ScheduleHandle, *, figures_timeout: timedelta) -> SendWatch:
        """The watch of a schedule's send; the figures are awaited up to ``figures_timeout`` after it,
        and never past the day Braze drops them.

        :raises BrazeValidationError: no schedule is known, or the send id is invalid.
        """
        if figures_timeout <= timedelta(0):
            raise BrazeValidationError(
                "figures_timeout", f"{figures_timeout} is not a wait", "a positive duration, such as 24 hours"
            )
        if handle.schedule is None:
            raise BrazeValidationError(
                "schedule",
                f"is unknown for the bare schedule_id {handle.schedule_id!r}",
                "the create task's output (its handle), or schedule= beside the schedule_id",
            )
        schedule = BrazeSchedule.parse(handle.schedule)
        analytics = send_analytics_for(handle.kind, campaign_id=handle.campaign_id, send_id=handle.send_id)
        last = schedule.last_delivery()
        return cls(
            schedule_id=handle.schedule_id,
            kind=handle.kind,
            first_delivery=schedule.first_delivery(),
            last_delivery=last,
            analytics=analytics,
            give_up_at=min(last + figures_timeout, SendAnalytics.kept_until(last)),
            dry_run=handle.dry_run,
        )

    @property
    def kept_until(self) -> datetime:
        return SendAnalytics.kept_until(self.last_delivery)

    def state(self, now: datetime) -> str:
        """``"waiting"`` (not gone out everywhere yet), ``"done"`` (gone out; no figures to wait for),
        ``"poll"`` (ask Braze for the figures) or ``"expired"`` (Braze has dropped them)."""
        if self.dry_run:
            return "done"
        if now < self.last_delivery:
            return "waiting"
        if not self.analytics.available:
            return "done"
        if now >= self.kept_until:
            return "expired"
        return "poll"

    def gave_up(self, now: datetime) -> bool:
        """True once figures that Braze has still not reported are no longer waited for. Braze is always
        asked at least once first: a sensor started late may find them there."""
        return now >= self.give_up_at

    def series_length(self, now: datetime) -> int:
        return series_length(self.first_delivery, now)

    def why_no_figures(self) -> str:
        if self.dry_run:
            return "a dry run: nothing was scheduled in Braze"
        return self.analytics.unavailable or ""

    def expired_message(self, now: datetime) -> str:
        return (
            f"Braze keeps analytics by send for 14 days after the send, and this one went out everywhere by "
            f"{_iso(self.last_delivery)}: its figures were dropped at {_iso(self.kept_until)} (now "
            f"{_iso(now)}). There is nothing left to wait for; the campaign's analytics in the dashboard or "
            "Currents still have them."
        )

    def timed_out_message(self) -> str:
        return (
            f"Braze reported no figures for send {self.analytics.send_id!r} of campaign "
            f"{self.analytics.campaign_id!r} by {_iso(self.give_up_at)} (the send went out everywhere by "
            f"{_iso(self.last_delivery)}). Check that the schedule was not cancelled and that its audience "
            "was not empty."
        )

    def result(self, answer: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the sensor returns (XCom): the send, and Braze's per-day figures if there are any."""
        return {
            "schedule_id": self.schedule_id,
            "kind": self.kind.value,
            "campaign_id": self.analytics.campaign_id,
            "send_id": self.analytics.send_id,
            "delivered_everywhere_at": _iso(self.last_delivery),
            "analytics": "reported" if answer is not None else "unavailable",
            "data": answer.get("data") if answer is not None else None,
            "reason": None if answer is not None else self.why_no_figures(),
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable form (a trigger's keyword arguments)."""
        return {
            "schedule_id": self.schedule_id,
            "kind": self.kind.value,
            "first_delivery": _iso(self.first_delivery),
            "last_delivery": _iso(self.last_delivery),
            "campaign_id": self.analytics.campaign_id,
            "send_id": self.analytics.send_id,
            "unavailable": self.analytics.unavailable,
            "give_up_at": _iso(self.give_up_at),
            "dry_run": self.dry_run,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SendWatch:
        return cls(
            schedule_id=value["schedule_id"],
            kind=ScheduleKind(value["kind"]),
            first_delivery=datetime.fromisoformat(value["first_delivery"]),
            last_delivery=datetime.fromisoformat(value["last_delivery"]),
            analytics=SendAnalytics(value.get("campaign_id"), value.get("send_id"), value.get("unavailable")),
            give_up_at=datetime.fromisoformat(value["give_up_at"]),
            dry_run=bool(value.get("dry_run")),
        )
