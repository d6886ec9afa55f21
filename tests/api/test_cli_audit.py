"""Staff actions on the command line are in the audit log (issue 15 item 7):
``eldercare organisations add``, ``users add``, ``provision`` (and each record
it writes), ``db prune``, with the OS user as ``cli:<user>`` and the address
``local``; read-only runs and refused ones write nothing. The log is read back
through the API a supervisor uses (``GET /api/v1/audit``, and its CSV)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import httpx
import pytest

from eldercare.cli import main
from eldercare.cli_audit import audit_cli
from eldercare.domain import DEFAULT_ORGANISATION, Role
from eldercare.records import AuditEntry, AuditQuery
from eldercare.store import Store, open_store
from tests.api.conftest import TokenFor
from tests.api.test_provision import RECORD_TOML

PASSWORD = "ward-7-night-shift"


def _entries(db: str) -> list[AuditEntry]:
    async def read() -> list[AuditEntry]:
        store = await open_store(db)
        try:
            return list(reversed(await store.list_audit(AuditQuery())))
        finally:
            await store.close()

    return asyncio.run(read())


def test_command_line_actions_are_audited_with_the_os_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", db)
    monkeypatch.setenv("LOGNAME", "mei")
    assert main(["organisations", "add", "bee", "Centre Bee"]) == 0
    add = ["users", "add", "nurse", "--role", "supervisor", "--organisation", "bee"]
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    assert main([*add, "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    assert main([*add, "--password-stdin"]) == 1  # the name is taken: refused, not logged
    path = tmp_path / "records.toml"
    path.write_text(RECORD_TOML)
    assert main(["provision", "--dry-run", "--organisation", "bee", str(path)]) == 0
    assert _entries(db)[-1].action == "user.create"  # a dry run writes nothing
    assert main(["provision", "--organisation", "bee", str(path)]) == 0
    assert main(["provision", "--organisation", "bee", str(path)]) == 0  # nothing changes
    assert main(["db", "prune"]) == 0
    capsys.readouterr()

    got = _entries(db)
    assert [(e.action, e.target, e.organisation_id) for e in got] == [
        ("organisation.create", "organisation:bee", "bee"),
        ("user.create", "user:nurse", "bee"),
        ("record.update", "resident:h2-r1", "bee"),
        ("provision.apply", "file:records.toml", "bee"),
        ("provision.apply", "file:records.toml", "bee"),
        ("db.prune", "database", None),
    ]
    assert {(e.actor, e.address) for e in got} == {("cli:mei", "local")}
    assert got[1].details == {"role": "supervisor"}
    assert got[2].details == {
        "by": "provision",
        "fields": ["allergies", "date_of_birth", "entry_instructions", "hearing", "key_safe_code"],
    }
    assert [e.details for e in got[3:5]] == [
        {"created": 6, "updated": 0, "unchanged": 0},
        {"created": 0, "updated": 0, "unchanged": 6},
    ]
    assert PASSWORD not in repr(got) and "4711" not in repr(got)  # names, never values


async def test_a_supervisor_reads_and_exports_the_command_lines_entries(
    client: httpx.AsyncClient, store: Store, token_for: TokenFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "mei")
    await audit_cli(store, "user.create", "user:li", DEFAULT_ORGANISATION, {"role": "operator"})
    headers = await token_for(Role.SUPERVISOR)
    got = await client.get("/api/v1/audit", headers=headers)
    assert got.status_code == 200, got.text
    (entry,) = [e for e in got.json()["items"] if e["target"] == "user:li"]
    assert (entry["actor"], entry["address"], entry["action"]) == (
        "cli:mei",
        "local",
        "user.create",
    )
    exported = await client.get("/api/v1/audit", params={"format": "csv"}, headers=headers)
    assert ",cli:mei,local,user.create,user:li," in exported.text


def test_broker_config_and_a_restore_are_audited_a_backup_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("ELDERCARE_DATABASE_URL", db)
    monkeypatch.setenv("ELDERCARE_MQTT_URL", "mqtt://gw:gateway-secret-42@127.0.0.1:1883")
    monkeypatch.setenv("LOGNAME", "mei")
    assert main(["broker-config", "--out", str(tmp_path / "mosquitto")]) == 0
    (made,) = _entries(db)
    assert (made.action, made.target, made.actor, made.address) == (
        "broker.config",
        "file:acl",
        "cli:mei",
        "local",
    )
    assert made.details["changed"] == ["gw"] and made.details["removed"] == []
    assert "gateway-secret-42" not in repr(made)
    backup = tmp_path / "cli.backup"
    assert main(["db", "backup", str(backup)]) == 0
    assert [e.action for e in _entries(db)] == ["broker.config"]  # a backup changes nothing
    assert main(["db", "restore", "--replace", str(backup)]) == 0
    capsys.readouterr()
    assert [(e.action, e.target) for e in _entries(db)] == [
        ("broker.config", "file:acl"),
        ("db.restore", "file:cli.backup"),  # written into the restored database
    ]
