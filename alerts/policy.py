"""Escalation policies as data: one ladder of steps per severity, from TOML.

The packaged default (``alerts/policies/default.toml``) is DOMAIN.md's
escalation table; ``ELDERCARE_ESCALATION_POLICY`` names another file. The file
is checked completely at start: a wrong value is a ``PolicyError`` naming the
step and the field, never a surprise in the middle of a ladder.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from eldercare.domain import Alert, AlertStatus, Severity

ACTIONS = ("sms", "voice", "breach")
TARGETS = ("family_first", "family_all", "supervisors", "everyone", "none")
UNLESS = ("none", "acknowledged", "on_site")
MESSAGES = ("alert", "not_on_site", "window_warning", "window_breached")
FROM = ("raised", "deadline")
LANGUAGES = ("zh-CN", "en")


class PolicyError(ValueError):
    """The policy file cannot be used; ``where`` names the file and step."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"escalation policy {where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One rung of a ladder (see the comments in the default TOML file)."""

    name: str
    after_s: float
    action: str
    to: str
    unless: str
    message: str
    start: str = "raised"
    """``raised`` or ``deadline``: what ``after_s`` counts from."""
    repeat_every_s: float | None = None

    def due(self, alert: Alert, not_before: datetime | None = None) -> datetime:
        base = alert.response_deadline if self.start == "deadline" else alert.raised_at
        at = base + timedelta(seconds=self.after_s)
        return max(at, not_before) if not_before is not None else at


@dataclass(frozen=True, slots=True)
class Policy:
    ladders: dict[Severity, tuple[StepSpec, ...]]
    supervisor_language: str = "zh-CN"
    source: str = "default"
    all_clear: bool = True
    """After ``resolve``, one closing SMS to every family contact the alert reached."""

    def steps(self, severity: Severity) -> tuple[StepSpec, ...]:
        return self.ladders.get(severity, ())

    def reaches_family(self, severity: Severity) -> bool:
        """Whether this severity's ladder can message a family contact at all."""
        return any(
            s.action in ("sms", "voice", "breach") and s.to in FAMILY_TARGETS
            for s in self.steps(severity)
        )


ALL_CLEAR = "all_clear"
"""The engine's own step after resolution (name, action and message): not in a
policy's ladders, switched off with ``all_clear = false`` at the top of the file."""
FAMILY_TARGETS = ("family_first", "family_all", "everyone")


def halted(action: str, unless: str, status: AlertStatus) -> bool:
    """True when a step must not run for an alert in ``status``: the all-clear runs
    only once the alert is resolved, every other step stops then."""
    if action == ALL_CLEAR:
        return status is not AlertStatus.RESOLVED
    return stopped(unless, status)


def stopped(unless: str, status: AlertStatus) -> bool:
    """True when a step with this ``unless`` must not run for an alert in ``status``."""
    if status is AlertStatus.RESOLVED:
        return True
    if unless == "acknowledged":
        return status.order >= AlertStatus.ACKNOWLEDGED.order
    if unless == "on_site":
        return status.order >= AlertStatus.ON_SITE.order
    return False


def stopped_by(status: AlertStatus) -> tuple[str, ...] | None:
    """The ``unless`` values a move to ``status`` stops; None = every step (resolved)."""
    if status is AlertStatus.RESOLVED:
        return None
    if status is AlertStatus.ON_SITE:
        return ("acknowledged", "on_site")
    if status in (AlertStatus.ACKNOWLEDGED, AlertStatus.DISPATCHED):
        return ("acknowledged",)
    return ()


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy in ``path``, or the packaged default when None."""
    if path is None:
        text = resources.files("alerts").joinpath("policies", "default.toml").read_text("utf-8")
        where = "default"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PolicyError(where, f"cannot read it: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(where, f"not valid TOML: {exc}") from exc
    return parse_policy(data, where)


def parse_policy(data: dict[str, Any], where: str = "inline") -> Policy:
    known = {s.value for s in Severity} | {"supervisor_language", "all_clear"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise PolicyError(where, f"unknown table(s) {', '.join(unknown)}")
    lang = data.get("supervisor_language", "zh-CN")
    if lang not in LANGUAGES:
        raise PolicyError(where, f"supervisor_language must be one of {', '.join(LANGUAGES)}")
    all_clear = data.get("all_clear", True)
    if not isinstance(all_clear, bool):
        raise PolicyError(where, "all_clear must be true or false")
    ladders: dict[Severity, tuple[StepSpec, ...]] = {}
    for severity in Severity:
        table = data.get(severity.value, {})
        if not isinstance(table, dict):
            raise PolicyError(where, f"[{severity.value}] must be a table")
        raw_steps = table.get("steps", [])
        if not isinstance(raw_steps, list):
            raise PolicyError(where, f"{severity.value}.steps must be an array of tables")
        steps = tuple(_step(where, severity, i, raw) for i, raw in enumerate(raw_steps))
        names = [s.name for s in steps]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PolicyError(where, f"{severity.value}: step names repeat: {', '.join(dupes)}")
        ladders[severity] = steps
    return Policy(ladders, lang, where, all_clear)


_FIELDS = {"name", "after", "from", "action", "to", "unless", "message", "repeat_every"}


def _step(where: str, severity: Severity, index: int, raw: Any) -> StepSpec:
    at = f"{where} {severity.value}.steps[{index}]"
    if not isinstance(raw, dict):
        raise PolicyError(at, "each step must be a table")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise PolicyError(at, f"unknown field(s) {', '.join(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name or not name.replace("_", "").isalnum():
        raise PolicyError(at, "name must be a word of letters, digits and _")
    after = raw.get("after", 0)
    if not isinstance(after, int | float) or isinstance(after, bool):
        raise PolicyError(at, "after must be a number of seconds")
    repeat = raw.get("repeat_every")
    if repeat is not None and (
        not isinstance(repeat, int | float) or isinstance(repeat, bool) or repeat < 30
    ):
        raise PolicyError(at, "repeat_every must be a number of seconds, at least 30")
    choices = {
        "action": ACTIONS,
        "to": TARGETS,
        "unless": UNLESS,
        "message": MESSAGES,
        "from": FROM,
    }
    defaults = {"unless": "none", "message": "alert", "from": "raised"}
    picked: dict[str, str] = {}
    for key, allowed in choices.items():
        value = raw.get(key, defaults.get(key))
        if value not in allowed:
            raise PolicyError(at, f"{key} must be one of {', '.join(allowed)}, not {value!r}")
        picked[key] = value
    if picked["from"] == "raised" and after < 0:
        raise PolicyError(at, "after must not be negative when counted from the raise")
    if picked["action"] != "breach" and picked["to"] == "none":
        raise PolicyError(at, "a sms or voice step needs recipients (to)")
    if picked["action"] == "voice" and picked["to"] in ("supervisors", "everyone"):
        raise PolicyError(at, "voice calls go to family contacts only")
    return StepSpec(
        name=name,
        after_s=float(after),
        action=picked["action"],
        to=picked["to"],
        unless=picked["unless"],
        message=picked["message"],
        start=picked["from"],
        repeat_every_s=None if repeat is None else float(repeat),
    )
