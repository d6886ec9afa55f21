"""The atheris harness runs: libFuzzer drives every decoder for a few thousand
inputs and finds no crash (a crash exits non-zero and names the input). The
long run is by hand (see tests/fuzz/atheris_decoders.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RUNS = 20_000


def test_libfuzzer_drives_the_decoders_without_a_crash(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.atheris_decoders", f"-runs={RUNS}", "-seed=1"],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Done {RUNS} runs" in done.stderr
    assert "crash-" not in done.stderr
