"""The whole loop for Aliyun and Tencent Cloud with the real escalation engine: an
alert's SMS through each official SDK (signed requests checked by the local
look-alike), the provider's reports and replies pushed to the real API, the
engine's next contact, stops and retries. Each test runs for both providers."""

from __future__ import annotations

import pytest

from alerts.channels import Outbound
from eldercare.domain import AlertKind
from tests.e2e.helpers import eventually
from tests.sms_cn.conftest import FIRST, SECOND, Rig


async def test_a_raised_alert_sends_one_message_per_step(rig: Rig) -> None:
    await rig.home()
    alert = await rig.raise_alert()
    await rig.engine.run_due()
    await rig.engine.run_due()  # nothing due twice
    first = rig.server.sms_to(rig.server.sent[0].phone)
    assert len(rig.server.sent) == 1 and len(first) == 1
    sms = first[0]
    assert sms.text.startswith("【颐养安】王家于") and "按下了紧急呼叫" in sms.text
    assert "正在通知护理中心，电话057100000000，回复1表示收到" in sms.text  # said once true
    assert len(sms.text) <= 70  # one segment
    assert sms.session == f"a{alert.id}.critical.family_first.r0.c1"
    await rig.settle()
    assert [d["status"] for d in await rig.timeline(alert.id, "delivery")] == ["delivered"]

    rig.advance(61)  # the +60 s step: every contact, "not yet acknowledged"
    await rig.engine.run_due()
    await rig.engine.run_due()
    assert [s.phone[-11:] for s in rig.server.sent] == [FIRST[3:], SECOND[3:]]  # #1 once
    repeat = rig.server.sent[1]
    assert repeat.text.startswith("【颐养安】王家于") and "护理中心尚未确认" in repeat.text
    notified = await rig.timeline(alert.id, "notified")
    assert [n["status"] for n in notified] == ["sent", "sent"]
    assert notified[0]["text"] == sms.text  # the timeline shows what the phone shows


async def test_a_failed_receipt_moves_on_to_the_next_contact(rig: Rig) -> None:
    await rig.home()
    rig.server.fail_number(FIRST)
    alert = await rig.raise_alert()
    await rig.engine.run_due()
    await rig.settle()  # the provider's report: not received, through the API into the engine

    async def second_texted() -> bool | None:
        await rig.engine.run_due()
        return True if rig.server.sent[1:] else None

    await eventually(second_texted)
    assert [s.phone[-11:] for s in rig.server.sent] == [FIRST[3:], SECOND[3:]]
    deliveries = await rig.timeline(alert.id, "delivery")
    assert deliveries[0]["status"] == "undelivered" and deliveries[0]["recipient"] == FIRST
    assert deliveries[0]["provider"] == rig.provider and deliveries[0]["error_code"]


async def test_a_reply_shou_dao_stops_repeats_to_that_person(rig: Rig) -> None:
    await rig.home()
    alert = await rig.raise_alert()
    await rig.engine.run_due()
    pushed = await rig.server.send_reply(FIRST, "收到")
    assert pushed.answer == 200
    replies = await rig.timeline(alert.id, "family_reply")
    assert replies and replies[0]["handling"] is True and replies[0]["phone"] == FIRST

    rig.advance(61)
    await rig.engine.run_due()
    assert [s.phone[-11:] for s in rig.server.sent] == [FIRST[3:], SECOND[3:]]  # not FIRST again


async def test_a_throttled_send_is_retried_once_the_limit_allows_and_never_twice(
    rig: Rig,
) -> None:
    await rig.home()
    if rig.provider == "aliyun":
        # Its per-number flow control: one SMS a minute. A second alert 10 s after the
        # first is throttled (isv.BUSINESS_LIMIT_CONTROL, minute level) until the minute
        # has passed.
        await rig.raise_alert(AlertKind.SOS)
        await rig.engine.run_due()
        rig.advance(10)
        throttle = "isv.BUSINESS_LIMIT_CONTROL"
    else:
        throttle = "LimitExceeded.PhoneNumberThirtySecondLimit"
        rig.server.fail_next(2, throttle, "The number is over its limit.")
    before = len(rig.server.sent)
    started = rig.clock.now()
    alert = await rig.raise_alert(AlertKind.GAS_LEAK)
    await rig.engine.run_due()
    gas = [s for s in rig.server.sent[before:] if "燃气" in s.text]
    assert len(gas) == 1  # sent once the limit allowed, exactly once
    assert [code for _, code in rig.server.refused] == [throttle, throttle]
    waited = (rig.clock.now() - started).total_seconds()
    assert waited >= (50 if rig.provider == "aliyun" else 60)
    notified = await rig.timeline(alert.id, "notified")
    assert [n["status"] for n in notified] == ["sent"]
    assert notified[0]["provider_id"] == gas[0].provider_id

    # The same step key again (a retried task, a second caller): no second SMS.
    again = Outbound(alert.id, gas[0].session, FIRST, "", template="alert", params={})
    receipt = await rig.sms.send_sms(again)
    assert receipt.provider_id == gas[0].provider_id
    assert len([s for s in rig.server.sent if s.session == gas[0].session]) == 1


