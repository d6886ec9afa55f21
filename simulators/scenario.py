"""Scenario files: homes, a timeline of device events, and the alerts expected.

A scenario is TOML::

    name = "Fall at night, not recovered"
    start = "01:00"            # local time in the home's time zone, on the scenario day
    end = "03:00"              # the timeline (and ordinary background traffic) runs to here

    [home]
    id = "sc-fall1"
    timezone = "Asia/Shanghai"                  # optional
    residents = [{ id = "sc-fall1-r1", name = "王秀英", limits = { hr_low = 45 } }]
    devices = ["bed_band", "sos_button", "fall_radar"]   # optional, default all six
    asleep = true              # background: the bed band reports the resident in bed
    vitals_every = "60s"       # background bed band readings (optional)

    [[events]]
    at = "02:10"
    device = "bed_band"        # a kind; the device id is {home}-{bed|sos|door|radar|gas|water}
    set = { in_bed = false }   # fields; they stay the device's state for later background readings
    every = "30s"              # optional: repeat the same fields every 30 s …
    until = "02:40"            # … until this time

    [[events]]
    at = "02:13"
    status = "offline"         # instead of `set`: the device's status topic (last will)

    [[events]]
    at = "10:00"
    device = "gas"
    silent = true              # instead of `set`: the device stops sending (no last will)

    [[expect]]
    kind = "fall"
    severity = "critical"      # optional
    after = "02:13"            # the alert may not be raised before this moment …
    within = "90s"             # … and must be raised within this long after it

``at`` may also be ``+1d 02:10`` for the next day. Every alert raised for the
scenario's homes that no ``expect`` matches is *unexpected*. A scenario
without ``expect`` must raise nothing.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eldercare.domain import ID_PATTERN, AlertKind, DeviceKind, Severity


class ScenarioError(ValueError):
    """A scenario file is wrong; the message names the file and the field."""


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|min|h|d)$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_AT = re.compile(r"^(?:\+(\d+)d\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_duration(text: str, where: str) -> timedelta:
    m = _DURATION.match(str(text).strip())
    if not m:
        raise ScenarioError(f"{where}: {text!r} is not a duration like 30s, 10min, 2h")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def parse_at(text: str, where: str) -> timedelta:
    """``02:10``, ``02:10:30`` or ``+1d 02:10`` → offset from midnight of the scenario day."""
    m = _AT.match(str(text).strip())
    if not m:
        raise ScenarioError(f"{where}: {text!r} is not a time like 02:10 or +1d 02:10")
    days, hh, mm, ss = int(m.group(1) or 0), int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
    if hh > 23 or mm > 59 or ss > 59:
        raise ScenarioError(f"{where}: {text!r} is not a time of day")
    return timedelta(days=days, hours=hh, minutes=mm, seconds=ss)


@dataclass(frozen=True, slots=True)
class ResidentSpec:
    id: str
    name: str
    limits: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HomeSpec:
    id: str
    timezone: str
    residents: tuple[ResidentSpec, ...]
    devices: tuple[DeviceKind, ...]
    asleep: bool
    vitals_every: timedelta


@dataclass(frozen=True, slots=True)
class EventSpec:
    at: timedelta
    device: DeviceKind
    fields: dict[str, Any] | None
    status: str | None
    every: timedelta | None
    until: timedelta | None
    silent: bool = False


@dataclass(frozen=True, slots=True)
class ExpectSpec:
    kind: AlertKind
    severity: Severity | None
    after: timedelta
    within: timedelta


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    path: str
    home: HomeSpec
    start: timedelta
    end: timedelta
    events: tuple[EventSpec, ...]
    expect: tuple[ExpectSpec, ...]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.home.timezone)

    def instant(self, day: date, offset: timedelta) -> datetime:
        """The moment ``offset`` after local midnight of ``day`` in the home's zone."""
        midnight = datetime.combine(day, time(0), tzinfo=self.tz)
        return midnight + offset


