"""gateway.registry_cache: hits never touch the store, misses reload at most every N s."""

from __future__ import annotations

import pytest

from eldercare.domain import Device, DeviceKind
from gateway.registry_cache import RegistryCache


class FakeRegistry:
    """Only what the cache uses of the Store: list_devices."""

    def __init__(self, *devices: Device) -> None:
        self.devices = list(devices)
        self.calls = 0
        self.fail = False

    async def list_devices(self, home_id: str | None = None) -> list[Device]:
        self.calls += 1
        if self.fail:
            raise OSError("store down")
        return list(self.devices)


class Ticker:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


DOOR = Device(id="door-1", home_id="h", kind=DeviceKind.DOOR)
GAS = Device(id="gas-1", home_id="h", kind=DeviceKind.GAS)


def make(store: FakeRegistry, ticker: Ticker) -> RegistryCache:
    return RegistryCache(store, miss_reload_interval=5.0, monotonic=ticker)  # type: ignore[arg-type]


async def test_loads_once_and_hits_from_memory() -> None:
    store, ticker = FakeRegistry(DOOR), Ticker()
    cache = make(store, ticker)
    assert cache.peek("door-1") is None  # not loaded yet: peek never touches the store
    assert await cache.lookup("door-1") == DOOR
    assert cache.peek("door-1") == DOOR
    for _ in range(10):
        assert await cache.lookup("door-1") == DOOR
    assert store.calls == 1
    assert len(cache) == 1


async def test_misses_reload_at_most_once_per_interval() -> None:
    store, ticker = FakeRegistry(DOOR), Ticker()
    cache = make(store, ticker)
    await cache.load()
    for _ in range(100):
        assert await cache.lookup("ghost") is None
    assert store.calls == 1  # a flood of unknown ids does not hammer the store

    store.devices.append(GAS)  # provisioned through the API
    assert await cache.lookup("gas-1") is None  # still inside the interval
    ticker.t += 5.0
    assert await cache.lookup("gas-1") == GAS
    assert store.calls == 2


async def test_invalidate_reloads_at_once() -> None:
    store, ticker = FakeRegistry(DOOR), Ticker()
    cache = make(store, ticker)
    await cache.load()
    store.devices = [Device(id="door-1", home_id="h2", kind=DeviceKind.DOOR)]
    cache.invalidate()
    assert cache.peek("door-1") is None
    found = await cache.lookup("door-1")
    assert found is not None and found.home_id == "h2"
    assert store.calls == 2


async def test_store_errors_propagate_and_keep_the_old_view() -> None:
    store, ticker = FakeRegistry(DOOR), Ticker()
    cache = make(store, ticker)
    await cache.load()
    store.fail = True
    ticker.t += 10
    with pytest.raises(OSError):  # reaches the gateway, which retries its batch
        await cache.lookup("ghost")
    assert await cache.lookup("door-1") == DOOR
