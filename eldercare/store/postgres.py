"""TimescaleDB backend: registry and alerts on top of ``_postgres_base``.

Alerts are atomic under concurrency: the open alert is locked with
``SELECT … FOR UPDATE``, a partial unique index allows one unresolved alert per
(home, subject, kind), and a losing concurrent insert retries.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from eldercare.domain import (
    Alert,
    AlertChange,
    AlertKind,
    AlertStatus,
    Contact,
    Device,
    DeviceKind,
    Finding,
    Home,
    Organisation,
    Resident,
    Role,
    Severity,
    TimelineEntry,
    User,
)
from eldercare.store._common import (
    DEVICE_SOURCES_SQL,
    check_account_scope,
    clean_changes,
    device_source_key,
    in_organisation,
    new_token_version,
    raised_details,
    require_aware,
    revokes_tokens,
    source_conflict,
    status_details,
)
from eldercare.store._mqtt_credentials import PostgresMqttCredentials
from eldercare.store._postgres_api import PostgresApi
from eldercare.store._postgres_auth import PostgresAuth
from eldercare.store._postgres_base import (
    ALERT_COLS,
    FINDING_RETRIES,
    SQLSTATE_CONTENDED,
    SQLSTATE_DUPLICATE,
    Conn,
    PostgresBase,
    Row,
    _alert,
    _check_device_refs,
    _check_home,
    _check_organisation,
    _contact,
    _device,
    _exists,
    _home,
    _one,
    _resident,
    _row,
    _rows,
    _timeline,
    _update,
    _user,
)
from eldercare.store._postgres_detectors import PostgresDetectors
from eldercare.store._postgres_escalation import PostgresEscalation
from eldercare.store._postgres_floods import PostgresFloods
from eldercare.store._postgres_protocols import PostgresProtocols
from eldercare.store._postgres_records import PostgresRecords
from eldercare.store._postgres_reports import PostgresReports
from eldercare.store._postgres_retention import PostgresRetention
from eldercare.store._postgres_roster import PostgresRoster
from eldercare.store.base import (
    AlertFilter,
    Conflict,
    NotFound,
    StatusUpdate,
    StoreError,
)


def _by_id(
    table: str, key_col: str, key: Any, organisation_id: str | None
) -> tuple[str, tuple[Any, ...]]:
    """SELECT one row by its key, of that organisation only (unless None)."""
    where = [f"{key_col} = %s", *in_organisation(table, organisation_id, "%s")]
    params = (key,) if organisation_id is None else (key, organisation_id)
    return f"SELECT * FROM {table} WHERE {' AND '.join(where)}", params


class PostgresStore(
    PostgresReports,
    PostgresRoster,
    PostgresRecords,
    PostgresAuth,
    PostgresApi,
    PostgresEscalation,
    PostgresDetectors,
    PostgresMqttCredentials,
    PostgresRetention,
    PostgresProtocols,
    PostgresFloods,
    PostgresBase,
):
    """The production store; create it with ``await PostgresStore.open(url)``."""

    # --- organisations --------------------------------------------------------------

    async def create_organisation(self, organisation: Organisation) -> Organisation:
        async with self._tx() as conn:
            if await _exists(conn, "organisations", "id", organisation.id):
                raise Conflict(f"organisation {organisation.id!r} already exists")
            await conn.execute(
                "INSERT INTO organisations (id, name) VALUES (%s, %s)",
                (organisation.id, organisation.name),
            )
        return organisation

    async def get_organisation(self, organisation_id: str) -> Organisation:
        query = "SELECT id, name FROM organisations WHERE id = %s"
        async with self._auto() as conn:
            row = await _one(
                conn, query, (organisation_id,), f"no organisation {organisation_id!r}"
            )
        return Organisation(row["id"], row["name"])

    async def list_organisations(self) -> list[Organisation]:
        async with self._auto() as conn:
            rows = await _rows(conn, "SELECT id, name FROM organisations ORDER BY id")
        return [Organisation(r["id"], r["name"]) for r in rows]

    # --- homes ----------------------------------------------------------------------

    async def create_home(self, home: Home) -> Home:
        async with self._tx() as conn:
            if await _exists(conn, "homes", "id", home.id):
                raise Conflict(f"home {home.id!r} already exists")
            await _check_organisation(conn, home.organisation_id, f"home {home.id!r}")
            await conn.execute(
                "INSERT INTO homes (id, name, address, timezone, rules, organisation_id)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    home.id,
                    home.name,
                    home.address,
                    home.timezone,
                    Jsonb(home.rules),
                    home.organisation_id,
                ),
            )
        return home

    async def get_home(self, home_id: str, organisation_id: str | None = None) -> Home:
        async with self._auto() as conn:
            return await self._get_home(conn, home_id, organisation_id)

    async def _get_home(self, conn: Conn, home_id: str, organisation_id: str | None = None) -> Home:
        query, params = _by_id("homes", "id", home_id, organisation_id)
        return _home(await _one(conn, query, params, f"no home {home_id!r}"))

    async def list_homes(self, organisation_id: str | None = None) -> list[Home]:
        return [_home(r) for r in await self._list("homes", None, "id", organisation_id)]

    async def update_home(self, home_id: str, changes: dict[str, Any]) -> Home:
        cleaned = clean_changes("homes", changes)
        if "rules" in cleaned:
            cleaned["rules"] = Jsonb(cleaned["rules"])
        async with self._tx() as conn:
            await self._get_home(conn, home_id)
            await _update(conn, "homes", "id", home_id, cleaned)
            return await self._get_home(conn, home_id)

    async def delete_home(self, home_id: str) -> None:
        async with self._tx() as conn:
            await _one(conn, "SELECT 1 FROM homes WHERE id = %s FOR UPDATE", (home_id,),
                       f"no home {home_id!r}")  # fmt: skip
            row = await _row(
                conn,
                "SELECT count(*) AS n FROM alerts WHERE home_id = %s AND status <> 'resolved'",
                (home_id,),
            )
            if row and row["n"]:
                raise Conflict(
                    f"home {home_id!r} has {row['n']} alert(s) not resolved;"
                    " resolve them before deleting the home"
                )
            for table in ("devices", "contacts", "residents"):
                query = sql.SQL("DELETE FROM {} WHERE home_id = %s").format(sql.Identifier(table))
                await conn.execute(query, (home_id,))
            await conn.execute("DELETE FROM homes WHERE id = %s", (home_id,))

    # --- residents ------------------------------------------------------------------

    async def create_resident(self, resident: Resident) -> Resident:
        async with self._tx() as conn:
            if await _exists(conn, "residents", "id", resident.id):
                raise Conflict(f"resident {resident.id!r} already exists")
            await _check_home(conn, resident.home_id, f"resident {resident.id!r}")
            await conn.execute(
                "INSERT INTO residents (id, home_id, name, limits) VALUES (%s, %s, %s, %s)",
                (resident.id, resident.home_id, resident.name, Jsonb(resident.limits)),
            )
        return resident

    async def get_resident(self, resident_id: str, organisation_id: str | None = None) -> Resident:
        async with self._auto() as conn:
            return await self._get_resident(conn, resident_id, organisation_id)

    async def _get_resident(
        self, conn: Conn, resident_id: str, organisation_id: str | None = None
    ) -> Resident:
        query, params = _by_id("residents", "id", resident_id, organisation_id)
        return _resident(await _one(conn, query, params, f"no resident {resident_id!r}"))

    async def _list(
        self, table: str, home_id: str | None, order: str, organisation_id: str | None = None
    ) -> list[Row]:
        where = in_organisation(table, organisation_id, "%s")
        params: list[Any] = [] if organisation_id is None else [organisation_id]
        if home_id is not None:
            where.append("home_id = %s")
            params.append(home_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        query = sql.SQL("SELECT * FROM {}" + clause + " ORDER BY {}").format(
            sql.Identifier(table), sql.SQL(order)
        )
        async with self._auto() as conn:
            return await _rows(conn, query, params)

    async def list_residents(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Resident]:
        rows = await self._list("residents", home_id, "id", organisation_id)
        return [_resident(r) for r in rows]

    async def update_resident(self, resident_id: str, changes: dict[str, Any]) -> Resident:
        cleaned = clean_changes("residents", changes)
        if "limits" in cleaned:
            cleaned["limits"] = Jsonb(cleaned["limits"])
        async with self._tx() as conn:
            await self._get_resident(conn, resident_id)
            if "home_id" in cleaned:
                await _check_home(conn, cleaned["home_id"], f"resident {resident_id!r}")
            await _update(conn, "residents", "id", resident_id, cleaned)
            return await self._get_resident(conn, resident_id)

    async def delete_resident(self, resident_id: str) -> None:
        async with self._tx() as conn:
            await self._get_resident(conn, resident_id)
            rows = await _rows(
                conn, "SELECT id FROM devices WHERE resident_id = %s ORDER BY id", (resident_id,)
            )
            if rows:
                names = ", ".join(r["id"] for r in rows)
                raise Conflict(f"resident {resident_id!r} is still named by device(s) {names}")
            await conn.execute("DELETE FROM residents WHERE id = %s", (resident_id,))

    # --- devices --------------------------------------------------------------------

    async def create_device(self, device: Device) -> Device:
        async with self._tx() as conn:
            if await _exists(conn, "devices", "id", device.id):
                raise Conflict(f"device {device.id!r} already exists")
            await _check_device_refs(conn, device)
            key = device_source_key(device.source)
            await _check_source_free(conn, device.id, key)
            await conn.execute(
                "INSERT INTO devices (id, home_id, kind, resident_id, location, source, source_key)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    device.id,
                    device.home_id,
                    device.kind.value,
                    device.resident_id,
                    device.location,
                    None if device.source is None else Jsonb(device.source),
                    key,
                ),
            )
        return device

    async def get_device(self, device_id: str, organisation_id: str | None = None) -> Device:
        async with self._auto() as conn:
            return await self._get_device(conn, device_id, organisation_id)

    async def _get_device(
        self, conn: Conn, device_id: str, organisation_id: str | None = None
    ) -> Device:
        query, params = _by_id("devices", "id", device_id, organisation_id)
        return _device(await _one(conn, query, params, f"no device {device_id!r}"))

    async def list_devices(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Device]:
        return [_device(r) for r in await self._list("devices", home_id, "id", organisation_id)]

    async def list_device_sources(self) -> dict[str, str]:
        async with self._auto() as conn:
            rows = await _rows(conn, DEVICE_SOURCES_SQL, ())
        return {r["id"]: r["source_key"] for r in rows}

    async def update_device(self, device_id: str, changes: dict[str, Any]) -> Device:
        cleaned = clean_changes("devices", changes)
        async with self._tx() as conn:
            current = await self._get_device(conn, device_id)
            merged = replace(current, **cleaned)
            await _check_device_refs(conn, replace(merged, kind=DeviceKind(merged.kind)))
            if "source" in cleaned:
                source = cleaned["source"]
                key = device_source_key(source)
                await _check_source_free(conn, device_id, key)
                cleaned["source"] = None if source is None else Jsonb(source)
                cleaned["source_key"] = key
            await _update(conn, "devices", "id", device_id, cleaned)
            return await self._get_device(conn, device_id)

    async def _delete(self, table: str, key_col: str, key: Any, missing: str) -> None:
        query = sql.SQL("DELETE FROM {} WHERE {} = %s").format(
            sql.Identifier(table), sql.Identifier(key_col)
        )
        async with self._tx() as conn:
            cur = await conn.execute(query, (key,))
            if cur.rowcount == 0:
                raise NotFound(missing)

    async def delete_device(self, device_id: str) -> None:
        await self._delete("devices", "id", device_id, f"no device {device_id!r}")

    # --- contacts -------------------------------------------------------------------

    async def create_contact(
        self,
        home_id: str,
        name: str,
        phone: str,
        language: str,
        priority: int,
        sms_provider: str | None = None,
    ) -> Contact:
        async with self._tx() as conn:
            await _check_home(conn, home_id, "the contact")
            row = await _row(
                conn,
                "INSERT INTO contacts (home_id, name, phone, language, priority, sms_provider)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                (home_id, name, phone, language, priority, sms_provider),
            )
            assert row is not None
            return _contact(row)

    async def get_contact(self, contact_id: int, organisation_id: str | None = None) -> Contact:
        async with self._tx() as conn:
            return await self._get_contact(conn, contact_id, organisation_id)

    async def _get_contact(
        self, conn: Conn, contact_id: int, organisation_id: str | None = None
    ) -> Contact:
        query, params = _by_id("contacts", "id", contact_id, organisation_id)
        return _contact(await _one(conn, query, params, f"no contact {contact_id}"))

    async def list_contacts(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Contact]:
        order = "home_id, priority, id"
        return [_contact(r) for r in await self._list("contacts", home_id, order, organisation_id)]

    async def update_contact(self, contact_id: int, changes: dict[str, Any]) -> Contact:
        cleaned = clean_changes("contacts", changes)
        async with self._tx() as conn:
            await self._get_contact(conn, contact_id)
            if "home_id" in cleaned:
                await _check_home(conn, cleaned["home_id"], f"contact {contact_id}")
            await _update(conn, "contacts", "id", contact_id, cleaned)
            return await self._get_contact(conn, contact_id)

    async def delete_contact(self, contact_id: int) -> None:
        await self._delete("contacts", "id", contact_id, f"no contact {contact_id}")

    # --- users ----------------------------------------------------------------------

    async def create_user(self, user: User) -> User:
        user = replace(user, token_version=new_token_version())
        check_account_scope(user.role, user.organisation_id)
        async with self._tx() as conn:
            if await _exists(conn, "users", "username", user.username):
                raise Conflict(f"user {user.username!r} already exists")
            if user.organisation_id is not None:
                what = f"user {user.username!r}"
                await _check_organisation(conn, user.organisation_id, what)
            await conn.execute(
                "INSERT INTO users (username, password_hash, role, phone, token_version,"
                " organisation_id) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    user.username,
                    user.password_hash,
                    user.role.value,
                    user.phone,
                    user.token_version,
                    user.organisation_id,
                ),
            )
        return user

    async def get_user(self, username: str, organisation_id: str | None = None) -> User:
        async with self._tx() as conn:
            return await self._get_user(conn, username, organisation_id)

    async def _get_user(
        self, conn: Conn, username: str, organisation_id: str | None = None
    ) -> User:
        query, params = _by_id("users", "username", username, organisation_id)
        return _user(await _one(conn, query, params, f"no user {username!r}"))

    async def list_users(self, organisation_id: str | None = None) -> list[User]:
        return [_user(r) for r in await self._list("users", None, "username", organisation_id)]

    async def update_user(self, username: str, changes: dict[str, Any]) -> User:
        cleaned = clean_changes("users", changes)
        async with self._tx() as conn:
            current = await self._get_user(conn, username)
            check_account_scope(Role(cleaned.get("role", current.role)), current.organisation_id)
            if revokes_tokens(current, cleaned):
                cleaned["token_version"] = current.token_version + 1
            await _update(conn, "users", "username", username, cleaned)
            return await self._get_user(conn, username)

    async def delete_user(self, username: str) -> None:
        await self._delete("users", "username", username, f"no user {username!r}")

    # --- alerts ---------------------------------------------------------------------

    async def record_finding(
        self, finding: Finding, response_window_s: float
    ) -> AlertChange | None:
        # One round trip (the function of migration 0004, in autocommit): a new
        # alert took six, each waiting for a turn of a busy event loop.
        f = finding
        async with self._auto() as conn:
            try:
                row = await _row(
                    conn,
                    "SELECT * FROM eldercare_record_finding(%s, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s, %s, %s)",
                    (
                        f.home_id,
                        f.subject,
                        f.kind.value,
                        f.severity.value,
                        require_aware(f.at),
                        f.at + timedelta(seconds=response_window_s),
                        f.message,
                        f.device_id,
                        f.resident_id,
                        f.source_key or None,
                        Jsonb(raised_details(f)),
                        Jsonb(f.details),
                        FINDING_RETRIES,
                    ),
                )
            except psycopg.Error as exc:
                if exc.sqlstate == SQLSTATE_DUPLICATE:
                    return None  # the same finding, recorded meanwhile by another instance
                if exc.sqlstate == SQLSTATE_CONTENDED:
                    raise StoreError(
                        f"could not record the {f.kind.value} finding for {f.subject!r}"
                        f" after {FINDING_RETRIES} attempts under contention"
                    ) from exc
                raise  # the store's usual mapping (_tx)
        if row is None:  # its source_key is on a timeline already: a redelivery
            return None
        return AlertChange(_alert(row), created=row["event"] == "raised")

    async def get_alert(self, alert_id: int, organisation_id: str | None = None) -> Alert:
        async with self._auto() as conn:
            return await self._get_alert(conn, alert_id, organisation_id)

    async def _get_alert(
        self, conn: Conn, alert_id: int, organisation_id: str | None = None
    ) -> Alert:
        where = " AND ".join(["id = %s", *in_organisation("alerts", organisation_id, "%s")])
        query = f"SELECT {ALERT_COLS} FROM alerts WHERE {where}"
        params = (alert_id, *([] if organisation_id is None else [organisation_id]))
        return _alert(await _one(conn, query, params, f"no alert {alert_id}"))

    async def list_alerts(self, flt: AlertFilter) -> list[Alert]:
        where = in_organisation("alerts", flt.organisation_id, "%s")
        params: list[Any] = [] if flt.organisation_id is None else [flt.organisation_id]
        if flt.status:
            where.append("status = ANY(%s)")
            params.append([AlertStatus(s).value for s in flt.status])
        if flt.severity:
            where.append("severity = ANY(%s)")
            params.append([Severity(s).value for s in flt.severity])
        if flt.home_id is not None:
            where.append("home_id = %s")
            params.append(flt.home_id)
        if flt.subject is not None:
            where.append("subject = %s")
            params.append(flt.subject)
        if flt.kind:
            where.append("kind = ANY(%s)")
            params.append([AlertKind(k).value for k in flt.kind])
        if flt.since is not None:
            where.append("raised_at >= %s")
            params.append(require_aware(flt.since))
        if flt.before_id is not None:
            where.append("id < %s")
            params.append(flt.before_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        params.append(max(flt.limit, 0))
        async with self._tx() as conn:
            rows = await _rows(
                conn, f"SELECT {ALERT_COLS} FROM alerts{clause} ORDER BY id DESC LIMIT %s", params
            )
        return [_alert(r) for r in rows]

    async def set_alert_status(self, update: StatusUpdate) -> Alert | None:
        u = update
        async with self._tx() as conn:
            row = await _row(
                conn,
                "UPDATE alerts SET status = %s, responder = COALESCE(%s, responder),"
                " outcome = COALESCE(%s, outcome), updated_at = %s"
                f" WHERE id = %s AND status = %s RETURNING {ALERT_COLS}",
                (
                    u.new.value,
                    u.responder,
                    None if u.outcome is None else u.outcome.value,
                    require_aware(u.at),
                    u.alert_id,
                    u.expected.value,
                ),
            )
            if row is None:
                await self._get_alert(conn, u.alert_id)
                return None
            await conn.execute(
                "INSERT INTO alert_timeline (alert_id, at, event, actor, details)"
                " VALUES (%s, %s, %s, %s, %s)",
                (u.alert_id, u.at, u.new.value, u.actor, Jsonb(status_details(u))),
            )
            return _alert(row)

    async def add_timeline(self, entry: TimelineEntry) -> TimelineEntry:
        async with self._tx() as conn:
            await self._get_alert(conn, entry.alert_id)
            row = await _row(
                conn,
                "INSERT INTO alert_timeline (alert_id, at, event, actor, details)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (
                    entry.alert_id,
                    require_aware(entry.at),
                    entry.event,
                    entry.actor,
                    Jsonb(entry.details),
                ),
            )
            assert row is not None
            return replace(entry, id=row["id"])

    async def get_timeline(self, alert_id: int) -> list[TimelineEntry]:
        async with self._tx() as conn:
            await self._get_alert(conn, alert_id)
            rows = await _rows(
                conn,
                "SELECT * FROM alert_timeline WHERE alert_id = %s ORDER BY at, id",
                (alert_id,),
            )
        return [_timeline(r) for r in rows]


async def _check_source_free(conn: Conn, device_id: str, key: str | None) -> None:
    if key is None:
        return
    row = await _row(
        conn, "SELECT id FROM devices WHERE source_key = %s AND id <> %s", (key, device_id)
    )
    if row is not None:
        raise Conflict(source_conflict(device_id, row["id"]))
