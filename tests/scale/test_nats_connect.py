"""Credentials in ``ELDERCARE_ENGINE_URL`` reach every node of the cluster, the
announced ones too: a worker given one node's URL goes on, after that node dies,
on a node it only heard of from the cluster."""

from __future__ import annotations

import asyncio

import nats

from gateway.nats_connect import connect_options
from tests.e2e.helpers import eventually
from tests.harness.nats import PASSWORD, USER, NatsCluster


def test_credentials_leave_the_urls_for_the_options() -> None:
    options = connect_options(
        ["nats://eldercare:p%40ss@10.0.0.1:4222", "nats://10.0.0.2:4222", "tls://[::1]:4223"]
    )
    assert options == {
        "servers": ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222", "tls://[::1]:4223"],
        "user": "eldercare",
        "password": "p@ss",
    }
    assert connect_options(["nats://h:4222"]) == {"servers": ["nats://h:4222"]}


async def test_a_client_that_knew_one_node_reconnects_to_another_after_it_died(
    nats_cluster: NatsCluster,
) -> None:
    first = next(iter(nats_cluster.nodes.values()))
    url = f"nats://{USER}:{PASSWORD}@127.0.0.1:{first.port}"
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(
        **connect_options([url]),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.1,
        error_cb=on_error,
    )
    try:

        async def announced() -> bool | None:
            return True if len(nc.discovered_servers) >= 2 else None

        await eventually(announced, timeout=20, interval=0.1)
        nats_cluster.kill(first.name)

        async def elsewhere() -> int | None:
            url = nc.connected_url
            if nc.is_connected and url is not None and url.port != first.port:
                return url.port
            return None

        await eventually(elsewhere, timeout=20, interval=0.1)
        # (with the credentials only in the URL, the announced nodes refused it)
        assert [e for e in errors if "Authorization Violation" in str(e)] == []
        await asyncio.wait_for(nc.flush(), 5)
    finally:
        await nc.close()
