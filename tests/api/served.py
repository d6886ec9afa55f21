"""The API on a real uvicorn server on a free port, and clients from chosen
loopback addresses (127.0.0.2, 127.0.0.3, … all reach 127.0.0.1 on Linux)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn

from dashboard_api.app import create_app
from dashboard_api.context import AppContext
from tests.e2e.helpers import eventually


@asynccontextmanager
async def served(ctx: AppContext, port: int = 0) -> AsyncIterator[str]:
    """``create_app(ctx)`` served on 127.0.0.1 (a free port unless given); its URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(ctx),
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        proxy_headers=False,  # as eldercare/api_server.py
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def started() -> bool | None:
        return True if server.started else None

    try:
        await eventually(started, timeout=5)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 5)
        sock.close()


def client_from(base_url: str, address: str) -> httpx.AsyncClient:
    """An HTTP client whose connections come from ``address`` (e.g. 127.0.0.2)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base_url, transport=transport, timeout=10)
