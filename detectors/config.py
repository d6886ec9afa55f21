"""Detector defaults in one place, each with its source (../shared/DOMAIN.md).

Every default can be overridden per home (``Home.rules``, API field ``rules``)
and per resident (``Resident.limits``, e.g. ``{"hr_low": 45}``); a resident's
limit wins over the home's, which wins over the default. ``Rules.merge`` builds
the effective values; ``check_overrides`` says what is wrong with a set of
overrides (unknown names, values out of range) in words for people.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Default:
    value: float
    unit: str
    rule: str
    source: str
    low: float
    """smallest value accepted as an override"""
    high: float
    """largest value accepted as an override"""


DEFAULTS: dict[str, Default] = {
    "hr_low": Default(
        40,
        "bpm",
        "heart_rate_low: median of the vitals window below this",
        "NEWS2 scores HR <= 40 as 3 (highest); monitor defaults 30-50 bpm (LIFEPAK 15: 50,"
        " ZOLL: 30)",
        20,
        120,
    ),
    "hr_high": Default(
        130,
        "bpm",
        "heart_rate_high: median of the vitals window above this, in bed",
        "NEWS2 scores HR >= 131 as 3; monitor default 150",
        60,
        250,
    ),
    "rr_low": Default(
        8,
        "/min",
        "respiration_low: median of the vitals window at or below this",
        "NEWS2: RR <= 8 scores 3",
        0,
        30,
    ),
    "rr_high": Default(
        25,
        "/min",
        "respiration_high: median of the vitals window at or above this",
        "NEWS2: RR >= 25 scores 3",
        10,
        80,
    ),
    "vitals_window_s": Default(
        60,
        "s",
        "vitals rules alarm on the median of this sliding window, never one sample",
        "DOMAIN.md persistence: a 15 s alarm delay cut low-SpO2 alarms by 60% (Welch, Biomed"
        " Instrum Technol 2011); median of the last 60 s",
        10,
        600,
    ),
    "breathing_stopped_s": Default(
        20,
        "s",
        "breathing_stopped: in bed, rr 0 (or absent while hr present) this long",
        "apnoea is scored at >= 10 s; monitor apnoea delay is configurable 10-40 s",
        5,
        120,
    ),
    "fall_wait_s": Default(
        60,
        "s",
        "fall: a suspected fall not recovered within this raises `fall`",
        "Vayyar alerts 90 s typical (about 50 s detection + 30 s confirmation, max 150 s);"
        " Nobi <= 90 s; pendants wait ~30 s for self-recovery",
        0,
        600,
    ),
    "gas_lel_pct": Default(
        10,
        "% LEL",
        "gas_leak: LEL at or above this (or the alarm flag)",
        "domestic gas alarms trigger at a low % LEL (EN 50194; exact band not verified: 10% is"
        " a conservative choice)",
        1,
        100,
    ),
    "bed_exit_from_h": Default(
        22,
        "h local",
        "bed_exit_not_returned: night window starts (home's time zone)",
        "telecare bed-exit practice; one platform uses 22:00-06:00",
        0,
        24,
    ),
    "bed_exit_to_h": Default(
        6,
        "h local",
        "bed_exit_not_returned: night window ends (home's time zone)",
        "telecare bed-exit practice; one platform uses 22:00-06:00",
        0,
        24,
    ),
    "bed_exit_min": Default(
        30,
        "min",
        "bed_exit_not_returned: not back in bed within this",
        "telecare bed-exit defaults 20-30 min; one platform uses 45 min",
        1,
        720,
    ),
    "wandering_from_h": Default(
        23,
        "h local",
        "night_wandering: night window starts (home's time zone)",
        "dementia wandering practice; adjust per home",
        0,
        24,
    ),
    "wandering_to_h": Default(
        5,
        "h local",
        "night_wandering: night window ends (home's time zone)",
        "dementia wandering practice; adjust per home",
        0,
        24,
    ),
    "wandering_return_min": Default(
        10,
        "min",
        "night_wandering: no presence back home within this after the door opened",
        "dementia wandering practice; adjust per home",
        1,
        240,
    ),
    "door_open_min": Default(
        30,
        "min",
        "door_left_open: door open this long",
        "comfort/security; low severity",
        1,
        1440,
    ),
    "inactivity_h": Default(
        12,
        "h",
        "inactivity: no activity from any sensor this long",
        "Tunstall inactivity timers usually 12-14 h (range 30 min-50 h)",
        0.5,
        50,
    ),
    "heartbeat_mains_min": Default(
        5,
        "min",
        "device_offline: heartbeat interval of mains devices (bed band, radar, gas)",
        "DOMAIN.md supervision: mains devices 5 min; EN 50131 grade-2 wire-free supervision"
        " 180 s (secondary source)",
        0.5,
        1440,
    ),
    "heartbeat_battery_min": Default(
        60,
        "min",
        "device_offline: heartbeat interval of battery devices (SOS, door, water)",
        "DOMAIN.md supervision: battery devices 60 min; Tunstall: check-in every 4 h",
        1,
        1440,
    ),
    "offline_after_heartbeats": Default(
        3,
        "x",
        "device_offline: silent for this many heartbeat intervals",
        "DOMAIN.md: offline when silent for 3x its heartbeat interval",
        1,
        20,
    ),
    "battery_low_pct": Default(
        15,
        "%",
        "battery_low: battery at or under this, at most once a day per device",
        "Zigbee IAS battery_low is a single bit; 15% is common practice",
        1,
        90,
    ),
    "late_after_s": Default(
        30,
        "s",
        "a critical event older than this when it arrives is marked delayed",
        "project choice: devices buffer and resend; staff must see that the event is old",
        1,
        3600,
    ),
}


@dataclass(frozen=True, slots=True)
class Rules:
    """Effective detector settings for one home (and resident)."""

    hr_low: float = DEFAULTS["hr_low"].value
    hr_high: float = DEFAULTS["hr_high"].value
    rr_low: float = DEFAULTS["rr_low"].value
    rr_high: float = DEFAULTS["rr_high"].value
    vitals_window_s: float = DEFAULTS["vitals_window_s"].value
    breathing_stopped_s: float = DEFAULTS["breathing_stopped_s"].value
    fall_wait_s: float = DEFAULTS["fall_wait_s"].value
    gas_lel_pct: float = DEFAULTS["gas_lel_pct"].value
    bed_exit_from_h: float = DEFAULTS["bed_exit_from_h"].value
    bed_exit_to_h: float = DEFAULTS["bed_exit_to_h"].value
    bed_exit_min: float = DEFAULTS["bed_exit_min"].value
    wandering_from_h: float = DEFAULTS["wandering_from_h"].value
    wandering_to_h: float = DEFAULTS["wandering_to_h"].value
    wandering_return_min: float = DEFAULTS["wandering_return_min"].value
    door_open_min: float = DEFAULTS["door_open_min"].value
    inactivity_h: float = DEFAULTS["inactivity_h"].value
    heartbeat_mains_min: float = DEFAULTS["heartbeat_mains_min"].value
    heartbeat_battery_min: float = DEFAULTS["heartbeat_battery_min"].value
    offline_after_heartbeats: float = DEFAULTS["offline_after_heartbeats"].value
    battery_low_pct: float = DEFAULTS["battery_low_pct"].value
    late_after_s: float = DEFAULTS["late_after_s"].value

    @classmethod
    def merge(cls, *layers: Mapping[str, float] | None) -> Rules:
        """Defaults, then each layer in turn (home rules, then resident limits).
        Unknown names are ignored here: the API refuses them on the way in."""
        values: dict[str, float] = {}
        for layer in layers:
            for name, value in (layer or {}).items():
                if name in DEFAULTS and isinstance(value, int | float):
                    values[name] = float(value)
        return cls(**values) if values else DEFAULT_RULES


DEFAULT_RULES = Rules()
assert {f.name for f in fields(Rules)} == set(DEFAULTS), "Rules and DEFAULTS must list the same"


def check_overrides(values: Mapping[str, float]) -> list[str]:
    """Problems with per-home rules or per-resident limits, one sentence each."""
    problems = []
    for name, value in values.items():
        default = DEFAULTS.get(name)
        if default is None:
            problems.append(f"unknown rule {name!r}; known: {', '.join(sorted(DEFAULTS))}")
        elif not default.low <= value <= default.high:
            problems.append(
                f"{name} = {value:g} is out of range {default.low:g}..{default.high:g}"
                f" {default.unit}"
            )
    return problems
