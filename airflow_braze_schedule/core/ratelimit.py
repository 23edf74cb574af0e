"""Braze's rate-limit headers (braze-api.md §6.2)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime


def _number(get: Callable[[str], str | None], name: str) -> float | None:
    raw = get(name)
    if raw is None:
        return None
    try:
        number = float(str(raw).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class RateLimit:
    """What one answer said about the workspace's rate limit.

    :param limit: requests allowed in the window.
    :param remaining: requests left in the window.
    :param reset: when the window resets, in UTC epoch seconds.
    :param retry_after: seconds to wait, from ``X-RateLimit-Retry-After`` (newer Braze APIs) or
        ``Retry-After``; Braze does not document it for these endpoints, but honouring it costs nothing.
    """

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None
    retry_after: float | None = None
    observed_at: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], *, now: float | None = None) -> RateLimit:
        """Read the headers, matching names case-insensitively (Braze sends them lowercase over HTTP/2).

        :param now: when the answer arrived (epoch seconds); ``retry_after`` counts from then.
        """
        lowered = {str(k).lower(): v for k, v in headers.items()}
        return cls.from_lookup(lowered.get, now=now)

    @classmethod
    def from_lookup(cls, get: Callable[[str], str | None], *, now: float | None = None) -> RateLimit:
        """Like :meth:`from_headers`, from a lookup that already ignores case (``requests``' headers
        ``.get``, say), sparing the copy of every header."""
        limit = _number(get, "x-ratelimit-limit")
        remaining = _number(get, "x-ratelimit-remaining")
        retry_after = _number(get, "x-ratelimit-retry-after")
        if retry_after is None:
            retry_after = _number(get, "retry-after")
        return cls(
            limit=None if limit is None else int(limit),
            remaining=None if remaining is None else int(remaining),
            reset=_number(get, "x-ratelimit-reset"),
            retry_after=retry_after,
            observed_at=now,
        )

    @property
    def known(self) -> bool:
        return self.limit is not None or self.remaining is not None or self.reset is not None

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def seconds_until_reset(self, now: float) -> float | None:
        """Seconds to wait before the limit allows another call, or None if the answer did not say."""
        if self.retry_after is not None:
            # A relative wait: it started when the answer arrived, not when the caller asks.
            elapsed = now - self.observed_at if self.observed_at is not None else 0.0
            return max(0.0, self.retry_after - elapsed)
        if self.reset is not None:
            return max(0.0, self.reset - now)
        return None

    def reset_iso(self) -> str:
        if self.reset is None:
            return "an unknown time"
        return datetime.fromtimestamp(self.reset, tz=UTC).isoformat()

    def as_dict(self) -> dict[str, float | int | None]:
        return {"limit": self.limit, "remaining": self.remaining, "reset": self.reset}
