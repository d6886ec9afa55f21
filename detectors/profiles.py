"""The registry as detectors see it: a plain in-memory lookup, no I/O.

The runtime (detectors/runtime.py) fills it from the store at start and again
after every registry change (the API calls ``on_registry_change``). Lookups
for homes or residents the cache does not know yet fall back to the defaults
and the service's default time zone, so a just-provisioned device still works.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from detectors.config import DEFAULT_RULES, Rules
from eldercare.domain import Device, Home, Resident


def _zone(name: str, fallback: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return fallback


@dataclass(frozen=True, slots=True)
class HomeProfile:
    id: str
    tz: ZoneInfo
    rules: Rules
    residents: tuple[str, ...] = ()
    overrides: dict[str, float] = field(default_factory=dict)


class Profiles:
    def __init__(self, default_timezone: str = "Asia/Shanghai") -> None:
        self.default_tz = _zone(default_timezone, ZoneInfo("UTC"))
        self._homes: dict[str, HomeProfile] = {}
        self._limits: dict[str, dict[str, float]] = {}
        self._devices: dict[str, Device] = {}
        self._rules: dict[tuple[str, str | None], Rules] = {}
        self.loaded = False
        """True once filled from the registry (unknown devices may then be forgotten)."""

    def replace(
        self, homes: Iterable[Home], residents: Iterable[Resident], devices: Iterable[Device]
    ) -> None:
        """Swap in a fresh copy of the registry."""
        by_home: dict[str, list[str]] = {}
        limits: dict[str, dict[str, float]] = {}
        for r in residents:
            by_home.setdefault(r.home_id, []).append(r.id)
            limits[r.id] = dict(r.limits)
        profiles = {}
        for h in homes:
            overrides = dict(h.rules)
            profiles[h.id] = HomeProfile(
                h.id,
                _zone(h.timezone, self.default_tz),
                Rules.merge(overrides),
                tuple(sorted(by_home.get(h.id, ()))),
                overrides,
            )
        self._homes = profiles
        self._limits = limits
        self._devices = {d.id: d for d in devices}
        self._rules = {}
        self.loaded = True

    def home(self, home_id: str) -> HomeProfile:
        found = self._homes.get(home_id)
        if found is None:
            return HomeProfile(home_id, self.default_tz, DEFAULT_RULES)
        return found

    def tz(self, home_id: str) -> ZoneInfo:
        return self.home(home_id).tz

    def rules(self, home_id: str, resident_id: str | None = None) -> Rules:
        """Defaults, then the home's rules, then the resident's limits."""
        key = (home_id, resident_id)
        found = self._rules.get(key)
        if found is None:
            home = self.home(home_id)
            limits = self._limits.get(resident_id) if resident_id else None
            found = Rules.merge(home.overrides, limits) if limits else home.rules
            self._rules[key] = found
        return found

    def person(self, device: Device) -> str | None:
        """The resident a device's alert is about: its own, or the home's only one."""
        if device.resident_id:
            return device.resident_id
        residents = self.home(device.home_id).residents
        return residents[0] if len(residents) == 1 else None

    def knows(self, key: str) -> bool:
        """Whether a saved entry's key (a device id, or a home id) is of these profiles."""
        return key in self._devices or key in self._homes

    def device(self, device_id: str) -> Device | None:
        return self._devices.get(device_id)

    def devices(self) -> Iterable[Device]:
        return self._devices.values()
