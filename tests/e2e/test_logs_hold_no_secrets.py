"""No secret and no whole phone number in any log line (Issue 13 item 4): the real
``eldercare serve`` process at DEBUG, its log captured to a file, through a whole
run: provisioning over the API with family contacts and a supervisor, an SOS
press on the broker, the first escalation SMS through the local Twilio server
and its status callbacks, a wrong and a right password, a family reply. Every
line is scanned for every secret of the run (the settings', the passwords, the
tokens) and for every phone number in full (E.164, URL-encoded, or its
national digits alone)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from eldercare.logs import mask_phone
from simulators.publisher import DevicePublisher
from simulators.twilio_server import TwilioServer, new_sid
from tests.api.serve_process import serve
from tests.e2e.helpers import eventually, free_port

DAUGHTER, SON, SUPERVISOR = "+8613812345678", "+447700912345", "+8613987654321"
CENTRE, FROM = "+8657188886666", "+15005550006"
PHONES = (DAUGHTER, SON, SUPERVISOR, CENTRE, FROM)
NATIONAL = {DAUGHTER: "13812345678", SON: "7700912345", SUPERVISOR: "13987654321"}
SECRETS = {
    "ELDERCARE_ADMIN_PASSWORD": "Adm1n-horse-battery-staple",
    "ELDERCARE_SECRET_KEY": "jwt-signing-key-" + "9" * 32,
    "ELDERCARE_TWILIO_AUTH_TOKEN": "twilio-auth-token-5f2c8e1d",
    "ELDERCARE_ALIYUN_ACCESS_KEY_SECRET": "aliyun-key-secret-77aa11",
    "ELDERCARE_TENCENT_SECRET_KEY": "tencent-secret-key-33bb44",
    "ELDERCARE_SMS_CALLBACK_TOKEN": "cn-callback-token-91xq",
}
NURSE_PASSWORD = "Nurse-violet-kettle-2046"
WRONG_PASSWORD = "wrong-guess-Pw-8812"


async def test_a_whole_run_at_debug_logs_no_secret_and_no_whole_phone_number(
    tmp_path: Path,
) -> None:
    api_port, mqtt_port = free_port(), free_port()
    public = f"http://127.0.0.1:{api_port}"
    sid = new_sid("AC")
    async with TwilioServer(sid, SECRETS["ELDERCARE_TWILIO_AUTH_TOKEN"]) as twilio:
        settings = SECRETS | {
            "ELDERCARE_API_PORT": str(api_port),
            "ELDERCARE_EMBEDDED_MQTT_PORT": str(mqtt_port),
            "ELDERCARE_PUBLIC_URL": public,
            "ELDERCARE_LOG_LEVEL": "DEBUG",
            "ELDERCARE_CARE_CENTRE_PHONE": CENTRE,
            "ELDERCARE_SMS_PROVIDER": "twilio",
            "ELDERCARE_TWILIO_ACCOUNT_SID": sid,
            "ELDERCARE_TWILIO_FROM": FROM,
            "ELDERCARE_TWILIO_BASE_URL": twilio.base_url,
            "ELDERCARE_ALIYUN_ACCESS_KEY_ID": "aliyun-key-id",
            "ELDERCARE_TENCENT_SECRET_ID": "tencent-secret-id",
            "ELDERCARE_TENCENT_SMS_SDK_APP_ID": "1400000000",
        }
        with serve(tmp_path, settings) as service:
            tokens = await run_the_day(service.admin_password, public, mqtt_port, twilio)
        lines = service.log.read_text(errors="replace").splitlines()

    assert len(lines) > 50, lines  # DEBUG lines of the whole run were written
    text = "\n".join(lines)
    assert "alert" in text and "twilio" in text.lower()
    secrets = [*SECRETS.values(), NURSE_PASSWORD, WRONG_PASSWORD, *tokens]
    found = []
    for number, line in enumerate(lines, 1):
        for secret in secrets:
            if secret in line:
                found.append(f"line {number}: a secret ({secret[:6]}…): {line[:300]}")
        for phone in PHONES:
            for form in (phone, quote(phone, safe=""), NATIONAL.get(phone, phone)):
                if form in line:
                    found.append(f"line {number}: {phone} in full: {line[:300]}")
    assert found == [], "\n".join(found)
    # The numbers are still told apart, masked: the daughter's SMS and her reply.
    assert mask_phone(DAUGHTER[1:]) == "86138****5678"
    assert "+86138****5678" in text


async def run_the_day(
    admin_password: str, public: str, mqtt_port: int, twilio: TwilioServer
) -> list[str]:
    """Provision, SOS, first SMS, logins, a family reply; the tokens issued."""
    tokens: list[str] = []
    async with httpx.AsyncClient(base_url=public, timeout=10) as client:

        async def login(username: str, password: str) -> httpx.Response:
            answer = await client.post(
                "/api/v1/auth/token", data={"username": username, "password": password}
            )
            if answer.status_code == 200:
                tokens.append(answer.json()["access_token"])
            return answer

        assert (await login("admin", admin_password)).status_code == 200
        client.headers["Authorization"] = f"Bearer {tokens[-1]}"
        docs: list[tuple[str, dict[str, Any]]] = [
            ("/api/v1/homes", {"id": "h1", "name": "王家", "timezone": "Asia/Shanghai"}),
            ("/api/v1/residents", {"id": "h1-r1", "home_id": "h1", "name": "王秀英"}),
            ("/api/v1/devices", {"id": "h1-sos", "home_id": "h1", "kind": "sos_button"}),
            (
                "/api/v1/contacts",
                {"home_id": "h1", "name": "女儿", "phone": DAUGHTER, "priority": 1},
            ),
            (
                "/api/v1/contacts",
                {"home_id": "h1", "name": "Son", "phone": SON, "language": "en", "priority": 2},
            ),
            (
                "/api/v1/users",
                {
                    "username": "nurse",
                    "password": NURSE_PASSWORD,
                    "role": "supervisor",
                    "phone": SUPERVISOR,
                },
            ),
        ]
        for path, doc in docs:
            answer = await client.post(path, json=doc)
            assert answer.status_code in (200, 201), (path, answer.text)

        assert (await login("nurse", WRONG_PASSWORD)).status_code == 401
        assert (await login("nurse", NURSE_PASSWORD)).status_code == 200

        async with DevicePublisher("127.0.0.1", mqtt_port) as pub:
            await pub.event("h1", "h1-sos", {"action": "press"})

        async def texted() -> bool | None:
            return True if twilio.messages_to(DAUGHTER) else None

        await eventually(texted, timeout=30)  # contact #1 at once
        await twilio.settle()  # its status callbacks came back to the service
        reply = await twilio.send_inbound_sms(f"{public}/twilio/sms/inbound", DAUGHTER, "收到")
        assert reply.answer == 200, reply.response_text
        alert_id = (await client.get("/api/v1/alerts")).json()["items"][0]["id"]

        async def replied() -> bool | None:
            detail = (await client.get(f"/api/v1/alerts/{alert_id}")).json()
            events = [e["event"] for e in detail["timeline"]]
            return True if "reply" in " ".join(events) else None

        await eventually(replied, timeout=15)
        await asyncio.sleep(0)  # (the loop turns once more before the service stops)
    return tokens


def test_masks_keep_the_prefix_and_the_last_digits() -> None:
    assert mask_phone("8613812345678") == "86138****5678"
    assert mask_phone("447700912345") == "4477****2345"
    assert re.fullmatch(r"\d+\*{4}\d+", mask_phone("15005550006"))
