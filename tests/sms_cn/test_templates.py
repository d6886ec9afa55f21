"""The registered templates as data: the packaged file is complete and every zh-CN
SMS fits one segment; a bad file stops the start naming the place; values keep
within the providers' rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerts.escalation_texts import AlertContext
from alerts.messages import sms_segments
from alerts.sms_templates import (
    KINDS,
    TemplateError,
    load_templates,
    national,
    template_call,
)
from eldercare.domain import Alert, AlertKind, AlertStatus, Severity

LONG = "请您务必尽快联系护理中心或直接前往老人家中查看，如无法前往请转告其他家人，"
PACKAGED = Path(__file__).parents[2] / "alerts" / "templates" / "sms_cn.toml"


def _alert(kind: AlertKind) -> Alert:
    raised = datetime(2026, 12, 3, 18, 13, tzinfo=UTC)
    return Alert(
        id=42,
        home_id="h1",
        subject="h1-r1",
        kind=kind,
        severity=Severity.CRITICAL,
        status=AlertStatus.OPEN,
        raised_at=raised,
        last_seen_at=raised,
        response_deadline=raised + timedelta(minutes=10),
        count=1,
        message="",
        device_id=None,
        resident_id="h1-r1",
    )


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
@pytest.mark.parametrize("kind", list(AlertKind))
def test_every_zh_family_sms_keeps_who_what_when_and_phone_in_one_segment(
    provider: str, kind: AlertKind
) -> None:
    t = load_templates()
    ctx = AlertContext(_alert(kind), "欧阳秀英", ZoneInfo("Asia/Shanghai"), "+8657100000000")
    for message, unless in (
        ("alert", "none"),
        ("alert", "acknowledged"),
        ("window_breached", "on_site"),
    ):
        template, params = template_call(ctx, message, unless, "family", "sms", "zh-CN")
        text = t.render(provider, template, "zh-CN", params)
        assert sms_segments(text) == 1, text
        assert "欧阳秀英" in text and "057100000000" in text
        assert ("02:13" in text) or ("02:23" in text)  # raised or deadline, Shanghai time


def test_repeat_is_the_step_that_stops_on_acknowledgement() -> None:
    ctx = AlertContext(_alert(AlertKind.SOS), "王家", ZoneInfo("Asia/Shanghai"), "+8657100000000")
    assert template_call(ctx, "alert", "none", "family", "sms", "zh-CN")[0] == "alert"
    assert template_call(ctx, "alert", "acknowledged", "family", "sms", "zh-CN")[0] == "repeat"
    assert template_call(ctx, "alert", "none", "family", "sms", "zh-CN", round=1)[0] == "repeat"
    kind, values = template_call(ctx, "all_clear", "none", "family", "sms", "zh-CN")
    assert kind == "all_clear" and values["result"] == "已处理完毕"
    assert values["state"] == "正在通知护理中心"  # said only once true: the alert is open
    assert template_call(ctx, "alert", "none", "family", "voice", "zh-CN")[0] == "voice"
    assert (
        template_call(ctx, "alert", "none", "family", "sms", "zh-CN", summary=True)[0] == "summary"
    )
    assert template_call(ctx, "window_warning", "on_site", "supervisor", "sms", "zh-CN")[0] == (
        "window_warning"
    )


def test_values_are_cut_to_the_provider_limit_and_links_removed() -> None:
    t = load_templates()
    long_name = "一二三四五六七八九十一二三四五"
    values = t.values("tencent", "alert", {"who": long_name, "what": "http://x.cn 跌倒"})
    assert values["who"] == long_name[:11] + "…" and len(values["who"]) == 12
    assert "http" not in values["what"]
    assert t.values("aliyun", "alert", {"who": long_name})["who"] == long_name  # 20 allowed


def test_national_phone_forms() -> None:
    assert national("+8657100000000") == "057100000000"
    assert national("+8613800000001") == "13800000001"
    assert national("+14155550100") == "+14155550100"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('en = "Eldercare: ${who}', 'en = "Eldercare: see https://x.example.com ${who}'), "link"),
        (("param_max_chars = 12", "param_max_chars = 99"), "param_max_chars"),
        (('tencent = { zh-CN = "2010001", en = "2010002" }', ""), "tencent needs a code"),
        (
            (
                'zh-CN = "${who}于${time}${what}，',
                'zh-CN = "${who}于${time}${what}，' + LONG,
            ),
            "more than one SMS segment",
        ),
        (('params = ["who", "time", "what", "phone"]', 'params = ["who", "time", "what"]'), "uses"),
    ],
)
def test_a_bad_templates_file_is_refused_naming_the_place(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    raw = PACKAGED.read_text("utf-8")
    assert change[0] in raw
    bad = tmp_path / "t.toml"
    bad.write_text(raw.replace(change[0], change[1], 1), "utf-8")
    with pytest.raises(TemplateError, match=message) as err:
        load_templates(bad)
    assert str(bad) in str(err.value)


def test_the_packaged_file_has_every_kind() -> None:
    assert sorted(load_templates().templates) == sorted(KINDS)
