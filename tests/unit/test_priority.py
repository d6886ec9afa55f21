"""Urgent work before bulk work on one event loop (eldercare/priority.py)."""

from __future__ import annotations

import asyncio

from eldercare.priority import Priority


async def test_bulk_work_waits_at_its_pause_points_while_urgent_work_runs() -> None:
    priority = Priority(max_pause_s=5)
    order: list[str] = []
    urgent_started = asyncio.Event()
    release = asyncio.Event()

    async def urgent() -> None:
        async with priority.urgent():
            urgent_started.set()
            await release.wait()  # e.g. a database round trip
            order.append("urgent done")

    async def bulk() -> None:
        await urgent_started.wait()
        for i in range(3):
            await priority.pause()
            order.append(f"bulk {i}")

    tasks = [asyncio.create_task(urgent()), asyncio.create_task(bulk())]
    await urgent_started.wait()
    for _ in range(20):
        await asyncio.sleep(0)  # give bulk every chance to run ahead
    assert order == []
    assert priority.busy
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["urgent done", "bulk 0", "bulk 1", "bulk 2"]
    assert not priority.busy


async def test_urgent_code_pausing_does_not_wait_for_itself() -> None:
    priority = Priority(max_pause_s=5)
    async with priority.urgent(), asyncio.timeout(1):
        await priority.pause()  # would time out if it waited for itself


async def test_a_stuck_urgent_section_only_slows_bulk_work_down() -> None:
    priority = Priority(max_pause_s=0.01)
    stuck = asyncio.Event()

    async def urgent() -> None:
        async with priority.urgent():
            await stuck.wait()

    task = asyncio.create_task(urgent())
    await asyncio.sleep(0)
    assert priority.busy
    async with asyncio.timeout(1):
        await priority.pause()  # returns after max_pause_s
    stuck.set()
    await task
