"""Settings: one typed object built at start-up and passed in (CONTRACT.md §5).

Read from ``ELDERCARE_*`` environment variables; a TOML file (``--config FILE``)
may set the same names, lower-case and without the prefix (``database_url =
"sqlite:///x.db"``). The environment wins over the file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "ELDERCARE_"


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool
    protocol: str
    """``5`` or ``3.1.1``"""


class SettingsError(ValueError):
    """A setting has a value the service cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    # CONTRACT.md §5
    mqtt_url: str | None = None
    database_url: str = "sqlite:///./eldercare.db"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    public_url: str = "http://127.0.0.1:8000"
    response_window: float = 600.0
    timezone: str = "Asia/Shanghai"
    clock: str = "wall"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    embedded_mqtt_port: int = 1883
    admin_user: str = "admin"
    admin_password: str | None = None
    # Extensions (documented in the README)
    secret_key: str | None = None
    """Signs API tokens; unset = a random key per process (tokens end at restart)."""
    token_ttl: float = 12 * 3600.0
    mqtt_client_id: str = "eldercare-gateway"
    """Fixed, so the broker keeps the gateway's persistent session across restarts."""
    mqtt_protocol: str = "auto"
    """``5``, ``3.1.1`` or ``auto`` (5 on external brokers, 3.1.1 on the embedded one)."""
    batch_max: int = 1000
    """Most messages the gateway commits in one transaction."""
    care_centre_phone: str = "+8657100000000"
    log_format: str = "auto"
    """``json``, ``text`` or ``auto`` (text on a terminal, JSON otherwise)."""
    log_level: str = "INFO"
    escalation_policy: str | None = None
    """Path of an escalation policy TOML file; unset = alerts/policies/default.toml."""
    sms_quota_per_hour: int = 10
    """SMS per phone per hour; past it one summary SMS, then none until the hour rolls on."""
    twilio_messaging_service_sid: str | None = None
    """SMS through this Twilio Messaging Service (``MG…``) instead of ``From``."""
    retention_days: float = 400.0
    """Readings older than this many days are dropped (0 = kept for ever)."""
    dead_letter_retention_days: float = 90.0
    """Dead letters older than this many days are deleted (0 = kept for ever)."""
    retention_every: float = 3600.0
    """Seconds between two retention runs of the service (the first runs at start)."""

    @classmethod
    def load(
        cls, env: Mapping[str, str] | None = None, config_file: str | Path | None = None
    ) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if config_file is not None:
            try:
                with open(config_file, "rb") as fh:
                    values.update(tomllib.load(fh))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise SettingsError(f"config file {config_file}: {exc}") from exc
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = raw
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
        converted: dict[str, Any] = {}
        for name, raw in values.items():
            converted[name] = _convert(name, known[name].type, raw)
        settings = cls(**converted)
        settings.validate()
        return settings

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def validate(self) -> None:
        if self.clock not in ("wall", "event"):
            raise SettingsError(f"ELDERCARE_CLOCK must be 'wall' or 'event', not {self.clock!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"ELDERCARE_TIMEZONE: unknown time zone {self.timezone!r}") from exc
        if not (
            self.database_url.startswith("sqlite:///")
            or self.database_url.startswith(("postgresql://", "postgres://"))
        ):
            raise SettingsError(
                "ELDERCARE_DATABASE_URL must be sqlite:///path or postgresql://…, "
                f"not {self.database_url!r}"
            )
        if self.mqtt_url is not None and not self.mqtt_url.startswith(("mqtt://", "mqtts://")):
            raise SettingsError("ELDERCARE_MQTT_URL must start with mqtt:// or mqtts://")
        if self.mqtt_protocol not in ("auto", "5", "3.1.1"):
            raise SettingsError("ELDERCARE_MQTT_PROTOCOL must be 5, 3.1.1 or auto")
        if self.response_window <= 0:
            raise SettingsError("ELDERCARE_RESPONSE_WINDOW must be a positive number of seconds")
        if not 0 < self.embedded_mqtt_port < 65536 or not 0 < self.api_port < 65536:
            raise SettingsError("ports must be between 1 and 65535")
        if self.batch_max < 1:
            raise SettingsError("ELDERCARE_BATCH_MAX must be at least 1")
        if self.sms_quota_per_hour < 1:
            raise SettingsError("ELDERCARE_SMS_QUOTA_PER_HOUR must be at least 1")
        if self.retention_days < 0 or self.dead_letter_retention_days < 0:
            raise SettingsError(
                "ELDERCARE_RETENTION_DAYS and ELDERCARE_DEAD_LETTER_RETENTION_DAYS must be"
                " 0 (keep for ever) or a positive number of days"
            )
        if self.retention_every <= 0:
            raise SettingsError("ELDERCARE_RETENTION_EVERY must be a positive number of seconds")

    def broker(self) -> BrokerAddress:
        """The external broker of ELDERCARE_MQTT_URL, or the embedded one (3.1.1)."""
        if self.mqtt_url is None:
            protocol = "3.1.1" if self.mqtt_protocol == "auto" else self.mqtt_protocol
            return BrokerAddress("127.0.0.1", self.embedded_mqtt_port, None, None, False, protocol)
        url = urlsplit(self.mqtt_url)
        tls = url.scheme == "mqtts"
        return BrokerAddress(
            host=url.hostname or "127.0.0.1",
            port=url.port or (8883 if tls else 1883),
            username=unquote(url.username) if url.username else None,
            password=unquote(url.password) if url.password else None,
            tls=tls,
            protocol="5" if self.mqtt_protocol == "auto" else self.mqtt_protocol,
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _convert(name: str, annotation: Any, raw: Any) -> Any:
    kind = str(annotation)
    try:
        if "float" in kind:
            return float(raw)
        if "int" in kind:
            return int(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"ELDERCARE_{name.upper()}: not a number: {raw!r}") from exc
    return None if raw is None else str(raw)
