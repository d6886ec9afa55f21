"""Bulk provisioning from a CSV or TOML file (``eldercare provision FILE``).

Everything is validated before anything is written: the same rules as the
API (E.164 phones, IANA time zones, device kinds, a bed band needs a
resident of the same home, ids that fit MQTT topics), plus references across
the file and the store. Any problem stops the whole import, and each problem
names the line and the field. Rows whose id exists already are updated
(contacts: the same home and phone), so running a file twice changes nothing.

TOML: arrays of tables ``[[homes]]``, ``[[residents]]``, ``[[devices]]``,
``[[contacts]]`` with the API's fields (``limits`` of a resident and any
per-home rule fields of the API are passed through as they are). A resident
may carry a ``record`` table (eldercare/provision_records.py).

Tenancy: a home may name its care centre, ``organisation_id`` (a TOML field or
a CSV column); a home that names none goes to ``--organisation`` (default: the
default organisation). Residents, devices and contacts belong to their home's.
The organisation must exist, and a home that exists already cannot move to
another one.

CSV: one row per thing, a ``type`` column (``home``, ``resident``, ``device``,
``contact``) and the API's fields as columns; empty cells are left out;
``limits`` (and other table-valued fields) are ``key=value;key=value``; a
device's ``source`` is ``type=zigbee2mqtt;topic=zigbee2mqtt/hall_sos`` (ESPHome
object mappings as ``objects.<object_id>=<field>``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from dashboard_api.models import (
    ContactCreate,
    DeviceCreate,
    HomeCreate,
    ResidentCreate,
    source_dict,
)
from eldercare.domain import DEFAULT_ORGANISATION, Contact, Device, DeviceKind, Home, Resident
from eldercare.provision_records import apply_records, take_record
from eldercare.store.base import NotFound, Store

KINDS: dict[str, type[BaseModel]] = {
    "home": HomeCreate,
    "resident": ResidentCreate,
    "device": DeviceCreate,
    "contact": ContactCreate,
}
TOML_TABLES = {"homes": "home", "residents": "resident", "devices": "device", "contacts": "contact"}


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None
    what: str
    """e.g. ``device h1-bed``"""
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        name = f"{self.field}: " if self.field else ""
        return f"{where}{self.what}: {name}{self.message}"


class ProvisionError(Exception):
    """The file cannot be applied; ``problems`` says every reason found."""

    def __init__(self, path: str, problems: list[Problem]) -> None:
        lines = "\n".join(f"{path}: {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s), nothing was changed:\n{lines}")
        self.path = path
        self.problems = problems


@dataclass
class Entry:
    kind: str
    line: int | None
    raw: dict[str, Any]
    lines: dict[str, int] = field(default_factory=dict)
    """Line of each field, where the format tells."""
    model: Any = None

    @property
    def what(self) -> str:
        key = self.raw.get("id") or self.raw.get("name") or "?"
        return f"{self.kind} {key}"

    def line_of(self, name: str | None) -> int | None:
        return self.lines.get(name, self.line) if name else self.line


@dataclass
class Plan:
    homes: list[Home] = field(default_factory=list)
    residents: list[Resident] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    contacts: list[ContactCreate] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """resident id → its record (eldercare/provision_records.py)"""


@dataclass(frozen=True, slots=True)
class Result:
    created: int
    updated: int
    unchanged: int
    records: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Per resident record written: its resident and the names of the fields that changed."""


# --- reading -------------------------------------------------------------------------


def _table(cell: str) -> dict[str, Any]:
    """``hr_low=45;hr_high=120`` → {"hr_low": 45.0, "hr_high": 120.0}."""
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        key, eq, value = part.partition("=")
        if not eq:
            raise ValueError(f"{part!r} is not key=value")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            out[key.strip()] = value.strip()
    return out


def _source_cell(cell: str) -> dict[str, Any]:
    """``type=esphome;node=bed-1;objects.hr_sensor=hr`` → a device source (strings;
    ``objects.<id>=<field>`` nest; ``press_actions=a|b`` is a list)."""
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in cell.split(";"))):
        key, eq, value = (x.strip() for x in part.partition("="))
        if not eq:
            raise ValueError(f"{part!r} is not key=value")
        if key.startswith("objects."):
            out.setdefault("objects", {})[key.removeprefix("objects.")] = value
        elif key == "press_actions":
            out[key] = [v for v in value.split("|") if v]
        else:
            out[key] = value
    return out