def load(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{p}: {exc}") from exc
    return parse(doc, str(p))


def parse(doc: dict[str, Any], where: str) -> Scenario:
    home = _home(doc.get("home"), f"{where} [home]")
    start = parse_at(doc.get("start", "00:00"), f"{where} start")
    end = parse_at(_need(doc, "end", where), f"{where} end")
    if end <= start:
        raise ScenarioError(f"{where}: end {doc['end']!r} is not after start")
    events = tuple(
        _event(e, f"{where} events[{i}]", home) for i, e in enumerate(doc.get("events", []))
    )
    for i, ev in enumerate(events):
        if not start <= ev.at <= end:
            raise ScenarioError(f"{where} events[{i}]: at is outside start..end")
    expect = tuple(_expect(e, f"{where} expect[{i}]") for i, e in enumerate(doc.get("expect", [])))
    return Scenario(str(doc.get("name", Path(where).stem)), where, home, start, end, events, expect)


def _need(doc: dict[str, Any], key: str, where: str) -> Any:
    if key not in doc:
        raise ScenarioError(f"{where}: missing {key!r}")
    return doc[key]


def _home(doc: Any, where: str) -> HomeSpec:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: missing the [home] table")
    home_id = str(_need(doc, "id", where))
    if not ID_PATTERN.match(home_id):
        raise ScenarioError(f"{where}: id {home_id!r} must match [A-Za-z0-9_-]{{1,64}}")
    tz = str(doc.get("timezone", "Asia/Shanghai"))
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScenarioError(f"{where}: unknown time zone {tz!r}") from exc
    residents = tuple(
        ResidentSpec(str(r["id"]), str(r.get("name", r["id"])), dict(r.get("limits", {})))
        for r in doc.get("residents", [{"id": f"{home_id}-r1", "name": "王秀英"}])
    )
    try:
        devices = tuple(DeviceKind(k) for k in doc.get("devices", [k.value for k in DeviceKind]))
    except ValueError as exc:
        raise ScenarioError(f"{where} devices: {exc}") from exc
    every = parse_duration(doc.get("vitals_every", "60s"), f"{where} vitals_every")
    return HomeSpec(home_id, tz, residents, devices, bool(doc.get("asleep", False)), every)


def _event(doc: dict[str, Any], where: str, home: HomeSpec) -> EventSpec:
    try:
        kind = DeviceKind(_need(doc, "device", where))
    except ValueError as exc:
        raise ScenarioError(f"{where} device: {exc}") from exc
    if kind not in home.devices:
        raise ScenarioError(f"{where}: the home has no {kind.value}")
    fields, status, silent = doc.get("set"), doc.get("status"), bool(doc.get("silent", False))
    if sum((fields is not None, status is not None, silent)) != 1:
        raise ScenarioError(f"{where}: give one of `set` (fields), `status` or `silent = true`")
    if status is not None and status not in ("online", "offline"):
        raise ScenarioError(f"{where} status: must be online or offline, not {status!r}")
    every = parse_duration(doc["every"], f"{where} every") if "every" in doc else None
    until = parse_at(doc["until"], f"{where} until") if "until" in doc else None
    if (every is None) != (until is None):
        raise ScenarioError(f"{where}: `every` and `until` go together")
    return EventSpec(
        parse_at(_need(doc, "at", where), f"{where} at"),
        kind,
        dict(fields) if fields is not None else None,
        status,
        every,
        until,
        silent,
    )


def _expect(doc: dict[str, Any], where: str) -> ExpectSpec:
    try:
        kind = AlertKind(_need(doc, "kind", where))
        severity = Severity(doc["severity"]) if "severity" in doc else None
    except ValueError as exc:
        raise ScenarioError(f"{where}: {exc}") from exc
    return ExpectSpec(
        kind,
        severity,
        parse_at(_need(doc, "after", where), f"{where} after"),
        parse_duration(_need(doc, "within", where), f"{where} within"),
    )
