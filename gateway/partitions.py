"""Homes in partitions, partitions to workers (pure; README "Scale-out").

A home's partition is the one NATS gives its subjects with the account mapping
``{{partition(n,1)}}`` (FNV-1a, 32 bits, of the home id, modulo n), so a worker
knows which homes a partition holds without asking the engine. A partition's
owner among the live workers is the one of highest rendezvous weight: when a
worker joins or leaves, only the partitions it wins or held move.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SUBJECT_PREFIX = "ec"
"""NATS subjects of the partitioned device topics: ``ec.<partition>.<home>.<device>.<channel>``."""
MQTT_STORE = "$MQTT_msgs"
"""The stream where the NATS MQTT listener keeps QoS 1 messages before its PUBACK."""
STORE_PREFIX = "$MQTT.msgs."


def partition_of(home_id: str, partitions: int) -> int:
    """The partition of a home, as NATS's ``{{partition(partitions,1)}}`` computes it."""
    h = 0x811C9DC5
    for byte in home_id.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h % partitions


def owner(partition: int, members: Iterable[str]) -> str | None:
    """The member of highest rendezvous weight for the partition (None: no member)."""
    best: tuple[bytes, str] | None = None
    for member in members:
        weight = hashlib.blake2b(f"{member}|{partition}".encode(), digest_size=8).digest()
        if best is None or (weight, member) > best:
            best = (weight, member)
    return None if best is None else best[1]


def subject_mappings(partitions: int) -> dict[str, str]:
    """The account mappings (nats-server configuration) that partition device topics."""
    part = "{{partition(" + str(partitions) + ",1)}}"
    target = f"{SUBJECT_PREFIX}.{part}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}"
    return {
        "eldercare.v1.*.*.event": target + ".event",
        "eldercare.v1.*.*.status": target + ".status",
    }


def store_transform(partitions: int) -> tuple[str, str]:
    """The MQTT store's own subject transform (source, destination): every device
    message kept in ``$MQTT_msgs`` under its partition's subject.

    The account mapping is not enough: the NATS MQTT listener (2.15.1) applies it
    only from the second read of a connection, so a message that came in the same
    TCP read as its CONNECT (a device sending what it queued right after
    connecting) was kept under its unmapped subject, where no partition's consumer
    had interest, and dropped after its PUBACK. The stream's transform applies to
    every message it stores, mapped or not (an already mapped subject does not
    match its source). Channels other than event and status land in the
    partitions too, and the decoder dead-letters them with their reason."""
    part = "{{partition(" + str(partitions) + ",1)}}"
    return (
        f"{STORE_PREFIX}eldercare.v1.*.*.*",
        f"{STORE_PREFIX}{SUBJECT_PREFIX}.{part}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}"
        ".{{wildcard(3)}}",
    )


def store_filter(partition: int) -> str:
    """The subjects of one partition in the MQTT store (a durable consumer's filter)."""
    return f"{STORE_PREFIX}{SUBJECT_PREFIX}.{partition}.>"


def topic_of(subject: str) -> str:
    """The MQTT topic of a stored message's subject: ``$MQTT.msgs.ec.3.h1.d1.event``
    -> ``eldercare/v1/h1/d1/event`` (a subject of another shape is returned as a
    topic of its tokens, for the decoder to dead-letter)."""
    if subject.startswith(STORE_PREFIX):
        subject = subject[len(STORE_PREFIX) :]
    tokens = subject.split(".")
    if len(tokens) == 5 and tokens[0] == SUBJECT_PREFIX:
        return "/".join(["eldercare", "v1", *tokens[2:]])
    return "/".join(tokens)
