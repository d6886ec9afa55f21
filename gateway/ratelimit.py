"""Per-device rate limit of the gateway: a token bucket per device.

A device may send ``rate`` messages a second on average and ``burst`` at once.
The bucket fills on the device's own time: a reading's ``ts``, never later than
the service clock's now and never earlier than ``horizon`` before it, and never
going back. So a backlog the broker kept while the service was away (readings
made at their own pace, delivered at once) passes, while a flood of messages
made now (or without a ``ts``, which then count at their arrival) is cut to the
rate; forged old timestamps buy at most ``horizon`` of tokens, once. If the
service clock goes back (``ELDERCARE_CLOCK=event`` starts on the wall clock,
then jumps to the first event's time), the bucket's time starts again there.

Past the limit a message is dropped (the gateway still acks it, so the broker
does not send it again): the first one of a device in each ``window`` becomes a
dead letter (``rate_limited``), the rest are only counted. Pure and in memory:
time comes in with each call.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

REASON = "rate_limited"
"""The dead-letter reason of a message over its device's limit."""


class Verdict(enum.Enum):
    ADMIT = "admit"
    DEAD_LETTER = "dead_letter"
    """Over the limit, the first of the device's window: keep it as a dead letter."""
    DROP = "drop"
    """Over the limit: count it only."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: datetime
    """The device time the tokens were counted at."""
    dead_lettered: datetime | None = None
    """When (service clock) the window of the last dead letter began."""


class DeviceRateLimiter:
    """``rate`` messages/s per device, ``burst`` at once; ``rate`` <= 0: no limit."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        horizon: timedelta = timedelta(hours=1),
        window: timedelta = timedelta(minutes=1),
    ) -> None:
        if rate > 0 and burst < 1:
            raise ValueError(f"a device's burst must be at least 1, got {burst}")
        self.rate = rate
        self.burst = burst
        self.horizon = horizon
        self.window = window
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def admit(self, device_id: str, at: datetime | None, now: datetime) -> Verdict:
        """One message of ``device_id`` made at ``at`` (None: now), arriving ``now``."""
        if self.rate <= 0:
            return Verdict.ADMIT
        t = now if at is None else min(max(at, now - self.horizon), now)
        bucket = self._buckets.get(device_id)
        if bucket is None:
            bucket = self._buckets[device_id] = _Bucket(self.burst, t)
        elif bucket.at > now:
            bucket.at = t  # the service clock went back (the event clock's first event)
        elif t > bucket.at:
            gained = (t - bucket.at).total_seconds() * self.rate
            bucket.tokens = min(self.burst, bucket.tokens + gained)
            bucket.at = t
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.ADMIT
        if bucket.dead_lettered is None or now - bucket.dead_lettered >= self.window:
            bucket.dead_lettered = now
            return Verdict.DEAD_LETTER
        return Verdict.DROP


__all__ = ["REASON", "DeviceRateLimiter", "Verdict"]
