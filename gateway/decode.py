"""Decode and validate device messages (CONTRACT.md §1). Pure: no I/O, no clock.

Every function here either returns a domain object or raises :class:`Rejected`,
which carries a short machine ``reason`` (one of :class:`Reason`, used as a
metric label and stored with the dead letter) and a ``detail`` sentence for
people that names the field and the value.

Rules that CONTRACT.md leaves to us, decided here:

- Common fields are ``ts``, ``seq``, ``battery`` and ``kind``; they never appear
  in ``Reading.fields``. A payload with only common fields is a heartbeat.
- A payload with anything else (a kind field or an unknown extra) is not a
  heartbeat, so the kind's required fields must be there (``missing_field``);
  for ``gas`` that is "at least one of ``lel`` and ``alarm``".
- ``null`` is accepted only where the contract says so (``hr``, ``rr``).
- ``ts`` as epoch milliseconds must be an integer between 2000-01-01 and
  2100-01-01; a number in seconds is refused with a hint.
- ``seq`` must fit a signed 64-bit integer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from eldercare.domain import ID_PATTERN, Device, DeviceKind, Reading, StatusChange

MAX_PAYLOAD = 4096
"""Bytes; CONTRACT.md §1 "at most 4 KiB"."""

MAX_AHEAD = timedelta(minutes=5)
"""A timestamp further than this ahead of the receive time is refused."""

_EPOCH_MS_MIN = 946_684_800_000  # 2000-01-01T00:00:00Z
_EPOCH_MS_MAX = 4_102_444_800_000  # 2100-01-01T00:00:00Z
_SEQ_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MISSING: Any = object()


class Reason(StrEnum):
    """Why a message was refused; the values are stored and used as metric labels."""

    BAD_TOPIC = "bad_topic"
    TOO_LARGE = "too_large"
    BAD_ENCODING = "bad_encoding"
    BAD_JSON = "bad_json"
    NOT_OBJECT = "not_object"
    UNKNOWN_DEVICE = "unknown_device"
    WRONG_HOME = "wrong_home"
    KIND_MISMATCH = "kind_mismatch"
    BAD_TYPE = "bad_type"
    OUT_OF_RANGE = "out_of_range"
    MISSING_FIELD = "missing_field"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    BAD_STATUS = "bad_status"
    UNMAPPABLE = "unmappable"
    """An ecosystem's payload (Zigbee2MQTT, ESPHome, Shelly, Tasmota) that its adapter
    cannot map; the detail names the ecosystem and the field (gateway/adapters)."""
    INTERNAL_ERROR = "internal_error"
    """Not raised here: the gateway uses it when decoding itself failed (a bug)."""


class Rejected(Exception):
    """A message that breaks the contract; it goes to the dead-letter store."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"


# --- helpers ----------------------------------------------------------------------


def _describe(value: Any) -> str:
    """``string "70"``, ``number 1``, ``boolean true``… for detail sentences."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int | float):
        kind = "number"
    elif isinstance(value, str):
        kind = "string"
    elif isinstance(value, list):
        kind = "array"
    else:
        kind = "object"
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {text}"


def _is_number(value: Any) -> bool:
    t = type(value)
    return t is int or t is float  # bool is not a number here


def _reject_nan(constant: str) -> Any:
    raise ValueError(f"{constant} is not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_nan)


def _number(body: dict[str, Any], name: str, lo: float, hi: float, nullable: bool) -> None:
    value = body[name]
    if value is None and nullable:
        return
    if not _is_number(value):
        expected = "a number or null" if nullable else "a number"
        raise Rejected(
            Reason.BAD_TYPE, f"field '{name}' must be {expected}, got {_describe(value)}"
        )
    if not lo <= value <= hi:
        raise Rejected(
            Reason.OUT_OF_RANGE, f"field '{name}' must be between {lo:g} and {hi:g}, got {value}"
        )


def _boolean(body: dict[str, Any], name: str) -> None:
    value = body[name]
    if value is not True and value is not False:
        raise Rejected(Reason.BAD_TYPE, f"field '{name}' must be a boolean, got {_describe(value)}")


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    value = body[name]
    if type(value) is not str:
        raise Rejected(Reason.BAD_TYPE, f"field '{name}' must be a string, got {_describe(value)}")
    if value not in allowed:
        raise Rejected(
            Reason.OUT_OF_RANGE,
            f"field '{name}' must be one of {', '.join(allowed)}, got {_describe(value)}",
        )


def _require(body: dict[str, Any], kind: DeviceKind, *names: str) -> None:
    for name in names:
        if name not in body:
            raise Rejected(
                Reason.MISSING_FIELD,
                f"field '{name}' is required in a {kind.value} event that is not a heartbeat",
            )


# --- kinds --------------------------------------------------------------------------

_FALL = ("none", "suspected", "detected")
_POSTURE = ("standing", "sitting", "lying", "floor")
_ACTION = ("press", "cancel")


def check_kind_fields(kind: DeviceKind, body: dict[str, Any]) -> None:
    """Validate the kind's fields of a payload that is not a heartbeat."""
    if kind is DeviceKind.BED_BAND:
        _require(body, kind, "hr", "rr", "in_bed")
        _number(body, "hr", 0, 300, nullable=True)
        _number(body, "rr", 0, 100, nullable=True)
        _boolean(body, "in_bed")
        if "movement" in body:
            _number(body, "movement", 0, 100, nullable=False)
    elif kind is DeviceKind.SOS_BUTTON:
        _require(body, kind, "action")
        _choice(body, "action", _ACTION)
    elif kind is DeviceKind.DOOR:
        _require(body, kind, "open")
        _boolean(body, "open")
    elif kind is DeviceKind.FALL_RADAR:
        _require(body, kind, "presence", "fall")
        _boolean(body, "presence")
        _choice(body, "fall", _FALL)
        if "posture" in body:
            _choice(body, "posture", _POSTURE)
    elif kind is DeviceKind.GAS:
        if "lel" not in body and "alarm" not in body:
            raise Rejected(
                Reason.MISSING_FIELD,
                "a gas event that is not a heartbeat needs at least one of 'lel' and 'alarm'",
            )
        if "lel" in body:
            _number(body, "lel", 0, 100, nullable=False)
        if "alarm" in body:
            _boolean(body, "alarm")
    elif kind is DeviceKind.WATER:
        _require(body, kind, "leak")
        _boolean(body, "leak")


