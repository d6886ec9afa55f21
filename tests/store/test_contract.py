"""The store contract: one suite, run on SQLite and on TimescaleDB."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eldercare.domain import (
    AlertKind,
    AlertStatus,
    DeadLetter,
    Device,
    DeviceKind,
    Finding,
    Home,
    Outcome,
    Reading,
    Resident,
    Role,
    Severity,
    TimelineEntry,
    User,
)
from eldercare.store import (
    AlertFilter,
    Conflict,
    LivenessUpdate,
    MqttCredential,
    NotFound,
    StatusUpdate,
    Store,
    StoreError,
    StoreUnavailable,
    open_store,
)
from eldercare.store._common import load_migrations

T0 = datetime(2025, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)


async def provision(store: Store, home_id: str = "h1") -> None:
    await store.create_home(Home(home_id, f"Home {home_id}", "1 Road", "Asia/Shanghai"))
    await store.create_resident(Resident(f"{home_id}-r1", home_id, "Wang", {"hr_low": 45.0}))
    await store.create_device(
        Device(f"{home_id}-bed", home_id, DeviceKind.BED_BAND, f"{home_id}-r1")
    )
    await store.create_device(Device(f"{home_id}-door", home_id, DeviceKind.DOOR, location="front"))


def reading(
    seq: int | None, ts: datetime = T0, device: str = "h1-bed", *, assigned: bool = False
) -> Reading:
    return Reading(
        home_id="h1",
        device_id=device,
        kind=DeviceKind.BED_BAND,
        ts=ts,
        received_at=ts + timedelta(milliseconds=5),
        seq=seq,
        battery=88.5,
        fields={"hr": 62, "rr": 14, "in_bed": True},
        ts_assigned=assigned,
    )


def finding(
    key: str,
    at: datetime = T0,
    severity: Severity = Severity.HIGH,
    kind: AlertKind = AlertKind.INACTIVITY,
    home_id: str = "h1",
) -> Finding:
    return Finding(
        home_id=home_id,
        subject=f"{home_id}-r1",
        kind=kind,
        severity=severity,
        at=at,
        source_key=key,
        message="no sign of life",
        resident_id=f"{home_id}-r1",
        details={"idle_s": 3600},
    )


# --- life cycle ---------------------------------------------------------------------


async def test_migrate_twice_applies_nothing_the_second_time(store: Store) -> None:
    assert await store.migrate() == []
    await store.ping()


def migration_names(backend: str) -> list[str]:
    return [m.name for m in load_migrations(backend)]


def test_both_backends_have_the_same_migrations_in_order() -> None:
    names = migration_names("sqlite")
    assert names[0] == "0001_initial"
    assert names == migration_names("postgres")
    assert names == sorted(names)


async def test_open_migrate_reports_names(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        assert await store.migrate() == migration_names("sqlite")
        assert await store.migrate() == []
    finally:
        await store.close()


async def test_sqlite_memory_and_relative_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for url in ("sqlite:///:memory:", "sqlite:///./rel.db"):
        store = await open_store(url)
        try:
            assert await store.migrate() == migration_names("sqlite")
            await store.create_home(Home("h1", "Home"))
            assert [h.id for h in await store.list_homes()] == ["h1"]
        finally:
            await store.close()
    assert (tmp_path / "rel.db").exists()


async def test_unknown_url_scheme_is_refused() -> None:
    with pytest.raises(StoreError, match="mysql"):
        await open_store("mysql://localhost/x")


async def test_sqlite_in_missing_directory_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="no-such-dir"):
        await open_store(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")


# --- registry -----------------------------------------------------------------------


async def test_home_crud_and_errors(store: Store) -> None:
    home = Home("h1", "Wang's flat", "3 Lane", "Asia/Shanghai")
    assert await store.create_home(home) == home
    assert await store.get_home("h1") == home
    with pytest.raises(Conflict, match="h1"):
        await store.create_home(home)
    updated = await store.update_home("h1", {"name": "Flat 3", "timezone": "Europe/Paris"})
    assert updated == replace(home, name="Flat 3", timezone="Europe/Paris")
    assert await store.get_home("h1") == updated
    await store.create_home(Home("h0", "Other"))
    assert [h.id for h in await store.list_homes()] == ["h0", "h1"]
    with pytest.raises(NotFound, match="nope"):
        await store.get_home("nope")
    with pytest.raises(NotFound, match="nope"):
        await store.update_home("nope", {"name": "x"})
    with pytest.raises(NotFound, match="nope"):
        await store.delete_home("nope")
    with pytest.raises(StoreError, match="id"):
        await store.update_home("h1", {"id": "h2"})


async def test_resident_and_device_crud(store: Store) -> None:
    await provision(store)
    resident = await store.get_resident("h1-r1")
    assert resident.limits == {"hr_low": 45.0}
    changed = await store.update_resident("h1-r1", {"limits": {"hr_high": 120.0}, "name": "Li"})
    assert (changed.name, changed.limits) == ("Li", {"hr_high": 120.0})
    assert [r.id for r in await store.list_residents("h1")] == ["h1-r1"]
    assert await store.list_residents("other") == []

    bed = await store.get_device("h1-bed")
    assert (bed.kind, bed.resident_id) == (DeviceKind.BED_BAND, "h1-r1")
    assert [d.id for d in await store.list_devices()] == ["h1-bed", "h1-door"]
    door = await store.update_device("h1-door", {"location": "back"})
    assert door.location == "back"
    assert door.kind is DeviceKind.DOOR
    await store.delete_device("h1-door")
    with pytest.raises(NotFound, match="h1-door"):
        await store.get_device("h1-door")
    with pytest.raises(NotFound, match="h1-door"):
        await store.delete_device("h1-door")


async def test_device_source_is_stored_changed_and_unique(store: Store) -> None:
    await provision(store)
    source = {"type": "zigbee2mqtt", "topic": "zigbee2mqtt/hall_sos"}
    made = await store.create_device(Device("h1-sos", "h1", DeviceKind.SOS_BUTTON, source=source))
    assert made.source == source
    assert (await store.get_device("h1-sos")).source == source
    assert (await store.get_device("h1-door")).source is None
    with pytest.raises(Conflict, match="h1-sos"):
        await store.update_device("h1-door", {"source": source})
    esphome = {"type": "esphome", "node": "hall-sos", "objects": {"red": "action"}}
    changed = await store.update_device("h1-sos", {"source": esphome})
    assert changed.source == esphome
    # The old address is free again; back to native topics.
    assert (await store.update_device("h1-door", {"source": source})).source == source
    assert await store.list_device_sources() == {
        "h1-door": "zigbee2mqtt:zigbee2mqtt/hall_sos",
        "h1-sos": "esphome:hall-sos",
    }
    assert (await store.update_device("h1-door", {"source": None})).source is None


async def test_registry_reference_errors(store: Store) -> None:
    await provision(store)
    with pytest.raises(Conflict, match="h1-bed"):
        await store.create_device(Device("h1-bed", "h1", DeviceKind.BED_BAND, "h1-r1"))
    with pytest.raises(Conflict, match="ghost-home"):
        await store.create_device(Device("d9", "ghost-home", DeviceKind.GAS))
    with pytest.raises(Conflict, match="ghost-resident"):
        await store.create_device(Device("d9", "h1", DeviceKind.BED_BAND, "ghost-resident"))
    with pytest.raises(Conflict, match="ghost-home"):
        await store.create_resident(Resident("r9", "ghost-home", "X"))
    with pytest.raises(Conflict, match="h1-r1"):
        await store.create_resident(Resident("h1-r1", "h1", "X"))
    with pytest.raises(Conflict, match="ghost-resident"):
        await store.update_device("h1-bed", {"resident_id": "ghost-resident"})
    with pytest.raises(Conflict, match="h1-bed"):
        await store.delete_resident("h1-r1")
    with pytest.raises(Conflict, match="ghost-home"):
        await store.create_contact("ghost-home", "Son", "+8613800000000", "zh-CN", 1)
    with pytest.raises(NotFound, match="ghost"):
        await store.get_resident("ghost")
    assert (await store.get_device("h1-bed")).resident_id == "h1-r1"


async def test_contacts_ordered_and_crud(store: Store) -> None:
    await provision(store)
    second = await store.create_contact("h1", "Daughter", "+8613800000002", "zh-CN", 2)
    first = await store.create_contact("h1", "Son", "+8613800000001", "en", 1)
    assert first.id != second.id
    assert [c.name for c in await store.list_contacts("h1")] == ["Son", "Daughter"]
    assert await store.get_contact(first.id) == first
    moved = await store.update_contact(second.id, {"priority": 0})
    assert moved.priority == 0
    assert [c.name for c in await store.list_contacts()] == ["Daughter", "Son"]
    await store.delete_contact(first.id)
    with pytest.raises(NotFound, match=str(first.id)):
        await store.get_contact(first.id)


async def test_delete_home_cascades(store: Store) -> None:
    await provision(store)
    await provision(store, "h2")
    await store.create_contact("h1", "Son", "+8613800000001", "zh-CN", 1)
    await store.delete_home("h1")
    with pytest.raises(NotFound):
        await store.get_home("h1")
    assert [d.id for d in await store.list_devices()] == ["h2-bed", "h2-door"]
    assert [r.id for r in await store.list_residents()] == ["h2-r1"]
    assert await store.list_contacts("h1") == []
    await store.create_home(Home("h1", "Again"))
    assert await store.list_devices("h1") == []


async def test_delete_home_refused_while_alerts_unresolved(store: Store) -> None:
    await provision(store)
    change = await store.record_finding(finding("k1"), 600)
    await store.record_finding(finding("k2", kind=AlertKind.FALL), 600)
    assert change is not None
    with pytest.raises(Conflict, match="2 alert"):
        await store.delete_home("h1")
    assert (await store.get_home("h1")).id == "h1"
    for alert in await store.list_alerts(AlertFilter(home_id="h1")):
        update = StatusUpdate(
            alert.id, AlertStatus.OPEN, AlertStatus.RESOLVED, T0, "op", outcome=Outcome.HANDLED
        )
        assert await store.set_alert_status(update) is not None
    await store.delete_home("h1")
    assert await store.list_homes() == []


async def test_users(store: Store) -> None:
    user = User("ann", "argon2$hash", Role.SUPERVISOR, "+8613900000000")
    created = await store.create_user(user)
    assert replace(created, token_version=0) == user
    assert await store.get_user("ann") == created
    with pytest.raises(Conflict, match="ann"):
        await store.create_user(user)
    await store.create_user(User("bob", "h", Role.OPERATOR))
    assert [u.username for u in await store.list_users()] == ["ann", "bob"]
    changed = await store.update_user("bob", {"role": Role.ADMIN, "phone": "+8613900000001"})
    assert (changed.role, changed.phone) == (Role.ADMIN, "+8613900000001")
    assert await store.get_user("bob") == changed
    await store.delete_user("ann")
    with pytest.raises(NotFound, match="ann"):
        await store.get_user("ann")
    with pytest.raises(NotFound, match="ann"):
        await store.delete_user("ann")


# --- intake -------------------------------------------------------------------------


async def test_insert_readings_is_idempotent(store: Store) -> None:
    await provision(store)
    assert await store.insert_readings([reading(1), reading(2, T0 + timedelta(seconds=1))]) == 2
    assert await store.insert_readings([reading(1), reading(3, T0 + timedelta(seconds=2))]) == 1
    # the same seq at another ts is a different reading (seq restarts after a reset)
    assert await store.insert_readings([reading(1, T0 + timedelta(hours=1))]) == 1
    # within one batch, a repeat counts once
    assert await store.insert_readings([reading(9), reading(9)]) == 1
    assert await store.count_readings("h1-bed") == 5
    assert await store.count_readings("h1-door") == 0
    assert await store.count_readings() == 5
    assert await store.insert_readings([]) == 0


async def test_a_batch_of_many_readings_is_stored_whole(store: Store) -> None:
    """More than one COPY chunk (250 rows on PostgreSQL): every reading lands once,
    a repeat in a later chunk of the same batch counts once."""
    await provision(store)
    batch = [reading(i, T0 + timedelta(seconds=i)) for i in range(600)]
    batch.append(reading(3, T0 + timedelta(seconds=3)))
    assert await store.insert_readings(batch) == 600
    assert await store.count_readings("h1-bed") == 600
    assert await store.insert_readings(batch[250:520]) == 0


async def test_readings_without_seq_dedupe_on_device_and_ts(store: Store) -> None:
    await provision(store)
    assert await store.insert_readings([reading(None), reading(None, device="h1-door")]) == 2
    assert await store.insert_readings([reading(None)]) == 0
    assert await store.insert_readings([reading(None, T0 + timedelta(microseconds=1))]) == 1
    assert await store.count_readings() == 3


@pytest.mark.parametrize("padding", [0, 40], ids=["small-batch", "copy-batch"])
async def test_assigned_ts_with_seq_dedupes_on_seq(store: Store, padding: int) -> None:
    """Both write paths (a few readings in one statement, many through COPY)."""
    await provision(store)
    pad_seq = iter(range(1_000_000))

    async def insert(batch: list[Reading]) -> int:
        pad = [reading(next(pad_seq), device="h1-door") for _ in range(padding)]
        return await store.insert_readings(pad + batch) - padding

    assert await insert([reading(7, assigned=True)]) == 1
    later = T0 + timedelta(seconds=3)
    assert await insert([reading(7, later, assigned=True)]) == 0
    assert await insert([reading(8, later, assigned=True)]) == 1
    batch = [reading(20, later, assigned=True), reading(20, later + timedelta(1), assigned=True)]
    assert await insert(batch) == 1
    # more than a day later the same seq is a new reading
    assert await insert([reading(7, T0 + timedelta(days=2), assigned=True)]) == 1
    assert await store.count_readings("h1-bed") == 4


async def test_batch_of_5000_readings_round_trips(store: Store) -> None:
    await provision(store)
    batch = [reading(i, T0 + timedelta(milliseconds=i)) for i in range(5000)]
    assert await store.insert_readings(batch) == 5000
    assert await store.count_readings("h1-bed") == 5000
    assert await store.insert_readings(batch) == 0
    assert await store.count_readings() == 5000


async def test_dead_letters_keep_bytes_and_reason(store: Store) -> None:
    raw = b"\xff\x00{not json"
    letters = [
        DeadLetter("eldercare/v1/h1/x/event", raw, "bad_json", "not UTF-8 JSON", T0),
        DeadLetter(
            "eldercare/v1/h1/y/event", b"{}", "unknown_device", "no device y", T0 + timedelta(1)
        ),
    ]
    await store.insert_dead_letters(letters)
    got = await store.list_dead_letters()
    assert got == list(reversed(letters))
    assert isinstance(got[1].payload, bytes)
    assert await store.list_dead_letters(limit=1) == [letters[1]]


async def test_dead_letters_keep_the_length_of_a_truncated_payload(store: Store) -> None:
    letter = DeadLetter(
        "eldercare/v1/h1/x/event", b"x" * 4096, "too_large", "8 MiB", T0, payload_length=8 << 20
    )
    await store.insert_dead_letters([letter])
    (got,) = await store.list_dead_letters()
    assert got.payload_length == 8 << 20 and len(got.payload) == 4096


async def test_mqtt_credentials_are_saved_replaced_and_deleted(store: Store) -> None:
    a = MqttCredential("h1-bed", "device", "$7$101$c2FsdA==$aGFzaA==", T0)
    gw = MqttCredential("eldercare-gateway", "gateway", "$7$101$eA==$eQ==", T0)
    await store.save_mqtt_credentials([a, gw])
    assert await store.list_mqtt_credentials() == [gw, a]
    rotated = replace(a, password_hash="$7$101$bmV3$bmV3", created_at=T0 + timedelta(1))
    await store.save_mqtt_credentials([rotated], delete=["eldercare-gateway"])
    assert await store.list_mqtt_credentials() == [rotated]


async def test_liveness_updates_leave_none_fields(store: Store) -> None:
    await provision(store)
    fresh = await store.get_liveness("h1-bed")
    assert (fresh.last_seen, fresh.battery, fresh.online) == (None, None, None)
    await store.update_liveness([LivenessUpdate("h1-bed", last_seen=T0, battery=80.0, online=True)])
    await store.update_liveness([LivenessUpdate("h1-bed", online=False)])
    await store.update_liveness([LivenessUpdate("h1-door", battery=12.5)])
    bed = await store.get_liveness("h1-bed")
    assert (bed.last_seen, bed.battery, bed.online) == (T0, 80.0, False)
    states = await store.list_liveness("h1")
    assert [(s.device_id, s.battery, s.online) for s in states] == [
        ("h1-bed", 80.0, False),
        ("h1-door", 12.5, None),
    ]
    with pytest.raises(NotFound, match="ghost"):
        await store.get_liveness("ghost")


# --- alerts ---------------------------------------------------------------------------


async def test_record_finding_raises_then_repeats(store: Store) -> None:
    await provision(store)
    first = await store.record_finding(finding("k1"), 600)
    assert first is not None and first.created
    alert = first.alert
    assert (alert.status, alert.count, alert.severity) == (AlertStatus.OPEN, 1, Severity.HIGH)
    assert alert.raised_at == T0
    assert alert.response_deadline == T0 + timedelta(seconds=600)
    assert (alert.resident_id, alert.message) == ("h1-r1", "no sign of life")

    later = T0 + timedelta(minutes=2)
    again = await store.record_finding(finding("k2", later, Severity.CRITICAL), 600)
    assert again is not None and not again.created
    assert again.alert.id == alert.id
    assert (again.alert.count, again.alert.severity) == (2, Severity.CRITICAL)
    assert again.alert.last_seen_at == later
    assert again.alert.response_deadline == alert.response_deadline

    lower = await store.record_finding(finding("k3", later, Severity.WARNING), 600)
    assert lower is not None and lower.alert.severity is Severity.CRITICAL

    assert await store.record_finding(finding("k2", later), 600) is None
    assert (await store.get_alert(alert.id)).count == 3
    timeline = await store.get_timeline(alert.id)
    assert [e.event for e in timeline] == ["raised", "repeated", "repeated"]
    # what the screen shows on each entry: the finding's details, the count and
    # severity so far
    assert timeline[0].details == {"severity": "high", "message": "no sign of life", "idle_s": 3600}
    assert timeline[1].details == {"count": 2, "severity": "critical", "idle_s": 3600}
    assert timeline[2].details == {"count": 3, "severity": "critical", "idle_s": 3600}


async def test_new_alert_after_resolve(store: Store) -> None:
    await provision(store)
    first = await store.record_finding(finding("k1"), 600)
    assert first is not None
    resolve = StatusUpdate(
        first.alert.id,
        AlertStatus.OPEN,
        AlertStatus.RESOLVED,
        T0,
        "op",
        outcome=Outcome.FALSE_ALARM,
    )
    resolved = await store.set_alert_status(resolve)
    assert resolved is not None and resolved.outcome is Outcome.FALSE_ALARM
    second = await store.record_finding(finding("k2", T0 + timedelta(hours=1)), 300)
    assert second is not None and second.created
    assert second.alert.id != first.alert.id
    assert second.alert.response_deadline == T0 + timedelta(hours=1, seconds=300)


async def test_concurrent_findings_make_one_alert(store: Store) -> None:
    await provision(store)
    results = await asyncio.gather(
        *(store.record_finding(finding(f"k{i}", T0 + timedelta(seconds=i)), 600) for i in range(8)),
        store.record_finding(finding("k0"), 600),
    )
    changes = [r for r in results if r is not None]
    assert len(changes) == 8
    assert sum(c.created for c in changes) == 1
    alerts = await store.list_alerts(AlertFilter())
    assert [a.count for a in alerts] == [8]


async def test_set_alert_status_compare_and_set(store: Store) -> None:
    await provision(store)
    change = await store.record_finding(finding("k1"), 600)
    assert change is not None
    aid = change.alert.id
    at = T0 + timedelta(minutes=1)
    ack = await store.set_alert_status(
        StatusUpdate(aid, AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, at, "op-ann")
    )
    assert ack is not None and ack.status is AlertStatus.ACKNOWLEDGED
    assert ack.updated_at == at
    stale = StatusUpdate(aid, AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, at, "op-bob")
    assert await store.set_alert_status(stale) is None
    dispatched = await store.set_alert_status(
        StatusUpdate(
            aid, AlertStatus.ACKNOWLEDGED, AlertStatus.DISPATCHED, at, "op-ann", responder="Li"
        )
    )
    assert dispatched is not None and dispatched.responder == "Li"
    timeline = await store.get_timeline(aid)
    assert [(e.event, e.actor) for e in timeline] == [
        ("raised", None),
        ("acknowledged", "op-ann"),
        ("dispatched", "op-ann"),
    ]
    assert timeline[2].details["responder"] == "Li"
    missing = StatusUpdate(999_999, AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, at, "op")
    with pytest.raises(NotFound, match="999999"):
        await store.set_alert_status(missing)


async def test_concurrent_acknowledge_only_one_wins(store: Store) -> None:
    await provision(store)
    change = await store.record_finding(finding("k1"), 600)
    assert change is not None
    updates = [
        StatusUpdate(change.alert.id, AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, T0, f"op{i}")
        for i in range(6)
    ]
    results = await asyncio.gather(*(store.set_alert_status(u) for u in updates))
    assert sum(r is not None for r in results) == 1
    events = [e.event for e in await store.get_timeline(change.alert.id)]
    assert events == ["raised", "acknowledged"]


async def test_list_alerts_filters_and_cursor(store: Store) -> None:
    await provision(store)
    await provision(store, "h2")
    kinds = [AlertKind.SOS, AlertKind.FALL, AlertKind.WATER_LEAK, AlertKind.DOOR_LEFT_OPEN]
    ids: list[int] = []
    for i, kind in enumerate(kinds):
        sev = Severity.CRITICAL if i % 2 == 0 else Severity.WARNING
        home = "h1" if i < 3 else "h2"
        change = await store.record_finding(
            finding(f"k{i}", T0 + timedelta(minutes=i), sev, kind, home), 600
        )
        assert change is not None
        ids.append(change.alert.id)
    await store.set_alert_status(
        StatusUpdate(ids[0], AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, T0, "op")
    )
    newest_first = list(reversed(ids))
    assert [a.id for a in await store.list_alerts(AlertFilter())] == newest_first
    assert [a.id for a in await store.list_alerts(AlertFilter(limit=2))] == newest_first[:2]
    page2 = await store.list_alerts(AlertFilter(before_id=newest_first[1], limit=2))
    assert [a.id for a in page2] == newest_first[2:4]
    assert [a.id for a in await store.list_alerts(AlertFilter(home_id="h2"))] == [ids[3]]
    by_status = await store.list_alerts(AlertFilter(status=[AlertStatus.ACKNOWLEDGED]))
    assert [a.id for a in by_status] == [ids[0]]
    by_sev = await store.list_alerts(AlertFilter(severity=[Severity.WARNING]))
    assert [a.id for a in by_sev] == [ids[3], ids[1]]
    since = await store.list_alerts(AlertFilter(since=T0 + timedelta(minutes=2)))
    assert [a.id for a in since] == [ids[3], ids[2]]
    both = AlertFilter(status=[AlertStatus.OPEN], severity=[Severity.CRITICAL], home_id="h1")
    assert [a.id for a in await store.list_alerts(both)] == [ids[2]]
    by_kind = await store.list_alerts(AlertFilter(kind=[AlertKind.FALL, AlertKind.SOS]))
    assert [a.id for a in by_kind] == [ids[1], ids[0]]
    subject = (await store.get_alert(ids[2])).subject
    by_subject = AlertFilter(home_id="h1", subject=subject, kind=[AlertKind.WATER_LEAK])
    assert [a.id for a in await store.list_alerts(by_subject)] == [ids[2]]
    assert await store.list_alerts(AlertFilter(subject="nobody")) == []


async def test_timeline_order_and_add(store: Store) -> None:
    await provision(store)
    change = await store.record_finding(finding("k1"), 600)
    assert change is not None
    aid = change.alert.id
    late = await store.add_timeline(
        TimelineEntry(aid, T0 + timedelta(minutes=5), "notified", "sms", {"to": "+86138"})
    )
    early = await store.add_timeline(TimelineEntry(aid, T0 + timedelta(minutes=1), "notified"))
    assert late.id is not None and early.id is not None
    timeline = await store.get_timeline(aid)
    assert [e.id for e in timeline][1:] == [early.id, late.id]
    assert timeline[0].event == "raised"
    assert timeline[2].details == {"to": "+86138"}
    with pytest.raises(NotFound, match="424242"):
        await store.add_timeline(TimelineEntry(424242, T0, "notified"))
    with pytest.raises(NotFound, match="424242"):
        await store.get_timeline(424242)
    with pytest.raises(NotFound, match="424242"):
        await store.get_alert(424242)


# --- PostgreSQL only ------------------------------------------------------------------


@pytest.mark.postgres
async def test_server_without_timescaledb_is_unavailable(pg_plain_server: str) -> None:
    with pytest.raises(StoreUnavailable, match="TimescaleDB") as info:
        store = await open_store(f"{pg_plain_server}/postgres")
        await store.close()
    assert "shared_preload_libraries" in str(info.value)


@pytest.mark.postgres
async def test_unreachable_server_is_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1") as info:
        await open_store("postgresql://postgres@127.0.0.1:9/postgres?connect_timeout=2")
    assert info.value.__cause__ is not None


AWKWARD = {"note": 'tab\there\nnew \\ back "q" 中文 \r', "nested": {"x": [1, None, 2.5]}}


async def test_awkward_fields_are_stored(store: Store) -> None:
    await provision(store)
    awkward = replace(reading(1), fields=AWKWARD, battery=None)
    assert await store.insert_readings([awkward]) == 1
    assert await store.insert_readings([awkward]) == 0


@pytest.mark.postgres
@pytest.mark.parametrize("n", [1, 40], ids=["small-batch", "copy-batch"])
async def test_postgres_writes_round_trip_fields_exactly(pg_url: str, n: int) -> None:
    import psycopg

    store = await open_store(pg_url)
    try:
        await store.migrate()
        await provision(store)
        batch = [replace(reading(i), fields=AWKWARD) for i in range(n)]
        assert await store.insert_readings(batch) == n
    finally:
        await store.close()
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute("SELECT fields, ts, seq FROM readings ORDER BY seq")
        assert await cur.fetchall() == [(AWKWARD, T0, i) for i in range(n)]