async def test_a_daily_limit_moves_on_to_the_next_contact_at_once(rig: Rig) -> None:
    await rig.home()
    code = (
        "isv.BUSINESS_LIMIT_CONTROL"
        if rig.provider == "aliyun"
        else "LimitExceeded.PhoneNumberDailyLimit"
    )
    rig.server.fail_next(1, code, "触发天级流控Permits:50" if rig.provider == "aliyun" else code)
    alert = await rig.raise_alert()
    await rig.engine.run_due()
    await rig.engine.run_due()
    assert [s.phone[-11:] for s in rig.server.sent] == [SECOND[3:]]
    notified = await rig.timeline(alert.id, "notified")
    assert notified[0]["status"] == "failed" and code in str(notified[0]["error"])
    assert notified[0]["recipient"] == FIRST


async def test_a_wrong_secret_is_refused_by_the_signature_check(rig: Rig) -> None:
    from alerts.channels import PermanentFailure
    from alerts.cn_sms import SendRecord
    from tests.sms_cn.conftest import channels

    bad, _ = channels(rig.provider, rig.server, SendRecord(rig.provider, rig.record.policy), "x")
    message = Outbound(1, "a1.k", FIRST, "", template="alert", params={"who": "王"})
    try:
        await bad.send_sms(message)
    except PermanentFailure as exc:
        assert "Signature" in str(exc)
    else:
        raise AssertionError("a request signed with the wrong secret was accepted")
    finally:
        close = getattr(bad, "aclose", None)
        if close is not None:
            await close()
    assert rig.server.sent == []


async def test_an_unanswered_aliyun_voice_call_moves_on_to_the_next_contact(rig: Rig) -> None:
    if rig.provider != "aliyun":
        pytest.skip("Tencent Cloud's voice service is not wired (voice goes through Twilio)")
    await rig.home()
    alert = await rig.raise_alert()
    await rig.engine.run_due()
    rig.server.fail_number(FIRST, "200003")  # rings, nobody answers
    rig.advance(181)  # the +3 min step: a voice call to contact #1
    await rig.engine.run_due()
    await rig.settle()

    async def second_called() -> bool | None:
        await rig.engine.run_due()
        return True if rig.server.calls_to(SECOND[3:]) else None

    await eventually(second_called)
    first_call = rig.server.calls_to(FIRST[3:])
    assert len(first_call) == 1 and first_call[0].text.startswith("您好，这里是颐养安护理中心")
    assert len(rig.server.calls_to(SECOND[3:])) == 1
    calls = [d for d in await rig.timeline(alert.id, "delivery") if d["kind"] == "voice"]
    assert [c["status"] for c in calls][:1] == ["no-answer"] and calls[0]["recipient"] == FIRST


async def test_a_send_without_an_answer_is_not_sent_again_and_moves_on(rig: Rig) -> None:
    """The request went out but no answer came within the timeout: it may have
    reached the phone, and neither provider de-duplicates, so it is not sent again;
    the step goes to the next contact instead."""
    await rig.home()
    rig.server.delay_next(1, rig.record.policy.timeout_s + 1.5)
    alert = await rig.raise_alert()
    await rig.engine.run_due()
    await rig.engine.run_due()
    assert [s.phone[-11:] for s in rig.server.sent] == [FIRST[3:], SECOND[3:]]
    notified = await rig.timeline(alert.id, "notified")
    assert notified[0]["status"] == "failed" and "not sent again" in str(notified[0]["error"])


async def test_a_provider_error_is_retried_with_backoff_and_sent_once(rig: Rig) -> None:
    await rig.home()
    if rig.provider == "aliyun":
        rig.server.fail_next(2, "ServiceUnavailable", "The request has failed.", status=503)
    else:
        rig.server.fail_next(2, "InternalError.Timeout", "Internal timeout.")
    started = rig.clock.now()
    alert = await rig.raise_alert()
    await rig.engine.run_due()
    assert [s.phone[-11:] for s in rig.server.sent] == [FIRST[3:]]
    assert [n["status"] for n in await rig.timeline(alert.id, "notified")] == ["sent"]
    assert len(rig.server.requests) == 3  # two refused, the third accepted
    waited = (rig.clock.now() - started).total_seconds()
    assert 0 < waited < 1  # jittered backoff of the test policy (10 ms doubling), no throttle wait
