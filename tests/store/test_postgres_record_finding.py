"""PostgreSQL: a finding becomes an alert in one call of the server function of
migration 0004. When another instance records the same finding while this call
waits, the call changes nothing (no second count, no second timeline entry)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from eldercare.store.postgres import PostgresStore
from tests.store.test_contract import finding, provision

pytestmark = pytest.mark.postgres


async def test_a_finding_recorded_meanwhile_by_another_instance_changes_nothing(
    pg_url: str,
) -> None:
    store = await PostgresStore.open(pg_url)
    try:
        await store.migrate()
        await provision(store)
        first = await store.record_finding(finding("k1"), 600)
        assert first is not None
        alert_id = first.alert.id
        # Another instance is writing the timeline entry of finding k2, not yet committed.
        async with await psycopg.AsyncConnection.connect(pg_url) as other:
            await other.execute(
                "INSERT INTO alert_timeline (alert_id, at, event, details, source_key)"
                " VALUES (%s, now(), 'repeated', '{}', 'k2')",
                (alert_id,),
            )
            ours = asyncio.create_task(store.record_finding(finding("k2"), 600))
            await asyncio.sleep(0.3)
            assert not ours.done()  # waits on the other instance's row
            await other.commit()
            assert await asyncio.wait_for(ours, 10) is None
        alert = await store.get_alert(alert_id)
        assert alert.count == 1  # our repeat was undone with its timeline entry
        events = [(e.event, e.details) for e in await store.get_timeline(alert_id)]
        assert events == [
            ("raised", {"severity": "high", "message": "no sign of life", "idle_s": 3600}),
            ("repeated", {}),
        ]
    finally:
        await store.close()
