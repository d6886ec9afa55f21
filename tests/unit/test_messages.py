"""Family and supervisor SMS texts: who, what, when, the care-centre phone; one
segment; only what is true at that moment; how to answer; safe names."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.messages import (
    alert_text,
    all_clear_text,
    sms_encoding,
    sms_segments,
    storm_summary_text,
    supervisor_text,
    voice_text,
    window_breached_text,
    window_warning_text,
)
from alerts.sms_names import NAME_MAX, safe_name
from eldercare.domain import AlertKind, AlertStatus, Outcome

AT = datetime(2026, 11, 26, 19, 5, tzinfo=UTC)  # 03:05 in Shanghai
DEADLINE = datetime(2026, 11, 26, 19, 15, tzinfo=UTC)  # 03:15 in Shanghai
TZ = ZoneInfo("Asia/Shanghai")
PHONE = "+8657100000000"
# The longest names a template must still fit: a four-character Chinese name and
# a long romanised one.
WHO = {"zh-CN": "欧阳秀英", "en": "Ouyang Xiuying-Wang"}
LANGS = ["zh-CN", "en"]
# Realistic long names, as operators type them: a Uyghur name in Chinese, a home
# named by its address (the text's "who" when no resident is set), a long
# Spanish name, a Chinese name in an English SMS (which makes it UCS-2: 70
# characters), and a name past the limit.
LONG_NAMES = [
    "阿卜杜热合曼·艾买提江",
    "西湖区文三路128号3单元502室王家",
    "Maria Fernanda Rodriguez-Gonzalez",
    "欧阳秀英",
    "Ouyang Xiuying-Wang",
    "上海市浦东新区张江镇科苑路88弄12号1201室陈家老宅",
]


def _one_segment(text: str, lang: str) -> None:
    assert sms_segments(text) == 1, (len(text), text)
    if lang == "en":
        assert sms_encoding(text) == "GSM-7", text
        assert len(text) <= 160
    else:
        assert len(text) <= 70  # UCS-2: 70 characters a segment


def test_chinese_sos_text_names_who_when_the_phone_and_how_to_answer() -> None:
    text = alert_text("zh-CN", "王秀英", AlertKind.SOS, AT, TZ, PHONE)
    assert text == (
        "【颐养安】王秀英于03:05按下了紧急呼叫，正在通知护理中心，电话+8657100000000。回复1表示收到"
    )


def test_english_text_names_who_when_the_phone_and_how_to_answer() -> None:
    text = alert_text("en", "Wang Xiuying", AlertKind.FALL, AT, TZ, PHONE)
    assert text == (
        "Eldercare alert for Wang Xiuying: possible fall at 03:05. "
        "The care centre is being alerted. Care centre: +8657100000000. "
        "Reply 1 if you are handling it."
    )


@pytest.mark.parametrize("lang", LANGS)
def test_the_text_claims_only_what_is_true_at_each_status(lang: str) -> None:
    said = {st: alert_text(lang, WHO[lang], AlertKind.SOS, AT, TZ, PHONE, st) for st in AlertStatus}
    taken = "已接警" if lang == "zh-CN" else "has the alarm"
    on_way = "正在赶往" if lang == "zh-CN" else "on their way"
    assert taken not in said[AlertStatus.OPEN] and on_way not in said[AlertStatus.OPEN]
    assert ("正在通知护理中心" if lang == "zh-CN" else "being alerted") in said[AlertStatus.OPEN]
    assert taken in said[AlertStatus.ACKNOWLEDGED] and on_way not in said[AlertStatus.ACKNOWLEDGED]
    assert on_way in said[AlertStatus.DISPATCHED]


@pytest.mark.parametrize("lang", LANGS)
def test_the_reply_line_is_one_optional_part(lang: str) -> None:
    with_reply = alert_text(lang, WHO[lang], AlertKind.SOS, AT, TZ, PHONE)
    without = alert_text(lang, WHO[lang], AlertKind.SOS, AT, TZ, PHONE, reply=False)
    assert ("回复1" if lang == "zh-CN" else "Reply 1") in with_reply
    assert "1" not in without.replace(PHONE, "").replace("03:05", "")
    assert without in with_reply or len(without) < len(with_reply)


def test_time_is_in_the_homes_time_zone() -> None:
    text = alert_text("en", "Anna", AlertKind.SOS, AT, ZoneInfo("Europe/Berlin"), PHONE)
    assert "20:05" in text


def test_unknown_language_falls_back_to_chinese_and_english_tags_mean_english() -> None:
    zh = alert_text("zh-CN", "王秀英", AlertKind.SOS, AT, TZ, "+86571")
    assert alert_text("fr", "王秀英", AlertKind.SOS, AT, TZ, "+86571") == zh
    assert alert_text("en-GB", "Li", AlertKind.SOS, AT, TZ, "+86571") == alert_text(
        "en", "Li", AlertKind.SOS, AT, TZ, "+86571"
    )


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", list(AlertKind))
def test_every_kind_fits_one_sms_segment(kind: AlertKind, lang: str) -> None:
    who = WHO[lang]
    texts = [
        alert_text(lang, who, kind, AT, TZ, PHONE),
        supervisor_text(lang, who, kind, AT, TZ, 123456),
        supervisor_text(lang, who, kind, AT, TZ, 123456, not_on_site=True),
        window_warning_text(lang, who, kind, DEADLINE, TZ, 123456),
        window_breached_text(lang, who, kind, DEADLINE, TZ, PHONE),
    ]
    for text in texts:
        _one_segment(text, lang)
    family = [texts[0], texts[4]]
    assert all(PHONE in t for t in family)
    assert all(who in t for t in texts)


@pytest.mark.parametrize("lang", LANGS)
def test_storm_summary_fits_one_segment_and_counts(lang: str) -> None:
    text = storm_summary_text(lang, 128, WHO[lang], PHONE)
    _one_segment(text, lang)
    assert "128" in text and PHONE in text


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("who", LONG_NAMES)
@pytest.mark.parametrize("kind", list(AlertKind))
def test_every_text_fits_one_segment_with_long_names(lang: str, who: str, kind: AlertKind) -> None:
    family = [
        *(alert_text(lang, who, kind, AT, TZ, PHONE, st) for st in AlertStatus),
        *(
            window_breached_text(lang, who, kind, DEADLINE, TZ, PHONE, st, reply=True)
            for st in AlertStatus
        ),
        *(all_clear_text(lang, who, kind, AT, TZ, outcome, PHONE) for outcome in Outcome),
        storm_summary_text(lang, 128, who, PHONE),
    ]
    staff = [
        supervisor_text(lang, who, kind, AT, TZ, 123456),
        window_warning_text(lang, who, kind, DEADLINE, TZ, 123456),
    ]
    for text in family + staff:
        assert sms_segments(text) == 1, (len(text), text)
        assert len(text) <= (160 if sms_encoding(text) == "GSM-7" else 70), text
    for text in family:
        assert PHONE in text  # the number is never what gets cut
    shown = safe_name(who)
    assert all(shown[:6] in t for t in family + staff)  # the name, at worst shortened


@pytest.mark.parametrize(
    ("lang", "who"),
    [
        ("zh-CN", "阿卜杜热合曼·艾买提江"),
        ("zh-CN", "西湖区文三路128号3单元502室王家"),
        ("en", "Ouyang Xiuying-Wang"),
        ("en", "Maria Fernanda Rodriguez-Gonzalez"),
    ],
)
@pytest.mark.parametrize("kind", list(AlertKind))
def test_the_reply_line_fits_for_realistic_names(lang: str, who: str, kind: AlertKind) -> None:
    """(A Chinese name in an English SMS makes it UCS-2, 70 characters: there the
    reply line is what goes first, see the test above.)"""
    for status in (AlertStatus.OPEN, AlertStatus.DISPATCHED):
        text = alert_text(lang, who, kind, AT, TZ, PHONE, status)
        assert ("回复1" if lang == "zh-CN" else "Reply 1") in text, text
    breached = window_breached_text(lang, who, kind, DEADLINE, TZ, PHONE, reply=True)
    assert ("回复1" if lang == "zh-CN" else "Reply 1") in breached, breached


def test_a_long_name_is_cut_with_an_ellipsis_and_the_wording_gets_shorter() -> None:
    long_name = "Maximilian Alexander von Hohenstein-Wittgenstein the Third of Somewhere"
    text = alert_text("en", long_name, AlertKind.SOS, AT, TZ, PHONE)
    assert long_name not in text and safe_name(long_name) in text and PHONE in text
    assert safe_name(long_name) == "Maximilian Alexan..."
    assert sms_segments(text) == 1 and sms_encoding(text) == "GSM-7"  # "...", not "…"
    zh = alert_text(
        "zh-CN", "上海市浦东新区张江镇科苑路88弄12号1201室陈家老宅", AlertKind.SOS, AT, TZ, PHONE
    )
    assert "…" in zh and sms_segments(zh) == 1


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("王秀英", "王秀英"),
        ("Wang\nXiuying\r\t", "Wang Xiuying"),
        ("Wang\u202eXiu\u200bying", "WangXiuying"),  # bidi override, zero-width space
        ("王秀英 http://evil.example/pay?x=1", "王秀英"),
        ("点击t.cn/A6xyz领取", "点击 领取"),
        ("Li www.example.org now", "Li now"),
        ("Chen (chen.min@example.com)", "Chen"),
        ("【中国银行】王秀英", "中国银行王秀英"),  # cannot pose as an SMS signature
        ("J.R.R. Tolkien", "J.R.R. Tolkien"),
        ("\x00\x07", ""),
    ],
)
def test_names_lose_control_characters_links_and_line_breaks(raw: str, shown: str) -> None:
    assert safe_name(raw) == shown
    assert safe_name(shown) == shown  # idempotent


def test_names_are_cut_to_the_limit() -> None:
    assert len(safe_name("x" * 100)) == NAME_MAX
    assert safe_name("y" * 100).endswith("...")
    assert safe_name("王" * 100) == "王" * (NAME_MAX - 1) + "…"


def test_a_name_in_a_text_cannot_carry_a_link_or_a_new_line() -> None:
    who = "Wang\nCall http://evil.example now"
    for text in (
        alert_text("en", who, AlertKind.SOS, AT, TZ, PHONE),
        all_clear_text("zh-CN", who, AlertKind.SOS, AT, TZ, Outcome.HANDLED, PHONE),
        voice_text("en", who, AlertKind.SOS, AT, TZ, PHONE),
    ):
        assert "http" not in text and "evil" not in text and "\n" not in text


@pytest.mark.parametrize(
    ("outcome", "zh", "en"),
    [
        (Outcome.HANDLED, "已处理完毕", "handled"),
        (Outcome.TRANSFERRED, "已送医院", "taken to hospital"),
        (Outcome.FALSE_ALARM, "误报", "false alarm"),
        (Outcome.NO_ACCESS, "未能入户", "could not get in"),
    ],
)
def test_all_clear_says_the_outcome_in_plain_words(outcome: Outcome, zh: str, en: str) -> None:
    text_zh = all_clear_text("zh-CN", "王秀英", AlertKind.SOS, AT, TZ, outcome, PHONE)
    text_en = all_clear_text("en", "Wang Xiuying", AlertKind.SOS, AT, TZ, outcome, PHONE)
    assert zh in text_zh and "03:05" in text_zh and "紧急呼叫" in text_zh
    assert en in text_en and "03:05" in text_en


def test_segment_counting() -> None:
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("€" * 80) == 1  # extension characters count twice
    assert sms_segments("€" * 81) == 2
    assert sms_segments("中" * 70) == 1
    assert sms_segments("中" * 71) == 2
    assert sms_segments("中" * 135) == 3  # 67 a part once split
    assert sms_encoding("Hello [1]") == "GSM-7"
    assert sms_encoding("Hello “1”") == "UCS-2"


def test_voice_reads_the_number_as_a_chinese_listener_dials_it() -> None:
    text = voice_text("zh-CN", "王秀英", AlertKind.SOS, AT, TZ, PHONE, listener="+8613800000001")
    assert "0 5 7 1，0 0 0 0，0 0 0 0" in text and "03:05" in text
    assert "8 6" not in text
    mobile = voice_text("zh-CN", "王", AlertKind.SOS, AT, TZ, "+8613800138000")
    assert "1 3 8，0 0 1 3，8 0 0 0" in mobile


def test_voice_reads_the_international_form_to_a_listener_abroad() -> None:
    text = voice_text("en", "Wang", AlertKind.SOS, AT, TZ, PHONE, listener="+447700900002")
    assert "plus 8 6, 5 7 1, 0 0 0 0, 0 0 0 0" in text
    home = voice_text("en", "Wang", AlertKind.SOS, AT, TZ, PHONE, listener="+8613800000001")
    assert "0 5 7 1, 0 0 0 0, 0 0 0 0" in home and "plus" not in home


def test_voice_says_only_what_is_true() -> None:
    text = voice_text("zh-CN", "王秀英", AlertKind.SOS, AT, TZ, PHONE, AlertStatus.OPEN)
    assert "已接警" not in text and "正在通知护理中心" in text
