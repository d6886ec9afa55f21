"""Issue 15 item 5: a supervisor silences a device or a home for maintenance.
Until the end time nothing is raised from it but ``sos``; afterwards it raises
again. Through the real detectors and pipeline, texts to the Twilio look-alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.silences import SilenceError
from eldercare.domain import AlertKind
from eldercare.store.base import AlertFilter
from tests.floods.world import T0, Centre, family_phone


async def kinds(c: Centre, home: str) -> list[str]:
    return [a.kind.value for a in await c.store.list_alerts(AlertFilter(home_id=home))]


async def test_a_silenced_device_raises_nothing_until_its_end_then_raises_again(
    centre: Centre,
) -> None:
    until = T0 + timedelta(hours=1)
    silence = await centre.silences.create("default", "f3", "f3-sos", until, "new battery", "sup")
    await centre.status(3, online=False)  # the technician unplugs it
    await centre.until(5 * 60)
    assert await kinds(centre, "f3") == []
    assert centre.family_texts() == []
    await centre.status(3, online=True)

    centre.clock.set(until - timedelta(seconds=1))  # still silenced one second before the end
    await centre.status(3, online=False)
    assert await kinds(centre, "f3") == []
    await centre.status(3, online=True)

    centre.clock.set(until)  # the end time: alerts again
    await centre.status(3, online=False)
    assert await kinds(centre, "f3") == ["device_offline"]
    await centre.until(3600 + 4 * 60)
    assert centre.family_texts() == [family_phone(3)]
    assert (await centre.store.get_silence(silence.id or 0)).end() == until


async def test_an_sos_from_a_silenced_home_still_raises_and_texts(centre: Centre) -> None:
    await centre.silences.create("default", "f5", None, T0 + timedelta(hours=2), "rewiring", "sup")
    await centre.status(5, online=False)
    await centre.press_sos(5)
    await centre.until(30)
    assert await kinds(centre, "f5") == ["sos"]
    assert centre.family_texts() == [family_phone(5)]  # the sos ladder texts at once
    assert "SOS" in centre.twilio.messages_to(family_phone(5))[0].body


async def test_a_silence_is_on_the_timeline_of_the_open_alerts_it_covers(
    centre: Centre,
) -> None:
    await centre.status(8, online=False)
    (alert,) = await centre.store.list_alerts(AlertFilter(home_id="f8"))
    centre.clock.set(T0 + timedelta(minutes=1))
    silence = await centre.silences.create(
        "default", "f8", None, T0 + timedelta(hours=1), "power work", "sup"
    )
    centre.clock.set(T0 + timedelta(minutes=20))
    ended = await centre.silences.end(silence, "sup")
    assert ended.end() == T0 + timedelta(minutes=20)
    events = {e.event: e for e in await centre.store.get_timeline(alert.id)}
    assert events["silenced"].actor == "sup"
    assert events["silenced"].details["ends_at"] == (T0 + timedelta(hours=1)).isoformat()
    assert events["silence_ended"].details["ends_at"] == ended.end().isoformat()
    await centre.press_sos(8)  # not silenced any more either way
    assert AlertKind.SOS.value in await kinds(centre, "f8")


async def test_a_silence_must_end_in_the_future(centre: Centre) -> None:
    with pytest.raises(SilenceError, match="not in the future"):
        await centre.silences.create("default", "f1", None, T0, "", "sup")
    assert await centre.store.list_silences("default") == []
