"""With the event clock, a replay batch can span hours: the clock (``now`` at the
batch's start) already counts its newest reading. Its earlier readings must not
be judged late against it, or a night out of bed goes unseen."""

from __future__ import annotations

from datetime import timedelta

from detectors.engine import build_detectors
from eldercare.domain import AlertKind, DeviceKind, Reading
from tests.detectors.rig import Rig, local


def test_one_batch_spanning_a_night_still_raises_bed_exit() -> None:
    rig = Rig()
    events = build_detectors(rig.profiles, follow_events=True)
    bed = rig.devices[DeviceKind.BED_BAND]
    batch = [
        Reading("h1", bed.id, DeviceKind.BED_BAND, ts, ts, i, None, {"in_bed": i < 10})
        for i, ts in enumerate(local(1, 0) + timedelta(minutes=m) for m in range(0, 120, 5))
    ]  # in bed 01:00-01:45, out from 01:50 to 02:55
    newest = batch[-1].ts
    events.begin(newest)  # the gateway has already moved the clock to the batch's end
    signals = [s for r in batch for s in events.on_reading(r, bed)]
    signals += events.on_tick(newest)
    raised = [s for s in signals if s.kind is AlertKind.BED_EXIT_NOT_RETURNED]
    assert len(raised) == 1
    assert raised[0].at == local(1, 50) + timedelta(minutes=30)
