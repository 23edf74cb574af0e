"""Apache Airflow provider for Braze's scheduled-messages REST API."""

from __future__ import annotations

__version__ = "0.1.0"
