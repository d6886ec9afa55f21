"""``eldercare serve --workers N``: N ``eldercare worker`` processes beside the API.

Each is started with ``ELDERCARE_WORKER_ID=<serve's id>-<i>`` and the serve
process's settings (environment and ``--config`` file); one that exits is
started again after a second. Stopping sends SIGTERM to each and waits: a
worker then commits what it took, saves its detectors and releases its leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence

from eldercare.settings import Settings

log = logging.getLogger("eldercare.workers")

RESTART_DELAY_S = 1.0


class WorkerPool:
    def __init__(
        self,
        settings: Settings,
        size: int,
        config_file: str | None = None,
        command: Sequence[str] = ("worker",),
        pass_settings: bool = False,
    ) -> None:
        if size < 1:
            raise ValueError("--workers must be at least 1")
        self.settings = settings
        self.size = size
        self.config_file = config_file
        self.pass_settings = pass_settings
        """True: each process gets ``settings`` themselves as its environment (with
        the rest of this one's, less other ``ELDERCARE_*``), not this process's
        environment and ``--config`` file: a service built from Settings in code."""
        self.command = tuple(command)
        """The ``eldercare`` subcommand each process runs (``worker``; ``intake-process``
        for serve's intake process, eldercare/intake_process.py)."""
        self.base_id = settings.worker_id or f"{socket.gethostname().split('.')[0]}-{os.getpid()}"
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._stopping = False

    @property
    def alive(self) -> int:
        return sum(1 for p in self._procs.values() if p.returncode is None)

    def worker_id(self, i: int) -> str:
        return f"{self.base_id}-{i}"

    async def run(self) -> None:
        await asyncio.gather(*(self._keep(i) for i in range(self.size)))

    async def _keep(self, i: int) -> None:
        while not self._stopping:
            env = dict(os.environ, ELDERCARE_WORKER_ID=self.worker_id(i))
            if self.pass_settings:
                env = {k: v for k, v in env.items() if not k.startswith("ELDERCARE_")}
                env.update(self.settings.as_env(), ELDERCARE_WORKER_ID=self.worker_id(i))
            args = [sys.executable, "-m", "eldercare"]
            if self.config_file and not self.pass_settings:
                args += ["--config", self.config_file]
            proc = await asyncio.create_subprocess_exec(*args, *self.command, env=env)
            self._procs[i] = proc
            log.info("worker started", extra={"worker": self.worker_id(i), "pid": proc.pid})
            code = await proc.wait()
            if self._stopping:
                return
            log.error(
                "worker exited; starting it again",
                extra={"worker": self.worker_id(i), "code": code},
            )
            await asyncio.sleep(RESTART_DELAY_S)

    async def stop(self, timeout: float = 20.0) -> None:
        self._stopping = True
        procs = [p for p in self._procs.values() if p.returncode is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), timeout)
        except TimeoutError:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
