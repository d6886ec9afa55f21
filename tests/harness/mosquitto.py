"""A real Mosquitto broker for tests: own config and persistence in a temp dir, free port.

Fixture ``mosquitto`` (function scope: the broker starts in ~20 ms) yields a
:class:`Mosquitto` with ``host``, ``port``, ``url`` and ``restart()``. The broker
keeps persistent sessions across ``restart()`` (``persistence true``), queues up
to 100,000 messages per offline client and lets 1,000 be in flight, so a batch
is not limited to mosquitto's default 20 for MQTT 3.1.1 clients.

A missing ``/usr/sbin/mosquitto`` fails the test: nothing is skipped silently.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MOSQUITTO = os.environ.get("ELDERCARE_TEST_MOSQUITTO", "/usr/sbin/mosquitto")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """One broker process; ``restart()`` keeps its port and persistence."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.data_dir = workdir / "data"
        self.data_dir.mkdir()
        self.log_path = workdir / "mosquitto.log"
        self.conf_path = workdir / "mosquitto.conf"
        self.conf_path.write_text(
            "\n".join(
                [
                    f"listener {self.port} {self.host}",
                    "allow_anonymous true",
                    # Run as whoever started the tests (root in CI would otherwise
                    # drop to user 'mosquitto', which cannot write our temp dir).
                    f"user {_current_user()}",
                    "persistence true",
                    f"persistence_location {self.data_dir}/",
                    "autosave_interval 1",
                    "max_queued_messages 100000",
                    "max_inflight_messages 1000",
                    "persistent_client_expiration 1d",
                    f"log_dest file {self.log_path}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "log_type information",
                    "connection_messages true",
                    "",
                ]
            )
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 5.0) -> None:
        self._proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(
                    f"mosquitto exited with {self._proc.returncode}: {err}\n{self.log()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.2),
            ):
                return
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(
            f"mosquitto did not listen on {self.port} within {timeout}s\n{self.log()}"
        )

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (mosquitto saves its persistence file on the way out), then wait."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
        if proc.stderr is not None:
            proc.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _current_user() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _require_binary() -> None:
    if shutil.which(MOSQUITTO) is None:
        pytest.fail(
            f"{MOSQUITTO} is missing: these tests need a real Mosquitto broker. "
            "Run the README's test command (it installs mosquitto) and try again.",
            pytrace=False,
        )


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A fresh broker for one test."""
    _require_binary()
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
