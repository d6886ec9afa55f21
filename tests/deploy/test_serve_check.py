"""``eldercare serve --check`` (the unit's ExecStartPre): a bad setting is refused
with exit 1 and the setting named, good ones pass with exit 0 without connecting
to anything; deploy/eldercare.env.example names every setting there is and
passes the check as shipped."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from eldercare.settings import Settings

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "eldercare.env.example"
KEY = "k" * 40


def check(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "eldercare", "serve", "--check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def example_settings() -> dict[str, str]:
    out = {}
    for line in EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            out[name] = value
    return out


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"ELDERCARE_SECRET_KEY": "short"},
            "ELDERCARE_SECRET_KEY must be at least 32 bytes, not 5",
        ),
        ({"ELDERCARE_API_PORT": "eighty"}, "ELDERCARE_API_PORT: not a number: 'eighty'"),
        ({"ELDERCARE_TIMEZONE": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        (
            {"ELDERCARE_ESCALATION_POLICY": "/nonexistent/policy.toml"},
            "ELDERCARE_ESCALATION_POLICY: no such file: /nonexistent/policy.toml",
        ),
        ({"ELDERCARE_ADMIN_PASSWORD": "password"}, "ELDERCARE_ADMIN_PASSWORD: the password needs"),
        (
            {"ELDERCARE_SMS_PROVIDER": "aliyun"},
            "ELDERCARE_SMS_PROVIDER=aliyun needs ELDERCARE_ALIYUN_ACCESS_KEY_ID",
        ),
        (
            {"ELDERCARE_DATABASE_URL": "mysql://db/eldercare"},
            "ELDERCARE_DATABASE_URL must be sqlite:///path or postgresql://",
        ),
    ],
)
def test_a_bad_setting_is_refused_with_exit_1_and_named(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    done = check(tmp_path, **({"ELDERCARE_SECRET_KEY": KEY} | settings))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("eldercare serve --check: refused: "), done.stderr
    assert message in done.stderr
    assert "settings OK" not in done.stdout


def test_a_bad_policy_file_is_refused_naming_the_step(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[critical]\nsteps = [{ name = "first", after = "soon" }]\n')
    done = check(tmp_path, ELDERCARE_ESCALATION_POLICY=str(policy))
    assert done.returncode == 1
    assert "after must be a number of seconds" in done.stderr


def test_good_settings_pass_without_connecting_to_anything(tmp_path: Path) -> None:
    done = check(
        tmp_path,
        ELDERCARE_DATABASE_URL="postgresql://eldercare:db-pass-123@127.0.0.1:1/eldercare",
        ELDERCARE_MQTT_URL="mqtt://gw:mq-pass-456@127.0.0.1:1",
        ELDERCARE_SECRET_KEY=KEY,
    )
    assert done.returncode == 0, done.stderr  # port 1: nothing listens, nothing was tried
    assert "settings OK" in done.stdout
    assert "db-pass-123" not in done.stdout + done.stderr
    assert "mq-pass-456" not in done.stdout + done.stderr
    assert "not fit for production: ELDERCARE_TWILIO_ACCOUNT_SID" in done.stderr  # warned only


def test_the_example_names_every_setting_and_passes_the_check(tmp_path: Path) -> None:
    named = set(re.findall(r"\b(ELDERCARE_[A-Z0-9_]+)=", EXAMPLE.read_text()))
    every = {"ELDERCARE_" + f.name.upper() for f in fields(Settings)}
    assert every - named == set(), "settings missing from the example"
    assert named - every == set(), "names in the example that are no settings"
    settings = example_settings()
    done = check(tmp_path, **settings)
    assert done.returncode == 0, done.stderr
    # What is left for the operator to change is what the check warns about.
    assert "ELDERCARE_CARE_CENTRE_PHONE is the placeholder" in done.stderr
