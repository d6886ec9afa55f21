"""The Aliyun and Tencent Cloud callbacks on the real API: the secret URL token,
a malformed push refused whole with its reason, a repeated push handled once."""

from __future__ import annotations

import httpx

from tests.sms_cn.conftest import FIRST, TOKEN, Rig


def _paths(rig: Rig) -> tuple[str, str]:
    if rig.provider == "aliyun":
        return "/aliyun/sms/report", "/aliyun/sms/up"
    return "/tencent/sms/status", "/tencent/sms/reply"


async def test_a_wrong_token_is_403_and_records_nothing(rig: Rig) -> None:
    await rig.home()
    alert = await rig.raise_alert()
    _, reply = _paths(rig)
    body = (
        [{"phone_number": "13800000001", "content": "收到", "send_time": "2026-12-03 10:00:00"}]
        if rig.provider == "aliyun"
        else {"mobile": "13800000001", "nationcode": "86", "text": "收到", "time": 1764700000}
    )
    async with httpx.AsyncClient(base_url=rig.public_url) as client:
        wrong = await client.post(f"{reply}/not-the-token", json=body)
        right = await client.post(f"{reply}/{TOKEN}", json=body)
    assert wrong.status_code == 403 and "token" in wrong.json()["detail"]
    assert right.status_code == 200
    replies = await rig.timeline(alert.id, "family_reply")
    assert len(replies) == 1 and replies[0]["phone"] == FIRST


async def test_a_malformed_push_is_400_whole_and_a_repeat_is_handled_once(rig: Rig) -> None:
    await rig.home()
    alert = await rig.raise_alert()
    await rig.engine.run_due()
    await rig.settle()
    sent = rig.server.sent[0]
    report, _ = _paths(rig)
    if rig.provider == "aliyun":
        good = {
            "phone_number": sent.phone,
            "success": False,
            "err_code": "MK:0001",
            "biz_id": sent.provider_id,
            "report_time": "2026-12-03 10:00:01",
        }
        bad = {"phone_number": sent.phone, "success": "maybe", "biz_id": "x", "err_code": "?"}
    else:
        good = {
            "sid": sent.provider_id,
            "mobile": sent.phone[3:],
            "nationcode": "86",
            "report_status": "FAIL",
            "errmsg": "UNDELIV",
            "user_receive_time": "2026-12-03 10:00:01",
        }
        bad = {"sid": "x", "mobile": "1", "report_status": "LOST"}
    async with httpx.AsyncClient(base_url=rig.public_url) as client:
        refused = await client.post(f"{report}/{TOKEN}", json=[good, bad])
        first = await client.post(f"{report}/{TOKEN}", json=[good])
        again = await client.post(f"{report}/{TOKEN}", json=[good])  # the provider retries
        not_json = await client.post(f"{report}/{TOKEN}", content=b"{oops")
    assert refused.status_code == 400 and refused.json()["detail"]
    assert not_json.status_code == 400
    assert first.status_code == again.status_code == 200
    ok = (
        {"code": 0, "msg": "接收成功"}
        if rig.provider == "aliyun"
        else {"result": 0, "errmsg": "OK"}
    )
    assert first.json() == ok
    statuses = [d["status"] for d in await rig.timeline(alert.id, "delivery")]
    assert sorted(statuses) == ["delivered", "undelivered"]  # the look-alike's, ours once


async def test_without_a_configured_token_every_callback_is_refused(rig: Rig) -> None:
    from dataclasses import replace

    rig.api.settings = replace(rig.api.settings, sms_callback_token=None)
    report, _ = _paths(rig)
    async with httpx.AsyncClient(base_url=rig.public_url) as client:
        answer = await client.post(f"{report}/{TOKEN}", json=[])
    assert answer.status_code == 403 and "ELDERCARE_SMS_CALLBACK_TOKEN" in answer.json()["detail"]


async def test_a_provider_time_that_is_no_date_in_utc_is_taken_as_the_arrival_time(
    rig: Rig,
) -> None:
    """``0001-01-01 00:00:00`` in China time is before the first UTC instant: the
    reply is kept (at the time it came), not answered 500."""
    await rig.home()
    alert = await rig.raise_alert()
    _, reply = _paths(rig)
    body = (
        [{"phone_number": "13800000001", "content": "收到", "send_time": "0001-01-01 00:00:00"}]
        if rig.provider == "aliyun"
        else {"mobile": "13800000001", "nationcode": "86", "text": "收到", "time": 1764700000}
    )
    async with httpx.AsyncClient(base_url=rig.public_url) as client:
        answer = await client.post(f"{reply}/{TOKEN}", json=body)
    assert answer.status_code == 200
    replies = await rig.timeline(alert.id, "family_reply")
    assert len(replies) == 1 and replies[0]["phone"] == FIRST
