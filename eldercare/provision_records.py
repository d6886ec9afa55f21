"""The optional ``record`` of a resident in a provisioning file (issue 15).

TOML: ``record = { date_of_birth = 1941-05-02, allergies = ["penicillin"] }``
or a ``[residents.record]`` sub-table, with the fields of
``PUT /api/v1/residents/{id}/record`` (``dashboard_api/record_models.py``). It
replaces the resident's record whole; a file that leaves ``record`` out keeps
what is stored. The CSV format has no record (one row cannot hold its lists).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from dashboard_api.record_models import RecordFields
from eldercare.records import StoredRecord
from eldercare.store.base import Store

if TYPE_CHECKING:
    from eldercare.provision import Entry, Problem

PROVISIONED_BY = "provision"
"""The ``updated_by`` of a record written by ``eldercare provision``."""


def take_record(entry: Entry, records: dict[int, dict[str, Any]]) -> list[Problem]:
    """Move a resident entry's ``record`` out of its fields into ``records``
    (by the entry's id()), checked; the problems of its fields, if any."""
    from eldercare.provision import Problem

    if entry.kind != "resident" or "record" not in entry.raw:
        return []
    raw = entry.raw.pop("record")
    line = entry.line_of("record")
    if not isinstance(raw, dict):
        why = "a table of record fields (TOML only; a CSV row cannot hold a record)"
        return [Problem(line, entry.what, "record", why)]
    try:
        fields = RecordFields.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(x) for x in err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(Problem(line, entry.what, f"record.{name}", message))
        return problems
    records[id(entry)] = fields.model_dump(mode="json")
    return []


async def apply_records(
    records: dict[str, dict[str, Any]], store: Store
) -> tuple[int, int, int, list[tuple[str, tuple[str, ...]]]]:
    """Write the records that differ from the stored ones: (created, updated,
    unchanged, and per record written its resident and the fields that changed)."""
    created = updated = unchanged = 0
    written: list[tuple[str, tuple[str, ...]]] = []
    for resident_id, record in records.items():
        stored = await store.get_resident_record(resident_id)
        if stored is not None and stored.record == record:
            unchanged += 1
            continue
        at = datetime.now(UTC)
        await store.put_resident_record(StoredRecord(resident_id, record, at, PROVISIONED_BY))
        # as the API's record.update: against the empty record when there was none
        old = RecordFields.model_validate(stored.record if stored else {}).model_dump(mode="json")
        written.append((resident_id, tuple(sorted(k for k in record if record[k] != old.get(k)))))
        if stored is None:
            created += 1
        else:
            updated += 1
    return created, updated, unchanged, written
