"""The ``eldercare`` command as a user runs it (Issue 18 item 12): ``--config``
after the subcommand, the settings in ``serve --help``, one warning per default
not fit for production, and console times that say their zone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from eldercare.settings import Settings
from tests.api.serve_process import serve
from tests.e2e.helpers import eventually, free_port


def _eldercare(
    *args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    return subprocess.run(
        [sys.executable, "-m", "eldercare", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_help_lists_every_setting_with_its_default(tmp_path: Path) -> None:
    out = _eldercare("serve", "--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for f in fields(Settings):
        env = "ELDERCARE_" + f.name.upper()
        assert env in text, env
    assert "ELDERCARE_DATABASE_URL  (default: sqlite:///./eldercare.db)" in text
    assert "ELDERCARE_RESPONSE_WINDOW  (default: 600)" in text
    assert "ELDERCARE_API_MAX_BODY  (default: 1048576)" in text
    assert "ELDERCARE_MQTT_URL  (default: unset)" in text
    assert "Seconds from raise to the response deadline." in text  # with what each one means


def test_config_is_taken_after_the_subcommand_too(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere.db"
    cfg = tmp_path / "settings.toml"
    cfg.write_text(f'database_url = "sqlite:///{db}"\n')

    migrated = _eldercare("db", "migrate", "--config", str(cfg), cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert db.exists() and not (tmp_path / "eldercare.db").exists()

    added = _eldercare(
        "users", "add", "nurse", "--password-stdin", f"--config={cfg}",
        cwd=tmp_path, stdin="Kettle-Harbour-4471\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    again = _eldercare(
        "--config", str(cfg), "users", "add", "nurse", "--password-stdin",
        cwd=tmp_path, stdin="Kettle-Harbour-4471\n",
    )  # fmt: skip
    assert again.returncode == 1
    assert "exists already" in again.stderr  # the same database, by either spelling

    missing = _eldercare("db", "migrate", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert missing.returncode == 2
    assert "nope.toml" in missing.stderr


def _warnings(lines: list[dict[str, object]]) -> list[str]:
    return [
        str(line["msg"])
        for line in lines
        if str(line.get("msg", "")).startswith("not fit for production: ")
    ]


def test_serve_warns_once_about_each_default_unfit_for_production(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        said = _warnings(server.lines())
    assert len(said) == 4, said
    for setting in (
        "ELDERCARE_MQTT_URL is unset",
        "ELDERCARE_DATABASE_URL is sqlite:",
        "ELDERCARE_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM are not all set",
        "ELDERCARE_CARE_CENTRE_PHONE is the placeholder +86571****0000",  # masked in logs
    ):
        assert sum(setting in w for w in said) == 1, (setting, said)

    (tmp_path / "second").mkdir()
    with serve(tmp_path / "second", {"ELDERCARE_CARE_CENTRE_PHONE": "+8657188776655"}) as server:
        said = _warnings(server.lines())
    assert len(said) == 3, said
    assert not any("CARE_CENTRE_PHONE" in w for w in said)


async def test_console_times_say_their_zone(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(
        ELDERCARE_API_PORT=str(free_port()),
        ELDERCARE_EMBEDDED_MQTT_PORT=str(free_port()),
        ELDERCARE_LOG_FORMAT="text",
        ELDERCARE_TIMEZONE="Asia/Shanghai",
    )
    out = tmp_path / "demo.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "eldercare", "demo", "--homes", "1"],
            cwd=tmp_path,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:

        async def alert_line() -> str | None:
            for line in out.read_text().splitlines():
                if line.startswith("[alert #"):
                    return line
            return None

        line = await eventually(alert_line, timeout=60)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert re.search(r"respond by \d\d:\d\d:\d\d UTC\+08:00$", line), line
    logged = [ln for ln in out.read_text().splitlines() if " INFO " in ln or " WARNING " in ln]
    assert logged
    assert all(re.match(r"\d\d:\d\d:\d\d UTC (INFO|WARNING) ", ln) for ln in logged), logged[:3]


def test_users_add_names_the_care_centre(tmp_path: Path) -> None:
    """Tenancy: an account of another organisation (which must exist), or a platform admin."""
    stdin = "Kettle-Harbour-4471\n"
    unknown = _eldercare("users", "add", "li", "--organisation", "bee", "--password-stdin",
                         cwd=tmp_path, stdin=stdin)  # fmt: skip
    assert unknown.returncode == 1
    assert "organisation 'bee', which does not exist" in unknown.stderr
    assert _eldercare("organisations", "add", "bee", "Centre Bee", cwd=tmp_path).returncode == 0
    added = _eldercare("users", "add", "li", "--organisation", "bee", "--password-stdin",
                       cwd=tmp_path, stdin=stdin)  # fmt: skip
    assert added.returncode == 0, added.stderr
    wrong = _eldercare("users", "add", "x", "--platform", "--password-stdin",
                       cwd=tmp_path, stdin=stdin)  # fmt: skip
    assert wrong.returncode == 2
    assert "--role admin only" in wrong.stderr
    root = _eldercare("users", "add", "root", "--role", "admin", "--platform",
                      "--password-stdin", cwd=tmp_path, stdin=stdin)  # fmt: skip
    assert root.returncode == 0, root.stderr
