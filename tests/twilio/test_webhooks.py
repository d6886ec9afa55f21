"""Twilio webhooks on the real API: signed status callbacks and family replies
reach the engine's DeliveryEvents; anything unsigned is 403 and records nothing.

The engine's side is the RecordingDelivery of conftest (the escalation engine was
not wired when these were written); the API, the Twilio server, the signatures
and the HTTP between them are real."""

from __future__ import annotations

import httpx
from twilio.request_validator import RequestValidator

from alerts.channels import Outbound
from alerts.twilio_channels import TwilioSms, TwilioVoice
from dashboard_api.context import AppContext
from simulators.twilio_server import TwilioServer
from tests.e2e.helpers import eventually
from tests.twilio.conftest import AUTH_TOKEN, RecordingDelivery

TO = "+8613800000001"


async def test_an_undelivered_sms_reaches_on_delivery_status_signed(
    api: AppContext, sms: TwilioSms, twilio: TwilioServer, delivery: RecordingDelivery
) -> None:
    twilio.fail_number(TO, "undelivered")
    receipt = await sms.send_sms(Outbound(1, "a1:s0:c1", TO, "SOS"))

    async def final() -> list[str] | None:
        seen = delivery.statuses_of(receipt.provider_id)
        return seen if "undelivered" in seen else None

    assert await eventually(final) == ["sent", "undelivered"]
    sid, status, _, details = delivery.statuses[-1]
    assert (sid, status) == (receipt.provider_id, "undelivered")
    assert details["channel"] == "sms" and details["to"] == TO and details["error_code"] == "30003"
    assert all(cb.answer == 204 for cb in twilio.callbacks)


async def test_a_delivered_sms_reports_sent_then_delivered(
    api: AppContext, sms: TwilioSms, twilio: TwilioServer, delivery: RecordingDelivery
) -> None:
    receipt = await sms.send_sms(Outbound(1, "a1:s0:c1", TO, "SOS"))

    async def final() -> list[str] | None:
        seen = delivery.statuses_of(receipt.provider_id)
        return seen if "delivered" in seen else None

    assert await eventually(final) == ["sent", "delivered"]


async def test_call_statuses_reach_on_delivery_status(
    api: AppContext, voice: TwilioVoice, twilio: TwilioServer, delivery: RecordingDelivery
) -> None:
    twilio.fail_number("+8613800000002", "no-answer")
    answered = await voice.call(Outbound(1, "a1:call:c1", TO, "您好", language="zh-CN"))
    missed = await voice.call(Outbound(1, "a1:call:c2", "+8613800000002", "您好"))

    async def final() -> tuple[list[str], list[str]] | None:
        a, m = delivery.statuses_of(answered.provider_id), delivery.statuses_of(missed.provider_id)
        return (a, m) if "completed" in a and "no-answer" in m else None

    a, m = await eventually(final)
    assert a == ["initiated", "ringing", "in-progress", "completed"]
    assert m == ["initiated", "ringing", "no-answer"]
    details = [d for sid, _, _, d in delivery.statuses if sid == answered.provider_id][-1]
    assert details["channel"] == "voice" and details["call_duration"] == "12"


async def test_a_family_reply_reaches_on_family_reply_and_gets_empty_twiml(
    api: AppContext, twilio: TwilioServer, delivery: RecordingDelivery, public_url: str
) -> None:
    callback = await twilio.send_inbound_sms(
        f"{public_url}/twilio/sms/inbound", from_=TO, body="收到", to="+15005550006"
    )
    assert callback.answer == 200
    assert callback.response_text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert [(phone, body) for phone, body, _ in delivery.replies] == [(TO, "收到")]


def _signed(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


STATUS = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "To": TO}
REPLY = {"MessageSid": "SM" + "2" * 32, "From": TO, "Body": "OK"}


async def test_a_bad_or_missing_signature_is_403_and_records_nothing(
    api: AppContext, delivery: RecordingDelivery, public_url: str
) -> None:
    async with httpx.AsyncClient(base_url=public_url, timeout=5) as client:
        for path, params in (("/twilio/sms/status", STATUS), ("/twilio/sms/inbound", REPLY)):
            url = public_url + path
            tampered = {**params, "Body": "1"} if "Body" in params else {**params, "To": "+1"}
            attempts = [
                {},  # missing
                {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},  # made up
                _signed(url, params, token="another-account-token"),  # wrong key
                _signed("https://elsewhere.example" + path, params),  # wrong URL
            ]
            for headers in attempts:
                response = await client.post(path, data=params, headers=headers)
                assert response.status_code == 403, (path, headers, response.text)
            # a signature for other form fields than the ones sent
            response = await client.post(path, data=tampered, headers=_signed(url, params))
            assert response.status_code == 403
        voice = {"CallSid": "CA" + "3" * 32, "CallStatus": "completed"}
        response = await client.post("/twilio/voice/status", data=voice)
        assert response.status_code == 403
    assert delivery.statuses == [] and delivery.replies == []
    assert (
        api.metrics.value(
            "eldercare_twilio_webhooks_total", hook="sms_status", result="bad_signature"
        )
        == 5
    )


async def test_a_signed_request_is_accepted_and_a_twilio_retry_is_handled_once(
    api: AppContext, delivery: RecordingDelivery, public_url: str
) -> None:
    url = public_url + "/twilio/sms/status"
    headers = _signed(url, STATUS) | {"I-Twilio-Idempotency-Token": "retry-token-1"}
    async with httpx.AsyncClient(base_url=public_url, timeout=5) as client:
        first = await client.post("/twilio/sms/status", data=STATUS, headers=headers)
        again = await client.post("/twilio/sms/status", data=STATUS, headers=headers)
    assert first.status_code == again.status_code == 204
    assert [(sid, s) for sid, s, _, _ in delivery.statuses] == [(STATUS["MessageSid"], "delivered")]


async def test_without_the_engine_a_signed_webhook_is_503_with_a_reason(
    api: AppContext, public_url: str
) -> None:
    api.delivery = None
    url = public_url + "/twilio/sms/inbound"
    async with httpx.AsyncClient(base_url=public_url, timeout=5) as client:
        response = await client.post("/twilio/sms/inbound", data=REPLY, headers=_signed(url, REPLY))
    assert response.status_code == 503
    assert "engine" in response.json()["detail"]
