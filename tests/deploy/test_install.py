"""deploy/install.sh into a temp root, twice: the units, the settings file and the
broker's and PostgreSQL's files in place with their modes and owners, the
service's own system user, nothing changed by the second run, an edited
settings file kept; the installed unit passes ``systemd-analyze verify``."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "install.sh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="install.sh runs as root")


def install(root: Path) -> str:
    done = subprocess.run(
        ["bash", str(INSTALL), "--root", str(root), "--app", str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def tree(root: Path) -> dict[str, tuple[int, int, int, str]]:
    """path -> (mode, uid, gid, sha256 of the content) of everything under root."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        out[str(path.relative_to(root))] = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, digest)
    return out


def gid(root: Path, group: str) -> int:
    for line in (root / "etc/group").read_text().splitlines():
        name, _, number, *_ = line.split(":")
        if name == group:
            return int(number)
    raise AssertionError(f"no group {group} in {root}/etc/group")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    pg = root / "etc/postgresql/15/main"
    pg.mkdir(parents=True)
    (pg / "pg_hba.conf").write_text("# TYPE DATABASE USER ADDRESS METHOD\nlocal all all peer\n")
    (pg / "pg_ident.conf").write_text("# MAPNAME SYSTEM-USERNAME PG-USERNAME\n")
    return root


def test_install_puts_every_file_in_place_with_its_mode_and_twice_changes_nothing(
    root: Path,
) -> None:
    install(root)
    first = tree(root)
    group = gid(root, "eldercare")
    passwd = (root / "etc/passwd").read_text()
    assert re.search(r"^eldercare:x:\d+:\d+:.*:/var/lib/eldercare:/usr/sbin/nologin$", passwd, re.M)
    expected = {
        "etc/systemd/system/eldercare.service": (0o644, 0, 0),
        "etc/sysusers.d/eldercare.conf": (0o644, 0, 0),
        "etc/eldercare": (0o750, 0, group),
        "etc/eldercare/eldercare.env": (0o640, 0, group),
        "etc/eldercare/create-database.sql": (0o644, 0, 0),
        "etc/mosquitto/eldercare.conf": (0o644, 0, 0),
        "etc/mosquitto/eldercare": (0o750, 0, 0),  # no mosquitto group in this root
        "etc/systemd/system/mosquitto.service.d/eldercare.conf": (0o644, 0, 0),
        "etc/postgresql/15/main/conf.d/eldercare.conf": (0o644, 0, 0),
        "etc/systemd/system/postgresql@15-main.service.d/eldercare.conf": (0o644, 0, 0),
    }
    for path, want in expected.items():
        assert first[path][:3] == want, path
    unit = (root / "etc/systemd/system/eldercare.service").read_text()
    assert f"ExecStart={REPO}/.venv/bin/eldercare serve\n" in unit
    assert f"ExecStartPre={REPO}/.venv/bin/eldercare serve --check\n" in unit
    assert "@APP@" not in unit
    hba = (root / "etc/postgresql/15/main/pg_hba.conf").read_text().splitlines()
    rules = [line for line in hba if line and not line.startswith("#")]
    assert rules[0] == "local   eldercare   eldercare   peer map=eldercare"  # first: it decides
    assert rules[-1] == "local all all peer"  # the cluster's own lines kept
    ident = (root / "etc/postgresql/15/main/pg_ident.conf").read_text()
    assert "eldercare   eldercare         eldercare" in ident

    install(root)
    assert tree(root) == first  # idempotent: same files, modes, owners, contents
    assert (root / "etc/postgresql/15/main/pg_hba.conf").read_text().count("BEGIN eldercare") == 1


def test_a_second_install_keeps_the_edited_settings_and_repairs_the_rest(root: Path) -> None:
    install(root)
    settings = root / "etc/eldercare/eldercare.env"
    settings.write_text("ELDERCARE_API_PORT=8123\n")
    unit = root / "etc/systemd/system/eldercare.service"
    unit.write_text("broken\n")
    unit.chmod(0o600)
    out = install(root)
    assert settings.read_text() == "ELDERCARE_API_PORT=8123\n"
    assert "eldercare.env exists: kept" in out
    assert unit.read_text().startswith("# The eldercare service")
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644
    lines = (root / "etc/passwd").read_text().splitlines()
    users = [u for u in lines if u.startswith("eldercare:")]
    assert len(users) == 1  # no second user


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_installed_unit_passes_systemd_analyze_verify_and_is_hardened(root: Path) -> None:
    install(root)
    unit = root / "etc/systemd/system/eldercare.service"
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr.strip() == "", verify.stderr  # no unknown key, no bad value
    security = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Overall exposure level for eldercare.service: (\d+\.\d+)", security.stdout)
    assert found, security.stdout + security.stderr
    assert float(found.group(1)) <= 2.0, security.stdout  # 9.2 with only User= and no hardening
