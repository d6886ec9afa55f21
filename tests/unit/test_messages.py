"""Family SMS texts: who, what, when, the care-centre phone; one segment."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from alerts.messages import alert_text
from eldercare.domain import AlertKind

AT = datetime(2026, 11, 26, 19, 5, tzinfo=UTC)  # 03:05 in Shanghai
TZ = ZoneInfo("Asia/Shanghai")


def test_chinese_sos_text_names_who_when_and_the_phone() -> None:
    text = alert_text("zh-CN", "王秀英", AlertKind.SOS, AT, TZ, "+8657100000000")
    assert "王秀英" in text and "03:05" in text and "+8657100000000" in text
    assert "紧急呼叫" in text


def test_unknown_language_falls_back_to_chinese() -> None:
    assert alert_text("fr", "王秀英", AlertKind.SOS, AT, TZ, "+86571") == alert_text(
        "zh-CN", "王秀英", AlertKind.SOS, AT, TZ, "+86571"
    )


@pytest.mark.parametrize("kind", list(AlertKind))
def test_every_kind_fits_one_sms_segment(kind: AlertKind) -> None:
    zh = alert_text("zh-CN", "欧阳秀英", kind, AT, TZ, "+8657100000000")
    en = alert_text("en", "Wang Xiuying", kind, AT, TZ, "+8657100000000")
    assert len(zh) <= 70, zh  # UCS-2: 70 characters a segment
    assert len(en) <= 160, en  # GSM-7
    assert en.isascii()
