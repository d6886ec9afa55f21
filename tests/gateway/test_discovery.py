"""``eldercare provision --discover``: the Zigbee2MQTT devices the broker shows but the
registry lacks, with a suggested kind, as CSV rows that provision after filling in
the home (real Mosquitto; the device list is the retained bridge/devices message)."""

from __future__ import annotations

import json
from pathlib import Path

import paho.mqtt.client as mqtt
import paho.mqtt.publish as publish
import pytest

from eldercare.cli import main
from eldercare.domain import Device, DeviceKind
from gateway.adapters.discovery import suggest
from tests.harness.mosquitto import Mosquitto

# Shaped like Zigbee2MQTT's bridge/devices (zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages:
# "zigbee2mqtt/bridge/devices ... a list of all devices", definition.exposes with property).
BRIDGE_DEVICES = [
    {"friendly_name": "Coordinator", "ieee_address": "0x00124b0001", "type": "Coordinator"},
    {
        "friendly_name": "bathroom radar",
        "ieee_address": "0xa4c1380001",
        "type": "Router",
        "definition": {
            "model": "MIR-HE200-TY",
            "vendor": "Tuya",
            "exposes": [
                {"type": "binary", "property": "presence"},
                {"type": "enum", "property": "fall_down_status", "values": ["none", "maybe_fall"]},
            ],
        },
    },
    {
        "friendly_name": "hall_sos",
        "ieee_address": "0xa4c1380002",
        "type": "EndDevice",
        "definition": {
            "model": "BT400B",
            "vendor": "Tuya",
            "exposes": [{"type": "enum", "property": "action", "values": ["emergency"]}],
        },
    },
    {
        "friendly_name": "kitchen_smoke",
        "type": "EndDevice",
        "definition": {"model": "X", "vendor": "Y", "exposes": [{"property": "smoke"}]},
    },
    {
        "friendly_name": "lamp",
        "type": "Router",
        "definition": {
            "model": "LED1545G12",
            "vendor": "IKEA",
            "exposes": [{"type": "light", "features": [{"property": "state"}]}],
        },
    },
]


def test_suggestions_leave_out_what_the_registry_has() -> None:
    known = Device(
        "h1-sos", "h1", DeviceKind.SOS_BUTTON, source={"type": "zigbee2mqtt", "topic": "z/hall_sos"}
    )
    found = {s.friendly_name: s for s in suggest(BRIDGE_DEVICES, [known], "z")}
    assert sorted(found) == ["bathroom radar", "kitchen_smoke", "lamp"]
    assert found["bathroom radar"].kind == "fall_radar"
    assert found["kitchen_smoke"].source() == {
        "type": "zigbee2mqtt",
        "topic": "z/kitchen_smoke",
        "smoke": True,
    }
    assert found["lamp"].kind is None


@pytest.mark.mosquitto
def test_the_command_lists_csv_rows_that_provision(
    mosquitto: Mosquitto,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = f"z2m-{tmp_path.name}"
    publish.single(
        f"{base}/bridge/devices",
        json.dumps(BRIDGE_DEVICES),
        qos=1,
        retain=True,
        hostname="127.0.0.1",
        port=mosquitto.port,
        protocol=mqtt.MQTTv311,
    )
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("ELDERCARE_MQTT_URL", f"mqtt://127.0.0.1:{mosquitto.port}")
    assert main(["provision", "--discover", "--base-topic", base]) == 0
    out = capsys.readouterr()
    assert "4 device(s) not in the registry" in out.err
    rows = out.out.splitlines()
    assert rows[0] == "type,id,home_id,kind,source"
    assert f"device,hall_sos,,sos_button,type=zigbee2mqtt;topic={base}/hall_sos" in rows
    # Filled in with a home, the rows provision as they are.
    csv = tmp_path / "found.csv"
    usable = [r.replace(",,", ",h1,", 1) for r in rows[1:] if ",," in r and not r.endswith(",,")]
    csv.write_text(
        "type,id,home_id,kind,source,name\nhome,h1,,,,Li home\n"
        + "\n".join(f"{r}," for r in usable if ",h1,," not in r)
        + "\n"
    )
    assert main(["provision", str(csv)]) == 0, capsys.readouterr().err
    assert main(["provision", "--discover", "--base-topic", base]) == 0
    assert "1 device(s) not in the registry" in capsys.readouterr().err  # the lamp
