"""Partition ownership by JetStream KV leases (README "Scale-out").

One KV bucket, replicated on the engine's nodes, with a time to live of
``lease_s``: ``member.<worker>`` is each live worker's heartbeat, and
``lease.<partition>`` names the partition's owner. Each ``round`` (every
``lease_s / 3``):

1. the worker puts its heartbeat and reads the members;
2. it renews the leases it holds by a compare-and-set on their revision
   (``update(last=revision)``): a lease someone else took, or one that expired,
   fails the compare and is lost at once;
3. it creates (``create``: only if absent) the leases of the partitions it wins
   by rendezvous hashing among the live members (``gateway/partitions.py``);
4. the partitions it holds but no longer wins are returned to hand over: the
   caller saves their detector state, then ``release``s them.

The revision of a lease is its fencing token: ``fenced(p)`` before a commit
checks that the lease still has the revision this worker last wrote (and, if
the engine does not answer, that the lease's local deadline has not passed).
The store's writes are idempotent on their keys (readings, alerts) and
escalation steps are claimed by row, so a commit that slips through in the
instant between a check and a takeover stores and raises nothing twice.

A worker that dies stops renewing: its leases and heartbeat expire after
``lease_s``, and the others take its partitions at their next round.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import nats.js.errors
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from gateway.partitions import owner

log = logging.getLogger("eldercare.gateway.leases")

BUCKET = "eldercare_partitions"


@dataclass(slots=True)
class Lease:
    revision: int
    deadline: float
    """monotonic time after which this worker must assume it lost the lease"""


@dataclass(frozen=True, slots=True)
class Round:
    gained: frozenset[int]
    lost: frozenset[int]
    """Taken by another worker or expired: no longer ours (nothing to save first)."""
    to_release: frozenset[int]
    """Ours, but another live worker wins them: save their state, then release."""


class Leases:
    def __init__(
        self,
        js: JetStreamContext,
        worker_id: str,
        partitions: int,
        *,
        lease_s: float,
        replicas: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be > 0")
        self.js = js
        self.worker_id = worker_id
        self.partitions = partitions
        self.lease_s = lease_s
        self.replicas = replicas
        self._monotonic = monotonic
        self._kv: KeyValue | None = None
        self.held: dict[int, Lease] = {}

    async def open(self) -> None:
        """Create the bucket if there is none (idempotent; any worker may do it)."""
        try:
            self._kv = await self.js.key_value(BUCKET)
        except nats.js.errors.BucketNotFoundError:
            try:
                self._kv = await self.js.create_key_value(
                    bucket=BUCKET, ttl=self.lease_s, history=1, replicas=self.replicas
                )
            except nats.js.errors.BadRequestError:  # another worker made it meanwhile
                self._kv = await self.js.key_value(BUCKET)

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "Leases.open() first"
        return self._kv

    def mine(self) -> frozenset[int]:
        return frozenset(self.held)

    def valid(self, partition: int) -> bool:
        lease = self.held.get(partition)
        return lease is not None and self._monotonic() < lease.deadline

    async def fenced(self, partition: int) -> bool:
        """Whether this worker may commit the partition's batch now (see module)."""
        lease = self.held.get(partition)
        if lease is None or self._monotonic() >= lease.deadline:
            return False
        try:
            entry = await self.kv.get(f"lease.{partition}")
        except nats.js.errors.KeyNotFoundError:
            return False
        except Exception:  # the engine is electing a leader: trust the deadline
            return self._monotonic() < lease.deadline
        return entry.revision == lease.revision and entry.value == self.worker_id.encode()

    def drop_expired(self) -> set[int]:
        """Forget the leases whose deadline passed (the engine did not answer)."""
        gone = {p for p in self.held if not self.valid(p)}
        for p in gone:
            del self.held[p]
        return gone

    async def members(self) -> list[str]:
        try:
            keys = await self.kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        return sorted(k[len("member.") :] for k in keys if k.startswith("member."))

    async def round(self) -> Round:
        kv = self.kv
        me = self.worker_id.encode()
        sent = self._monotonic()
        deadline = sent + self.lease_s * 0.8  # renewed from when it was sent, with margin
        await kv.put(f"member.{self.worker_id}", me)
        members = set(await self.members()) | {self.worker_id}
        wins = {p for p in range(self.partitions) if owner(p, members) == self.worker_id}
        lost: set[int] = set()
        for p, lease in list(self.held.items()):
            try:
                lease.revision = await kv.update(f"lease.{p}", me, last=lease.revision)
                lease.deadline = deadline
            except nats.js.errors.KeyWrongLastSequenceError:
                del self.held[p]
                lost.add(p)
            except Exception as exc:  # no answer: kept until its deadline
                if self._monotonic() >= lease.deadline:
                    del self.held[p]
                    lost.add(p)
                log.warning("lease renewal failed", extra={"partition": p, "error": repr(exc)})
        gained: set[int] = set()
        for p in sorted(wins - self.held.keys()):
            try:
                revision = await kv.create(f"lease.{p}", me)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # its owner has not released it, or its lease has not expired
            self.held[p] = Lease(revision, deadline)
            gained.add(p)
        if gained or lost:
            log.info(
                "partitions changed",
                extra={
                    "worker": self.worker_id,
                    "gained": sorted(gained),
                    "lost": sorted(lost),
                    "members": sorted(members),
                },
            )
        to_release = frozenset(self.held.keys() - wins)
        return Round(frozenset(gained), frozenset(lost), to_release)

    async def release(self, partition: int) -> None:
        lease = self.held.pop(partition, None)
        if lease is None:
            return
        try:
            await self.kv.delete(f"lease.{partition}", last=lease.revision)
        except Exception as exc:  # it expires by itself
            log.warning("lease release failed", extra={"partition": partition, "error": repr(exc)})

    async def leave(self) -> None:
        """Release every lease and the heartbeat (a clean stop)."""
        for p in list(self.held):
            await self.release(p)
        try:
            await self.kv.delete(f"member.{self.worker_id}")
        except Exception as exc:
            log.warning("heartbeat removal failed", extra={"error": repr(exc)})
