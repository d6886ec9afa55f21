"""The raise-only lane: critical alerts raised in ``serve`` while the intake process
carries the bulk (``ELDERCARE_INTAKE_PROCESS=on``, README "The intake process").

With the intake process, ``eldercare serve`` keeps the API, the live screen,
escalation and the urgent MQTT session (``gateway/urgent_session.py``: the event
topics of SOS buttons, fall radars, gas and water alarms), and a child process
(``eldercare/intake_process.py``) takes every message on the main session: it
stores them and runs every detector. Vitals then never share a GIL with an SOS.

This lane is the urgent session's sink in ``serve``. It feeds the readings of
those devices to their own rules (``sos``, ``fall``, ``hazards``, the same
classes the intake process runs) and raises what they find from a reading, at
once. It writes nothing else: no readings (its gateway has ``commit=False``), no
clearances, no saved state. The intake process gets the same messages in the
same order per topic, its rules find the same findings with the same keys (the
reading's identity: ``seq`` or the device's ``ts``), and the store records a
finding's key once (``record_finding``): whichever process is first raises the
alert, the other changes nothing. So:

- a reading without the device's own ``ts`` is left to the intake process (its
  receive time, and so its key, would differ between the two processes);
- what the rules find on a tick (a fall not recovered 60 s after "suspected")
  is the intake process's: the lane ticks its rules only to move their state on
  and drops what they find, since a recovery it never saw (a reading without
  ``ts``) must not become a fall;
- clearances (gas back to normal, dry again) are written by the intake process.

At start the lane loads the saved state of its rules (the intake process's last
checkpoint), so an episode under way keeps its key across a restart of serve.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alerts.service import AlertService
from detectors.base import Stateful, TimeRef
from detectors.fall import FallDetector
from detectors.hazards import HazardDetector
from detectors.profiles import Profiles
from detectors.sos import SosDetector
from eldercare.clock import Clock
from eldercare.domain import Finding, Reading, StatusChange
from eldercare.store.base import Store

log = logging.getLogger("eldercare.critical_lane")


class CriticalLane:
    def __init__(
        self, store: Store, alerts: AlertService, clock: Clock, *, default_timezone: str
    ) -> None:
        self.store = store
        self.alerts = alerts
        self.clock = clock
        self.profiles = Profiles(default_timezone)
        self.ref = TimeRef()
        self.fall = FallDetector(self.profiles, self.ref)
        self.hazards = HazardDetector(self.profiles, self.ref)
        self.sos = SosDetector(self.profiles, self.ref)
        self._stale = True
        self.raised = 0
        """Alerts this lane raised first (the intake process's copy then changed nothing)."""

    def invalidate(self) -> None:
        """The registry changed: reload the profiles before the next batch."""
        self._stale = True

    async def _reload(self) -> None:
        self._stale = False
        self.profiles.replace(
            await self.store.list_homes(),
            await self.store.list_residents(),
            await self.store.list_devices(),
        )

    async def start(self) -> None:
        """Profiles, and the saved state of the lane's rules."""
        await self._reload()
        loaded = 0
        by_name: dict[str, Stateful] = {self.fall.name: self.fall, self.hazards.name: self.hazards}
        for row in await self.store.load_detector_state():
            rule = by_name.get(row.detector)
            if rule is not None and row.state is not None:
                rule.load(row.key, row.state)
                loaded += 1
        log.info("critical lane resumed", extra={"entries": loaded})

    async def __call__(
        self, readings: Sequence[Reading], status_changes: Sequence[StatusChange]
    ) -> None:
        if self._stale:
            await self._reload()
        self.ref.now = self.clock.now()
        for reading in readings:
            if reading.ts_assigned:
                continue  # its identity is each process's own receive time
            device = self.profiles.device(reading.device_id)
            if device is None:
                continue
            for rule in (self.sos, self.fall, self.hazards):
                for signal in rule.on_reading(reading, device):
                    if isinstance(signal, Finding):
                        change = await self.alerts.handle_finding(signal)
                        if change is not None and change.created:
                            self.raised += 1

    def tick(self) -> None:
        """Move the rules' waits on; what they find on a tick is the intake process's."""
        now = self.clock.now()
        self.ref.now = now
        self.fall.on_tick(now)
        self.hazards.on_tick(now)
