"""deploy/'s Mosquitto configuration with the files `eldercare broker-config`
writes, in a real Mosquitto: it starts (no option given twice), takes the
gateway's account on the plain and the TLS listener and refuses anonymous
clients; deploy/'s create-database SQL on the harness's real TimescaleDB:
twice, then the service's role (no superuser) migrates its database."""

from __future__ import annotations

import asyncio
import getpass
import os
import shutil
import ssl
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import psycopg
import pytest

from eldercare.broker_config import BrokerOptions, generate
from eldercare.domain import Device, DeviceKind, Home
from eldercare.store import Store, open_store
from tests.harness.mosquitto import StartMosquitto, free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
GW_PASSWORD = "gateway-secret-deploy-7c1e"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(f"sqlite:///{tmp_path}/t.db")
    await store.migrate()
    await store.create_home(Home(id="h1", name="h1"))
    await store.create_device(Device(id="h1-sos", home_id="h1", kind=DeviceKind.SOS_BUTTON))
    try:
        yield store
    finally:
        await store.close()


def deploy_conf(include_dir: Path, run_dir: Path) -> str:
    """deploy/mosquitto/eldercare.conf with its two machine paths moved into the test's dir."""
    text = (DEPLOY / "mosquitto" / "eldercare.conf").read_text()
    assert "include_dir /etc/mosquitto/eldercare\n" in text
    text = text.replace("include_dir /etc/mosquitto/eldercare", f"include_dir {include_dir}")
    text = text.replace("pid_file /run/mosquitto/mosquitto.pid", f"pid_file {run_dir}/m.pid")
    return text.replace("log_dest syslog\n", "")  # the harness adds a log file


async def connects(port: int, *, password: str | None, tls: ssl.SSLContext | None = None) -> bool:
    client = aiomqtt.Client(
        "127.0.0.1",
        port,
        username="gw-deploy" if password else None,
        password=password,
        identifier="gw-deploy",
        tls_context=tls,
    )
    try:
        async with asyncio.timeout(5), client:
            await client.publish("eldercare/v1/probe", b"x", qos=1)  # refused by the ACL: no error
            return True
    except (aiomqtt.MqttError, TimeoutError):
        return False


@pytest.mark.mosquitto
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_the_deploy_broker_conf_runs_with_what_broker_config_writes(
    store: Store, tmp_path: Path, mosquitto_with_config: StartMosquitto
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    plain, tls_port = free_port(), free_port()
    generated = await generate(
        store,
        BrokerOptions(
            out_dir=tmp_path / "eldercare",
            port=plain,
            bind="127.0.0.1",
            tls_port=tls_port,
            certfile=str(cert),
            keyfile=str(key),
            gateway_user="gw-deploy",
            gateway_password=GW_PASSWORD,
            persistence_dir=str(tmp_path / "data"),
            run_as=getpass.getuser(),
        ),
        datetime.now(UTC),
    )
    conf = generated.conf.read_text()
    assert "max_queued_messages 100000\n" in conf and "max_inflight_messages 1000\n" in conf
    broker = mosquitto_with_config(deploy_conf(tmp_path / "eldercare", tmp_path), plain)
    assert await connects(plain, password=GW_PASSWORD)
    context = ssl.create_default_context(cafile=str(cert))
    assert await connects(tls_port, password=GW_PASSWORD, tls=context)
    assert not await connects(plain, password=None)  # allow_anonymous false
    assert not await connects(plain, password="wrong-" + uuid.uuid4().hex)
    assert "gw-deploy" in broker.log()  # connection_messages: the account is logged


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("psql") is None, reason="needs psql")
def test_create_database_sql_makes_a_role_that_migrates_its_own_database(
    pg_server: str, tmp_path: Path
) -> None:
    sql = DEPLOY / "postgresql" / "create-database.sql"
    for _ in range(2):  # idempotent
        done = subprocess.run(
            ["psql", "-v", "ON_ERROR_STOP=1", "-q", "-f", str(sql), f"{pg_server}/postgres"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    try:
        with psycopg.connect(f"{pg_server}/postgres") as conn:
            row = conn.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles"
                " WHERE rolname = 'eldercare'"
            ).fetchone()
        assert row == (False, False, False)
        service_url = pg_server.replace("postgres@", "eldercare@") + "/eldercare"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
        env["ELDERCARE_DATABASE_URL"] = service_url
        migrate = subprocess.run(
            [str(REPO / ".venv/bin/eldercare"), "db", "migrate"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        assert "applied:" in migrate.stdout
        with psycopg.connect(service_url) as conn:
            owner = conn.execute(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'readings'"
            ).fetchone()
        assert owner == ("eldercare",)
    finally:
        with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS eldercare WITH (FORCE)")
            conn.execute("DROP ROLE IF EXISTS eldercare")


@pytest.mark.postgres
def test_the_conf_d_snippet_is_accepted_by_postgresql_15() -> None:
    """deploy/postgresql/eldercare.conf in a new cluster's conf.d (as Debian's
    postgresql.conf includes it): PostgreSQL reads it without an error and
    preloads TimescaleDB with the Apache licence."""
    from eldercare.localservers import PG_BIN

    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="eldercare-pgconf-"))  # pytest's tmp is root's only
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    try:
        _check_conf_d(as_postgres, root / "data", PG_BIN)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _check_conf_d(as_postgres: list[str], data: Path, pg_bin: Path) -> None:
    subprocess.run(
        [
            *(*as_postgres, str(pg_bin / "initdb"), "-D", str(data), "-U", "postgres"),
            *("-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"),
        ],
        check=True,
        capture_output=True,
    )
    (data / "conf.d").mkdir()
    shutil.copy(DEPLOY / "postgresql" / "eldercare.conf", data / "conf.d" / "eldercare.conf")
    with (data / "postgresql.conf").open("a") as fh:
        fh.write("include_dir = 'conf.d'\n")

    def setting(name: str) -> str:
        done = subprocess.run(
            [*as_postgres, str(pg_bin / "postgres"), "-D", str(data), "-C", name],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr  # an unknown name or bad value fails here
        return done.stdout.strip()

    assert setting("shared_preload_libraries") == "timescaledb"
    assert setting("timescaledb.license") == "apache"
    assert setting("shared_buffers") == "262144"  # 8 kB pages: 2 GB
    assert setting("synchronous_commit") == "on"
