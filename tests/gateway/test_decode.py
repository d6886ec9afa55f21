"""gateway.decode: every kind's valid payloads and every rejection reason (CONTRACT §1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from eldercare.domain import Device, DeviceKind
from gateway.decode import (
    MAX_PAYLOAD,
    Reason,
    Rejected,
    decode_event,
    decode_status,
    parse_topic,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
HOME = "home-1"

DEVICES = {
    kind: Device(id=f"dev-{kind.value}", home_id=HOME, kind=kind, resident_id="r1")
    for kind in DeviceKind
}


def topic(kind: DeviceKind, channel: str = "event", home: str = HOME) -> str:
    return f"eldercare/v1/{home}/dev-{kind.value}/{channel}"


def decode(kind: DeviceKind, body: Any, *, home: str = HOME, raw: bytes | None = None):  # type: ignore[no-untyped-def]
    payload = raw if raw is not None else json.dumps(body).encode()
    return decode_event(topic(kind, home=home), payload, NOW, DEVICES[kind])


def rejected(kind: DeviceKind, body: Any, **kw: Any) -> Rejected:
    with pytest.raises(Rejected) as info:
        decode(kind, body, **kw)
    return info.value


# --- topics ---------------------------------------------------------------------------


def test_parse_topic() -> None:
    assert parse_topic("eldercare/v1/h_1/d-2/event") == ("h_1", "d-2", "event")
    assert parse_topic("eldercare/v1/h/d/status") == ("h", "d", "status")


@pytest.mark.parametrize(
    "bad",
    [
        "eldercare/v1/h/d",
        "eldercare/v2/h/d/event",
        "other/v1/h/d/event",
        "eldercare/v1/h/d/event/extra",
        "eldercare/v1/h/d/telemetry",
        "eldercare/v1/h.x/d/event",
        "eldercare/v1/h/d\n/event",
        "eldercare/v1//d/event",
        f"eldercare/v1/h/{'d' * 65}/event",
    ],
)
def test_bad_topic(bad: str) -> None:
    with pytest.raises(Rejected) as info:
        parse_topic(bad)
    assert info.value.reason is Reason.BAD_TOPIC
    assert str(info.value.reason) == "bad_topic"


def test_event_on_status_topic_is_bad_topic() -> None:
    dev = DEVICES[DeviceKind.DOOR]
    with pytest.raises(Rejected) as info:
        decode_event(topic(DeviceKind.DOOR, "status"), b"{}", NOW, dev)
    assert info.value.reason == "bad_topic"
    with pytest.raises(Rejected) as info:
        decode_status(topic(DeviceKind.DOOR, "event"), b"online", NOW, dev)
    assert info.value.reason == "bad_topic"


# --- valid payloads ---------------------------------------------------------------------

VALID: list[tuple[DeviceKind, dict[str, Any]]] = [
    (DeviceKind.BED_BAND, {"hr": 62, "rr": 14.5, "in_bed": True}),
    (DeviceKind.BED_BAND, {"hr": None, "rr": None, "in_bed": False, "movement": 0}),
    (DeviceKind.BED_BAND, {"hr": 0, "rr": 0, "in_bed": True, "movement": 100}),
    (DeviceKind.BED_BAND, {"hr": 300, "rr": 100, "in_bed": True, "movement": 55.5}),
    (DeviceKind.SOS_BUTTON, {"action": "press"}),
    (DeviceKind.SOS_BUTTON, {"action": "cancel"}),
    (DeviceKind.DOOR, {"open": True}),
    (DeviceKind.DOOR, {"open": False}),
    (DeviceKind.FALL_RADAR, {"presence": True, "fall": "none"}),
    (DeviceKind.FALL_RADAR, {"presence": True, "fall": "suspected", "posture": "floor"}),
    (DeviceKind.FALL_RADAR, {"presence": False, "fall": "detected", "posture": "lying"}),
    (DeviceKind.GAS, {"lel": 12.5}),
    (DeviceKind.GAS, {"alarm": True}),
    (DeviceKind.GAS, {"lel": 0, "alarm": False}),
    (DeviceKind.WATER, {"leak": True}),
    (DeviceKind.WATER, {"leak": False}),
]


@pytest.mark.parametrize(("kind", "body"), VALID)
def test_valid_kind_fields(kind: DeviceKind, body: dict[str, Any]) -> None:
    reading = decode(kind, {**body, "seq": 7, "battery": 88, "ts": "2025-03-01T11:59:00Z"})
    assert reading.kind is kind
    assert reading.home_id == HOME
    assert reading.device_id == f"dev-{kind.value}"
    assert reading.fields == body
    assert reading.seq == 7
    assert reading.battery == 88
    assert reading.ts == datetime(2025, 3, 1, 11, 59, tzinfo=UTC)
    assert reading.received_at == NOW
    assert not reading.ts_assigned
    assert not reading.is_heartbeat


@pytest.mark.parametrize("kind", list(DeviceKind))
def test_heartbeat_with_only_common_fields(kind: DeviceKind) -> None:
    reading = decode(kind, {"seq": 1, "battery": 50, "kind": kind.value})
    assert reading.is_heartbeat
    assert reading.fields == {}
    assert reading.ts == NOW
    assert reading.ts_assigned


@pytest.mark.parametrize("kind", list(DeviceKind))
def test_empty_object_is_a_heartbeat(kind: DeviceKind) -> None:
    reading = decode(kind, {})
    assert reading.is_heartbeat
    assert reading.seq is None
    assert reading.battery is None


def test_unknown_extras_are_kept() -> None:
    body = {"open": True, "rssi": -71, "fw": {"v": "1.2"}, "note": None}
    reading = decode(DeviceKind.DOOR, body)
    assert reading.fields == body


def test_common_fields_are_not_in_fields() -> None:
    body = {"ts": 1740830400000, "seq": 3, "battery": 10.5, "kind": "water", "leak": False}
    reading = decode(DeviceKind.WATER, body)
    assert reading.fields == {"leak": False}


def test_ts_epoch_milliseconds() -> None:
    reading = decode(DeviceKind.DOOR, {"open": True, "ts": 1740830400123})
    assert reading.ts == datetime(2025, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert reading.ts.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01T20:00:00+08:00", datetime(2025, 3, 1, 12, tzinfo=UTC)),
        ("2025-03-01T12:00:00Z", datetime(2025, 3, 1, 12, tzinfo=UTC)),
        ("2025-03-01t12:00:00z", datetime(2025, 3, 1, 12, tzinfo=UTC)),
        ("2025-03-01 11:00:00-01:00", datetime(2025, 3, 1, 12, tzinfo=UTC)),
        ("2025-03-01T12:00:00.5Z", datetime(2025, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2025-03-01T12:00:00.123456789Z", datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_ts_rfc3339(text: str, expected: datetime) -> None:
    reading = decode(DeviceKind.DOOR, {"open": True, "ts": text})
    assert reading.ts == expected
    assert reading.ts.utcoffset() == timedelta(0)


def test_ts_up_to_five_minutes_ahead_is_accepted() -> None:
    ahead = NOW + timedelta(minutes=5)
    reading = decode(DeviceKind.DOOR, {"open": True, "ts": ahead.isoformat()})
    assert reading.ts == ahead


def test_ts_in_the_past_is_accepted() -> None:
    reading = decode(DeviceKind.DOOR, {"open": True, "ts": "2024-01-01T00:00:00+00:00"})
    assert reading.ts == datetime(2024, 1, 1, tzinfo=UTC)


def test_ts_in_other_offset_is_normalised_to_utc() -> None:
    reading = decode(DeviceKind.DOOR, {"ts": "2025-03-01T20:00:00+08:00"})
    assert reading.ts.tzinfo is UTC


# --- rejections -----------------------------------------------------------------------


def test_too_large() -> None:
    body = {"open": True, "pad": "x" * MAX_PAYLOAD}
    err = rejected(DeviceKind.DOOR, body)
    assert err.reason == "too_large"
    assert "4096" in err.detail


def test_exactly_4096_bytes_is_accepted() -> None:
    base = json.dumps({"open": True, "pad": ""}).encode()
    body = {"open": True, "pad": "x" * (MAX_PAYLOAD - len(base))}
    raw = json.dumps(body).encode()
    assert len(raw) == MAX_PAYLOAD
    assert decode(DeviceKind.DOOR, None, raw=raw).fields["open"] is True


def test_bad_encoding() -> None:
    err = rejected(DeviceKind.DOOR, None, raw=b'{"open": true, "x": "\xff\xfe"}')
    assert err.reason == "bad_encoding"
    assert "UTF-8" in err.detail


def test_nul_character_is_refused_before_it_reaches_the_database() -> None:
    # PostgreSQL cannot store NUL in jsonb: one such payload must not stall a batch.
    err = rejected(DeviceKind.DOOR, None, raw=b'{"open": true, "note": "a\\u0000b"}')
    assert err.reason == "bad_encoding"
    assert "NUL" in err.detail


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"{'open': true}",
        b'{"open": tru}',
        b'{"hr": NaN}',
        b"[" * 3000,
        b"\xef\xbb\xbf{}",
    ],
)
def test_bad_json(raw: bytes) -> None:
    err = rejected(DeviceKind.DOOR, None, raw=raw)
    assert err.reason == "bad_json"
    assert err.detail.startswith("payload is not JSON")


@pytest.mark.parametrize("body", [[1, 2], "open", 3, None, True])
def test_not_object(body: Any) -> None:
    err = rejected(DeviceKind.DOOR, body)
    assert err.reason == "not_object"
    assert "JSON object" in err.detail


def test_unknown_device() -> None:
    with pytest.raises(Rejected) as info:
        decode_event("eldercare/v1/home-1/ghost/event", b'{"open": true}', NOW, None)
    assert info.value.reason == "unknown_device"
    assert "'ghost'" in info.value.detail


def test_wrong_home() -> None:
    err = rejected(DeviceKind.DOOR, {"open": True}, home="home-2")
    assert err.reason == "wrong_home"
    assert "'home-1'" in err.detail and "'home-2'" in err.detail


def test_kind_mismatch() -> None:
    err = rejected(DeviceKind.DOOR, {"kind": "water", "leak": True})
    assert err.reason == "kind_mismatch"
    assert "'water'" in err.detail and "door" in err.detail


BAD_TYPES: list[tuple[DeviceKind, dict[str, Any], str]] = [
    (
        DeviceKind.BED_BAND,
        {"hr": "70", "rr": 12, "in_bed": True},
        """field 'hr' must be a number or null, got string "70\"""",
    ),
    (
        DeviceKind.BED_BAND,
        {"hr": True, "rr": 12, "in_bed": True},
        "field 'hr' must be a number or null, got boolean true",
    ),
    (
        DeviceKind.BED_BAND,
        {"hr": 70, "rr": [12], "in_bed": True},
        "field 'rr' must be a number or null, got array [12]",
    ),
    (
        DeviceKind.BED_BAND,
        {"hr": 70, "rr": 12, "in_bed": 1},
        "field 'in_bed' must be a boolean, got number 1",
    ),
    (
        DeviceKind.BED_BAND,
        {"hr": 70, "rr": 12, "in_bed": True, "movement": None},
        "field 'movement' must be a number, got null",
    ),
    (DeviceKind.SOS_BUTTON, {"action": 1}, "field 'action' must be a string, got number 1"),
    (DeviceKind.DOOR, {"open": "true"}, """field 'open' must be a boolean, got string "true\""""),
    (DeviceKind.DOOR, {"open": None}, "field 'open' must be a boolean, got null"),
    (
        DeviceKind.FALL_RADAR,
        {"presence": "yes", "fall": "none"},
        """field 'presence' must be a boolean, got string "yes\"""",
    ),
    (
        DeviceKind.FALL_RADAR,
        {"presence": True, "fall": False},
        "field 'fall' must be a string, got boolean false",
    ),
    (DeviceKind.GAS, {"lel": "5"}, """field 'lel' must be a number, got string "5\""""),
    (DeviceKind.GAS, {"alarm": 0}, "field 'alarm' must be a boolean, got number 0"),
    (DeviceKind.WATER, {"leak": {}}, "field 'leak' must be a boolean, got object {}"),
    (DeviceKind.DOOR, {"seq": 1.0}, "field 'seq' must be an integer, got number 1.0"),
    (DeviceKind.DOOR, {"seq": "1"}, """field 'seq' must be an integer, got string "1\""""),
    (DeviceKind.DOOR, {"seq": True}, "field 'seq' must be an integer, got boolean true"),
    (DeviceKind.DOOR, {"seq": None}, "field 'seq' must be an integer, got null"),
    (DeviceKind.DOOR, {"battery": "80"}, """field 'battery' must be a number, got string "80\""""),
    (DeviceKind.DOOR, {"battery": False}, "field 'battery' must be a number, got boolean false"),
    (DeviceKind.DOOR, {"kind": 3}, "field 'kind' must be a string, got number 3"),
    (
        DeviceKind.DOOR,
        {"ts": 1740830400000.5},
        "field 'ts' must be an RFC 3339 string or integer epoch milliseconds, "
        "got number 1740830400000.5",
    ),
    (
        DeviceKind.DOOR,
        {"ts": None},
        "field 'ts' must be an RFC 3339 string or integer epoch milliseconds, got null",
    ),
]


