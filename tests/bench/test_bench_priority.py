"""The bench runs at the production unit's CPU priority, and its CPU burners at
normal priority: otherwise its loaded runs would measure a service that the
units in deploy/systemd would never run (eldercare/bench/priority.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from eldercare.bench import latency, priority


def test_the_bench_takes_the_nice_value_of_the_production_unit(tmp_path: Path) -> None:
    assert priority.deployed_nice() == -5  # deploy/systemd/eldercare.service
    unit = tmp_path / "eldercare.service"
    unit.write_text("[Service]\nCPUWeight=1000\n  Nice = -7\n")
    assert priority.deployed_nice(unit) == -7
    unit.write_text("[Service]\n#Nice=-7\n")
    assert priority.deployed_nice(unit) == 0  # a comment is not a setting
    assert priority.deployed_nice(tmp_path / "missing.service") == 0


def _nice_of(pid: int) -> int:
    # /proc/PID/stat: field 19 is the nice value (after the command in parentheses)
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16])


@pytest.mark.skipif(os.geteuid() != 0, reason="lowering a nice value needs root")
def test_a_burner_started_by_the_bench_runs_at_normal_priority() -> None:
    pid = os.fork()
    if pid == 0:  # a child at the bench's nice starts a burner and reports its nice
        code = 1
        try:
            os.setpriority(os.PRIO_PROCESS, 0, -5)
            burner = latency.start_burner()
            deadline = time.monotonic() + 10
            while _nice_of(burner.pid) != 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            code = 0 if _nice_of(burner.pid) == 0 and _nice_of(os.getpid()) == -5 else 3
            burner.kill()
            burner.wait()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the burner did not run at nice 0"
