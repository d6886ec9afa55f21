"""The CPU priority the bench runs the service at: the one its production units give it.

``deploy/systemd/eldercare.service`` (and the broker's and PostgreSQL's drop-ins)
run the service with ``Nice=`` below the default and a larger ``CPUWeight=``, so
that an SOS does not wait behind other work on the machine. The bench takes that
``Nice=`` from the unit file and sets it on itself before it starts anything:
the broker, PostgreSQL, the service and the load process (the homes' devices,
which are not on this machine in production) inherit it; the CPU burners of the
loaded runs are put back at nice 0, the machine's other work at normal priority.
``--nice 0`` measures without it (every process at normal priority).

Lowering a nice value needs root (or CAP_SYS_NICE); where it is refused the bench
says so and records the nice it ran at.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "eldercare.service"
_NICE = re.compile(r"^\s*Nice\s*=\s*(-?\d+)\s*$", re.MULTILINE)


def deployed_nice(unit: Path = UNIT) -> int:
    """The ``Nice=`` of the production unit (0 if it sets none or is not there)."""
    try:
        found = _NICE.search(unit.read_text())
    except OSError:
        return 0
    return int(found[1]) if found else 0


def run_at(nice: int) -> int:
    """Set this process's nice value (children inherit it); return the one it has.
    A refused change (no privilege) leaves it as it was."""
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return os.getpriority(os.PRIO_PROCESS, 0)