@pytest.mark.parametrize(("kind", "body", "detail"), BAD_TYPES)
def test_bad_type(kind: DeviceKind, body: dict[str, Any], detail: str) -> None:
    err = rejected(kind, body)
    assert err.reason == "bad_type"
    assert err.detail == detail


OUT_OF_RANGE: list[tuple[DeviceKind, dict[str, Any], str]] = [
    (DeviceKind.DOOR, {"battery": 101}, "field 'battery' must be between 0 and 100, got 101"),
    (DeviceKind.DOOR, {"battery": -1}, "field 'battery' must be between 0 and 100, got -1"),
    (DeviceKind.DOOR, {"seq": -1}, "field 'seq' must be between 0 and 2^63-1, got -1"),
    (
        DeviceKind.DOOR,
        {"seq": 2**63},
        f"field 'seq' must be between 0 and 2^63-1, got {2**63}",
    ),
    (
        DeviceKind.BED_BAND,
        {"hr": 301, "rr": 12, "in_bed": True},
        "field 'hr' must be between 0 and 300, got 301",
    ),
    (
        DeviceKind.BED_BAND,
        {"hr": -5, "rr": 12, "in_bed": True},
        "field 'hr' must be between 0 and 300, got -5",
    ),
    (
        DeviceKind.BED_BAND,
        {"hr": 60, "rr": 100.5, "in_bed": True},
        "field 'rr' must be between 0 and 100, got 100.5",
    ),
    (
        DeviceKind.BED_BAND,
        {"hr": 60, "rr": 12, "in_bed": True, "movement": 101},
        "field 'movement' must be between 0 and 100, got 101",
    ),
    (DeviceKind.GAS, {"lel": 100.1}, "field 'lel' must be between 0 and 100, got 100.1"),
    (
        DeviceKind.SOS_BUTTON,
        {"action": "long_press"},
        """field 'action' must be one of press, cancel, got string "long_press\"""",
    ),
    (
        DeviceKind.FALL_RADAR,
        {"presence": True, "fall": "maybe"},
        """field 'fall' must be one of none, suspected, detected, got string "maybe\"""",
    ),
    (
        DeviceKind.FALL_RADAR,
        {"presence": True, "fall": "none", "posture": "crawling"},
        "field 'posture' must be one of standing, sitting, lying, floor, got string \"crawling\"",
    ),
]


