"""Texts families and supervisors receive (CONTRACT.md §4).

Short, in the recipient's language (``zh-CN`` default, ``en``), one SMS segment
where possible: who, what, when (in the home's time zone) and the care-centre
phone number. Each text has a full wording and shorter fallbacks, tried in
order; the first that fits one segment is used. What goes first: the
decoration (the longer phone label, then the 【颐养安】 / "Eldercare"
signature), then the sentence saying what the care centre is doing, then the
reply instruction; who, what, when and the phone number always stay. Only when
no wording fits is the name cut shorter (with an ellipsis), never the number.

Every text says only what is true when it is sent (Issue 18 item 2): before
anyone acknowledged, "the care centre is being alerted"; "the care centre has
the alarm" after an acknowledgement; "staff are on their way" only after a
dispatch. Family texts that a reply can act on end with how to answer (reply
``1``; ``收到`` and ``OK`` work too): ``reply=False`` leaves that line out
(for a provider that carries no replies). Names pass through
``alerts.sms_names.safe_name`` (no control characters, links or line breaks,
at most 20 characters).

One segment is 160 GSM-7 characters (the extension characters ``^{}[]~|€\\``
count twice) or 70 UCS-2 code units once any other character appears (all
Chinese text); a longer message is split into 153 / 67 unit parts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.sms_names import safe_name
from alerts.spoken_numbers import spoken_number
from eldercare.domain import AlertKind, AlertStatus, Outcome

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


_SHORTEST_NAME = 6


def _fit_name(who: str, lang: str, build: Callable[[str], Sequence[str]]) -> str:
    """The first wording of ``build(name)`` that fits one segment; only when none
    does, the same with the name cut shorter (down to a few characters)."""
    name = safe_name(who) or _NOBODY[language(lang)]
    texts = build(name)
    limit = len(name)
    while True:
        for text in texts:
            if sms_segments(text) == 1:
                return text
        limit -= 1
        if limit < _SHORTEST_NAME:
            return texts[-1]
        texts = build(safe_name(name, limit))


# --- texts ------------------------------------------------------------------------

_NOBODY = {ZH: "您的家人", EN: "your relative"}
"""Who, when the name has nothing printable left."""

_STATE: dict[str, dict[AlertStatus, tuple[str, str]]] = {
    # What the care centre is doing, said only once it is true: (full, short).
    ZH: {
        AlertStatus.OPEN: ("正在通知护理中心", ""),
        AlertStatus.ACKNOWLEDGED: ("护理中心已接警", "中心已接警"),
        AlertStatus.DISPATCHED: ("工作人员正在赶往", "人员已出发"),
        AlertStatus.ON_SITE: ("工作人员已到场", "人员已到场"),
        AlertStatus.RESOLVED: ("已处理", ""),
    },
    EN: {
        AlertStatus.OPEN: ("The care centre is being alerted.", ""),
        AlertStatus.ACKNOWLEDGED: ("The care centre has the alarm.", "Centre has it."),
        AlertStatus.DISPATCHED: ("Staff are on their way.", "Staff on the way."),
        AlertStatus.ON_SITE: ("Staff are with them.", "Staff there."),
        AlertStatus.RESOLVED: ("It has been dealt with.", ""),
    },
}

_REPLY = {
    ZH: ("回复1表示收到", "回复1表示收到"),
    EN: ("Reply 1 if you are handling it.", "Reply 1 if on it."),
}
"""How to answer (CONTRACT.md §4: 1, OK or 收到 stops repeats to that person)."""

_OUTCOME: dict[str, dict[Outcome, tuple[str, str]]] = {
    # (full, short)
    ZH: {
        Outcome.HANDLED: ("已处理完毕", "已处理完毕"),
        Outcome.TRANSFERRED: ("已送医院", "已送医院"),
        Outcome.FALSE_ALARM: ("经核实为误报", "为误报"),
        Outcome.NO_ACCESS: ("工作人员未能入户，请联系护理中心", "人员未能入户"),
    },
    EN: {
        Outcome.HANDLED: ("handled by the care centre", "handled"),
        Outcome.TRANSFERRED: ("taken to hospital", "taken to hospital"),
        Outcome.FALSE_ALARM: ("it was a false alarm", "false alarm"),
        Outcome.NO_ACCESS: ("staff could not get in, please call the care centre", "no access"),
    },
}
"""The all-clear's outcome in plain words (CONTRACT.md §2 outcomes)."""