# --- timestamps ---------------------------------------------------------------------


def parse_ts(value: Any) -> datetime:
    """RFC 3339 with offset, or integer epoch milliseconds → aware UTC datetime."""
    t = type(value)
    if t is int:
        if not _EPOCH_MS_MIN <= value <= _EPOCH_MS_MAX:
            hint = (
                " (it looks like seconds; ts must be milliseconds)"
                if _EPOCH_MS_MIN // 1000 <= value <= _EPOCH_MS_MAX // 1000
                else ""
            )
            raise Rejected(
                Reason.BAD_TIMESTAMP,
                f"field 'ts' as epoch milliseconds must be between 2000 and 2100, "
                f"got {value}{hint}",
            )
        return _EPOCH + timedelta(milliseconds=value)
    if t is not str:
        raise Rejected(
            Reason.BAD_TYPE,
            f"field 'ts' must be an RFC 3339 string or integer epoch milliseconds, "
            f"got {_describe(value)}",
        )
    s: str = value
    # RFC 3339 shape: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
    if (
        len(s) < 20
        or len(s) > 40
        or s[4] != "-"
        or s[7] != "-"
        or s[10] not in "Tt "
        or s[13] != ":"
        or s[16] != ":"
        or not (s[-1] in "Zz" or (s[-6] in "+-" and s[-3] == ":"))
    ):
        if len(s) >= 19 and s[-1] not in "Zz" and "+" not in s[10:] and "-" not in s[10:]:
            why = "it has no UTC offset"
        else:
            why = "it is not RFC 3339 (YYYY-MM-DDTHH:MM:SS[.fff]Z or ±HH:MM)"
        raise Rejected(Reason.BAD_TIMESTAMP, f"field 'ts' {_describe(s)} is unusable: {why}")
    try:
        parsed = datetime.fromisoformat(s.upper())
    except ValueError as exc:
        raise Rejected(
            Reason.BAD_TIMESTAMP, f"field 'ts' {_describe(s)} is not a valid time: {exc}"
        ) from exc
    if parsed.tzinfo is None:  # pragma: no cover - the shape check requires an offset
        raise Rejected(Reason.BAD_TIMESTAMP, f"field 'ts' {_describe(s)} has no UTC offset")
    return parsed.astimezone(UTC)


# --- topics -------------------------------------------------------------------------


@lru_cache(maxsize=1 << 17)
def parse_topic(topic: str) -> tuple[str, str, str]:
    """``eldercare/v1/{home_id}/{device_id}/event|status`` → (home, device, channel).

    Cached: a fleet uses the same topics over and over. Raises Rejected(bad_topic).
    """
    parts = topic.split("/")
    if (
        len(parts) != 5
        or parts[0] != "eldercare"
        or parts[1] != "v1"
        or parts[4] not in ("event", "status")
    ):
        raise Rejected(
            Reason.BAD_TOPIC,
            f"topic {topic!r} is not eldercare/v1/{{home_id}}/{{device_id}}/event or /status",
        )
    home_id, device_id = parts[2], parts[3]
    for what, ident in (("home id", home_id), ("device id", device_id)):
        if ID_PATTERN.fullmatch(ident) is None:
            raise Rejected(
                Reason.BAD_TOPIC,
                f"topic {topic!r}: {what} {ident!r} must match [A-Za-z0-9_-]{{1,64}}",
            )
    return home_id, device_id, parts[4]


