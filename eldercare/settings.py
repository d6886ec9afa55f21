"""Settings: one typed object built at start-up and passed in (CONTRACT.md §5).

Read from ``ELDERCARE_*`` environment variables; a TOML file (``--config FILE``)
may set the same names, lower-case and without the prefix (``database_url =
"sqlite:///x.db"``). The environment wins over the file.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eldercare.domain import AlertKind

PREFIX = "ELDERCARE_"
MIN_SECRET_KEY_BYTES = 32
"""HS256 keys shorter than the hash's 32 bytes are refused (RFC 7518 §3.2)."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool
    protocol: str
    """``5`` or ``3.1.1``"""


SECRET_SETTINGS = (
    "admin_password",
    "secret_key",
    "twilio_auth_token",
    "sms_callback_token",
    "aliyun_access_key_secret",
    "tencent_secret_key",
)
"""Settings whose values are secrets (never in a log line, see eldercare/logs.py)."""


class SettingsError(ValueError):
    """A setting has a value the service cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    # CONTRACT.md §5
    mqtt_url: str | None = None
    """Broker, ``mqtt://user:pass@host:port`` or ``mqtts://…``; unset = the embedded broker."""
    database_url: str = "sqlite:///./eldercare.db"
    """``postgresql://…`` (TimescaleDB) or ``sqlite:///path``."""
    twilio_account_sid: str | None = None
    """Twilio account; unset (with the token and sender) = SMS printed to the console."""
    twilio_auth_token: str | None = None
    """Twilio auth token; also checks the webhooks' signatures."""
    twilio_from: str | None = None
    """The Twilio number SMS and calls come from."""
    twilio_base_url: str = "https://api.twilio.com"
    """Twilio REST base URL (a local Twilio-compatible server in tests)."""
    public_url: str = "http://127.0.0.1:8000"
    """Public base URL of the API, for Twilio's callbacks."""
    response_window: float = 600.0
    """Seconds from raise to the response deadline."""
    timezone: str = "Asia/Shanghai"
    """Default home time zone (IANA)."""
    clock: str = "wall"
    """``wall``, or ``event`` (follows the newest event timestamp)."""
    api_host: str = "127.0.0.1"
    """Address the API listens on."""
    api_port: int = 8000
    """Port the API listens on."""
    embedded_mqtt_port: int = 1883
    """Port of the embedded broker (when ``mqtt_url`` is unset)."""
    admin_user: str = "admin"
    """Admin account created at start if missing."""
    admin_password: str | None = None
    """Its password; unset = generated and printed once."""
    # Extensions (documented in the README)
    api_max_body: int = 1024 * 1024
    """Largest request body in bytes; a larger one is answered 413 before it is read."""
    api_read_timeout: float = 10.0
    """Seconds a client has to send a request's headers and body; then it is disconnected."""
    api_max_connections: int = 1000
    """Most open API connections; past it a new one closes the oldest idle one (or is refused)."""
    trusted_proxies: str | None = None
    """Comma-separated addresses or CIDR networks of reverse proxies whose X-Forwarded-For is
    believed: the client is its rightmost address that is not a trusted proxy; unset = none."""
    secret_key: str | None = None
    """Signs API tokens (at least 32 bytes); unset = one generated once, kept in the store."""
    token_ttl: float = 12 * 3600.0
    """API token lifetime, seconds."""
    mqtt_client_id: str = "eldercare-gateway"
    """Fixed, so the broker keeps the gateway's persistent session across restarts."""
    mqtt_urgent_session: str = "on"
    """``on``: a second MQTT session (``<client id>-urgent``) for the critical
    devices' events, which never queue behind vitals (gateway/urgent_session.py);
    ``off``: one session."""
    intake_process: str = "off"
    """``on``: intake and detection in a child process (``eldercare intake-process``),
    the API, live screen, escalation and the urgent session's critical alerts in
    ``serve`` (README "The intake process"); ``off``: one process."""
    mqtt_protocol: str = "auto"
    """``5``, ``3.1.1`` or ``auto`` (5 on external brokers, 3.1.1 on the embedded one)."""
    batch_max: int = 1000
    """Most messages the gateway commits in one transaction."""
    care_centre_phone: str = "+8657100000000"
    """The number families are told to call (the default is a placeholder)."""
    log_format: str = "auto"
    """``json``, ``text`` or ``auto`` (text on a terminal, JSON otherwise)."""
    log_level: str = "INFO"
    """``DEBUG``, ``INFO`` or ``WARNING``."""
    escalation_policy: str | None = None
    """Path of an escalation policy TOML file; unset = alerts/policies/default.toml."""
    sms_quota_per_hour: int = 10
    """SMS per phone per hour; past it one summary SMS, then none until the hour rolls on."""
    flood_threshold: int = 20
    """Alerts of one kind and cause across homes that make an incident (0: never group)."""
    flood_window: float = 120.0
    """Seconds within which ``flood_threshold`` alerts make an incident."""
    flood_quiet: float = 600.0
    """Seconds after its last member joined at which an incident ends."""
    flood_kinds: str = "device_offline"
    """Comma-separated alert kinds that may be grouped into incidents (never sos)."""
    report_font: str | None = None
    """Path of a TTF/OTF/TTC font with Chinese glyphs for the monthly PDF; unset =
    the first installed of alerts/monthly_pdf.py CJK_FONTS (none: Latin-1 only)."""
    sms_limits: str | None = None
    """Path of a TOML file of SMS provider limits over alerts/policies/sms_limits.toml."""
    twilio_messaging_service_sid: str | None = None
    """SMS through this Twilio Messaging Service (``MG…``) instead of ``From``."""
    device_rate: float = 10.0
    """Messages/s one device may send on average (gateway/ratelimit.py); 0 = no limit."""
    device_burst: float = 1000.0
    """Messages one device may send at once before ``device_rate`` applies."""
    dead_letter_max_payload: int = 4096
    """Bytes of a refused payload kept in its dead letter (its length is kept too)."""
    spool_path: str = "./eldercare-spool.db"
    """With PostgreSQL: the local file that keeps batches and alerts while the
    database is away (README "When PostgreSQL is away"); empty = no spool."""
    # SMS providers in mainland China (README "SMS in mainland China: Aliyun, Tencent Cloud")
    sms_provider: str | None = None
    """``twilio``, ``aliyun``, ``tencent`` or ``console``; unset = Twilio if configured."""
    sms_templates: str | None = None
    """Path of the Aliyun/Tencent templates TOML; unset = alerts/templates/sms_cn.toml."""
    sms_callback_token: str | None = None
    """Secret path segment of the Aliyun/Tencent report and reply URLs."""
    aliyun_access_key_id: str | None = None
    aliyun_access_key_secret: str | None = None
    aliyun_sms_endpoint: str = "dysmsapi.aliyuncs.com"
    aliyun_voice_endpoint: str = "dyvmsapi.aliyuncs.com"
    aliyun_voice_show_number: str | None = None
    tencent_secret_id: str | None = None
    tencent_secret_key: str | None = None
    tencent_sms_sdk_app_id: str | None = None
    tencent_sms_endpoint: str = "sms.tencentcloudapi.com"
    tencent_region: str = "ap-guangzhou"
    retention_days: float = 400.0
    """Readings older than this many days are dropped (0 = kept for ever)."""
    dead_letter_retention_days: float = 90.0
    """Dead letters older than this many days are deleted (0 = kept for ever)."""
    retention_every: float = 3600.0
    """Seconds between two retention runs of the service (the first runs at start)."""
    vitals_rollup_retention_days: float = 800.0
    """Per-minute vitals rollups older than this many days are dropped (0 = kept for
    ever); never before the readings (ELDERCARE_RETENTION_DAYS) they summarise."""
    # Scale-out on NATS JetStream (README "Scale-out"; extensions of CONTRACT.md §5)
    engine_url: str | None = None
    """NATS servers of the scale-out engine, ``nats://host:port[,nats://…]``: set, intake
    and detection run in ``eldercare worker`` processes (``eldercare serve --workers N``
    starts N of them) and ``serve`` keeps the API and the escalation."""
    engine_partitions: int = 16
    """Partitions of the homes; the same on every worker and in the NATS mapping
    (``eldercare broker-config --nats``). Fixed for the life of a deployment."""
    engine_lease: float = 6.0
    """Seconds a partition's lease lasts without renewal: a dead worker's partitions
    move to the others within about this (plus one round, a third of it)."""
    engine_ack_wait: float = 10.0
    """Seconds before a batch fetched and not acked is redelivered (a dead worker's)."""
    engine_replicas: int = 1
    """Replicas of the lease bucket: 3 on a cluster of 3 or more NATS nodes."""
    worker_id: str | None = None
    """This worker's name among the workers (letters, digits, - and _); unset = host-pid."""

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

    def as_env(self) -> dict[str, str]:
        """These settings as ``ELDERCARE_*`` variables, for a process started with them
        (serve's intake process): ``Settings.load(env=s.as_env()) == s``."""
        return {
            PREFIX + f.name.upper(): str(value)
            for f in fields(self)
            if (value := getattr(self, f.name)) is not None and value != ""
        }

    def validate(self) -> None:
        check_secret_key(self.secret_key)
        if self.api_max_body < 1:
            raise SettingsError("ELDERCARE_API_MAX_BODY must be at least 1 byte")
        if self.api_read_timeout <= 0:
            raise SettingsError("ELDERCARE_API_READ_TIMEOUT must be a positive number of seconds")
        if self.api_max_connections < 1:
            raise SettingsError("ELDERCARE_API_MAX_CONNECTIONS must be at least 1")
        try:
            self.proxy_networks()
        except ValueError as exc:
            raise SettingsError(f"ELDERCARE_TRUSTED_PROXIES: {exc}") from exc
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
        if self.mqtt_urgent_session not in ("on", "off"):
            raise SettingsError("ELDERCARE_MQTT_URGENT_SESSION must be on or off")
        if self.intake_process not in ("on", "off"):
            raise SettingsError("ELDERCARE_INTAKE_PROCESS must be on or off")
        if self.intake_process == "on" and (
            self.mqtt_urgent_session != "on" or self.clock != "wall" or self.engine_url
        ):
            raise SettingsError(
                "ELDERCARE_INTAKE_PROCESS=on needs the urgent session"
                " (ELDERCARE_MQTT_URGENT_SESSION=on), the wall clock and no ELDERCARE_ENGINE_URL:"
                " the critical alerts are raised in serve from the urgent session"
            )
        if self.engine_url is not None and not all(
            u.strip().startswith(("nats://", "tls://")) for u in self.engine_url.split(",")
        ):
            raise SettingsError("ELDERCARE_ENGINE_URL must be nats://host:port[,nats://…]")
        if self.engine_partitions < 1 or self.engine_lease <= 0 or self.engine_ack_wait <= 0:
            raise SettingsError(
                "ELDERCARE_ENGINE_PARTITIONS must be at least 1, and ELDERCARE_ENGINE_LEASE"
                " and ELDERCARE_ENGINE_ACK_WAIT positive numbers of seconds"
            )
        if self.worker_id is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.worker_id):
            raise SettingsError("ELDERCARE_WORKER_ID: 1-64 letters, digits, - or _")
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
        if self.flood_threshold < 0 or self.flood_window <= 0 or self.flood_quiet <= 0:
            raise SettingsError(
                "ELDERCARE_FLOOD_THRESHOLD must be 0 or more, ELDERCARE_FLOOD_WINDOW and"
                " ELDERCARE_FLOOD_QUIET positive seconds"
            )
        kinds = {k.strip() for k in self.flood_kinds.split(",") if k.strip()}
        if bad := sorted(kinds - {k.value for k in AlertKind} | (kinds & {"sos"})):
            raise SettingsError(
                f"ELDERCARE_FLOOD_KINDS: {', '.join(bad)} cannot be grouped"
                " (alert kinds of CONTRACT.md §2 except sos)"
            )
        if self.device_rate < 0 or (self.device_rate > 0 and self.device_burst < 1):
            raise SettingsError(
                "ELDERCARE_DEVICE_RATE must be 0 (no limit) or positive, with"
                " ELDERCARE_DEVICE_BURST at least 1"
            )
        if self.dead_letter_max_payload < 0:
            raise SettingsError("ELDERCARE_DEAD_LETTER_MAX_PAYLOAD must not be negative")
        if (
            self.retention_days < 0
            or self.dead_letter_retention_days < 0
            or self.vitals_rollup_retention_days < 0
        ):
            raise SettingsError(
                "ELDERCARE_RETENTION_DAYS, ELDERCARE_DEAD_LETTER_RETENTION_DAYS and"
                " ELDERCARE_VITALS_ROLLUP_RETENTION_DAYS must be"
                " 0 (keep for ever) or a positive number of days"
            )
        if self.retention_every <= 0:
            raise SettingsError("ELDERCARE_RETENTION_EVERY must be a positive number of seconds")
        self._validate_sms_provider()

    def _validate_sms_provider(self) -> None:
        needs = {
            "twilio": ("twilio_account_sid", "twilio_auth_token", "twilio_from"),
            "aliyun": ("aliyun_access_key_id", "aliyun_access_key_secret"),
            "tencent": ("tencent_secret_id", "tencent_secret_key", "tencent_sms_sdk_app_id"),
            "console": (),
        }
        for name in ("aliyun_sms_endpoint", "aliyun_voice_endpoint", "tencent_sms_endpoint"):
            value = getattr(self, name)
            scheme, sep, rest = value.partition("://")
            if not value or (sep and (scheme not in ("http", "https") or not rest.strip("/"))):
                raise SettingsError(
                    f"{PREFIX}{name.upper()} must be a host or http(s)://host[:port], not {value!r}"
                )
        if self.sms_provider is None:
            return
        if self.sms_provider not in needs:
            raise SettingsError(
                f"ELDERCARE_SMS_PROVIDER must be one of {', '.join(needs)}, "
                f"not {self.sms_provider!r}"
            )
        missing = [PREFIX + n.upper() for n in needs[self.sms_provider] if not getattr(self, n)]
        if missing:
            raise SettingsError(
                f"ELDERCARE_SMS_PROVIDER={self.sms_provider} needs {', '.join(missing)}"
            )

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

    def secret_values(self) -> list[str]:
        """The values no log line may say: passwords, keys, tokens, URL passwords."""
        found = [getattr(self, name) for name in SECRET_SETTINGS]
        if self.twilio_account_sid and self.twilio_auth_token:  # HTTP Basic, as a header says it
            pair = f"{self.twilio_account_sid}:{self.twilio_auth_token}".encode()
            found.append(base64.b64encode(pair).decode())
        for url in (self.mqtt_url, self.database_url):
            if url:
                password = urlsplit(url).password
                found += [password, unquote(password)] if password else []
        return [value for value in found if value]

    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The networks of ``trusted_proxies`` (ValueError names a bad entry)."""
        return parse_networks(self.trusted_proxies)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def parse_networks(text: str | None) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``"10.0.0.0/8, 127.0.0.1, ::1"`` -> networks; ValueError names the bad entry."""
    out = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"not an address or CIDR network: {item!r}") from exc
    return tuple(out)


def check_secret_key(key: str | None) -> None:
    """Refuse a signing key shorter than MIN_SECRET_KEY_BYTES (None: use the stored one)."""
    if key is not None and len(key.encode()) < MIN_SECRET_KEY_BYTES:
        raise SettingsError(
            f"ELDERCARE_SECRET_KEY must be at least {MIN_SECRET_KEY_BYTES} bytes, not "
            f"{len(key.encode())}: make one with `python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`, or leave it unset (a key is then "
            "generated once and kept in the database)"
        )


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