@pytest.mark.parametrize(("kind", "body", "detail"), OUT_OF_RANGE)
def test_out_of_range(kind: DeviceKind, body: dict[str, Any], detail: str) -> None:
    err = rejected(kind, body)
    assert err.reason == "out_of_range"
    assert err.detail == detail


MISSING: list[tuple[DeviceKind, dict[str, Any], str]] = [
    (DeviceKind.BED_BAND, {"hr": 60, "rr": 12}, "in_bed"),
    (DeviceKind.BED_BAND, {"in_bed": True}, "hr"),
    (DeviceKind.BED_BAND, {"movement": 5, "hr": 60, "in_bed": False}, "rr"),
    (DeviceKind.SOS_BUTTON, {"pressed": True}, "action"),
    (DeviceKind.DOOR, {"rssi": -70}, "open"),
    (DeviceKind.FALL_RADAR, {"presence": True}, "fall"),
    (DeviceKind.FALL_RADAR, {"fall": "none"}, "presence"),
    (DeviceKind.WATER, {"wet": True}, "leak"),
]


@pytest.mark.parametrize(("kind", "body", "name"), MISSING)
def test_missing_field(kind: DeviceKind, body: dict[str, Any], name: str) -> None:
    err = rejected(kind, {"seq": 1, **body})
    assert err.reason == "missing_field"
    assert f"'{name}'" in err.detail


