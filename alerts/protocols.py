"""Response protocols as data: one short checklist per alert kind (Issue 15 item 3).

The packaged default (``alerts/policies/protocols.toml``, beside the escalation
policy) has a checklist for every kind of CONTRACT.md §2. A care centre may
replace the checklist of any kind (``PUT /api/v1/protocols``); the kinds it
does not name keep the default. Both go through ``parse_protocols``: a wrong
value is a ``ProtocolError`` naming the kind, the step and the field.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from eldercare.domain import AlertKind

LANGUAGES = ("zh-CN", "en")
MAX_STEPS = 12
MAX_TEXT = 200
MAX_ID = 40


class ProtocolError(ValueError):
    """The protocols cannot be used; ``where`` names the kind and step."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(frozen=True, slots=True)
class ProtocolStep:
    id: str
    text: dict[str, str]
    """By language (LANGUAGES)."""

    def as_data(self) -> dict[str, str]:
        return {"id": self.id, **self.text}


Protocols = dict[AlertKind, tuple[ProtocolStep, ...]]


def load_default_protocols() -> Protocols:
    text = resources.files("alerts").joinpath("policies", "protocols.toml").read_text("utf-8")
    protocols = parse_protocols(tomllib.loads(text), "protocols.toml")
    missing = [k.value for k in AlertKind if k not in protocols]
    if missing:
        raise ProtocolError("protocols.toml", f"no protocol for {', '.join(missing)}")
    return protocols


def parse_protocols(data: Any, where: str = "protocols") -> Protocols:
    """``{kind: {"steps": [{"id", "zh-CN", "en"}, ...]}}`` → checked protocols."""
    if not isinstance(data, dict):
        raise ProtocolError(where, "must be an object of alert kinds")
    kinds = {k.value for k in AlertKind}
    unknown = sorted(set(data) - kinds)
    if unknown:
        raise ProtocolError(
            where,
            f"unknown alert kind(s) {', '.join(map(repr, unknown))}; "
            f"the kinds are {', '.join(sorted(kinds))}",
        )
    return {AlertKind(kind): _steps(f"{where} {kind}", table) for kind, table in data.items()}


def _steps(where: str, table: Any) -> tuple[ProtocolStep, ...]:
    if not isinstance(table, dict) or set(table) != {"steps"}:
        raise ProtocolError(where, 'must be an object with one field, "steps"')
    raw = table["steps"]
    if not isinstance(raw, list) or not raw:
        raise ProtocolError(where, "steps must be a non-empty list")
    if len(raw) > MAX_STEPS:
        raise ProtocolError(where, f"at most {MAX_STEPS} steps, not {len(raw)}")
    steps = tuple(_step(f"{where}.steps[{i}]", item) for i, item in enumerate(raw))
    ids = [s.id for s in steps]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ProtocolError(where, f"step ids repeat: {', '.join(dupes)}")
    return steps


def _step(where: str, raw: Any) -> ProtocolStep:
    if not isinstance(raw, dict):
        raise ProtocolError(where, "each step must be an object")
    unknown = sorted(set(raw) - {"id", *LANGUAGES})
    if unknown:
        raise ProtocolError(where, f"unknown field(s) {', '.join(unknown)}")
    step_id = raw.get("id")
    if (
        not isinstance(step_id, str)
        or not step_id
        or len(step_id) > MAX_ID
        or not step_id.replace("_", "").isalnum()
        or not step_id.isascii()
    ):
        raise ProtocolError(where, f"id must be a word of letters, digits and _ (≤ {MAX_ID})")
    text: dict[str, str] = {}
    for lang in LANGUAGES:
        value = raw.get(lang)
        if not isinstance(value, str) or not value.strip():
            raise ProtocolError(where, f"{lang} must be a non-empty text")
        if len(value) > MAX_TEXT:
            raise ProtocolError(where, f"{lang} is longer than {MAX_TEXT} characters")
        text[lang] = value.strip()
    return ProtocolStep(step_id, text)


def as_data(protocols: Protocols) -> dict[str, Any]:
    """The document form ``parse_protocols`` reads (what the store keeps)."""
    return {
        kind.value: {"steps": [s.as_data() for s in steps]} for kind, steps in protocols.items()
    }


def effective(defaults: Protocols, centre: Protocols | None) -> dict[AlertKind, tuple[str, Any]]:
    """Per kind: (``"centre"`` or ``"default"``, its steps)."""
    out: dict[AlertKind, tuple[str, Any]] = {}
    for kind in AlertKind:
        if centre is not None and kind in centre:
            out[kind] = ("centre", centre[kind])
        else:
            out[kind] = ("default", defaults.get(kind, ()))
    return out
