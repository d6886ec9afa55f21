"""SMS and calls through the real ``twilio`` package to the local Twilio-compatible
server: what arrives, retries, idempotency, and the errors the engine sees."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from alerts.channels import Outbound, PermanentFailure, TemporaryFailure
from alerts.twilio_channels import TwilioConfig, TwilioSms, TwilioTransport, TwilioVoice
from simulators.twilio_server import TwilioServer
from tests.e2e.helpers import eventually
from tests.twilio.conftest import FROM

TO = "+8613800000001"
BODY = "【颐养安】王秀英于03:05按下了紧急呼叫，护理中心已接警，电话+8657100000000"


def outbound(step_key: str = "alert1:step0:contact1", to: str = TO) -> Outbound:
    return Outbound(alert_id=1, step_key=step_key, to=to, body=BODY)


async def test_sms_arrives_with_to_from_body_and_status_callback(
    sms: TwilioSms, twilio: TwilioServer, public_url: str
) -> None:
    receipt = await sms.send_sms(outbound())

    assert len(twilio.messages) == 1
    m = twilio.messages[0]
    assert (m.to, m.from_, m.body) == (TO, FROM, BODY)
    assert m.status_callback == f"{public_url}/twilio/sms/status"
    assert receipt.provider_id == m.sid and len(m.sid) == 34 and m.sid.startswith("SM")
    assert receipt.status == "queued"
    assert m.idempotency_token == "sms:alert1:step0:contact1"


async def test_wrong_auth_token_is_refused_like_twilio(
    config: TwilioConfig, twilio: TwilioServer
) -> None:
    transport = TwilioTransport(dataclasses.replace(config, auth_token="wrong"))
    try:
        with pytest.raises(PermanentFailure) as err:
            await TwilioSms(transport).send_sms(outbound())
    finally:
        await transport.aclose()
    assert err.value.status == 401
    assert twilio.messages == []
    assert twilio.requests == [
        ("POST", f"/2010-04-01/Accounts/{config.account_sid}/Messages.json", 401)
    ]


async def test_500_then_201_gives_exactly_one_sms_and_one_receipt(
    sms: TwilioSms, twilio: TwilioServer
) -> None:
    twilio.fail_next(1, 500)
    receipt = await sms.send_sms(outbound())
    assert [status for _, _, status in twilio.requests] == [500, 201]
    assert len(twilio.messages) == 1
    assert receipt.provider_id == twilio.messages[0].sid
    assert receipt.details["attempts"] == "2"


async def test_429_is_retried_too(sms: TwilioSms, twilio: TwilioServer) -> None:
    twilio.fail_next(2, 429)
    await sms.send_sms(outbound())
    assert [status for _, _, status in twilio.requests] == [429, 429, 201]
    assert len(twilio.messages) == 1


async def test_retries_used_up_is_a_temporary_failure(sms: TwilioSms, twilio: TwilioServer) -> None:
    twilio.fail_next(3, 503)
    with pytest.raises(TemporaryFailure) as err:
        await sms.send_sms(outbound())
    assert err.value.status == 503
    assert twilio.messages == [] and len(twilio.requests) == 3


async def test_an_invalid_number_is_a_permanent_failure_without_retry(
    sms: TwilioSms, twilio: TwilioServer
) -> None:
    with pytest.raises(PermanentFailure) as err:
        await sms.send_sms(outbound(to="12345"))
    assert err.value.status == 400 and "21211" in str(err.value)
    assert len(twilio.requests) == 1 and twilio.messages == []


async def test_a_timeout_after_the_server_accepted_is_retried_without_a_second_sms(
    config: TwilioConfig, twilio: TwilioServer
) -> None:
    """The first try is recorded but answered after the client gave up; the retry
    carries the same idempotency token and gets the same message back."""
    transport = TwilioTransport(dataclasses.replace(config, timeout_s=0.3))
    try:
        twilio.delay_next(1, 1.0)
        receipt = await TwilioSms(transport).send_sms(outbound())
    finally:
        await transport.aclose()
    assert len(twilio.messages) == 1
    assert receipt.provider_id == twilio.messages[0].sid
    assert receipt.details["attempts"] == "2"


async def test_a_later_retry_of_the_same_step_after_a_restart_sends_no_second_sms(
    config: TwilioConfig, twilio: TwilioServer
) -> None:
    """The engine gives up on an ambiguous failure, restarts (a new channel with an
    empty record) and runs the step again with the same step_key."""
    first = TwilioTransport(dataclasses.replace(config, timeout_s=0.3, attempts=1))
    twilio.delay_next(1, 1.0)
    try:
        with pytest.raises(TemporaryFailure):
            await TwilioSms(first).send_sms(outbound())
    finally:
        await first.aclose()
    second = TwilioTransport(config)
    try:
        receipt = await TwilioSms(second).send_sms(outbound())
    finally:
        await second.aclose()
    assert len(twilio.messages) == 1
    assert receipt.provider_id == twilio.messages[0].sid


async def test_the_same_step_twice_sends_once_even_at_the_same_moment(
    sms: TwilioSms, twilio: TwilioServer
) -> None:
    a, b = await asyncio.gather(sms.send_sms(outbound()), sms.send_sms(outbound()))
    again = await sms.send_sms(outbound())
    assert a == b == again
    assert len(twilio.messages) == 1
    other = await sms.send_sms(outbound(step_key="alert1:step1:contact1"))
    assert other.provider_id != a.provider_id and len(twilio.messages) == 2


async def test_a_messaging_service_replaces_from(
    config: TwilioConfig, twilio: TwilioServer
) -> None:
    service_sid = "MG" + "0" * 32
    transport = TwilioTransport(dataclasses.replace(config, messaging_service_sid=service_sid))
    try:
        receipt = await TwilioSms(transport).send_sms(outbound())
    finally:
        await transport.aclose()
    m = twilio.messages[0]
    assert m.field("MessagingServiceSid") == service_sid and m.from_ is None
    assert receipt.status == "accepted"


@pytest.mark.parametrize(
    ("lang", "tag"), [("zh-CN", 'language="zh-CN"'), ("en", 'language="en-US"')]
)
async def test_a_call_speaks_the_message_in_the_contacts_language(
    voice: TwilioVoice, twilio: TwilioServer, public_url: str, lang: str, tag: str
) -> None:
    text = "您好 <王秀英> & SOS" if lang == "zh-CN" else "Hello <Wang> & SOS"
    receipt = await voice.call(Outbound(1, "alert1:call", TO, text, language=lang))
    call = twilio.calls[0]
    assert receipt.provider_id == call.sid and call.sid.startswith("CA") and len(call.sid) == 34
    assert (call.to, call.from_) == (TO, FROM)
    assert "<Say" in call.twiml and tag in call.twiml
    assert text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in call.twiml
    assert call.status_callback == f"{public_url}/twilio/voice/status"
    assert set(call.params["StatusCallbackEvent"]) >= {"initiated", "answered", "completed"}


async def test_the_server_lists_what_it_got_through_the_twilio_client(
    sms: TwilioSms, twilio: TwilioServer, transport: TwilioTransport
) -> None:
    await sms.send_sms(outbound("k1"))
    await sms.send_sms(outbound("k2", to="+8613800000002"))
    listed = await transport.client().messages.list_async()
    assert sorted(m.to for m in listed) == [TO, "+8613800000002"]
    assert {m.sid for m in listed} == {m.sid for m in twilio.messages}


async def test_messages_move_to_delivered_and_a_failing_number_to_undelivered(
    sms: TwilioSms, twilio: TwilioServer
) -> None:
    twilio.fail_number("+8613800000009", "undelivered")
    ok = await sms.send_sms(outbound("ok"))
    bad = await sms.send_sms(outbound("bad", to="+8613800000009"))

    async def final() -> tuple[str, str] | None:
        a, b = twilio.find(ok.provider_id), twilio.find(bad.provider_id)
        assert a is not None and b is not None
        if a.status in ("delivered",) and b.status == "undelivered":
            return a.status, b.status
        return None

    await eventually(final)
    found = twilio.find(bad.provider_id)
    assert found is not None and found.history == ["queued", "sent", "undelivered"]