def read_csv(text: str) -> list[Entry] | list[Problem]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "type" not in reader.fieldnames:
        return [Problem(1, "header", "type", "the first line must name the columns, with type")]
    entries: list[Entry] = []
    problems: list[Problem] = []
    for row in reader:
        line = reader.line_num
        kind = (row.pop("type") or "").strip()
        raw: dict[str, Any] = {}
        extra = row.pop(None, None)
        if extra:
            problems.append(Problem(line, "row", None, "more cells than columns"))
        for name, cell in row.items():
            if cell is None or not cell.strip():
                continue
            if name == "source":
                try:
                    raw[name] = _source_cell(cell)
                except ValueError as exc:
                    problems.append(Problem(line, kind or "row", name, str(exc)))
            elif name in ("limits", "rules") or name.endswith("_overrides"):
                try:
                    raw[name] = _table(cell)
                except ValueError as exc:
                    problems.append(Problem(line, kind or "row", name, str(exc)))
            elif name == "priority" and cell.strip().isdigit():
                raw[name] = int(cell)
            else:
                raw[name] = cell.strip()
        if kind not in KINDS:
            problems.append(
                Problem(line, "row", "type", f"{kind!r} is not one of {', '.join(KINDS)}")
            )
            continue
        entries.append(Entry(kind, line, raw))
    return problems or entries


def _toml_lines(text: str) -> dict[str, list[tuple[int, dict[str, int]]]]:
    """Per table name, each ``[[name]]`` header's line and its fields' lines."""
    found: dict[str, list[tuple[int, dict[str, int]]]] = {}
    current: dict[str, int] | None = None
    header = re.compile(r"^\s*\[\[\s*([A-Za-z_]+)\s*\]\]")
    key = re.compile(r"^\s*([A-Za-z0-9_\"-]+)\s*=")
    for n, line in enumerate(text.splitlines(), start=1):
        if m := header.match(line):
            current = {}
            found.setdefault(m[1], []).append((n, current))
        elif line.lstrip().startswith("["):
            current = None
        elif current is not None and (m := key.match(line)):
            current.setdefault(m[1].strip('"'), n)
    return found


def read_toml(text: str) -> list[Entry] | list[Problem]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [Problem(None, "file", None, f"not valid TOML: {exc}")]
    lines = _toml_lines(text)
    entries: list[Entry] = []
    problems: list[Problem] = []
    for table, value in data.items():
        if table not in TOML_TABLES:
            where = lines.get(table, [(None, {})])[0][0]
            allowed = ", ".join(f"[[{t}]]" for t in TOML_TABLES)
            problems.append(Problem(where, "file", table, f"unknown table; use {allowed}"))
            continue
        if not isinstance(value, list):
            problems.append(Problem(None, "file", table, f"write it as [[{table}]] tables"))
            continue
        places = lines.get(table, [])
        for i, item in enumerate(value):
            line, field_lines = places[i] if i < len(places) else (None, {})
            if not isinstance(item, dict):
                problems.append(Problem(line, f"{table}[{i}]", None, "not a table"))
                continue
            entries.append(Entry(TOML_TABLES[table], line, dict(item), field_lines))
    return problems or entries


def read_file(path: Path) -> list[Entry]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisionError(str(path), [Problem(None, "file", None, str(exc))]) from exc
    suffix = path.suffix.lower()
    if suffix == ".toml":
        got = read_toml(text)
    elif suffix == ".csv":
        got = read_csv(text)
    else:
        problem = Problem(None, "file", None, "use a .csv or .toml file")
        raise ProvisionError(str(path), [problem])
    if got and isinstance(got[0], Problem):
        raise ProvisionError(str(path), [p for p in got if isinstance(p, Problem)])
    return [e for e in got if isinstance(e, Entry)]


# --- checking ------------------------------------------------------------------------


def _field_problems(entry: Entry, exc: ValidationError) -> Iterable[Problem]:
    for err in exc.errors():
        loc = [str(x) for x in err["loc"]]
        name = loc[0] if loc else None
        if name is None and err["type"] == "value_error" and entry.kind == "device":
            # The whole-model rules: a bed band needs a resident; ESPHome objects fit the kind.
            name = "source" if "objects." in str(err["msg"]) else "resident_id"
        message = str(err["msg"]).removeprefix("Value error, ")
        if len(loc) > 1:
            message = f"{'.'.join(loc[1:])}: {message}"
        yield Problem(entry.line_of(name), entry.what, name, message)


