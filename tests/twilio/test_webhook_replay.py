"""Replayed Twilio webhooks without the idempotency header, over real HTTP with
real RequestValidator signatures: the same inbound SMS (MessageSid) or the same
status (MessageSid / CallSid + status) is handled once, kept in the store."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest
from twilio.request_validator import RequestValidator

from dashboard_api.context import AppContext
from eldercare.store import open_store
from tests.twilio.conftest import AUTH_TOKEN, RecordingDelivery

TO = "+8613800000001"
REPLY = {"MessageSid": "SM" + "4" * 32, "From": TO, "To": "+15005550006", "Body": "收到"}


def signed(url: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)}


async def post_twice(public_url: str, path: str, params: dict[str, str]) -> list[int]:
    async with httpx.AsyncClient(base_url=public_url, timeout=5) as client:
        headers = signed(public_url + path, params)
        return [(await client.post(path, data=params, headers=headers)).status_code for _ in "12"]


async def test_the_same_signed_inbound_sms_is_counted_once(
    api: AppContext, delivery: RecordingDelivery, public_url: str
) -> None:
    assert await post_twice(public_url, "/twilio/sms/inbound", REPLY) == [200, 200]
    assert [(phone, body) for phone, body, _ in delivery.replies] == [(TO, "收到")]
    other = {**REPLY, "MessageSid": "SM" + "5" * 32}  # another SMS with the same words
    assert await post_twice(public_url, "/twilio/sms/inbound", other) == [200, 200]
    assert len(delivery.replies) == 2
    metric = "eldercare_twilio_webhooks_total"
    assert api.metrics.value(metric, hook="sms_inbound", result="duplicate") == 2


async def test_a_status_is_handled_once_per_sid_and_status(
    api: AppContext, delivery: RecordingDelivery, public_url: str
) -> None:
    sid = "SM" + "6" * 32
    for status in ("sent", "delivered"):
        params = {"MessageSid": sid, "MessageStatus": status, "To": TO}
        assert await post_twice(public_url, "/twilio/sms/status", params) == [204, 204]
    call = {"CallSid": "CA" + "7" * 32, "CallStatus": "no-answer", "To": TO}
    assert await post_twice(public_url, "/twilio/voice/status", call) == [204, 204]
    assert [(s, st) for s, st, _, _ in delivery.statuses] == [
        (sid, "sent"),
        (sid, "delivered"),
        (call["CallSid"], "no-answer"),
    ]


async def test_a_replay_after_a_restart_is_still_refused(
    api: AppContext, delivery: RecordingDelivery, public_url: str, tmp_path: Path
) -> None:
    """The receipts are in the store: a second store object (a restarted
    service) on the same database knows them."""
    assert await post_twice(public_url, "/twilio/sms/inbound", REPLY) == [200, 200]
    again = await open_store(f"sqlite:///{tmp_path}/t.db")
    try:
        assert not await again.claim_webhook(
            f"sms_inbound:{REPLY['MessageSid']}", api.clock.now(), 86400
        )
    finally:
        await again.close()


class FailingOnce(RecordingDelivery):
    """The engine's side, failing on the first family reply."""

    failed = False

    async def on_family_reply(self, from_phone: str, body: str, at: datetime) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the engine fell over")
        await super().on_family_reply(from_phone, body, at)


class TestAFailedHandling:
    @pytest.fixture
    def delivery(self) -> RecordingDelivery:
        return FailingOnce()

    async def test_is_handled_when_twilio_retries(
        self, api: AppContext, delivery: RecordingDelivery, public_url: str
    ) -> None:
        path = "/twilio/sms/inbound"
        async with httpx.AsyncClient(base_url=public_url, timeout=5) as client:
            headers = signed(public_url + path, REPLY)
            first = await client.post(path, data=REPLY, headers=headers)
            retry = await client.post(path, data=REPLY, headers=headers)
        assert (first.status_code, retry.status_code) == (500, 200)
        assert [(phone, body) for phone, body, _ in delivery.replies] == [(TO, "收到")]