def test_gas_needs_lel_or_alarm() -> None:
    err = rejected(DeviceKind.GAS, {"rssi": -70})
    assert err.reason == "missing_field"
    assert "'lel'" in err.detail and "'alarm'" in err.detail


@pytest.mark.parametrize(
    ("ts", "why"),
    [
        ("2025-03-01T12:00:00", "no UTC offset"),
        ("2025-03-01T12:00:00.250", "no UTC offset"),
        ("2025-03-01", "not RFC 3339"),
        ("yesterday", "not RFC 3339"),
        ("2025-13-01T12:00:00Z", "not a valid time"),
        ("2025-03-01T12:00:60Z", "not a valid time"),
        ("2025-03-01T12:00:00+0800", "not RFC 3339"),
        (1740830400, "looks like seconds"),
        (-1, "between 2000 and 2100"),
        (10**15, "between 2000 and 2100"),
    ],
)
def test_bad_timestamp(ts: Any, why: str) -> None:
    err = rejected(DeviceKind.DOOR, {"open": True, "ts": ts})
    assert err.reason == "bad_timestamp"
    assert "'ts'" in err.detail
    assert why in err.detail


@pytest.mark.parametrize(
    "ts",
    [
        (NOW + timedelta(minutes=5, seconds=1)).isoformat(),
        (NOW + timedelta(hours=1)).astimezone(timezone(timedelta(hours=8))).isoformat(),
        int((NOW + timedelta(minutes=6)).timestamp() * 1000),
    ],
)
def test_future_timestamp(ts: Any) -> None:
    err = rejected(DeviceKind.DOOR, {"open": True, "ts": ts})
    assert err.reason == "future_timestamp"
    assert "5 minutes ahead" in err.detail


