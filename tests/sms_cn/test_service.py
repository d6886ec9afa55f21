"""The composition root with a domestic provider: the real service (Mosquitto →
gateway → detector → alert → escalation loop) built from settings with
``ELDERCARE_SMS_PROVIDER=aliyun`` beside Twilio, both look-alikes running: the
+86 contact gets Aliyun's template SMS, the overseas child Twilio's text, and
Aliyun's delivery report comes back through the service's own API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from eldercare.app import Service
from eldercare.clock import ManualClock
from eldercare.settings import Settings
from eldercare.store.base import AlertFilter
from simulators.aliyun_server import AliyunServer
from simulators.home import DemoHome
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher
from simulators.twilio_server import TwilioServer, new_sid
from tests.e2e.helpers import eventually, free_port
from tests.sms_cn.conftest import ALIYUN_KEY, ALIYUN_SECRET, TOKEN

ADMIN_PASSWORD = "s3cret-admin-pw"
CHILD = "+447700900002"


async def test_the_service_sends_through_aliyun_and_twilio_by_number(
    mosquitto: Any, tmp_path: Any
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    sid = new_sid("AC")
    async with (
        AliyunServer(
            ALIYUN_KEY, ALIYUN_SECRET, report_url=f"{public}/aliyun/sms/report/{TOKEN}"
        ) as aliyun,
        TwilioServer(sid, "twilio-token-0123456789") as twilio,
    ):
        settings = Settings.load(
            env={
                "ELDERCARE_SMS_PROVIDER": "aliyun",
                "ELDERCARE_ALIYUN_ACCESS_KEY_ID": ALIYUN_KEY,
                "ELDERCARE_ALIYUN_ACCESS_KEY_SECRET": ALIYUN_SECRET,
                "ELDERCARE_ALIYUN_SMS_ENDPOINT": aliyun.base_url,
                "ELDERCARE_ALIYUN_VOICE_ENDPOINT": aliyun.base_url,
                "ELDERCARE_SMS_CALLBACK_TOKEN": TOKEN,
                "ELDERCARE_TWILIO_ACCOUNT_SID": sid,
                "ELDERCARE_TWILIO_AUTH_TOKEN": "twilio-token-0123456789",
                "ELDERCARE_TWILIO_FROM": "+15005550006",
                "ELDERCARE_TWILIO_BASE_URL": twilio.base_url,
            }
        ).with_(
            mqtt_url=f"mqtt://127.0.0.1:{mosquitto.port}",
            database_url=f"sqlite:///{tmp_path}/cn.db",
            api_port=port,
            public_url=public,
            admin_password=ADMIN_PASSWORD,
            mqtt_client_id=f"gw-{port}",
        )
        clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
        service = Service(settings, clock=clock)
        async with service:
            task = asyncio.create_task(service.run())
            try:
                async with httpx.AsyncClient(base_url=public, timeout=5) as client:

                    async def ready() -> bool | None:
                        try:
                            answer = await client.get("/readyz")
                        except httpx.HTTPError:
                            return None
                        return True if answer.status_code == 200 else None

                    await eventually(ready, timeout=15)
                    await provision_homes(public, "admin", ADMIN_PASSWORD, [DemoHome("h1", 0)])
                    await service.store.create_contact("h1", "Child", CHILD, "en", 2)
                    async with DevicePublisher("127.0.0.1", mosquitto.port) as pub:
                        await pub.event("h1", "h1-sos", {"action": "press"})

                    async def texted() -> bool | None:
                        return True if aliyun.sent else None

                    await eventually(texted)  # contact #1 (+86) through Aliyun at once
                    assert aliyun.sent[0].phone == "13800000000"
                    assert aliyun.sent[0].text.startswith("【颐养安】")
                    assert twilio.messages == []
                    alert_id = (await service.store.list_alerts(AlertFilter()))[0].id

                    async def reported() -> list[str] | None:
                        timeline = await service.store.get_timeline(alert_id)
                        found = [e.details["status"] for e in timeline if e.event == "delivery"]
                        return found or None

                    assert await eventually(reported) == ["delivered"]  # pushed to our API

                    clock.advance(61)  # every contact: the child abroad through Twilio

                    async def child_texted() -> bool | None:
                        return True if twilio.messages else None

                    await eventually(child_texted)
                    assert [m.to for m in twilio.messages] == [CHILD]
                    assert len(aliyun.sent) == 1  # contact #1 already had the alert text

                    async def notified() -> list[str] | None:
                        # The timeline's "notified" entry is written after the request is
                        # answered, so it can trail the message the server has seen.
                        timeline = await service.store.get_timeline(alert_id)
                        found = [e.details["channel"] for e in timeline if e.event == "notified"]
                        return found if len(found) >= 2 else None

                    assert await eventually(notified) == ["aliyun_sms", "twilio_sms"]
            finally:
                service.request_stop()
                await asyncio.wait_for(task, 15)
