"""The urgent MQTT session: the critical devices' events on a connection of their own.

One MQTT session carries every device's messages in one queue, and past the
receive window (65,535 unacked messages in MQTT 5, at 10,000 homes 6.5 s of
vitals) the broker holds the rest in arrival order. When the service falls
behind the vitals (a machine busy with something else, more homes than it can
carry), an SOS then waits in the broker behind every vital sign before it, and
the gateway's fast lane never sees it. So the service opens a second session
(client id and account ``<gateway>-urgent``) subscribed only to the event
topics of the devices that raise a critical alert from one message (SOS
buttons, fall radars, gas and water alarms: the fast lane's kinds), one topic
each: their traffic is a few messages per device a minute, and its queue in
the broker never holds a vital sign.

The main session keeps its wildcard subscriptions, so it gets those messages
too: nothing depends on the urgent session being up (an account the broker
lacks, a subscription it refused, a restart in between). The broker gives each
session one copy of each publish, in publish order per topic, so
``SeenMessages.take`` counts the copies of each message (a 128-bit hash of
topic and payload) each session has taken: a session's n-th copy is processed
unless the other session has already taken n, which it then processed; it is
then acked and dropped. Two identical presses of a button without ``ts`` or
``seq`` are two copies on each session, and both are processed. Dropping loses
nothing: the copy processed is acked only after its commit, and a crash before
that leaves it unacked in its session, redelivered at the next start (a
redelivered copy counts as one more: at worst the other session's next copy is
dropped and its own is processed when it gets there). Counts are kept for
``window_s`` to ``2 * window_s``; a main session further behind than that
processes its copy too, which the store and the findings' keys make harmless.

Not carried on the urgent session: devices behind an ecosystem bridge
(Zigbee2MQTT, ESPHome, Shelly, Tasmota; their topics are the bridge's), which
keep the main session's fast lane, and status messages (online/offline).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable

from eldercare.domain import Device


def urgent_topics(devices: Iterable[Device], kinds: Iterable[str]) -> set[str]:
    """The event topics of the registered native devices of ``kinds``."""
    wanted = set(kinds)
    return {
        f"eldercare/v1/{d.home_id}/{d.id}/event"
        for d in devices
        if d.kind.value in wanted and d.source is None
    }


class SeenMessages:
    """How many copies of each message of the urgent topics each session has taken.
    Thread-safe: both sessions' network threads call it."""

    def __init__(self, window_s: float = 300.0, monotonic: Callable[[], float] = time.monotonic):
        self.topics: frozenset[str] = frozenset()
        """The topics the urgent session subscribes to (replaced whole, never mutated)."""
        self._window_s = window_s
        self._monotonic = monotonic
        self._current: dict[bytes, list[int]] = {}
        self._previous: dict[bytes, list[int]] = {}
        self._rotated = monotonic()
        self._lock = threading.Lock()

    def tracks(self, topic: str) -> bool:
        """True if the urgent session subscribes to ``topic`` (both sessions get it)."""
        return topic in self.topics

    def take(self, topic: str, payload: bytes, *, urgent: bool) -> bool:
        """A copy taken by the urgent session (``urgent``) or the main one: True to
        process it, False if the other session already took this copy (ack, drop)."""
        key = hashlib.blake2b(topic.encode() + b"\0" + payload, digest_size=16).digest()
        mine, other = (1, 0) if urgent else (0, 1)
        with self._lock:
            now = self._monotonic()
            if now - self._rotated >= self._window_s:
                self._previous, self._current = self._current, {}
                self._rotated = now
            counts = self._current.get(key)
            if counts is None:
                counts = self._previous.pop(key, None) or [0, 0]
                self._current[key] = counts
            counts[mine] += 1
            return counts[mine] > counts[other]
