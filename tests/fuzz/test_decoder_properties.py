"""Properties of every payload decoder the gateway uses, over payloads hypothesis
draws (and shrinks, when one fails): native events and statuses of each device
kind, and each ecosystem device of the adapter fixtures (Zigbee2MQTT, ESPHome,
Shelly, Tasmota).

Each decoder either gives readings a detector can take (the kind's fields valid
by the contract's own check, storable as JSON, a time with its zone) or refuses
with a specific reason and a sentence; nothing else escapes (a decoder that
raised anything else would dead-letter the message as ``internal_error``).

``ELDERCARE_FUZZ_EXAMPLES`` sets the examples per property (40 unless set); the
long mode of ``test_gateway_fuzz.py`` sends a million messages end to end.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eldercare.domain import Device, Reading, StatusChange
from gateway.adapters import SourceDecoder
from gateway.decode import Reason, Rejected, check_kind_fields, decode_event, decode_status
from tests.fuzz.payloads import HOME, Fleet

EXAMPLES = int(os.environ.get("ELDERCARE_FUZZ_EXAMPLES", "40"))
AT = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
FLEET = Fleet()
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
NATIVE_KEYS = [
    *("ts", "seq", "battery", "kind", "hr", "rr", "in_bed", "movement", "action", "open"),
    *("presence", "fall", "posture", "lel", "alarm", "leak"),
]


def _keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys_of(v)}
    return set()


def _payloads(keys: list[str]) -> st.SearchStrategy[bytes]:
    """Raw bytes, JSON of any shape, and objects of the format's own keys with values
    of any type (nested objects too, as the ecosystems nest)."""
    objects = st.recursive(
        st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), json_values, max_size=6),
        lambda inner: st.dictionaries(st.sampled_from(keys), inner, min_size=1, max_size=2),
        max_leaves=4,
    )
    return st.one_of(
        st.binary(max_size=64),
        json_values.map(lambda v: json.dumps(v).encode()),
        objects.map(lambda v: json.dumps(v).encode()),
        st.sampled_from(keys).map(str.encode),
    )


def _assert_refused_well(rej: Rejected) -> None:
    assert rej.reason in set(Reason) and rej.reason is not Reason.INTERNAL_ERROR
    assert len(rej.detail) > 10, rej.detail  # a sentence a person can act on


def _assert_usable(reading: Reading, device: Device) -> None:
    assert reading.device_id == device.id and reading.kind is device.kind
    assert reading.ts.tzinfo is not None
    assert reading.battery is None or 0 <= reading.battery <= 100
    if reading.fields:
        check_kind_fields(device.kind, dict(reading.fields))  # raises if not
    assert "\\u0000" not in json.dumps(reading.fields)  # PostgreSQL could not store it


@pytest.mark.parametrize("device", FLEET.native, ids=[d.kind.value for d in FLEET.native])
@FUZZ
@given(payload=_payloads(NATIVE_KEYS))
def test_a_native_event_is_taken_valid_or_refused_with_a_reason(
    device: Device, payload: bytes
) -> None:
    topic = f"eldercare/v1/{HOME}/{device.id}/event"
    try:
        reading = decode_event(topic, payload, AT, device)
    except Rejected as rej:
        _assert_refused_well(rej)
        return
    _assert_usable(reading, device)
    if reading.ts_assigned:
        assert reading.ts == AT


@FUZZ
@given(payload=st.one_of(st.binary(max_size=16), st.sampled_from([b"online", b"offline"])))
def test_a_native_status_is_online_offline_or_refused(payload: bytes) -> None:
    device = FLEET.native[0]
    try:
        status = decode_status(f"eldercare/v1/{HOME}/{device.id}/status", payload, AT, device)
    except Rejected as rej:
        _assert_refused_well(rej)
        assert rej.reason is Reason.BAD_STATUS
        return
    assert status.online is (payload == b"online")


SOURCED = [
    (device, [s for s in FLEET.samples if s.device_id == device.id]) for device in FLEET.sourced
]


@pytest.mark.parametrize(("device", "samples"), SOURCED, ids=[d.id for d, _ in SOURCED])
@FUZZ
@given(data=st.data())
def test_an_ecosystem_message_is_taken_valid_or_refused_with_a_reason(
    device: Device, samples: list[Any], data: st.DataObject
) -> None:
    topics = sorted({s.topic for s in samples})
    keys = sorted(set().union(*(_keys_of(s.payload) for s in samples)) or {"state"})
    topic = data.draw(st.sampled_from(topics), label="topic")
    payloads = data.draw(st.lists(_payloads(keys), min_size=1, max_size=4), label="payloads")
    match = FLEET.index.match(topic)
    assert match is not None
    decoder = SourceDecoder()  # a sequence: the adapters keep state between messages
    for payload in payloads:
        try:
            items = decoder.decode(match, topic, payload, False, AT, AT)
        except Rejected as rej:
            _assert_refused_well(rej)
            continue
        for item in items:
            owner = FLEET.by_id[item.device_id]
            if isinstance(item, StatusChange):
                assert item.home_id == owner.home_id
            else:
                _assert_usable(item, owner)
