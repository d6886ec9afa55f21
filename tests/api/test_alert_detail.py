"""GET /api/v1/alerts/{id} carries what a dispatcher needs on the card: the
home's address, the resident, the device, the family contacts with their
messages and replies, distinct people notified, and the escalation ladder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from alerts.escalation import EscalationEngine
from dashboard_api.context import AppContext
from eldercare.domain import Alert, AlertKind, Device, DeviceKind, Finding, Resident, Role, Severity
from tests.api.conftest import TokenFor

DAUGHTER, SON = "+8613800138000", "+8613900139000"


async def _sos(ctx: AppContext) -> Alert:
    await ctx.store.create_resident(Resident("r1", "h1", "Wang Xiuying"))
    await ctx.store.create_device(Device("sos-1", "h1", DeviceKind.SOS_BUTTON, "r1", "bedside"))
    await ctx.store.create_contact("h1", "Daughter", DAUGHTER, "zh-CN", 1)
    await ctx.store.create_contact("h1", "Son", SON, "en", 2)
    change = await ctx.alerts.handle_finding(
        Finding(
            home_id="h1",
            subject="r1",
            kind=AlertKind.SOS,
            severity=Severity.CRITICAL,
            at=datetime.now(UTC),
            source_key="test:sos-1",
            message="SOS button sos-1 pressed (bedside)",
            device_id="sos-1",
            resident_id="r1",
            details={"delayed_s": 42.0},
        )
    )
    assert change is not None
    return change.alert


async def test_detail_has_address_resident_contacts_and_ladder(
    client: httpx.AsyncClient, token_for: TokenFor, ctx: AppContext
) -> None:
    operator = await token_for(Role.OPERATOR)
    alert = await _sos(ctx)
    engine = ctx.delivery
    assert isinstance(engine, EscalationEngine)
    await engine.run_due()  # family_first: the daughter
    await engine.run_due(ctx.clock.now() + timedelta(seconds=61))  # family_all: both
    await engine.on_family_reply(DAUGHTER, "收到", ctx.clock.now())
    await client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=operator)

    response = await client.get(f"/api/v1/alerts/{alert.id}", headers=operator)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["home"] == {
        "id": "h1",
        "name": "Home one",
        "address": "1 Main St",
        "timezone": "Asia/Shanghai",
    }
    assert body["resident"] == {"id": "r1", "name": "Wang Xiuying"}
    assert body["device"] == {"id": "sos-1", "kind": "sos_button", "location": "bedside"}
    assert body["details"]["delayed_s"] == 42.0
    daughter, son = body["contacts"]
    assert (daughter["name"], daughter["phone"], daughter["priority"]) == ("Daughter", DAUGHTER, 1)
    assert daughter["messages"] >= 1 and daughter["last_status"] == "printed"
    assert daughter["handling"] is True
    assert [r["body"] for r in daughter["replies"]] == ["收到"]
    assert (son["messages"], son["handling"], son["replies"]) == (1, False, [])
    messages = [e for e in body["timeline"] if e["event"] == "notified"]
    assert len(messages) >= 2
    assert body["people_notified"] == 2  # people, not messages
    ladder = {s["name"].removeprefix("critical."): s["state"] for s in body["escalation"]}
    assert ladder["family_first"] == "done" and ladder["family_all"] == "done"
    assert ladder["voice_first"] == "cancelled"  # acknowledged: no call
    (ack,) = [e for e in body["timeline"] if e["event"] == "acknowledged"]
    assert ack["actor"] == "operator-user"


async def test_an_undelivered_message_does_not_count_as_notified(
    client: httpx.AsyncClient, token_for: TokenFor, ctx: AppContext
) -> None:
    operator = await token_for(Role.OPERATOR)
    alert = await _sos(ctx)
    engine = ctx.delivery
    assert isinstance(engine, EscalationEngine)
    await engine.run_due(ctx.clock.now() + timedelta(seconds=61))
    body = (await client.get(f"/api/v1/alerts/{alert.id}", headers=operator)).json()
    assert body["people_notified"] == 2
    (to_son,) = [
        e for e in body["timeline"] if e["event"] == "notified" and e["details"]["recipient"] == SON
    ]
    await engine.on_delivery_status(
        to_son["details"]["provider_id"], "undelivered", ctx.clock.now(), {}
    )
    body = (await client.get(f"/api/v1/alerts/{alert.id}", headers=operator)).json()
    assert body["people_notified"] == 1
    assert body["contacts"][1]["last_status"] == "undelivered"
