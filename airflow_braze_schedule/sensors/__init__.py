"""A sensor that waits for a Braze schedule's send, then for its figures."""

from __future__ import annotations

from airflow_braze_schedule.sensors.braze import BrazeScheduledSendSensor

__all__ = ["BrazeScheduledSendSensor"]
