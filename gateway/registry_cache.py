"""An in-memory view of the device registry for the gateway's hot path.

The whole device list is loaded from the store at start. A hit is a dict
lookup. A miss reloads the list, but at most once per ``miss_reload_interval``
seconds, so a device provisioned through the API is found within that time
while a flood of unknown ids cannot hammer the store. ``invalidate()`` (called
by the API after any registry change) makes the next lookup reload at once.

Store errors during a reload propagate: the gateway then retries its batch
instead of dead-lettering a known device as ``unknown_device``.

Devices with a ``source`` are also indexed by their ecosystem's topics
(``gateway.adapters.SourceIndex``): ``source_match`` finds the device of a
topic, ``subscriptions()`` lists the topics the gateway must subscribe to, and
``wait_changed`` wakes the gateway when ``invalidate()`` was called, so it can
reload and change its subscriptions without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from eldercare.device_source import source_key
from eldercare.domain import Device
from eldercare.store.base import Store
from gateway.adapters import Match, SourceIndex, Subscription

log = logging.getLogger("eldercare.gateway.registry")


class RegistryCache:
    def __init__(
        self,
        store: Store,
        *,
        miss_reload_interval: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._interval = miss_reload_interval
        self._monotonic = monotonic
        self._devices: dict[str, Device] = {}
        self._loaded_at: float | None = None
        self._stale = True
        self._lock = asyncio.Lock()
        self._sources = SourceIndex()
        self._source_keys: dict[str, str] = {}
        self._changed = asyncio.Event()
        self.reloads = 0
        """How many times the list was loaded (for tests and metrics)."""

    def __len__(self) -> int:
        return len(self._devices)

    async def load(self) -> None:
        """Load the whole device list now."""
        async with self._lock:
            await self._load()

    async def _load(self) -> None:
        devices = await self._store.list_devices()
        self._devices = {d.id: d for d in devices}
        self._sources = SourceIndex(devices)
        self._source_keys = {d.id: source_key(d.source) for d in devices if d.source is not None}
        self._loaded_at = self._monotonic()
        self._stale = False
        self.reloads += 1
        log.debug("registry loaded", extra={"devices": len(devices)})

    def invalidate(self) -> None:
        """The registry changed: the next lookup reloads. Safe to call from any task."""
        self._stale = True
        self._changed.set()

    async def wait_changed(self, timeout: float) -> bool:
        """Wait until ``invalidate()`` is called (True) or ``timeout`` seconds pass."""
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except TimeoutError:
            return False
        self._changed.clear()
        return True

    async def refresh_sources(self) -> bool:
        """Reload if the device sources in the store differ from the loaded ones
        (one small query; the whole list only then). True if it reloaded."""
        if await self._store.list_device_sources() == self._source_keys:
            return False
        await self.load()
        return True

    def subscriptions(self) -> dict[str, Subscription]:
        """The ecosystem topics the sources of the loaded registry name."""
        return self._sources.subscriptions

    def source_match(self, topic: str) -> Match | None:
        """The device(s) whose source names ``topic`` (None if unknown or stale)."""
        if self._stale:
            return None
        return self._sources.match(topic)

    async def lookup_source(self, topic: str) -> Match | None:
        """Like ``lookup``, for an ecosystem topic."""
        found = self.source_match(topic)
        if found is not None:
            return found
        if (
            not self._stale
            and self._loaded_at is not None
            and self._monotonic() - self._loaded_at < self._interval
        ):
            return None
        async with self._lock:
            if self._stale or (
                self._loaded_at is None or self._monotonic() - self._loaded_at >= self._interval
            ):
                await self._load()
            return self._sources.match(topic)

    def devices(self) -> list[Device]:
        """The loaded devices (as loaded: possibly stale). Any thread."""
        return list(self._devices.values())

    async def ensure_loaded(self) -> None:
        """Reload if ``invalidate()`` was called since the last load."""
        if self._stale:
            async with self._lock:
                if self._stale:
                    await self._load()

    def peek(self, device_id: str) -> Device | None:
        """The cached device, without ever touching the store (None if unknown or stale)."""
        if self._stale:
            return None
        return self._devices.get(device_id)

    async def lookup(self, device_id: str) -> Device | None:
        """The device, or None if it is not in the registry."""
        if not self._stale:
            device = self._devices.get(device_id)
            if device is not None:
                return device
            if self._loaded_at is not None and self._monotonic() - self._loaded_at < self._interval:
                return None
        async with self._lock:
            # Another task may have reloaded while we waited for the lock.
            if self._stale or (
                device_id not in self._devices
                and (
                    self._loaded_at is None or self._monotonic() - self._loaded_at >= self._interval
                )
            ):
                await self._load()
            return self._devices.get(device_id)
