"""Failed-login limits, per username and per client address.

A key (``user:<name>`` or ``addr:<ip>``) that failed ``limit`` times within
``window_s`` is refused until its oldest failure in the window is
``window_s`` old; the refusal carries that wait (``Retry-After``). A correct
password clears the username's failures (not the address's, so one known
account cannot be used to keep guessing others from one address). Time comes
from the injected clock, so tests move it instead of sleeping.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from eldercare.clock import Clock

MAX_KEYS = 100_000
"""Past this many tracked keys, expired ones are swept on the next failure."""


@dataclass(frozen=True, slots=True)
class Limit:
    limit: int
    window_s: float


class TooManyAttempts(Exception):
    def __init__(self, key: str, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins for {key}; try again in {retry_after_s} s")
        self.key = key
        self.retry_after_s = retry_after_s


class LoginLimiter:
    def __init__(
        self,
        clock: Clock,
        per_user: Limit = Limit(5, 900.0),
        per_address: Limit = Limit(20, 900.0),
    ) -> None:
        self._clock = clock
        self._limits = {"user": per_user, "addr": per_address}
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _recent(self, key: str, now: float) -> deque[float]:
        window = self._limits[key.partition(":")[0]].window_s
        times = self._failures.get(key, deque())
        while times and times[0] <= now - window:
            times.popleft()
        return times

    def check(self, username: str, address: str) -> None:
        """Raise TooManyAttempts if either key is locked out now."""
        now = self._now()
        with self._lock:
            for key in (f"user:{username}", f"addr:{address}"):
                limit = self._limits[key.partition(":")[0]]
                times = self._recent(key, now)
                if len(times) >= limit.limit:
                    wait = times[-limit.limit] + limit.window_s - now
                    raise TooManyAttempts(key, max(1, math.ceil(wait)))

    def failed(self, username: str, address: str) -> None:
        now = self._now()
        with self._lock:
            if len(self._failures) > MAX_KEYS:
                self._sweep(now)
            for key in (f"user:{username}", f"addr:{address}"):
                times = self._recent(key, now)
                times.append(now)
                self._failures[key] = times

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username}", None)

    def _sweep(self, now: float) -> None:
        for key in list(self._failures):
            if not self._recent(key, now):
                del self._failures[key]