def language(code: str | None) -> str:
    """``en`` for any English tag (``en``, ``en-US``…), else the default ``zh-CN``."""
    return EN if code and code.lower().startswith("en") else ZH


def what_text(lang: str, kind: AlertKind) -> str:
    return _WHAT[language(lang)][kind]


def state_text(lang: str, status: AlertStatus, *, short: bool = False) -> str:
    """What the care centre is doing about the alert in ``status``, in plain words."""
    return _STATE[language(lang)][status][1 if short else 0]


def reply_text(lang: str, *, short: bool = False) -> str:
    """The reply instruction: an optional part of every family text that asks for one."""
    return _REPLY[language(lang)][1 if short else 0]


def outcome_text(lang: str, outcome: Outcome, *, short: bool = False) -> str:
    return _OUTCOME[language(lang)][outcome][1 if short else 0]


def _hhmm(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%H:%M")


def _zh(brand: bool, *clauses: str, reply: str = "") -> str:
    """【颐养安】clause，clause，…。reply (empty parts left out)."""
    text = ("【颐养安】" if brand else "") + "，".join(c for c in clauses if c)
    return f"{text}。{reply}" if reply else text


def _en(*sentences: str) -> str:
    """Sentences joined by spaces, each ending in a full stop (empty ones left out)."""
    return " ".join(s if s.endswith((".", "!", "?")) else s + "." for s in sentences if s)


def _variants(texts: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(texts))


def alert_text(
    language_code: str,
    who: str,
    kind: AlertKind,
    at: datetime,
    tz: ZoneInfo,
    centre_phone: str,
    status: AlertStatus = AlertStatus.OPEN,
    *,
    reply: bool = True,
) -> str:
    """The family SMS of an alert, saying what is true in ``status``; with ``reply``,
    how to answer."""
    lang = language(language_code)
    when, what = _hhmm(at, tz), what_text(lang, kind)
    state, state_short = state_text(lang, status), state_text(lang, status, short=True)
    answer, answer_short = (reply_text(lang), reply_text(lang, short=True)) if reply else ("", "")

    def build(who: str) -> list[str]:
        if lang == EN:
            full = f"Eldercare alert for {who}: {what} at {when}"
            mid = f"Eldercare: {who}: {what} at {when}"
            bare = f"{who}: {what} {when}"
            label, call = f"Care centre: {centre_phone}", f"Call {centre_phone}"
            return _variants(
                [
                    _en(full, state, label, answer),
                    _en(full, state, call, answer),
                    _en(mid, state_short, call, answer),
                    _en(bare, state_short, call, answer),
                    _en(bare, call, answer),
                    _en(bare, call, answer_short),
                    _en(full, state, label),
                    _en(mid, state_short, call),
                    _en(bare, state_short, call),
                    _en(bare, call),
                ]
            )
        full, bare, phone = f"{who}于{when}{what}", f"{who}{when}{what}", f"电话{centre_phone}"
        return _variants(
            [
                _zh(True, full, state, phone, reply=answer),
                _zh(True, bare, state_short, phone, reply=answer),
                _zh(False, bare, state_short, phone, reply=answer),
                _zh(False, bare, phone, reply=answer),
                _zh(True, full, state, phone),
                _zh(True, bare, state_short, phone),
                _zh(False, bare, state_short, phone),
                _zh(False, bare, phone),
            ]
        )

    return _fit_name(who, lang, build)


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
    lang = language(language_code)
    when, what = _hhmm(at, tz), what_text(lang, kind)

    def build(who: str) -> list[str]:
        if lang == EN:
            state = "nobody on site yet" if not_on_site else "not acknowledged yet"
            brief = "no one there" if not_on_site else "not acked"
            return [
                f"Eldercare supervisor: alert #{alert_id} for {who} ({what}, {when}) is "
                f"{state}. Please follow up.",
                f"Alert #{alert_id} {who}: {what} {when}, {state}",
                f"#{alert_id} {who}: {what} {when}, {brief}",
            ]
        state = "仍无人到场" if not_on_site else "尚未确认"
        return [
            f"【颐养安督导】告警#{alert_id}：{who}于{when}{what}，{state}，请跟进",
            f"告警#{alert_id}{who}{when}{what}，{state}",
        ]

    return _fit_name(who, lang, build)


def incident_text(
    language_code: str, kind: AlertKind, at: datetime, tz: ZoneInfo, incident_id: int, members: int
) -> str:
    """To the supervisors, once per incident (alerts/incidents.py): a flood of alerts."""
    lang = language(language_code)
    when, what = _hhmm(at, tz), what_text(lang, kind)
    if lang == EN:
        return _fit(
            f"Eldercare supervisor: incident #{incident_id}: {what} in {members}+ homes since "
            f"{when} (power or network?). Family SMS held back; see the screen.",
            f"Incident #{incident_id}: {what} in {members}+ homes since {when}; family SMS held",
        )
    return _fit(
        f"【颐养安督导】事件#{incident_id}：{when}起{members}户以上{what}，疑似停电或网络故障，"
        "家属短信已暂停，请看大屏",
        f"事件#{incident_id}：{when}起{members}户以上{what}，家属短信已暂停",
    )


def window_warning_text(
    language_code: str, who: str, kind: AlertKind, deadline: datetime, tz: ZoneInfo, alert_id: int
) -> str:
    """To the supervisor: the response window is about to be missed."""
    lang = language(language_code)
    by, what = _hhmm(deadline, tz), what_text(lang, kind)

    def build(who: str) -> list[str]:
        if lang == EN:
            return [
                f"Eldercare supervisor: alert #{alert_id} for {who} ({what}) will miss its "
                f"response window at {by}: nobody on site yet. Act now.",
                f"Alert #{alert_id} {who}: window ends {by}, nobody on site",
            ]
        return [
            f"【颐养安督导】告警#{alert_id}即将超时：{who}{what}，{by}前仍无人到场，请立即处理",
            f"告警#{alert_id}{who}{what}，{by}前无人到场",
        ]

    return _fit_name(who, lang, build)


def window_breached_text(
    language_code: str,
    who: str,
    kind: AlertKind,
    deadline: datetime,
    tz: ZoneInfo,
    centre_phone: str,
    status: AlertStatus = AlertStatus.OPEN,
    *,
    reply: bool = False,
) -> str:
    """To everyone (family and supervisor): nobody reached the person in the window.
    Says what is under way (``status``); ``reply`` adds how to answer (families)."""
    lang = language(language_code)
    by, what = _hhmm(deadline, tz), what_text(lang, kind)
    # Open: nothing to claim. Acknowledged or dispatched: say so.
    state = state_text(lang, status) if status is not AlertStatus.OPEN else ""
    state_short = state_text(lang, status, short=True) if state else ""
    answer = reply_text(lang) if reply else ""

    def build(who: str) -> list[str]:
        if lang == EN:
            return _variants(
                [
                    _en(
                        f"Eldercare: nobody has reached {who} ({what}) by {by}",
                        state or "The alert is escalated.",
                        "Please go if you can",
                        f"Care centre: {centre_phone}",
                        answer,
                    ),
                    _en(
                        f"Eldercare: nobody reached {who} by {by}",
                        state_short,
                        f"Care centre: {centre_phone}",
                        answer,
                    ),
                    _en(
                        f"Eldercare: nobody reached {who} by {by}",
                        state_short,
                        f"Care centre: {centre_phone}",
                    ),
                    _en(f"Nobody reached {who} by {by}", state_short, f"Call {centre_phone}"),
                    _en(f"Nobody reached {who} by {by}", f"Call {centre_phone}"),
                ]
            )
        phone = f"电话{centre_phone}"
        return _variants(
            [
                _zh(
                    True,
                    f"{who}{what}",
                    f"{by}前仍无人到场",
                    state or "已升级处理",
                    "如能前往请尽快",
                    phone,
                    reply=answer,
                ),
                _zh(True, f"{who}{what}", f"{by}前无人到场", state_short, phone, reply=answer),
                _zh(False, f"{who}{what}", f"{by}前无人到场", state_short, phone, reply=answer),
                _zh(True, f"{who}{what}", f"{by}前无人到场", state_short, phone),
                _zh(False, f"{who}{by}前无人到场", phone),
            ]
        )

    return _fit_name(who, lang, build)


def all_clear_text(
    language_code: str,
    who: str,
    kind: AlertKind,
    at: datetime,
    tz: ZoneInfo,
    outcome: Outcome,
    centre_phone: str,
) -> str:
    """The closing SMS to every family contact who was told of the alert (Issue 18
    item 1): which alert, and how it ended, in plain words."""
    lang = language(language_code)
    when, what = _hhmm(at, tz), what_text(lang, kind)
    result, brief = outcome_text(lang, outcome), outcome_text(lang, outcome, short=True)

    def build(who: str) -> list[str]:
        if lang == EN:
            return _variants(
                [
                    _en(
                        f"Eldercare: the alert for {who} ({what}, {when}) is closed: {result}",
                        f"Care centre: {centre_phone}",
                    ),
                    _en(
                        f"Eldercare: {who} ({what}, {when}) closed: {result}",
                        f"Call {centre_phone}",
                    ),
                    _en(
                        f"Eldercare: {who} ({what}, {when}) closed: {brief}", f"Call {centre_phone}"
                    ),
                    _en(f"{who} {when} alert closed: {brief}", f"Call {centre_phone}"),
                ]
            )
        phone = f"电话{centre_phone}"
        return _variants(
            [
                _zh(True, f"告警已结束：{who}于{when}{what}", result, phone),
                _zh(True, f"告警结束：{who}{when}{what}", result, phone),
                _zh(True, f"告警结束：{who}{when}{what}", brief, phone),
                _zh(False, f"告警结束：{who}{when}", brief, phone),
            ]
        )

    return _fit_name(who, lang, build)


def storm_summary_text(language_code: str, count: int, who: str, centre_phone: str) -> str:
    """One SMS instead of a flood: the recipient is past the hourly quota."""
    lang = language(language_code)

    def build(who: str) -> list[str]:
        if lang == EN:
            return [
                f"Eldercare: {count} more alerts for {who} in the last hour; the care centre "
                f"screen shows them all. Care centre: {centre_phone}",
                f"Eldercare: {count} more alerts for {who}. Care centre: {centre_phone}",
            ]
        return [
            f"【颐养安】{who}近一小时另有{count}条告警，详见护理中心屏幕，电话{centre_phone}",
            f"【颐养安】{who}另有{count}条告警，电话{centre_phone}",
        ]

    return _fit_name(who, lang, build)


def voice_text(
    language_code: str,
    who: str,
    kind: AlertKind,
    at: datetime,
    tz: ZoneInfo,
    centre_phone: str,
    status: AlertStatus = AlertStatus.OPEN,
    *,
    listener: str | None = None,
) -> str:
    """What the voice call says (no length limit). The care-centre number is read
    the way ``listener`` (the called number) dials it: national groups at home
    (0571 0000 0000), the international form from abroad."""
    lang = language(language_code)
    when, what = _hhmm(at, tz), what_text(lang, kind)
    name = safe_name(who) or _NOBODY[lang]
    state = state_text(lang, status)
    number = spoken_number(centre_phone, listener, lang)
    if lang == EN:
        return (
            f"This is an automated call from Eldercare. {name}: {what} at {when}. {state} "
            f"Please call or go there as soon as you can. "
            f"The care centre number is {number}."
        )
    return (
        f"您好，这是颐养安的自动来电。{name}于{when}{what}，{state}。"
        f"请尽快联系或前往。护理中心电话：{number}。"
    )


def keypress_prompt(language_code: str) -> str:
    """Said at the end of a family call: how to tell the centre "I am handling it"
    by phone (the only way where SMS replies cannot arrive, e.g. +86 on Twilio)."""
    if language(language_code) == EN:
        return "If you are handling it, press 1."
    return "如果您正在处理，请按1。"
