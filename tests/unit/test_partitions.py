"""Homes in partitions, partitions to workers (gateway/partitions.py)."""

from __future__ import annotations

from gateway.partitions import owner, partition_of, subject_mappings, topic_of


def test_a_homes_partition_is_the_one_nats_maps_its_subjects_to() -> None:
    # What nats-server 2.15 stored with {{partition(4,1)}} for these homes' subjects.
    seen = {"h1": 2, "h2": 3, "h3": 0, "h4": 1, "h5": 2, "h6": 3}
    assert {h: partition_of(h, 4) for h in seen} == seen
    assert subject_mappings(4)["eldercare.v1.*.*.event"] == (
        "ec.{{partition(4,1)}}.{{wildcard(1)}}.{{wildcard(2)}}.event"
    )


def test_a_stored_subject_is_read_back_as_the_devices_topic() -> None:
    assert topic_of("$MQTT.msgs.ec.3.h1.h1-bed.event") == "eldercare/v1/h1/h1-bed/event"
    assert topic_of("$MQTT.msgs.ec.0.h1.h1-bed.status") == "eldercare/v1/h1/h1-bed/status"
    assert topic_of("$MQTT.msgs.other.x") == "other/x"  # dead-lettered as a bad topic


def test_only_a_dead_workers_partitions_move_and_they_spread_over_the_others() -> None:
    workers = ["w1", "w2", "w3"]
    before = {p: owner(p, workers) for p in range(64)}
    assert set(before.values()) == set(workers)
    after = {p: owner(p, ["w2", "w3"]) for p in range(64)}
    moved = {p for p in before if before[p] != after[p]}
    assert moved == {p for p, w in before.items() if w == "w1"}
    assert {after[p] for p in moved} == {"w2", "w3"}
    # The worker coming back takes back just those.
    assert {p: owner(p, workers) for p in range(64)} == before
    assert owner(0, []) is None
