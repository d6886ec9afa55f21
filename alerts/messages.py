"""Texts families receive (CONTRACT.md §4): short, in the contact's language
(zh-CN default, en), one SMS segment where possible (70 characters for Chinese):
who, what, when, and the care-centre phone number."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from eldercare.domain import AlertKind

_WHAT = {
    "zh-CN": {
        AlertKind.SOS: "按下了紧急呼叫",
        AlertKind.FALL: "疑似跌倒",
        AlertKind.HEART_RATE_LOW: "心率过低",
        AlertKind.HEART_RATE_HIGH: "心率过高",
        AlertKind.BREATHING_STOPPED: "呼吸暂停",
        AlertKind.RESPIRATION_LOW: "呼吸过慢",
        AlertKind.RESPIRATION_HIGH: "呼吸过快",
        AlertKind.GAS_LEAK: "家中燃气报警",
        AlertKind.WATER_LEAK: "家中漏水报警",
        AlertKind.BED_EXIT_NOT_RETURNED: "夜间离床未归",
        AlertKind.NIGHT_WANDERING: "夜间出门未归",
        AlertKind.INACTIVITY: "长时间无活动",
        AlertKind.DOOR_LEFT_OPEN: "家门长时间未关",
        AlertKind.DEVICE_OFFLINE: "设备离线",
        AlertKind.BATTERY_LOW: "设备电量低",
    },
    "en": {
        AlertKind.SOS: "pressed the SOS button",
        AlertKind.FALL: "may have fallen",
        AlertKind.HEART_RATE_LOW: "heart rate too low",
        AlertKind.HEART_RATE_HIGH: "heart rate too high",
        AlertKind.BREATHING_STOPPED: "breathing stopped",
        AlertKind.RESPIRATION_LOW: "breathing too slow",
        AlertKind.RESPIRATION_HIGH: "breathing too fast",
        AlertKind.GAS_LEAK: "gas alarm at home",
        AlertKind.WATER_LEAK: "water leak at home",
        AlertKind.BED_EXIT_NOT_RETURNED: "left bed at night, not back",
        AlertKind.NIGHT_WANDERING: "went out at night, not back",
        AlertKind.INACTIVITY: "no activity for a long time",
        AlertKind.DOOR_LEFT_OPEN: "front door left open",
        AlertKind.DEVICE_OFFLINE: "a device is offline",
        AlertKind.BATTERY_LOW: "a device battery is low",
    },
}


def alert_text(
    language: str, who: str, kind: AlertKind, at: datetime, tz: ZoneInfo, centre_phone: str
) -> str:
    lang = language if language in _WHAT else "zh-CN"
    when = at.astimezone(tz).strftime("%H:%M")
    what = _WHAT[lang][kind]
    if lang == "en":
        return f"Eldercare: {who} {what} at {when}. Care centre is on it: {centre_phone}"
    return f"【颐养安】{who}于{when}{what}，护理中心已接警，电话{centre_phone}"
