"""The resident's record beside the alert on the care-centre screen (issue 15),
in real headless Chromium against a real service: an admin sees the allergies,
entry instructions and the key-safe code (and the view is in the audit log);
an operator sees the code masked."""

from __future__ import annotations

from datetime import UTC, datetime

from eldercare.domain import Role, User
from eldercare.passwords import hash_password
from eldercare.records import AuditQuery, StoredRecord
from simulators.home import DemoHome
from simulators.publisher import DevicePublisher
from tests.browser.chromium import artifact, chromium
from tests.browser.conftest import Running, log_in

RECORD = {
    "allergies": ["青霉素"],
    "conditions": ["糖尿病"],
    "hearing": "hearing_aid",
    "key_safe_code": "4711",
    "entry_instructions": "钥匙盒在门左边花盆后面",
    "pets": "一只小狗",
}
OPERATOR_PASSWORD = "operator-password-123"


async def test_the_record_is_beside_the_alert_and_the_code_only_for_supervisors(
    running: Running,
) -> None:
    run = running
    store = run.service.store
    resident = DemoHome("h1", 0).resident_id
    await store.put_resident_record(StoredRecord(resident, RECORD, datetime.now(UTC), "admin"))
    await store.create_user(
        User("op1", hash_password(OPERATOR_PASSWORD), Role.OPERATOR, organisation_id="default")
    )
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await log_in(page, run.api)
        async with DevicePublisher("127.0.0.1", run.mqtt_port) as pub:
            await pub.event("h1", "h1-sos", {"action": "press"})
        block = page.locator("li.alert .record-block").first
        await block.wait_for(timeout=8000)
        text = await block.inner_text()
        assert "过敏 青霉素" in text
        assert "听力 戴助听器" in text
        assert "钥匙盒在门左边花盆后面" in text
        assert await block.locator(".rec-key-safe").inner_text() == "钥匙盒密码 4711"
        await page.screenshot(path=artifact("screen_record_admin.png"))
        views = [
            e
            for e in await store.list_audit(AuditQuery(actor="admin"))
            if e.action == "record.view_key_safe"
        ]
        assert [(v.target, v.address) for v in views] == [(f"resident:{resident}", "127.0.0.1")]
        assert not errors, errors

        operator = await browser.new_page(viewport={"width": 1920, "height": 1080})
        await operator.goto(run.api)
        await operator.fill("#username", "op1")
        await operator.fill("#password", OPERATOR_PASSWORD)
        await operator.click("#login-button")
        await operator.wait_for_selector("#screen:not([hidden])")
        hidden = operator.locator("li.alert .record-block .rec-key-safe").first
        await hidden.wait_for(timeout=8000)
        assert "4711" not in await operator.locator("li.alert").first.inner_text()
        assert await hidden.inner_text() == "钥匙盒密码 ••••（仅主管可见）"
        await operator.screenshot(path=artifact("screen_record_operator.png"))
        assert await store.list_audit(AuditQuery(actor="op1")) == []
