"""SQLite backend: registry and alerts on top of ``_sqlite_base``.

Every call runs on the one worker thread that owns the connection; writes run
in ``BEGIN IMMEDIATE`` transactions, so each is atomic across processes too.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import timedelta
from typing import Any

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
    repeated_details,
    revokes_tokens,
    source_conflict,
    status_details,
    worse,
)
from eldercare.store._mqtt_credentials import SQLiteMqttCredentials
from eldercare.store._sqlite_api import SQLiteApi
from eldercare.store._sqlite_auth import SQLiteAuth
from eldercare.store._sqlite_base import (
    ALERT_COLS,
    SQLiteBase,
    _alert,
    _contact,
    _device,
    _home,
    _json,
    _resident,
    _timeline,
    _ts,
    _user,
)
from eldercare.store._sqlite_detectors import SQLiteDetectors
from eldercare.store._sqlite_escalation import SQLiteEscalation
from eldercare.store._sqlite_floods import SQLiteFloods
from eldercare.store._sqlite_protocols import SQLiteProtocols
from eldercare.store._sqlite_records import SQLiteRecords
from eldercare.store._sqlite_reports import SQLiteReports
from eldercare.store._sqlite_retention import SQLiteRetention
from eldercare.store._sqlite_roster import SQLiteRoster
from eldercare.store.base import (
    AlertFilter,
    Conflict,
    NotFound,
    StatusUpdate,
)


def _org(organisation_id: str | None) -> tuple[str, ...]:
    """The parameter of ``in_organisation``'s condition, if there is one."""
    return () if organisation_id is None else (organisation_id,)


