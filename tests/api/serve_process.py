"""``eldercare serve`` as its own process, on SQLite and the embedded broker, for
tests that attack it over real HTTP and read its log and its memory."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.helpers import free_port

BOOT = """\
import resource, sys
files = int(sys.argv[1])
if files:
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
from eldercare.cli import main
sys.exit(main(sys.argv[2:]))
"""


@dataclass
class ServeProcess:
    proc: subprocess.Popen[bytes]
    api: str
    port: int
    log: Path
    admin_password: str

    def lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        out = []
        for raw in self.log.read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                out.append(json.loads(raw))
        return out

    def peak_rss_mib(self) -> float:
        """The process's peak resident memory (VmHWM), MiB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmHWM in /proc/PID/status")

    def token(self) -> str:
        resp = httpx.post(
            f"{self.api}/api/v1/auth/token",
            data={"username": "admin", "password": self.admin_password},
            timeout=10,
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])


@contextmanager
def serve(
    tmp_path: Path,
    settings: dict[str, str] | None = None,
    *,
    open_files: int = 0,
    args: tuple[str, ...] = ("serve",),
) -> Iterator[ServeProcess]:
    """Start ``eldercare serve`` (optionally with an open-file limit), wait for
    /healthz, stop it with SIGINT afterwards. ``settings`` may choose the API's
    port and the admin password (else a free port and a random one)."""
    port = int((settings or {}).get("ELDERCARE_API_PORT") or free_port())
    password = (settings or {}).get("ELDERCARE_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(
        ELDERCARE_API_PORT=str(port),
        ELDERCARE_EMBEDDED_MQTT_PORT=str(free_port()),
        ELDERCARE_DATABASE_URL=f"sqlite:///{tmp_path}/serve.db",
        ELDERCARE_ADMIN_PASSWORD=password,
        ELDERCARE_SECRET_KEY=secrets.token_urlsafe(48),
        ELDERCARE_LOG_FORMAT="json",
    )
    env.update(settings or {})
    log = tmp_path / "serve.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-c", BOOT, str(open_files), *args],
            cwd=tmp_path,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    running = ServeProcess(proc, f"http://127.0.0.1:{port}", port, log, password)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"serve exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(f"{running.api}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "serve did not answer /healthz in 60 s"
            time.sleep(0.1)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
