"""Family and supervisor SMS texts: who, what, when, the care-centre phone; one segment."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.messages import (
    alert_text,
    sms_encoding,
    sms_segments,
    storm_summary_text,
    supervisor_text,
    voice_text,
    window_breached_text,
    window_warning_text,
)
from eldercare.domain import AlertKind

AT = datetime(2026, 11, 26, 19, 5, tzinfo=UTC)  # 03:05 in Shanghai
DEADLINE = datetime(2026, 11, 26, 19, 15, tzinfo=UTC)  # 03:15 in Shanghai
TZ = ZoneInfo("Asia/Shanghai")
PHONE = "+8657100000000"
# The longest names a template must still fit: a four-character Chinese name and
# a long romanised one.
WHO = {"zh-CN": "欧阳秀英", "en": "Ouyang Xiuying-Wang"}
LANGS = ["zh-CN", "en"]


def _one_segment(text: str, lang: str) -> None:
    assert sms_segments(text) == 1, (len(text), text)
    if lang == "en":
        assert sms_encoding(text) == "GSM-7", text
        assert len(text) <= 160
    else:
        assert len(text) <= 70  # UCS-2: 70 characters a segment


def test_chinese_sos_text_names_who_when_and_the_phone() -> None:
    text = alert_text("zh-CN", "王秀英", AlertKind.SOS, AT, TZ, PHONE)
    assert text == "【颐养安】王秀英于03:05按下了紧急呼叫，护理中心已接警，电话+8657100000000"


def test_english_text_names_who_when_and_the_phone() -> None:
    text = alert_text("en", "Wang Xiuying", AlertKind.FALL, AT, TZ, PHONE)
    assert text == (
        "Eldercare alert for Wang Xiuying: possible fall at 03:05. "
        "The care centre is on it: +8657100000000"
    )


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


def test_a_very_long_name_is_never_cut_but_the_wording_gets_shorter() -> None:
    long_name = "Maximilian Alexander von Hohenstein-Wittgenstein the Third of Somewhere"
    text = alert_text("en", long_name, AlertKind.SOS, AT, TZ, PHONE)
    assert long_name in text and PHONE in text
    assert sms_segments(text) == 1
    assert not text.startswith("Eldercare alert for")  # a shorter wording was chosen


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


@pytest.mark.parametrize("lang", LANGS)
def test_voice_text_reads_the_number_digit_by_digit(lang: str) -> None:
    text = voice_text(lang, WHO[lang], AlertKind.SOS, AT, TZ, PHONE)
    assert "8 6 5 7 1 0 0 0 0 0 0 0 0" in text and "03:05" in text
