"""Store contract for resident records and the audit log (issue 15), on SQLite
and on TimescaleDB: a record round-trips and goes with its resident; the
audit log keeps each centre's entries apart and filters by time and actor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eldercare.domain import Home, Organisation, Resident
from eldercare.records import AuditEntry, AuditQuery, StoredRecord
from eldercare.store import NotFound, Store

T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)


async def test_a_record_round_trips_and_is_scoped(store: Store) -> None:
    await store.create_organisation(Organisation("b", "Centre B"))
    await store.create_home(Home("ha", "Home A"))
    await store.create_home(Home("hb", "Home B", organisation_id="b"))
    await store.create_resident(Resident("ra", "ha", "Anna"))
    await store.create_resident(Resident("rb", "hb", "Bea"))
    assert await store.get_resident_record("ra") is None
    record = {"allergies": ["penicillin", "蜂蜜"], "key_safe_code": "4711", "pets": None}
    put = await store.put_resident_record(StoredRecord("ra", record, T0, "sup"))
    assert put == StoredRecord("ra", record, T0, "sup")
    assert await store.get_resident_record("ra", "default") == put
    with pytest.raises(NotFound, match="no resident 'ra'"):
        await store.get_resident_record("ra", "b")
    with pytest.raises(NotFound, match="no resident 'zz'"):
        await store.put_resident_record(StoredRecord("zz", record, T0, "sup"))
    later = await store.put_resident_record(StoredRecord("ra", {}, T0 + timedelta(1), "admin"))
    assert (await store.get_resident_record("ra")) == later
    await store.delete_resident("ra")
    await store.create_resident(Resident("ra", "ha", "Another Anna"))
    assert await store.get_resident_record("ra") is None  # the record went with the resident


async def test_the_audit_log_filters_and_keeps_centres_apart(store: Store) -> None:
    entries = [
        AuditEntry(T0, "li", "10.0.0.1", "record.view_key_safe", "resident:r1", "default"),
        AuditEntry(
            T0 + timedelta(minutes=1),
            "wang",
            "10.0.0.2",
            "alert.acknowledge",
            "alert:1",
            "default",
            {"n": 1},
        ),
        AuditEntry(T0 + timedelta(minutes=2), "bee", "10.0.0.3", "user.create", "user:x", "b"),
    ]
    stored = [await store.add_audit(e) for e in entries]
    assert all(s.id is not None for s in stored)
    everything = await store.list_audit(AuditQuery())
    assert [e.actor for e in everything] == ["bee", "wang", "li"]  # newest first
    assert everything[1] == stored[1]
    assert [e.actor for e in await store.list_audit(AuditQuery("default"))] == ["wang", "li"]
    assert [e.actor for e in await store.list_audit(AuditQuery("b"))] == ["bee"]
    window = AuditQuery(since=T0 + timedelta(seconds=30), until=T0 + timedelta(minutes=2))
    assert [e.actor for e in await store.list_audit(window)] == ["wang"]
    assert [e.actor for e in await store.list_audit(AuditQuery(actor="li"))] == ["li"]
    page = await store.list_audit(AuditQuery(limit=1, before_id=stored[1].id))
    assert [e.actor for e in page] == ["li"]
