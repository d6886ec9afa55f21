"""Staff actions done on the command line go to the audit log too (issue 15
item 7): ``eldercare users add``, ``organisations add``, ``provision`` (and
each resident record it writes), ``db restore``, ``db prune`` and
``broker-config``. The actor is ``cli:<OS user>`` (``cli`` when the OS names
nobody; an account's username never has a colon, so the two cannot be
confused) and the address is ``local``. Read-only commands (``db backup``,
``provision --dry-run``, ``db prune --dry-run``) are not logged.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eldercare.records import AuditEntry
from eldercare.store.base import Store

if TYPE_CHECKING:
    from eldercare.provision import Result

CLI_ADDRESS = "local"


def cli_actor() -> str:
    """``cli:<the OS user>``, or ``cli`` when it cannot be told."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):
        return "cli"
    return f"cli:{name}" if name else "cli"


async def audit_cli(
    store: Store,
    action: str,
    target: str,
    organisation_id: str | None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry for a command run here."""
    entry = AuditEntry(
        at=datetime.now(UTC),
        actor=cli_actor(),
        address=CLI_ADDRESS,
        action=action,
        target=target,
        organisation_id=organisation_id,
        details=details or {},
    )
    return await store.add_audit(entry)


async def audit_provision(store: Store, file: str, organisation: str, result: Result) -> None:
    """One ``provision.apply`` entry for the file, and a ``record.update`` per
    resident record it wrote (the names of the fields, never their values)."""
    for resident_id, fields in result.records:
        home = await store.get_home((await store.get_resident(resident_id)).home_id)
        target = f"resident:{resident_id}"
        details = {"fields": list(fields), "by": "provision"}
        await audit_cli(store, "record.update", target, home.organisation_id, details)
    counts = {"created": result.created, "updated": result.updated}
    counts["unchanged"] = result.unchanged
    await audit_cli(store, "provision.apply", f"file:{file}", organisation, counts)