def _domain(cls: type[Any], values: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


async def _exists(lookup: Any) -> Any:
    try:
        return await lookup
    except NotFound:
        return None


async def check(
    entries: list[Entry],
    store: Store,
    default_timezone: str,
    organisation: str = DEFAULT_ORGANISATION,
) -> Plan:
    """Validate everything; raise ProvisionError listing every problem found."""
    problems: list[Problem] = []
    organisations = {o.id for o in await store.list_organisations()}
    records: dict[int, dict[str, Any]] = {}
    for entry in entries:
        problems.extend(take_record(entry, records))
        try:
            entry.model = KINDS[entry.kind].model_validate(entry.raw)
        except ValidationError as exc:
            problems.extend(_field_problems(entry, exc))
    valid = [e for e in entries if e.model is not None]
    seen: dict[tuple[str, str], Entry] = {}
    for entry in valid:
        key = getattr(entry.model, "id", None)
        if key is None:
            continue
        if (entry.kind, key) in seen:
            first = seen[(entry.kind, key)].line
            problems.append(Problem(entry.line_of("id"), entry.what, "id", f"also on line {first}"))
        seen[(entry.kind, key)] = entry
    homes = {e.model.id for e in valid if e.kind == "home"}
    residents = {e.model.id: e.model.home_id for e in valid if e.kind == "resident"}
    for entry in valid:
        m = entry.model
        if entry.kind == "home":
            org = m.organisation_id or organisation
            stored_home = await _exists(store.get_home(m.id))
            if org not in organisations:
                msg = f"no organisation {org}"
            elif stored_home is not None and stored_home.organisation_id != org:
                msg = (
                    f"home {m.id} belongs to organisation {stored_home.organisation_id};"
                    " a home cannot move to another"
                )
            else:
                msg = ""
            if msg:
                line = entry.line_of("organisation_id")
                problems.append(Problem(line, entry.what, "organisation_id", msg))
        if (
            entry.kind != "home"
            and m.home_id not in homes
            and await _exists(store.get_home(m.home_id)) is None
        ):
            problems.append(
                Problem(entry.line_of("home_id"), entry.what, "home_id", f"no home {m.home_id}")
            )
        if entry.kind == "device" and m.resident_id is not None:
            home_of = residents.get(m.resident_id)
            if home_of is None:
                stored = await _exists(store.get_resident(m.resident_id))
                home_of = stored.home_id if stored else None
            if home_of is None:
                msg = f"no resident {m.resident_id}"
            elif home_of != m.home_id:
                msg = f"resident {m.resident_id} lives in home {home_of}, not {m.home_id}"
            else:
                continue
            problems.append(Problem(entry.line_of("resident_id"), entry.what, "resident_id", msg))
    if problems:
        raise ProvisionError("", problems)
    plan = Plan()
    for entry in valid:
        values = entry.model.model_dump()
        if entry.kind == "home":
            values["timezone"] = values.get("timezone") or default_timezone
            values["organisation_id"] = values.get("organisation_id") or organisation
            plan.homes.append(_domain(Home, values))
        elif entry.kind == "resident":
            plan.residents.append(_domain(Resident, values))
            if id(entry) in records:
                plan.records[values["id"]] = records[id(entry)]
        elif entry.kind == "device":
            values["kind"] = DeviceKind(values["kind"])
            values["source"] = source_dict(entry.model.source)  # as the API stores it
            plan.devices.append(_domain(Device, values))
        else:
            plan.contacts.append(entry.model)
    return plan


# --- applying ------------------------------------------------------------------------


def _changes(current: Any, wanted: Any) -> dict[str, Any]:
    return {
        f.name: getattr(wanted, f.name)
        for f in dataclasses.fields(wanted)
        if f.name not in ("id", "organisation_id")
        and getattr(current, f.name) != getattr(wanted, f.name)
    }


async def apply(plan: Plan, store: Store) -> Result:
    created = updated = unchanged = 0

    async def upsert(current: Any, wanted: Any, create: Any, update: Any) -> None:
        nonlocal created, updated, unchanged
        if current is None:
            await create(wanted)
            created += 1
            return
        changes = _changes(current, wanted)
        if changes:
            await update(wanted.id, changes)
            updated += 1
        else:
            unchanged += 1

    for home in plan.homes:
        current = await _exists(store.get_home(home.id))
        await upsert(current, home, store.create_home, store.update_home)
    for resident in plan.residents:
        current = await _exists(store.get_resident(resident.id))
        await upsert(current, resident, store.create_resident, store.update_resident)
    made, changed, same, written = await apply_records(plan.records, store)
    created, updated, unchanged = created + made, updated + changed, unchanged + same
    for device in plan.devices:
        current = await _exists(store.get_device(device.id))
        await upsert(current, device, store.create_device, store.update_device)
    for contact in plan.contacts:
        existing = [
            c for c in await store.list_contacts(contact.home_id) if c.phone == contact.phone
        ]
        if existing:
            wanted = Contact(existing[0].id, **contact.model_dump())
            changes = _changes(existing[0], wanted)
            if changes:
                await store.update_contact(existing[0].id, changes)
                updated += 1
            else:
                unchanged += 1
        else:
            c = contact
            await store.create_contact(
                c.home_id, c.name, c.phone, c.language, c.priority, c.sms_provider
            )
            created += 1
    return Result(created, updated, unchanged, tuple(written))


async def provision(
    path: Path,
    store: Store,
    default_timezone: str,
    *,
    dry_run: bool = False,
    organisation: str = DEFAULT_ORGANISATION,
) -> Result:
    """Read, check and (unless ``dry_run``) apply the file; ProvisionError if invalid.
    Homes that name no ``organisation_id`` go to ``organisation``."""
    entries = read_file(path)
    try:
        plan = await check(entries, store, default_timezone, organisation)
    except ProvisionError as exc:
        raise ProvisionError(str(path), exc.problems) from None
    if dry_run:
        return Result(0, 0, 0)
    return await apply(plan, store)
