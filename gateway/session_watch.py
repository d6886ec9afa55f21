"""Takeovers of the gateway's MQTT session by another client with its client id.

A broker keeps one session per client id: a second client that connects with
the gateway's id (and ``clean_start`` off) takes the session, its queued
messages and the subscriptions, and the gateway is disconnected. Bind the id to
the gateway's own account at the broker (``eldercare broker-config``:
``use_username_as_clientid``); this module makes a takeover seen:

- MQTT 5: the broker says so, a DISCONNECT with reason code 0x8E ("Session taken
  over"); counted with ``evidence="broker"``.
- MQTT 3.1.1 has no reason codes: the broker just closes the connection. A close
  that came within ``suspect_within`` of connecting (and not by us) is counted
  with ``evidence="suspected"``: it could also be a broker restart.

``problem()`` names the takeovers of the last ``window`` (for ``/readyz``).
Thread-safe (paho's thread reports, the API reads); time is handed in as a
monotonic clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

SESSION_TAKEN_OVER = 0x8E
"""MQTT 5 reason code of a DISCONNECT when another client took the session."""
M_TAKEOVERS = "eldercare_mqtt_session_takeovers_total"


class SessionWatch:
    def __init__(
        self,
        client_id: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        window: float = 300.0,
        suspect_within: float = 60.0,
    ) -> None:
        self.client_id = client_id
        self._clock = clock
        self.window = window
        self.suspect_within = suspect_within
        self._lock = threading.Lock()
        self._connected_at: float | None = None
        self._recent: deque[tuple[float, str]] = deque()
        """(when, evidence) of the takeovers within the window."""

    def connected(self) -> None:
        with self._lock:
            self._connected_at = self._clock()

    def disconnected(self, reason_code: int, *, by_server_packet: bool, by_us: bool) -> str | None:
        """The evidence of a takeover in this disconnect (``broker`` or
        ``suspected``), or None."""
        with self._lock:
            now = self._clock()
            since, self._connected_at = self._connected_at, None
            if by_us:
                return None
            if by_server_packet and reason_code == SESSION_TAKEN_OVER:
                evidence = "broker"
            elif not by_server_packet and since is not None and now - since < self.suspect_within:
                evidence = "suspected"
            else:
                return None
            self._recent.append((now, evidence))
            self._expire(now)
            return evidence

    def problem(self) -> str | None:
        """A sentence naming the takeovers of the last window, or None."""
        with self._lock:
            self._expire(self._clock())
            if not self._recent:
                return None
            taken = sum(1 for _, e in self._recent if e == "broker")
            suspected = len(self._recent) - taken
            ago = self._clock() - self._recent[-1][0]
        parts = []
        if taken:
            parts.append(f"taken over {taken} time(s) (the broker said so)")
        if suspected:
            parts.append(
                f"closed by the broker {suspected} time(s) within {self.suspect_within:g} s"
                " of connecting (MQTT 3.1.1 gives no reason: a session takeover, or a"
                " broker restart)"
            )
        return (
            f"the gateway's MQTT session (client id {self.client_id}) was "
            + " and ".join(parts)
            + f" in the last {self.window:g} s, the last {ago:.0f} s ago: another client"
            " connects with the gateway's client id and receives its messages"
        )

    def _expire(self, now: float) -> None:
        recent = self._recent
        while recent and now - recent[0][0] > self.window:
            recent.popleft()


__all__ = ["M_TAKEOVERS", "SESSION_TAKEN_OVER", "SessionWatch"]
