"""Issue 15 item 5: a power cut takes 300 homes' SOS buttons offline in the same
minute. Through the real detectors, pipeline and escalation (texts through the
``twilio`` package to the local look-alike): one incident with 300 members, no
family SMS, one SMS to the supervisor. One home offline alone still texts."""

from __future__ import annotations

from datetime import timedelta

from eldercare.domain import AlertKind, AlertStatus
from eldercare.store.base import AlertFilter, Store
from simulators.twilio_server import TwilioServer
from tests.floods.world import T0, Centre, care_centre, family_phone


async def offline_alerts(c: Centre) -> list[int]:
    found = await c.store.list_alerts(AlertFilter(kind=[AlertKind.DEVICE_OFFLINE], limit=1000))
    return [a.id for a in found]


async def test_300_homes_offline_in_one_minute_are_one_incident_without_family_sms(
    centre: Centre,
) -> None:
    await centre.offline(range(300), spread_s=40)
    await centre.until(16 * 60)  # past every step of the high ladder (+3, +7, +10 min)

    alerts = await offline_alerts(centre)
    assert len(alerts) == 300  # each home still has its own alert (and it resolves itself)
    incidents = await centre.store.list_incidents("default")
    assert len(incidents) == 1
    incident = incidents[0]
    assert incident.kind == "device_offline" and incident.cause == "status"
    assert incident.members == 300
    assert sorted(incident.member_ids) == sorted(alerts)
    assert centre.family_texts() == []  # no daughter was texted
    told = centre.supervisor_texts()
    assert len(told) == 1, told  # the supervisor is told once, of the incident
    assert f"事件#{incident.id}" in told[0] and "20户以上设备离线" in told[0]
    timeline = await centre.store.get_timeline(alerts[-1])
    assert {"incident": incident.id} in [e.details for e in timeline if e.event == "grouped"]
    # The incident ends 10 minutes after its last member joined.
    assert incident.ended_at == incident.last_member_at + timedelta(minutes=10)


async def test_alerts_raised_while_the_incident_is_open_join_it(centre: Centre) -> None:
    await centre.offline(range(250))
    centre.clock.set(T0 + timedelta(minutes=3))
    await centre.offline(range(250, 300))  # 3 minutes later: more homes lose power
    await centre.until(8 * 60)
    (incident,) = await centre.store.list_incidents("default")
    assert incident.members == 300 and incident.ended_at is None
    assert centre.family_texts() == []
    assert len(centre.supervisor_texts()) == 1


async def test_one_home_offline_alone_still_texts_its_family(centre: Centre) -> None:
    await centre.offline(range(7, 8))
    await centre.until(4 * 60)
    assert await centre.store.list_incidents("default") == []
    assert centre.family_texts() == [family_phone(7)]  # +180 s: the daughter, as before


async def test_under_the_threshold_each_home_is_texted(centre: Centre) -> None:
    await centre.offline(range(19))  # 19 < 20
    await centre.until(4 * 60)
    assert await centre.store.list_incidents("default") == []
    assert sorted(centre.family_texts()) == sorted(family_phone(i) for i in range(19))


async def test_after_the_incident_ended_a_lone_alert_escalates_again(centre: Centre) -> None:
    await centre.offline(range(30))
    await centre.until(12 * 60)  # quiet for 10 minutes: the incident ends
    (incident,) = await centre.store.list_incidents("default")
    assert incident.ended_at is not None
    await centre.offline(range(100, 101))
    await centre.until(16 * 60)
    assert centre.family_texts() == [family_phone(100)]
    assert (await centre.store.get_incident(incident.id)).members == 30
    latest = await centre.store.list_alerts(AlertFilter(home_id="f100"))
    assert latest[0].status is AlertStatus.OPEN


async def test_two_service_processes_count_one_flood_between_them(
    centre: Centre, store: Store, twilio: TwilioServer, account_sid: str
) -> None:
    """A standby or a second instance raising half of the alerts: the count is
    the store's, so 10 + 10 alerts across the two are one incident of 20 (each
    process alone is under the threshold), and the supervisor is told once."""
    async with care_centre(store, twilio, account_sid) as other:
        other.clock.set(centre.clock.now())
        await centre.offline(range(0, 10), spread_s=20)
        await other.offline(range(10, 20), spread_s=20)
        for c in (centre, other):
            await c.until(5 * 60)
        (incident,) = await store.list_incidents("default")
        assert incident.members == 20
        assert sorted(incident.member_ids) == sorted(await offline_alerts(centre))
        assert centre.family_texts() == []
        assert len(centre.supervisor_texts()) == 1


async def test_the_store_opens_one_incident_per_centre_kind_and_cause(store: Store) -> None:
    first, opened = await store.open_incident("default", "device_offline", "status", T0)
    again, opened_again = await store.open_incident("default", "device_offline", "status", T0)
    other, opened_other = await store.open_incident("default", "device_offline", "silence", T0)
    assert (opened, opened_again, opened_other) == (True, False, True)
    assert again.id == first.id and other.id != first.id
    await store.end_incident(first.id, T0 + timedelta(minutes=1), None)
    new, opened_new = await store.open_incident("default", "device_offline", "status", T0)
    assert opened_new and new.id not in (first.id, other.id)
