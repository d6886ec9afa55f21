"""Store contract for a care centre's protocols and the handover's reads (Issue
15), on SQLite and on TimescaleDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eldercare.domain import (
    DEFAULT_ORGANISATION,
    AlertKind,
    Device,
    DeviceKind,
    Finding,
    Home,
    Organisation,
    Severity,
    TimelineEntry,
)
from eldercare.store import LivenessUpdate, Store

T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)
DOC = {"fall": {"steps": [{"id": "call", "zh-CN": "打电话", "en": "Call"}]}}


async def test_a_centres_protocols_are_saved_replaced_and_removed(store: Store) -> None:
    await store.create_organisation(Organisation("b", "Centre B"))
    assert await store.get_protocols(DEFAULT_ORGANISATION) is None
    await store.save_protocols(DEFAULT_ORGANISATION, DOC, T0, "sup")
    got = await store.get_protocols(DEFAULT_ORGANISATION)
    assert got is not None
    assert (got.document, got.updated_at, got.updated_by) == (DOC, T0, "sup")
    assert await store.get_protocols("b") is None
    other = {"sos": {"steps": [{"id": "x", "zh-CN": "呼叫", "en": "Ring"}]}}
    await store.save_protocols(DEFAULT_ORGANISATION, other, T0 + timedelta(hours=1), None)
    again = await store.get_protocols(DEFAULT_ORGANISATION)
    assert again is not None
    assert (again.document, again.updated_by) == (other, None)
    assert await store.delete_protocols(DEFAULT_ORGANISATION) is True
    assert await store.delete_protocols(DEFAULT_ORGANISATION) is False
    assert await store.get_protocols(DEFAULT_ORGANISATION) is None


async def test_the_timeline_window_and_liveness_are_of_one_centre(store: Store) -> None:
    await store.create_organisation(Organisation("b", "Centre B"))
    ids = {}
    for org, home in ((DEFAULT_ORGANISATION, "ha"), ("b", "hb")):
        await store.create_home(Home(home, home, organisation_id=org))
        await store.create_device(Device(f"{home}-door", home, DeviceKind.DOOR))
        change = await store.record_finding(
            Finding(home, home, AlertKind.SOS, Severity.CRITICAL, T0, f"k-{home}"),
            600,
        )
        assert change is not None
        ids[home] = change.alert.id
        for minutes, event in ((5, "note"), (30, "note"), (60, "call")):
            at = T0 + timedelta(minutes=minutes)
            await store.add_timeline(
                TimelineEntry(change.alert.id, at, event, "op", {"m": minutes})
            )
    start, end = T0 + timedelta(minutes=5), T0 + timedelta(minutes=60)
    window = await store.list_timeline_window(["note", "call"], start, end, DEFAULT_ORGANISATION)
    assert [(e.alert_id, e.event, e.details) for e in window] == [
        (ids["ha"], "note", {"m": 5}),
        (ids["ha"], "note", {"m": 30}),
    ]  # end is exclusive, B's are left out
    everyone = await store.list_timeline_window(["note"], start, end)
    assert sorted(e.alert_id for e in everyone) == sorted([ids["ha"]] * 2 + [ids["hb"]] * 2)
    assert await store.list_timeline_window([], start, end) == []

    await store.update_liveness([LivenessUpdate("hb-door", last_seen=T0, online=False)])
    assert [d.device_id for d in await store.list_all_liveness(DEFAULT_ORGANISATION)] == ["ha-door"]
    b = await store.list_all_liveness("b")
    assert [(d.device_id, d.online, d.last_seen) for d in b] == [("hb-door", False, T0)]