def test_checks_come_in_contract_order() -> None:
    # An unknown device with bad JSON reports the JSON: it is what a developer needs first.
    with pytest.raises(Rejected) as info:
        decode_event("eldercare/v1/h/ghost/event", b"{", NOW, None)
    assert info.value.reason == "bad_json"


def test_rejected_carries_data() -> None:
    err = rejected(DeviceKind.DOOR, {"open": 1})
    assert err.args == (Reason.BAD_TYPE, err.detail)
    assert str(err) == f"bad_type: {err.detail}"


# --- status ---------------------------------------------------------------------------


@pytest.mark.parametrize(("payload", "online"), [(b"online", True), (b"offline", False)])
def test_status(payload: bytes, online: bool) -> None:
    dev = DEVICES[DeviceKind.GAS]
    change = decode_status(topic(DeviceKind.GAS, "status"), payload, NOW, dev)
    assert change.online is online
    assert change.device_id == dev.id
    assert change.home_id == HOME
    assert change.received_at == NOW


@pytest.mark.parametrize("payload", [b"", b"ONLINE", b"online\n", b'"online"', b"1", b"\xff"])
def test_bad_status(payload: bytes) -> None:
    dev = DEVICES[DeviceKind.GAS]
    with pytest.raises(Rejected) as info:
        decode_status(topic(DeviceKind.GAS, "status"), payload, NOW, dev)
    assert info.value.reason == "bad_status"
    assert "'online' or 'offline'" in info.value.detail


def test_status_unknown_device_and_wrong_home() -> None:
    with pytest.raises(Rejected) as info:
        decode_status("eldercare/v1/home-1/ghost/status", b"offline", NOW, None)
    assert info.value.reason == "unknown_device"
    dev = DEVICES[DeviceKind.GAS]
    with pytest.raises(Rejected) as info:
        decode_status(topic(DeviceKind.GAS, "status", home="elsewhere"), b"offline", NOW, dev)
    assert info.value.reason == "wrong_home"
