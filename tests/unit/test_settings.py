"""Settings from the environment and a TOML file; clear errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from eldercare.settings import Settings, SettingsError


def test_defaults_are_the_contracts() -> None:
    s = Settings.load(env={})
    assert s.database_url == "sqlite:///./eldercare.db"
    assert s.response_window == 600
    assert s.timezone == "Asia/Shanghai"
    assert (s.api_host, s.api_port, s.embedded_mqtt_port) == ("127.0.0.1", 8000, 1883)
    assert s.broker().port == 1883 and s.broker().protocol == "3.1.1"


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('api_port = 9000\ntimezone = "Europe/London"\n')
    s = Settings.load(env={"ELDERCARE_API_PORT": "9100"}, config_file=cfg)
    assert s.api_port == 9100
    assert s.timezone == "Europe/London"


def test_mqtt_url_with_credentials() -> None:
    s = Settings.load(env={"ELDERCARE_MQTT_URL": "mqtts://gw:p%40ss@broker.local"})
    b = s.broker()
    assert (b.host, b.port, b.username, b.password, b.tls) == (
        "broker.local",
        8883,
        "gw",
        "p@ss",
        True,
    )
    assert b.protocol == "5"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ELDERCARE_CLOCK": "sundial"}, "ELDERCARE_CLOCK"),
        ({"ELDERCARE_TIMEZONE": "Mars/Olympus"}, "ELDERCARE_TIMEZONE"),
        ({"ELDERCARE_API_PORT": "eighty"}, "ELDERCARE_API_PORT"),
        ({"ELDERCARE_DATABASE_URL": "mysql://x"}, "ELDERCARE_DATABASE_URL"),
        ({"ELDERCARE_MQTT_URL": "http://x"}, "ELDERCARE_MQTT_URL"),
        ({"ELDERCARE_RESPONSE_WINDOW": "-5"}, "ELDERCARE_RESPONSE_WINDOW"),
        ({"ELDERCARE_API_MAX_BODY": "0"}, "ELDERCARE_API_MAX_BODY"),
        ({"ELDERCARE_API_READ_TIMEOUT": "0"}, "ELDERCARE_API_READ_TIMEOUT"),
        ({"ELDERCARE_API_MAX_CONNECTIONS": "0"}, "ELDERCARE_API_MAX_CONNECTIONS"),
    ],
)
def test_bad_values_name_the_setting(env: dict[str, str], needle: str) -> None:
    with pytest.raises(SettingsError, match=needle):
        Settings.load(env=env)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("api_prot = 1\n")
    with pytest.raises(SettingsError, match="api_prot"):
        Settings.load(env={}, config_file=cfg)


def test_http_limits_have_small_defaults() -> None:
    s = Settings.load(env={})
    assert s.api_max_body == 1024 * 1024
    assert s.api_read_timeout == 10
    assert s.api_max_connections == 1000


def test_production_settings_raise_no_warning() -> None:
    from eldercare.settings_help import unfit_for_production

    s = Settings.load(
        env={
            "ELDERCARE_MQTT_URL": "mqtts://gw:pw@broker.local",
            "ELDERCARE_DATABASE_URL": "postgresql://eldercare@db/eldercare",
            "ELDERCARE_TWILIO_ACCOUNT_SID": "AC0123",
            "ELDERCARE_TWILIO_AUTH_TOKEN": "token",
            "ELDERCARE_TWILIO_FROM": "+15005550006",
            "ELDERCARE_PUBLIC_URL": "https://care.example.org",
            "ELDERCARE_CARE_CENTRE_PHONE": "+8657188776655",
        }
    )
    assert unfit_for_production(s) == []
    local = unfit_for_production(s.with_(public_url="http://127.0.0.1:8000"))
    assert len(local) == 1 and "ELDERCARE_PUBLIC_URL" in local[0]
    anonymous = unfit_for_production(s.with_(mqtt_url="mqtts://broker.local"))
    assert len(anonymous) == 1 and "no account" in anonymous[0]
