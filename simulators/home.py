"""A demo home: one resident, the six devices and a family contact, with ids
derived from the home id (``h1-bed``, ``h1-sos``, …) so a tester can name them."""

from __future__ import annotations

from dataclasses import dataclass

from eldercare.domain import DeviceKind

DEVICE_SUFFIX: dict[DeviceKind, str] = {
    DeviceKind.BED_BAND: "bed",
    DeviceKind.SOS_BUTTON: "sos",
    DeviceKind.DOOR: "door",
    DeviceKind.FALL_RADAR: "radar",
    DeviceKind.GAS: "gas",
    DeviceKind.WATER: "water",
}

_LOCATION = {
    DeviceKind.BED_BAND: "bedroom",
    DeviceKind.SOS_BUTTON: "bedside",
    DeviceKind.DOOR: "front door",
    DeviceKind.FALL_RADAR: "bathroom",
    DeviceKind.GAS: "kitchen",
    DeviceKind.WATER: "bathroom",
}

_NAMES = ["王秀英", "李桂兰", "张淑珍", "刘玉梅", "陈凤英", "杨秀兰", "赵桂英", "黄玉兰"]


def device_id(home_id: str, kind: DeviceKind) -> str:
    return f"{home_id}-{DEVICE_SUFFIX[kind]}"


@dataclass(frozen=True, slots=True)
class DemoHome:
    home_id: str
    index: int = 0

    @property
    def resident_id(self) -> str:
        return f"{self.home_id}-r1"

    @property
    def resident_name(self) -> str:
        return _NAMES[self.index % len(_NAMES)]

    def home_doc(self) -> dict[str, object]:
        return {
            "id": self.home_id,
            "name": f"{self.resident_name}家",
            "address": f"幸福路 {self.index + 1} 号",
            "timezone": "Asia/Shanghai",
        }

    def resident_doc(self) -> dict[str, object]:
        return {"id": self.resident_id, "home_id": self.home_id, "name": self.resident_name}

    def device_docs(self) -> list[dict[str, object]]:
        return [
            {
                "id": device_id(self.home_id, kind),
                "home_id": self.home_id,
                "kind": kind.value,
                "resident_id": self.resident_id,
                "location": _LOCATION[kind],
            }
            for kind in DeviceKind
        ]

    def contact_doc(self) -> dict[str, object]:
        return {
            "home_id": self.home_id,
            "name": "女儿",
            "phone": f"+86138{self.index:08d}",
            "language": "zh-CN",
            "priority": 1,
        }
