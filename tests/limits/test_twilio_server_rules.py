"""The local Twilio-compatible server enforces per-number rules like Twilio's for
+86 (through the real ``twilio`` package): the third identical SMS within 24 h
is filtered with error 30007, the fifth within 24 h is held for manual review,
a link is not delivered; other numbers are untouched; the window follows the
server's clock."""

from __future__ import annotations

import aiohttp
import pytest

from alerts.channels import Outbound, PermanentFailure
from alerts.twilio_channels import TwilioSms
from eldercare.clock import ManualClock
from simulators.twilio_server import CHINA_RULES, SmsRule, TwilioServer
from tests.e2e.helpers import eventually

CN, UK = "+8613800000001", "+447700900002"


def text(n: int, body: str, to: str = CN) -> Outbound:
    return Outbound(alert_id=1, step_key=f"k{n}", to=to, body=body)


async def final_status(twilio: TwilioServer, sid: str) -> str | None:
    async def done() -> str | None:
        r = twilio.find(sid)
        return r.status if r and r.status in ("delivered", "undelivered") else None

    return await eventually(done)


async def test_third_identical_sms_is_filtered_and_fifth_held_for_review(
    twilio: TwilioServer, sms: TwilioSms, clock: ManualClock
) -> None:
    first = await sms.send_sms(text(1, "same"))
    clock.advance(60)
    second = await sms.send_sms(text(2, "same"))
    clock.advance(60)
    third = await sms.send_sms(text(3, "same"))  # accepted, then filtered by the carrier
    assert [await final_status(twilio, r.provider_id) for r in (first, second, third)] == [
        "delivered",
        "delivered",
        "undelivered",
    ]
    filtered = twilio.find(third.provider_id)
    assert filtered is not None and filtered.broke == "identical_24h"
    assert twilio._json(filtered)["error_code"] == 30007
    fourth = await sms.send_sms(text(4, "different"))  # 4 in 24 h: still delivered
    assert await final_status(twilio, fourth.provider_id) == "delivered"
    fifth = await sms.send_sms(text(5, "yet another"))
    held = twilio.find(fifth.provider_id)
    assert held is not None and held.broke == "review_24h"
    await twilio.settle()
    assert held.status == "queued"  # waits for manual review, about a day
    # the same texts to a UK number are not limited
    for n in range(4):
        await sms.send_sms(text(10 + n, "same", to=UK))
    await twilio.settle()
    assert [m.broke for m in twilio.messages_to(UK)] == [None] * 4


async def test_the_window_follows_the_servers_clock(
    twilio: TwilioServer, sms: TwilioSms, clock: ManualClock
) -> None:
    await sms.send_sms(text(1, "same"))
    await sms.send_sms(text(2, "same"))
    clock.advance(24 * 3600 + 1)
    later = await sms.send_sms(text(3, "same"))
    assert await final_status(twilio, later.provider_id) == "delivered"


async def test_links_are_not_delivered_to_mainland_numbers(
    twilio: TwilioServer, sms: TwilioSms
) -> None:
    r = await sms.send_sms(text(1, "see https://example.org/x"))
    assert await final_status(twilio, r.provider_id) == "undelivered"
    assert [m.broke for m in twilio.messages] == ["no_links"]


async def test_a_rule_may_refuse_at_create_with_its_error_code(
    twilio: TwilioServer, sms: TwilioSms
) -> None:
    twilio.rules = [SmsRule("daily", "+86", max=1, outcome="refuse", error_code=30007)]
    await sms.send_sms(text(1, "one"))
    with pytest.raises(PermanentFailure, match="30007"):
        await sms.send_sms(text(2, "two"))
    assert twilio.refused == [(CN, "two", "daily")]
    assert len(twilio.messages) == 1


async def test_rules_are_set_over_http_for_a_server_run_alone(twilio: TwilioServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{twilio.base_url}/_sim/rules?preset=none") as resp:
            assert resp.status == 200
        assert twilio.rules == []
        async with http.post(f"{twilio.base_url}/_sim/rules?preset=twilio-cn") as resp:
            assert resp.status == 200
        assert twilio.rules == list(CHINA_RULES)
        async with http.post(f"{twilio.base_url}/_sim/rules?preset=mars") as resp:
            assert resp.status == 400
            assert "mars" in (await resp.json())["detail"]