class SQLiteStore(
    SQLiteReports,
    SQLiteRoster,
    SQLiteRecords,
    SQLiteAuth,
    SQLiteApi,
    SQLiteEscalation,
    SQLiteDetectors,
    SQLiteMqttCredentials,
    SQLiteRetention,
    SQLiteProtocols,
    SQLiteFloods,
    SQLiteBase,
):
    """The embedded store; create it with ``await SQLiteStore.open(path)``."""

    # --- organisations --------------------------------------------------------------

    async def create_organisation(self, organisation: Organisation) -> Organisation:
        return await self._run(self._create_organisation, organisation)

    def _create_organisation(self, organisation: Organisation) -> Organisation:
        with self._tx() as conn:
            if self._exists("organisations", "id", organisation.id):
                raise Conflict(f"organisation {organisation.id!r} already exists")
            conn.execute(
                "INSERT INTO organisations (id, name) VALUES (?, ?)",
                (organisation.id, organisation.name),
            )
        return organisation

    async def get_organisation(self, organisation_id: str) -> Organisation:
        sql = "SELECT id, name FROM organisations WHERE id = ?"
        missing = f"no organisation {organisation_id!r}"
        row = await self._run(self._one, sql, (organisation_id,), missing)
        return Organisation(row["id"], row["name"])

    async def list_organisations(self) -> list[Organisation]:
        sql = "SELECT id, name FROM organisations ORDER BY id"
        rows = await self._run(lambda: self._conn.execute(sql).fetchall())
        return [Organisation(r["id"], r["name"]) for r in rows]

    # --- homes ----------------------------------------------------------------------

    async def create_home(self, home: Home) -> Home:
        return await self._run(self._create_home, home)

    def _create_home(self, home: Home) -> Home:
        with self._tx() as conn:
            if self._exists("homes", "id", home.id):
                raise Conflict(f"home {home.id!r} already exists")
            self._check_organisation(home.organisation_id, f"home {home.id!r}")
            conn.execute(
                "INSERT INTO homes (id, name, address, timezone, rules, organisation_id)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    home.id,
                    home.name,
                    home.address,
                    home.timezone,
                    _json(home.rules),
                    home.organisation_id,
                ),
            )
        return home

    async def get_home(self, home_id: str, organisation_id: str | None = None) -> Home:
        return await self._run(self._get_home, home_id, organisation_id)

    def _get_home(self, home_id: str, organisation_id: str | None = None) -> Home:
        sql = self._by_id("homes", "id", organisation_id)
        return _home(self._one(sql, (home_id, *_org(organisation_id)), f"no home {home_id!r}"))

    async def list_homes(self, organisation_id: str | None = None) -> list[Home]:
        rows = await self._run(self._list, "homes", None, "id", organisation_id)
        return [_home(r) for r in rows]

    async def update_home(self, home_id: str, changes: dict[str, Any]) -> Home:
        cleaned = clean_changes("homes", changes)
        if "rules" in cleaned:
            cleaned["rules"] = _json(cleaned["rules"])
        return await self._run(self._update_home, home_id, cleaned)

    def _update_home(self, home_id: str, changes: dict[str, Any]) -> Home:
        with self._tx():
            self._get_home(home_id)
            self._update("homes", "id", home_id, changes)
            return self._get_home(home_id)

    async def delete_home(self, home_id: str) -> None:
        await self._run(self._delete_home, home_id)

    def _delete_home(self, home_id: str) -> None:
        with self._tx() as conn:
            self._get_home(home_id)
            (open_alerts,) = conn.execute(
                "SELECT count(*) FROM alerts WHERE home_id = ? AND status <> 'resolved'",
                (home_id,),
            ).fetchone()
            if open_alerts:
                raise Conflict(
                    f"home {home_id!r} has {open_alerts} alert(s) not resolved;"
                    " resolve them before deleting the home"
                )
            for table in ("devices", "contacts", "residents"):
                conn.execute(f"DELETE FROM {table} WHERE home_id = ?", (home_id,))
            conn.execute("DELETE FROM homes WHERE id = ?", (home_id,))

    # --- residents ------------------------------------------------------------------

    async def create_resident(self, resident: Resident) -> Resident:
        return await self._run(self._create_resident, resident)

    def _create_resident(self, resident: Resident) -> Resident:
        with self._tx() as conn:
            if self._exists("residents", "id", resident.id):
                raise Conflict(f"resident {resident.id!r} already exists")
            self._check_home(resident.home_id, f"resident {resident.id!r}")
            conn.execute(
                "INSERT INTO residents (id, home_id, name, limits) VALUES (?, ?, ?, ?)",
                (resident.id, resident.home_id, resident.name, _json(resident.limits)),
            )
        return resident

    async def get_resident(self, resident_id: str, organisation_id: str | None = None) -> Resident:
        return await self._run(self._get_resident, resident_id, organisation_id)

    def _get_resident(self, resident_id: str, organisation_id: str | None = None) -> Resident:
        sql = self._by_id("residents", "id", organisation_id)
        params = (resident_id, *_org(organisation_id))
        return _resident(self._one(sql, params, f"no resident {resident_id!r}"))

    async def list_residents(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Resident]:
        rows = await self._run(self._list, "residents", home_id, "id", organisation_id)
        return [_resident(r) for r in rows]

    @staticmethod
    def _by_id(table: str, key_col: str, organisation_id: str | None) -> str:
        where = [f"{key_col} = ?", *in_organisation(table, organisation_id, "?")]
        return f"SELECT * FROM {table} WHERE {' AND '.join(where)}"

    def _list(
        self, table: str, home_id: str | None, order: str, organisation_id: str | None = None
    ) -> list[sqlite3.Row]:
        where = in_organisation(table, organisation_id, "?")
        params: list[Any] = list(_org(organisation_id))
        if home_id is not None:
            where.append("home_id = ?")
            params.append(home_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT * FROM {table}{clause} ORDER BY {order}"
        return self._conn.execute(sql, params).fetchall()

    async def update_resident(self, resident_id: str, changes: dict[str, Any]) -> Resident:
        cleaned = clean_changes("residents", changes)
        if "limits" in cleaned:
            cleaned["limits"] = _json(cleaned["limits"])
        return await self._run(self._update_resident, resident_id, cleaned)

    def _update_resident(self, resident_id: str, changes: dict[str, Any]) -> Resident:
        with self._tx():
            self._get_resident(resident_id)
            if "home_id" in changes:
                self._check_home(changes["home_id"], f"resident {resident_id!r}")
            self._update("residents", "id", resident_id, changes)
            return self._get_resident(resident_id)

    async def delete_resident(self, resident_id: str) -> None:
        await self._run(self._delete_resident, resident_id)

    def _delete_resident(self, resident_id: str) -> None:
        with self._tx() as conn:
            self._get_resident(resident_id)
            rows = conn.execute(
                "SELECT id FROM devices WHERE resident_id = ? ORDER BY id", (resident_id,)
            ).fetchall()
            if rows:
                names = ", ".join(r["id"] for r in rows)
                raise Conflict(f"resident {resident_id!r} is still named by device(s) {names}")
            conn.execute("DELETE FROM residents WHERE id = ?", (resident_id,))

    # --- devices --------------------------------------------------------------------

    async def create_device(self, device: Device) -> Device:
        return await self._run(self._create_device, device)

    def _create_device(self, device: Device) -> Device:
        with self._tx() as conn:
            if self._exists("devices", "id", device.id):
                raise Conflict(f"device {device.id!r} already exists")
            self._check_device_refs(device)
            key = device_source_key(device.source)
            self._check_source_free(device.id, key)
            conn.execute(
                "INSERT INTO devices (id, home_id, kind, resident_id, location, source, source_key)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    device.id,
                    device.home_id,
                    device.kind.value,
                    device.resident_id,
                    device.location,
                    None if device.source is None else _json(device.source),
                    key,
                ),
            )
        return device

    def _check_source_free(self, device_id: str, key: str | None) -> None:
        if key is None:
            return
        row = self._conn.execute(
            "SELECT id FROM devices WHERE source_key = ? AND id <> ?", (key, device_id)
        ).fetchone()
        if row is not None:
            raise Conflict(source_conflict(device_id, row["id"]))

    async def get_device(self, device_id: str, organisation_id: str | None = None) -> Device:
        return await self._run(self._get_device, device_id, organisation_id)

    def _get_device(self, device_id: str, organisation_id: str | None = None) -> Device:
        sql = self._by_id("devices", "id", organisation_id)
        params = (device_id, *_org(organisation_id))
        return _device(self._one(sql, params, f"no device {device_id!r}"))

    async def list_devices(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Device]:
        rows = await self._run(self._list, "devices", home_id, "id", organisation_id)
        return [_device(r) for r in rows]

    async def list_device_sources(self) -> dict[str, str]:
        rows = await self._run(lambda: self._conn.execute(DEVICE_SOURCES_SQL).fetchall())
        return {r["id"]: r["source_key"] for r in rows}

    async def update_device(self, device_id: str, changes: dict[str, Any]) -> Device:
        return await self._run(self._update_device, device_id, clean_changes("devices", changes))

    def _update_device(self, device_id: str, changes: dict[str, Any]) -> Device:
        with self._tx():
            current = self._get_device(device_id)
            merged = replace(current, **changes)
            self._check_device_refs(replace(merged, kind=DeviceKind(merged.kind)))
            if "source" in changes:
                key = device_source_key(changes["source"])
                self._check_source_free(device_id, key)
                source = changes["source"]
                changes = {
                    **changes,
                    "source": None if source is None else _json(source),
                    "source_key": key,
                }
            self._update("devices", "id", device_id, changes)
            return self._get_device(device_id)

    async def delete_device(self, device_id: str) -> None:
        await self._run(self._delete_by_key, "devices", "id", device_id, f"no device {device_id!r}")

    def _delete_by_key(self, table: str, key_col: str, key: Any, missing: str) -> None:
        with self._tx() as conn:
            cur = conn.execute(f"DELETE FROM {table} WHERE {key_col} = ?", (key,))
            if cur.rowcount == 0:
                raise NotFound(missing)

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
        return await self._run(
            self._create_contact, home_id, name, phone, language, priority, sms_provider
        )

    def _create_contact(
        self,
        home_id: str,
        name: str,
        phone: str,
        language: str,
        priority: int,
        sms_provider: str | None,
    ) -> Contact:
        with self._tx() as conn:
            self._check_home(home_id, "the contact")
            cur = conn.execute(
                "INSERT INTO contacts (home_id, name, phone, language, priority, sms_provider)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (home_id, name, phone, language, priority, sms_provider),
            )
            assert cur.lastrowid is not None
            return Contact(cur.lastrowid, home_id, name, phone, language, priority, sms_provider)

    async def get_contact(self, contact_id: int, organisation_id: str | None = None) -> Contact:
        return await self._run(self._get_contact, contact_id, organisation_id)

    def _get_contact(self, contact_id: int, organisation_id: str | None = None) -> Contact:
        sql = self._by_id("contacts", "id", organisation_id)
        params = (contact_id, *_org(organisation_id))
        return _contact(self._one(sql, params, f"no contact {contact_id}"))

    async def list_contacts(
        self, home_id: str | None = None, organisation_id: str | None = None
    ) -> list[Contact]:
        order = "home_id, priority, id"
        rows = await self._run(self._list, "contacts", home_id, order, organisation_id)
        return [_contact(r) for r in rows]

    async def update_contact(self, contact_id: int, changes: dict[str, Any]) -> Contact:
        cleaned = clean_changes("contacts", changes)
        return await self._run(self._update_contact, contact_id, cleaned)

    def _update_contact(self, contact_id: int, changes: dict[str, Any]) -> Contact:
        with self._tx():
            self._get_contact(contact_id)
            if "home_id" in changes:
                self._check_home(changes["home_id"], f"contact {contact_id}")
            self._update("contacts", "id", contact_id, changes)
            return self._get_contact(contact_id)

    async def delete_contact(self, contact_id: int) -> None:
        missing = f"no contact {contact_id}"
        await self._run(self._delete_by_key, "contacts", "id", contact_id, missing)

    # --- users ----------------------------------------------------------------------

    async def create_user(self, user: User) -> User:
        return await self._run(self._create_user, user)

    def _create_user(self, user: User) -> User:
        user = replace(user, token_version=new_token_version())
        check_account_scope(user.role, user.organisation_id)
        with self._tx() as conn:
            if self._exists("users", "username", user.username):
                raise Conflict(f"user {user.username!r} already exists")
            if user.organisation_id is not None:
                self._check_organisation(user.organisation_id, f"user {user.username!r}")
            conn.execute(
                "INSERT INTO users (username, password_hash, role, phone, token_version,"
                " organisation_id) VALUES (?, ?, ?, ?, ?, ?)",
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
        return await self._run(self._get_user, username, organisation_id)

    def _get_user(self, username: str, organisation_id: str | None = None) -> User:
        sql = self._by_id("users", "username", organisation_id)
        params = (username, *_org(organisation_id))
        return _user(self._one(sql, params, f"no user {username!r}"))

    async def list_users(self, organisation_id: str | None = None) -> list[User]:
        rows = await self._run(self._list, "users", None, "username", organisation_id)
        return [_user(r) for r in rows]

    async def update_user(self, username: str, changes: dict[str, Any]) -> User:
        return await self._run(self._update_user, username, clean_changes("users", changes))

    def _update_user(self, username: str, changes: dict[str, Any]) -> User:
        with self._tx():
            current = self._get_user(username)
            check_account_scope(Role(changes.get("role", current.role)), current.organisation_id)
            if revokes_tokens(current, changes):
                changes = {**changes, "token_version": current.token_version + 1}
            self._update("users", "username", username, changes)
            return self._get_user(username)

    async def delete_user(self, username: str) -> None:
        missing = f"no user {username!r}"
        await self._run(self._delete_by_key, "users", "username", username, missing)

    # --- alerts ---------------------------------------------------------------------

    async def record_finding(
        self, finding: Finding, response_window_s: float
    ) -> AlertChange | None:
        return await self._run(self._record_finding, finding, response_window_s)

    def _record_finding(self, f: Finding, response_window_s: float) -> AlertChange | None:
        source_key = f.source_key or None
        with self._tx() as conn:
            if (
                source_key is not None
                and conn.execute(
                    "SELECT 1 FROM alert_timeline WHERE source_key = ?", (source_key,)
                ).fetchone()
            ):
                return None
            row = conn.execute(
                f"SELECT {ALERT_COLS} FROM alerts WHERE home_id = ? AND subject = ?"
                " AND kind = ? AND status <> 'resolved'",
                (f.home_id, f.subject, f.kind.value),
            ).fetchone()
            if row is not None:
                alert = _alert(row)
                severity = worse(alert.severity, f.severity)
                count = alert.count + 1
                conn.execute(
                    "UPDATE alerts SET severity = ?, count = ?, last_seen_at = ?, updated_at = ?,"
                    " device_id = COALESCE(device_id, ?), resident_id = COALESCE(resident_id, ?)"
                    " WHERE id = ?",
                    (
                        severity.value,
                        count,
                        _ts(max(alert.last_seen_at, f.at)),
                        _ts(f.at),
                        f.device_id,
                        f.resident_id,
                        alert.id,
                    ),
                )
                alert_id, event = alert.id, "repeated"
                details = repeated_details(f, count, severity)
            else:
                deadline = f.at + timedelta(seconds=response_window_s)
                cur = conn.execute(
                    "INSERT INTO alerts (home_id, subject, kind, severity, status, raised_at,"
                    " last_seen_at, response_deadline, count, message, device_id, resident_id,"
                    " updated_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, 1, ?, ?, ?, ?)",
                    (
                        f.home_id,
                        f.subject,
                        f.kind.value,
                        f.severity.value,
                        _ts(f.at),
                        _ts(f.at),
                        _ts(deadline),
                        f.message,
                        f.device_id,
                        f.resident_id,
                        _ts(f.at),
                    ),
                )
                assert cur.lastrowid is not None
                alert_id, event, details = cur.lastrowid, "raised", raised_details(f)
            conn.execute(
                "INSERT INTO alert_timeline (alert_id, at, event, actor, details, source_key)"
                " VALUES (?, ?, ?, NULL, ?, ?)",
                (alert_id, _ts(f.at), event, _json(details), source_key),
            )
            return AlertChange(self._get_alert(alert_id), created=event == "raised")

    async def get_alert(self, alert_id: int, organisation_id: str | None = None) -> Alert:
        return await self._run(self._get_alert, alert_id, organisation_id)

    def _get_alert(self, alert_id: int, organisation_id: str | None = None) -> Alert:
        where = " AND ".join(["id = ?", *in_organisation("alerts", organisation_id, "?")])
        sql = f"SELECT {ALERT_COLS} FROM alerts WHERE {where}"
        params = (alert_id, *_org(organisation_id))
        return _alert(self._one(sql, params, f"no alert {alert_id}"))

    async def list_alerts(self, flt: AlertFilter) -> list[Alert]:
        where = in_organisation("alerts", flt.organisation_id, "?")
        params: list[Any] = list(_org(flt.organisation_id))
        if flt.status:
            where.append(f"status IN ({', '.join('?' for _ in flt.status)})")
            params.extend(AlertStatus(s).value for s in flt.status)
        if flt.severity:
            where.append(f"severity IN ({', '.join('?' for _ in flt.severity)})")
            params.extend(Severity(s).value for s in flt.severity)
        if flt.home_id is not None:
            where.append("home_id = ?")
            params.append(flt.home_id)
        if flt.subject is not None:
            where.append("subject = ?")
            params.append(flt.subject)
        if flt.kind:
            where.append(f"kind IN ({', '.join('?' for _ in flt.kind)})")
            params.extend(AlertKind(k).value for k in flt.kind)
        if flt.since is not None:
            where.append("raised_at >= ?")
            params.append(_ts(flt.since))
        if flt.before_id is not None:
            where.append("id < ?")
            params.append(flt.before_id)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {ALERT_COLS} FROM alerts{clause} ORDER BY id DESC LIMIT ?"
        params.append(max(flt.limit, 0))
        rows = await self._run(lambda: self._conn.execute(sql, params).fetchall())
        return [_alert(r) for r in rows]

    async def set_alert_status(self, update: StatusUpdate) -> Alert | None:
        return await self._run(self._set_alert_status, update)

    def _set_alert_status(self, u: StatusUpdate) -> Alert | None:
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE alerts SET status = ?, responder = COALESCE(?, responder),"
                " outcome = COALESCE(?, outcome), updated_at = ? WHERE id = ? AND status = ?",
                (
                    u.new.value,
                    u.responder,
                    None if u.outcome is None else u.outcome.value,
                    _ts(u.at),
                    u.alert_id,
                    u.expected.value,
                ),
            )
            if cur.rowcount == 0:
                self._get_alert(u.alert_id)
                return None
            conn.execute(
                "INSERT INTO alert_timeline (alert_id, at, event, actor, details)"
                " VALUES (?, ?, ?, ?, ?)",
                (u.alert_id, _ts(u.at), u.new.value, u.actor, _json(status_details(u))),
            )
            return self._get_alert(u.alert_id)

    async def add_timeline(self, entry: TimelineEntry) -> TimelineEntry:
        return await self._run(self._add_timeline, entry)

    def _add_timeline(self, e: TimelineEntry) -> TimelineEntry:
        with self._tx() as conn:
            self._get_alert(e.alert_id)
            cur = conn.execute(
                "INSERT INTO alert_timeline (alert_id, at, event, actor, details)"
                " VALUES (?, ?, ?, ?, ?)",
                (e.alert_id, _ts(e.at), e.event, e.actor, _json(e.details)),
            )
            return replace(e, id=cur.lastrowid)

    async def get_timeline(self, alert_id: int) -> list[TimelineEntry]:
        return await self._run(self._get_timeline, alert_id)

    def _get_timeline(self, alert_id: int) -> list[TimelineEntry]:
        self._get_alert(alert_id)
        rows = self._conn.execute(
            "SELECT * FROM alert_timeline WHERE alert_id = ? ORDER BY at, id", (alert_id,)
        ).fetchall()
        return [_timeline(r) for r in rows]
