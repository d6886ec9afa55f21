"""Repeats say something new, so providers' "identical message" rules are not hit
by design: over a critical ladder nobody attends (SMS at 0 s, +60 s, then the
breach every 5 minutes), no person gets the same text twice (the +60 s text is
not sent again to contact #1; each breach says its own time), each in one
segment."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alerts.messages import sms_segments
from eldercare.clock import ManualClock
from eldercare.store import Store, open_store
from tests.alerts.escalation_fixtures import DAUGHTER, SON, SUPERVISOR, T0, make_world, provision


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f"sqlite:///{tmp_path}/texts.db")
    await opened.migrate()
    await provision(opened)
    yield opened
    await opened.close()


async def test_no_person_gets_the_same_text_twice_over_a_long_ladder(store: Store) -> None:
    world = make_world(store, ManualClock(T0), quota=None)
    await world.raise_()
    await world.until(30 * 60)
    texts: dict[str, list[str]] = defaultdict(list)
    for s in world.channel.sent:
        if s.kind == "sms":
            texts[s.to].append(s.body)
    assert len(texts[DAUGHTER]) == 1 + 5  # 0 s, then the breach at 10, 15, 20, 25, 30 min
    assert len(texts[SON]) == 1 + 5  # +60 s, and the breaches
    for phone in (DAUGHTER, SON, SUPERVISOR):
        assert len(set(texts[phone])) == len(texts[phone]), texts[phone]
        assert all(sms_segments(t) == 1 for t in texts[phone]), texts[phone]
    assert [t for t in ("10:10", "10:15", "10:20") if t in texts[DAUGHTER][2]] == ["10:15"]
