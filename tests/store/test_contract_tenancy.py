"""Store contract for tenancy (Issue 20 item 6): organisations, and reads scoped
to one organisation, on SQLite and on TimescaleDB.

A row of another organisation must look exactly like a missing one (NotFound,
same message), or the API would tell one care centre what another has."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eldercare.domain import (
    DEFAULT_ORGANISATION,
    AlertKind,
    AlertStatus,
    Device,
    DeviceKind,
    Finding,
    Home,
    Organisation,
    Outcome,
    Resident,
    Role,
    Severity,
    User,
)
from eldercare.store import AlertFilter, Conflict, NotFound, StatusUpdate, Store, open_store
from eldercare.store._common import load_migrations

T0 = datetime(2025, 3, 1, 8, 0, 0, tzinfo=UTC)


async def two_centres(store: Store) -> None:
    """Centre A (the default organisation) and centre B, each with one of everything."""
    await store.create_organisation(Organisation("b", "Centre B"))
    for org, home in ((DEFAULT_ORGANISATION, "ha"), ("b", "hb")):
        await store.create_home(Home(home, f"Home {home}", organisation_id=org))
        await store.create_resident(Resident(f"{home}-r", home, "Wang"))
        await store.create_device(Device(f"{home}-bed", home, DeviceKind.BED_BAND, f"{home}-r"))
        await store.create_contact(home, "Son", "+8613800000001", "zh-CN", 1)
        await store.create_user(User(f"{home}-op", "x", Role.OPERATOR, organisation_id=org))
        change = await store.record_finding(
            Finding(home, f"{home}-r", AlertKind.FALL, Severity.CRITICAL, T0, f"k-{home}", "fall"),
            600,
        )
        assert change is not None


async def test_the_default_organisation_exists_and_organisations_are_listed(store: Store) -> None:
    assert await store.list_organisations() == [
        Organisation(DEFAULT_ORGANISATION, "Default care centre")
    ]
    await store.create_organisation(Organisation("b", "Centre B"))
    assert await store.get_organisation("b") == Organisation("b", "Centre B")
    with pytest.raises(Conflict):
        await store.create_organisation(Organisation("b", "again"))
    with pytest.raises(NotFound):
        await store.get_organisation("nope")


async def test_rows_default_to_the_default_organisation(store: Store) -> None:
    await store.create_home(Home("h1", "Home"))
    await store.create_user(User("op", "x", Role.OPERATOR))
    assert (await store.get_home("h1")).organisation_id == DEFAULT_ORGANISATION
    assert (await store.get_user("op")).organisation_id == DEFAULT_ORGANISATION


async def test_a_home_or_account_naming_a_missing_organisation_is_refused(store: Store) -> None:
    with pytest.raises(Conflict, match="organisation"):
        await store.create_home(Home("h1", "Home", organisation_id="nope"))
    with pytest.raises(Conflict, match="organisation"):
        await store.create_user(User("op", "x", Role.OPERATOR, organisation_id="nope"))
    assert await store.list_homes() == []


async def test_only_an_admin_may_have_no_organisation(store: Store) -> None:
    with pytest.raises(Conflict, match="needs an organisation"):
        await store.create_user(User("op", "x", Role.SUPERVISOR, organisation_id=None))
    platform = await store.create_user(User("root", "x", Role.ADMIN, organisation_id=None))
    assert (await store.get_user("root")).organisation_id is None
    assert platform.platform
    with pytest.raises(Conflict, match="needs an organisation"):
        await store.update_user("root", {"role": Role.OPERATOR})
    assert (await store.get_user("root")).role is Role.ADMIN


async def test_lists_keep_one_organisations_rows(store: Store) -> None:
    await two_centres(store)
    a = DEFAULT_ORGANISATION
    assert [h.id for h in await store.list_homes(a)] == ["ha"]
    assert [h.id for h in await store.list_homes("b")] == ["hb"]
    assert [h.id for h in await store.list_homes()] == ["ha", "hb"]
    assert [r.id for r in await store.list_residents(organisation_id=a)] == ["ha-r"]
    assert [d.id for d in await store.list_devices(organisation_id=a)] == ["ha-bed"]
    assert [c.home_id for c in await store.list_contacts(organisation_id=a)] == ["ha"]
    assert await store.list_contacts("hb", organisation_id=a) == []
    assert await store.list_residents("hb", organisation_id=a) == []
    assert await store.list_devices("hb", organisation_id=a) == []
    assert [u.username for u in await store.list_users(a)] == ["ha-op"]
    alerts = await store.list_alerts(AlertFilter(organisation_id=a))
    assert [x.home_id for x in alerts] == ["ha"]
    assert alerts[0].organisation_id == a
    assert await store.list_alerts(AlertFilter(organisation_id=a, home_id="hb")) == []
    assert len(await store.list_alerts(AlertFilter())) == 2
    responses = await store.list_alert_responses(T0, T0 + timedelta(hours=1), "b")
    assert [r.alert_id for r in responses] == [alerts[0].id + 1]
    assert len(await store.list_alert_responses(T0, T0 + timedelta(hours=1))) == 2


async def test_another_organisations_row_is_not_found_like_a_missing_one(store: Store) -> None:
    await two_centres(store)
    a = DEFAULT_ORGANISATION
    hb_alert = (await store.list_alerts(AlertFilter(organisation_id="b")))[0]
    hb_contact = (await store.list_contacts("hb"))[0]
    lookups = [
        (store.get_home, "hb", "no home 'hb'"),
        (store.get_resident, "hb-r", "no resident 'hb-r'"),
        (store.get_device, "hb-bed", "no device 'hb-bed'"),
        (store.get_contact, hb_contact.id, f"no contact {hb_contact.id}"),
        (store.get_user, "hb-op", "no user 'hb-op'"),
        (store.get_alert, hb_alert.id, f"no alert {hb_alert.id}"),
    ]
    for get, key, message in lookups:
        with pytest.raises(NotFound) as foreign:
            await get(key, a)  # type: ignore[operator]
        assert str(foreign.value) == message
        await get(key, "b")  # type: ignore[operator]
        await get(key)  # type: ignore[operator]


async def test_an_alert_keeps_its_organisation_after_its_home_is_gone(store: Store) -> None:
    """A reused home id must not hand a centre another centre's old alerts."""
    await two_centres(store)
    (alert,) = await store.list_alerts(AlertFilter(organisation_id="b"))
    resolve = StatusUpdate(
        alert.id, AlertStatus.OPEN, AlertStatus.RESOLVED, T0, "x", outcome=Outcome.FALSE_ALARM
    )
    assert await store.set_alert_status(resolve) is not None
    await store.delete_home("hb")
    await store.create_home(Home("hb", "A's new home"))
    assert (await store.get_alert(alert.id)).organisation_id == "b"
    assert [x.home_id for x in await store.list_alerts(AlertFilter(organisation_id="default"))] == [
        "ha"
    ]


