"""The fault suite's shared parts: short or long mode, and the printed figures.

Short mode (the test command) runs each scenario for seconds. Long mode is by
hand: ``ELDERCARE_FAULTS_MINUTES=10 .venv/bin/pytest tests/faults -q`` runs the
load scenarios (kill -9, broker restart) for that many minutes each and the
Twilio hang at its full 20 s against the channel's default 10 s timeout, and
stops PostgreSQL for 60 s instead of 8 s.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

Figures = Callable[[str, dict[str, object]], None]


def long_minutes() -> float | None:
    """``ELDERCARE_FAULTS_MINUTES`` as minutes, None (short mode) when unset."""
    raw = os.environ.get("ELDERCARE_FAULTS_MINUTES", "").strip()
    if not raw:
        return None
    minutes = float(raw)
    if minutes <= 0:
        raise ValueError("ELDERCARE_FAULTS_MINUTES must be a positive number of minutes")
    return minutes


@pytest.fixture
def figures(capsys: pytest.CaptureFixture[str]) -> Figures:
    """``figures(scenario, {name: value})`` prints one block past pytest's capture."""

    def show(scenario: str, values: dict[str, object]) -> None:
        mode = "short" if long_minutes() is None else f"long ({long_minutes()} min)"
        with capsys.disabled():
            print(f"\n[faults] {scenario}, {mode} mode")
            for name, value in values.items():
                text = f"{value:.2f}" if isinstance(value, float) else str(value)
                print(f"[faults]   {name}: {text}")

    return show
