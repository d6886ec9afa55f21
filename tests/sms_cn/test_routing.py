"""The provider per centre and per contact, as the service builds it from settings:
every provider's look-alike (and the Twilio one) running, messages sent through
the router the composition root makes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alerts.channels import Outbound
from alerts.sms_routing import SmsRouter, attach_store, build_channels
from alerts.twilio_channels import close_channels
from eldercare.domain import Home
from eldercare.settings import Settings, SettingsError
from eldercare.store import open_store
from eldercare.store.base import Store
from simulators.aliyun_server import AliyunServer
from simulators.tencent_server import TencentServer
from simulators.twilio_server import TwilioServer, new_sid
from tests.sms_cn.conftest import (
    ALIYUN_KEY,
    ALIYUN_SECRET,
    TENCENT_APP,
    TENCENT_ID,
    TENCENT_KEY,
)

PARAMS = {"who": "王家", "what": "按下了紧急呼叫", "time": "02:13", "phone": "057100000000"}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(f"sqlite:///{tmp_path}/r.db")
    await s.migrate()
    await s.create_home(Home("h1", "王家", "", "Asia/Shanghai"))
    yield s
    await s.close()


async def test_centre_provider_contact_override_and_overseas_number(store: Store) -> None:
    sid = new_sid("AC")
    async with (
        TwilioServer(sid, "twilio-token") as twilio,
        AliyunServer(ALIYUN_KEY, ALIYUN_SECRET) as aliyun,
        TencentServer(TENCENT_ID, TENCENT_KEY, TENCENT_APP) as tencent,
    ):
        settings = Settings.load(
            {
                "ELDERCARE_SMS_PROVIDER": "aliyun",
                "ELDERCARE_TWILIO_ACCOUNT_SID": sid,
                "ELDERCARE_TWILIO_AUTH_TOKEN": "twilio-token",
                "ELDERCARE_TWILIO_FROM": "+15005550006",
                "ELDERCARE_TWILIO_BASE_URL": twilio.base_url,
                "ELDERCARE_ALIYUN_ACCESS_KEY_ID": ALIYUN_KEY,
                "ELDERCARE_ALIYUN_ACCESS_KEY_SECRET": ALIYUN_SECRET,
                "ELDERCARE_ALIYUN_SMS_ENDPOINT": aliyun.base_url,
                "ELDERCARE_ALIYUN_VOICE_ENDPOINT": aliyun.base_url,
                "ELDERCARE_TENCENT_SECRET_ID": TENCENT_ID,
                "ELDERCARE_TENCENT_SECRET_KEY": TENCENT_KEY,
                "ELDERCARE_TENCENT_SMS_SDK_APP_ID": TENCENT_APP,
                "ELDERCARE_TENCENT_SMS_ENDPOINT": tencent.base_url,
            }
        )
        sms, voice = build_channels(settings)
        assert isinstance(sms, SmsRouter) and sms.centre == "aliyun"
        attach_store(store, sms, voice)
        mainland = await store.create_contact("h1", "Son", "+8613800000001", "zh-CN", 1)
        overseas = await store.create_contact("h1", "Daughter", "+14155550100", "en", 2)
        chosen = await store.create_contact("h1", "Niece", "+8613800000003", "zh-CN", 3, "tencent")
        via: list[str] = []
        try:
            for i, c in enumerate([mainland, overseas, chosen]):
                message = Outbound(
                    1,
                    f"a1.k{i}",
                    c.phone,
                    "Eldercare: SOS",
                    c.language,
                    "family",
                    c.id,
                    template="alert",
                    params=PARAMS,
                )
                via.append((await sms.send_sms(message)).details["via"])
            await voice.call(
                Outbound(
                    1,
                    "a1.v",
                    mainland.phone,
                    "您好",
                    "zh-CN",
                    "family",
                    mainland.id,
                    template="voice",
                    params=PARAMS,
                )
            )
        finally:
            await close_channels(sms, voice)
        assert [s.phone for s in aliyun.sent if s.kind == "sms"] == ["13800000001"]
        assert [s.phone for s in aliyun.sent if s.kind == "call"] == ["13800000001"]
        assert [m.to for m in twilio.messages] == ["+14155550100"]  # the overseas child
        assert twilio.messages[0].body == "Eldercare: SOS"
        assert [s.phone for s in tencent.sent] == ["+8613800000003"]  # the override
        assert via == ["aliyun_sms", "twilio_sms", "tencent_sms"]  # named on the timeline


def test_a_provider_without_its_credentials_stops_the_start() -> None:
    with pytest.raises(SettingsError, match="ELDERCARE_ALIYUN_ACCESS_KEY_ID"):
        Settings.load({"ELDERCARE_SMS_PROVIDER": "aliyun"})
    with pytest.raises(SettingsError, match="TENCENT_SMS_SDK_APP_ID"):
        Settings.load(
            {
                "ELDERCARE_SMS_PROVIDER": "tencent",
                "ELDERCARE_TENCENT_SECRET_ID": "x",
                "ELDERCARE_TENCENT_SECRET_KEY": "y",
            }
        )
    with pytest.raises(SettingsError, match="must be one of"):
        Settings.load({"ELDERCARE_SMS_PROVIDER": "sinch"})
    with pytest.raises(SettingsError, match="ELDERCARE_ALIYUN_SMS_ENDPOINT"):
        Settings.load({"ELDERCARE_ALIYUN_SMS_ENDPOINT": "ftp://127.0.0.1:21"})


def test_a_bad_templates_file_stops_the_start_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text("[aliyun]\n", "utf-8")
    settings = Settings(
        aliyun_access_key_id="k", aliyun_access_key_secret="s", sms_templates=str(bad)
    )
    with pytest.raises(SettingsError, match="sign_name"):
        build_channels(settings)


def test_console_and_twilio_alone_are_unchanged() -> None:
    sms, voice = build_channels(Settings())
    assert sms.name == "console" and voice is sms
    sms, _ = build_channels(
        Settings(
            twilio_account_sid="AC1",
            twilio_auth_token="t",
            twilio_from="+15005550006",
            sms_provider="console",
        )
    )
    assert sms.name == "console"
