"""Is a device online, as the home status shows it?

A device's status topic (``online`` / ``offline``, its last will) is one
source; many devices never publish one, or only a retained ``online`` long
ago. So the status counts only together with the supervision rule of
DOMAIN.md (``detectors/device_health.py``): a device silent for 3 heartbeat
intervals (mains 5 min → offline after 15 min, battery 60 min → after 3 h,
or the home's own ``heartbeat_*`` rules) is offline, whatever its status said.

- status ``offline`` → offline (``basis`` ``status``)
- last seen within the silence limit → online (``status`` if it also said
  ``online``, else ``last_seen``); last seen longer ago → offline (``last_seen``)
- only a status ``online``, never seen sending → online (``status``)
- nothing at all → unknown (``None``)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from detectors.config import Rules
from detectors.device_health import silence_limit
from eldercare.domain import DeviceKind, DeviceLiveness

Basis = Literal["status", "last_seen"]


@dataclass(frozen=True, slots=True)
class Online:
    online: bool | None
    basis: Basis | None
    offline_after: timedelta
    """Silence after which the device counts as offline."""


def device_online(
    kind: DeviceKind, liveness: DeviceLiveness | None, rules: Rules, now: datetime
) -> Online:
    limit = silence_limit(kind, rules)
    if liveness is None:
        return Online(None, None, limit)
    if liveness.online is False:
        return Online(False, "status", limit)
    if liveness.last_seen is not None:
        if now - liveness.last_seen > limit:
            return Online(False, "last_seen", limit)
        return Online(True, "status" if liveness.online else "last_seen", limit)
    if liveness.online:
        return Online(True, "status", limit)
    return Online(None, None, limit)