async def test_existing_rows_join_the_default_organisation(tmp_path: Path) -> None:
    """An installation from before migration 0012 keeps working with one centre."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    for m in load_migrations("sqlite"):
        if m.version >= 12:
            break
        conn.executescript(m.sql)
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)", (m.version, m.name, T0.isoformat())
        )
    conn.execute("INSERT INTO homes (id, name, timezone) VALUES ('h1', 'Old', 'Asia/Shanghai')")
    conn.execute("INSERT INTO users (username, password_hash, role) VALUES ('op', 'x', 'operator')")
    ts = T0.isoformat(timespec="microseconds")
    for home in ("h1", "gone"):
        conn.execute(
            "INSERT INTO alerts (home_id, subject, kind, severity, status, raised_at,"
            " last_seen_at, response_deadline) VALUES (?, 's', 'fall', 'critical', 'resolved',"
            " ?, ?, ?)",
            (home, ts, ts, ts),
        )
    conn.commit()
    conn.close()
    store = await open_store(f"sqlite:///{path}")
    try:
        assert (await store.migrate())[0] == "0012_organisations"
        assert (await store.get_home("h1", DEFAULT_ORGANISATION)).name == "Old"
        assert (await store.get_user("op", DEFAULT_ORGANISATION)).role is Role.OPERATOR
        alerts = await store.list_alerts(AlertFilter(organisation_id=DEFAULT_ORGANISATION))
        assert sorted(a.home_id for a in alerts) == ["gone", "h1"]
    finally:
        await store.close()