def _check_device(home_id: str, device_id: str, device: Device | None) -> Device:
    if device is None:
        raise Rejected(Reason.UNKNOWN_DEVICE, f"device {device_id!r} is not in the registry")
    if device.home_id != home_id:
        raise Rejected(
            Reason.WRONG_HOME,
            f"device {device_id!r} is registered in home {device.home_id!r}, "
            f"not in home {home_id!r} named by the topic",
        )
    return device


# --- messages -----------------------------------------------------------------------


def decode_event(
    topic: str, payload: bytes, received_at: datetime, device: Device | None
) -> Reading:
    """Decode an ``…/event`` message for ``device`` (None if not in the registry)."""
    home_id, device_id, channel = parse_topic(topic)
    if channel != "event":
        raise Rejected(Reason.BAD_TOPIC, f"topic {topic!r} is not an event topic")
    size = len(payload)
    if size > MAX_PAYLOAD:
        raise Rejected(
            Reason.TOO_LARGE, f"payload is {size} bytes, more than the {MAX_PAYLOAD} allowed"
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(
            Reason.BAD_ENCODING, f"payload is not UTF-8: byte {exc.start} is invalid"
        ) from exc
    if "\\u0000" in text:
        # Decodes to a NUL character, which PostgreSQL cannot store in jsonb or text:
        # refuse it here rather than fail (and retry) the whole batch.
        raise Rejected(
            Reason.BAD_ENCODING,
            "payload contains \\u0000 (a NUL character), which cannot be stored",
        )
    try:
        body = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise Rejected(Reason.BAD_JSON, f"payload is not JSON: {exc}") from exc
    if type(body) is not dict:
        raise Rejected(Reason.NOT_OBJECT, f"payload must be a JSON object, got {_describe(body)}")
    kind = _check_device(home_id, device_id, device).kind

    # Common fields come out of the dict; what is left are the kind's fields and extras.
    sent = body.pop("kind", _MISSING)
    if sent is not _MISSING:
        if type(sent) is not str:
            raise Rejected(Reason.BAD_TYPE, f"field 'kind' must be a string, got {_describe(sent)}")
        if sent != kind.value:
            raise Rejected(
                Reason.KIND_MISMATCH,
                f"field 'kind' is {sent!r} but device {device_id!r} is a {kind.value}",
            )

    seq = body.pop("seq", _MISSING)
    if seq is _MISSING:
        seq = None
    else:
        if type(seq) is not int:
            raise Rejected(Reason.BAD_TYPE, f"field 'seq' must be an integer, got {_describe(seq)}")
        if not 0 <= seq <= _SEQ_MAX:
            raise Rejected(
                Reason.OUT_OF_RANGE, f"field 'seq' must be between 0 and 2^63-1, got {seq}"
            )

    battery = body.pop("battery", _MISSING)
    if battery is _MISSING:
        battery = None
    else:
        _number({"battery": battery}, "battery", 0, 100, nullable=False)

    raw_ts = body.pop("ts", _MISSING)
    if body:
        check_kind_fields(kind, body)

    if raw_ts is _MISSING:
        ts = received_at
        assigned = True
    else:
        ts = parse_ts(raw_ts)
        if ts - received_at > MAX_AHEAD:
            raise Rejected(
                Reason.FUTURE_TIMESTAMP,
                f"field 'ts' {ts.isoformat()} is more than 5 minutes ahead of "
                f"the receive time {received_at.isoformat()}",
            )
        assigned = False

    return Reading(
        home_id=home_id,
        device_id=device_id,
        kind=kind,
        ts=ts,
        received_at=received_at,
        seq=seq,
        battery=battery,
        fields=body,
        ts_assigned=assigned,
    )


def decode_status(
    topic: str, payload: bytes, received_at: datetime, device: Device | None
) -> StatusChange:
    """Decode an ``…/status`` message: exactly ``online`` or ``offline``."""
    home_id, device_id, channel = parse_topic(topic)
    if channel != "status":
        raise Rejected(Reason.BAD_TOPIC, f"topic {topic!r} is not a status topic")
    if payload == b"online":
        online = True
    elif payload == b"offline":
        online = False
    else:
        shown = payload[:40].decode("utf-8", "replace")
        raise Rejected(
            Reason.BAD_STATUS,
            f"status payload must be 'online' or 'offline', got {shown!r} ({len(payload)} bytes)",
        )
    _check_device(home_id, device_id, device)
    return StatusChange(
        home_id=home_id, device_id=device_id, online=online, received_at=received_at
    )
