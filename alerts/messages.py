"""Texts families and supervisors receive (CONTRACT.md §4).

Short, in the recipient's language (``zh-CN`` default, ``en``), one SMS segment
where possible: who, what, when (in the home's time zone) and the care-centre
phone number. Each text has a full wording and shorter fallbacks; the first
that fits one segment is used, and the shortest when none does (a very long
name): "one segment where possible", never a cut name or number.

One segment is 160 GSM-7 characters (the extension characters ``^{}[]~|€\\``
count twice) or 70 UCS-2 code units once any other character appears (all
Chinese text); a longer message is split into 153 / 67 unit parts.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from eldercare.domain import AlertKind

ZH = "zh-CN"
EN = "en"

_WHAT = {
    ZH: {
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
    EN: {
        AlertKind.SOS: "SOS button pressed",
        AlertKind.FALL: "possible fall",
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

# --- SMS encoding -----------------------------------------------------------------

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


def sms_encoding(text: str) -> str:
    """``GSM-7`` when every character is in the GSM 03.38 alphabet, else ``UCS-2``."""
    ok = all(c in _GSM7_BASIC or c in _GSM7_EXTENSION for c in text)
    return "GSM-7" if ok else "UCS-2"


def sms_units(text: str) -> int:
    """Length as the network counts it: GSM-7 septets or UTF-16 code units."""
    if sms_encoding(text) == "GSM-7":
        return sum(2 if c in _GSM7_EXTENSION else 1 for c in text)
    return len(text.encode("utf-16-le")) // 2


def sms_segments(text: str) -> int:
    """How many SMS parts the text is sent as."""
    units = sms_units(text)
    single, part = (160, 153) if sms_encoding(text) == "GSM-7" else (70, 67)
    return 1 if units <= single else -(-units // part)


def _fit(*variants: str) -> str:
    for text in variants:
        if sms_segments(text) == 1:
            return text
    return variants[-1]


# --- texts ------------------------------------------------------------------------


def language(code: str | None) -> str:
    """``en`` for any English tag (``en``, ``en-US``…), else the default ``zh-CN``."""
    return EN if code and code.lower().startswith("en") else ZH


def what_text(lang: str, kind: AlertKind) -> str:
    return _WHAT[language(lang)][kind]


def _hhmm(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%H:%M")


def alert_text(
    language_code: str, who: str, kind: AlertKind, at: datetime, tz: ZoneInfo, centre_phone: str
) -> str:
    """The first family SMS of an alert (and its repeats)."""
    when, what = _hhmm(at, tz), what_text(language_code, kind)
    if language(language_code) == EN:
        return _fit(
            f"Eldercare alert for {who}: {what} at {when}. "
            f"The care centre is on it: {centre_phone}",
            f"Eldercare: {who}: {what} at {when}. Care centre: {centre_phone}",
            f"{who}: {what} {when}. Call {centre_phone}",
        )
    return _fit(
        f"【颐养安】{who}于{when}{what}，护理中心已接警，电话{centre_phone}",
        f"【颐养安】{who}{when}{what}，护理中心电话{centre_phone}",
        f"{who}{when}{what}，电话{centre_phone}",
    )


def supervisor_text(
    language_code: str,
    who: str,
    kind: AlertKind,
    at: datetime,
    tz: ZoneInfo,
    alert_id: int,
    *,
    not_on_site: bool = False,
) -> str:
    """To the care-centre supervisor: an alert nobody has acknowledged (or reached) yet."""
    when, what = _hhmm(at, tz), what_text(language_code, kind)
    if language(language_code) == EN:
        state = "nobody on site yet" if not_on_site else "not acknowledged yet"
        return _fit(
            f"Eldercare supervisor: alert #{alert_id} for {who} ({what}, {when}) is {state}. "
            "Please follow up.",
            f"Alert #{alert_id} {who}: {what} {when}, {state}",
        )
    state = "仍无人到场" if not_on_site else "尚未确认"
    return _fit(
        f"【颐养安督导】告警#{alert_id}：{who}于{when}{what}，{state}，请跟进",
        f"告警#{alert_id}{who}{when}{what}，{state}",
    )


def window_warning_text(
    language_code: str, who: str, kind: AlertKind, deadline: datetime, tz: ZoneInfo, alert_id: int
) -> str:
    """To the supervisor: the response window is about to be missed."""
    by, what = _hhmm(deadline, tz), what_text(language_code, kind)
    if language(language_code) == EN:
        return _fit(
            f"Eldercare supervisor: alert #{alert_id} for {who} ({what}) will miss its "
            f"response window at {by}: nobody on site yet. Act now.",
            f"Alert #{alert_id} {who}: window ends {by}, nobody on site",
        )
    return _fit(
        f"【颐养安督导】告警#{alert_id}即将超时：{who}{what}，{by}前仍无人到场，请立即处理",
        f"告警#{alert_id}{who}{what}，{by}前无人到场",
    )


def window_breached_text(
    language_code: str,
    who: str,
    kind: AlertKind,
    deadline: datetime,
    tz: ZoneInfo,
    centre_phone: str,
) -> str:
    """To everyone (family and supervisor): nobody reached the person in the window."""
    by, what = _hhmm(deadline, tz), what_text(language_code, kind)
    if language(language_code) == EN:
        return _fit(
            f"Eldercare: nobody has reached {who} ({what}) by {by}. The alert is escalated; "
            f"please go if you can. Care centre: {centre_phone}",
            f"Eldercare: nobody reached {who} by {by}. Care centre: {centre_phone}",
        )
    return _fit(
        f"【颐养安】{who}{what}，{by}前仍无人到场，已升级处理，如能前往请尽快，电话{centre_phone}",
        f"【颐养安】{who}{what}，{by}前无人到场，电话{centre_phone}",
        f"{who}{by}前无人到场，电话{centre_phone}",
    )


def storm_summary_text(language_code: str, count: int, who: str, centre_phone: str) -> str:
    """One SMS instead of a flood: the recipient is past the hourly quota."""
    if language(language_code) == EN:
        return _fit(
            f"Eldercare: {count} more alerts for {who} in the last hour; the care centre "
            f"screen shows them all. Care centre: {centre_phone}",
            f"Eldercare: {count} more alerts for {who}. Care centre: {centre_phone}",
        )
    return _fit(
        f"【颐养安】{who}近一小时另有{count}条告警，详见护理中心屏幕，电话{centre_phone}",
        f"【颐养安】{who}另有{count}条告警，电话{centre_phone}",
    )


def voice_text(
    language_code: str, who: str, kind: AlertKind, at: datetime, tz: ZoneInfo, centre_phone: str
) -> str:
    """What the voice call says (no length limit; the phone number read digit by digit)."""
    when, what = _hhmm(at, tz), what_text(language_code, kind)
    digits = " ".join(c for c in centre_phone if c.isdigit())
    if language(language_code) == EN:
        return (
            f"This is the Eldercare care centre. {who}: {what} at {when}. "
            f"The care centre has the alert. Please call or go there as soon as you can. "
            f"The care centre number is {digits}."
        )
    return (
        f"您好，这里是颐养安护理中心。{who}于{when}{what}。护理中心已接警，"
        f"请尽快联系或前往。护理中心电话：{digits}。"
    )
