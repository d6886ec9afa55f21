"""Small helpers for end-to-end tests: free ports, polling with a deadline, tokens."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 10.0, interval: float = 0.02
) -> T:
    """Poll ``probe`` until it returns something not None; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing after {timeout} s")
        await asyncio.sleep(interval)


async def token(api: str, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=api, timeout=5) as client:
        resp = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        resp.raise_for_status()
        value: str = resp.json()["access_token"]
        return value
