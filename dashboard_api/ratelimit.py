"""Failed-login throttling per (username, address) and per address, with growing delays.

Nobody can lock an account for everyone: wrong passwords for ``admin`` from one
address slow down that address's attempts on ``admin`` only, and the right
password from any other address still works.

- Per (username, address): the first ``free`` failures cost nothing; after
  that each further attempt must wait ``first_delay_s``, doubling with every
  failure up to ``max_delay_s`` (with the defaults: 4 free, then 15 s, 30 s,
  1 min, 2 min, 4 min, 8 min, 15 min, 15 min, ...). A correct password clears
  it; so does an admin's unlock.
- Per address (any username, a guesser walking through names): the same with
  20 free failures.
- Failures are forgotten ``forget_after_s`` after the last one.

A refused attempt is not checked at all (and does not count). The wait is in
the refusal (``Retry-After``). State is in memory, per process: a restart
forgets it. Time comes from the injected clock, so tests move it instead of
sleeping.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from eldercare.clock import Clock

MAX_KEYS = 100_000
"""Past this many tracked keys, forgotten ones are swept on the next failure."""


@dataclass(frozen=True, slots=True)
class Backoff:
    free: int
    """failures allowed before the first delay"""
    first_delay_s: float = 15.0
    max_delay_s: float = 900.0
    forget_after_s: float = 3600.0

    def delay_s(self, failures: int) -> float:
        """How long to wait after the last of ``failures`` failures."""
        if failures <= self.free:
            return 0.0
        return min(self.first_delay_s * 2.0 ** (failures - self.free - 1), self.max_delay_s)


PER_USER_ADDRESS = Backoff(free=4)
PER_ADDRESS = Backoff(free=20)


@dataclass(slots=True)
class _Failures:
    count: int
    last: float


class TooManyAttempts(Exception):
    def __init__(self, what: str, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins {what}; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class LoginLimiter:
    def __init__(
        self,
        clock: Clock,
        per_user_address: Backoff = PER_USER_ADDRESS,
        per_address: Backoff = PER_ADDRESS,
    ) -> None:
        self._clock = clock
        self._rules = {"pair": per_user_address, "addr": per_address}
        self._failures: dict[tuple[str, str, str], _Failures] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return self._clock.now().timestamp()

    @staticmethod
    def _keys(username: str, address: str) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
        return ("pair", username, address), ("addr", "", address)

    def _current(self, key: tuple[str, str, str], now: float) -> _Failures | None:
        found = self._failures.get(key)
        if found is not None and now - found.last >= self._rules[key[0]].forget_after_s:
            del self._failures[key]
            return None
        return found

    def check(self, username: str, address: str) -> None:
        """Raise TooManyAttempts if this address must wait before trying this username."""
        now = self._now()
        with self._lock:
            for key in self._keys(username, address):
                found = self._current(key, now)
                if found is None:
                    continue
                wait = found.last + self._rules[key[0]].delay_s(found.count) - now
                if wait > 0:
                    what = (
                        f"for {username} from {address}"
                        if key[0] == "pair"
                        else (f"from {address}")
                    )
                    raise TooManyAttempts(what, max(1, math.ceil(wait)))

    def failed(self, username: str, address: str) -> None:
        now = self._now()
        with self._lock:
            if len(self._failures) > MAX_KEYS:
                self._sweep(now)
            for key in self._keys(username, address):
                found = self._current(key, now)
                if found is None:
                    self._failures[key] = _Failures(1, now)
                else:
                    found.count += 1
                    found.last = now

    def succeeded(self, username: str, address: str) -> None:
        """The right password: this address may try this username freely again (the
        address's own count stays, so one known account cannot cover guessing others)."""
        with self._lock:
            self._failures.pop(self._keys(username, address)[0], None)

    def unlock(self, username: str) -> list[str]:
        """Clear the username's failures from every address; the addresses cleared."""
        with self._lock:
            keys = [k for k in self._failures if k[0] == "pair" and k[1] == username]
            for key in keys:
                del self._failures[key]
        return sorted(k[2] for k in keys)

    def _sweep(self, now: float) -> None:
        for key in list(self._failures):
            self._current(key, now)
