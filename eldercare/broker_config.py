"""``eldercare broker-config``: a Mosquitto 2 configuration made from the registry.

Writes three files into one folder:

- ``mosquitto.conf``: no anonymous clients; every listener (plain and/or TLS)
  with ``use_username_as_clientid``, so a client's id is its account's name and
  nobody can take the gateway's persistent session (or a device's) without its
  password; persistence, ``max_queued_messages`` (minutes of the registry's
  traffic, so the gateway's session keeps everything while the service
  restarts), ``max_inflight_messages`` (a whole batch in flight with MQTT 3.1.1)
  and ``max_packet_size``;
- ``passwd``: Mosquitto's password file, hashes in its ``$7$`` form
  (PBKDF2-SHA512, as ``mosquitto_passwd`` writes them);
- ``acl``: a device may publish its own two topics
  (``eldercare/v1/{home}/{device}/event`` and ``…/status``) and read nothing;
  the gateway reads ``eldercare/v1/#`` and any extra topic patterns given.

One account per device (username = device id) and one for the gateway. A new
account gets a generated password, returned once (the command prints it); only
the hash is kept, in the store (``mqtt_credentials``), so running it again (after
devices changed) writes the same accounts, adds the new devices' and drops the
deleted ones' without knowing any password. Mosquitto rereads ``passwd`` and
``acl`` on SIGHUP.

Errors::

    BrokerConfigError   a bad option (topic pattern, a device named like the gateway)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from eldercare.domain import URGENT_SESSION_SUFFIX, Device, DeviceKind
from eldercare.store.base import MqttCredential, Store

ITERATIONS = 101
"""PBKDF2 rounds, mosquitto_passwd's default: the generated passwords are 24
random characters (144 bits), which no number of rounds makes weaker or stronger
against guessing; the broker checks a password on every connect."""
SALT_BYTES = 12
ACCESS = ("read", "write", "readwrite")
AUTOSAVE_INTERVAL = 60
"""Seconds between the broker's snapshots of its database (queued messages,
sessions). Mosquitto writes the snapshot in its one thread: every second, with a
backlog of 100 MB, it stalls every client, the urgent sessions included."""


class BrokerConfigError(ValueError):
    """An option the configuration cannot be made with; the message names it."""


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """``password`` in Mosquitto's password-file form: ``$7$rounds$salt$hash``."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (False for any other form)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    try:
        salt, digest = base64.b64decode(parts[3]), base64.b64decode(parts[4])
        candidate = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, digest)


def topic_grant(text: str) -> tuple[str, str]:
    """``zigbee2mqtt/#`` -> (``read``, pattern); ``readwrite x/+/set`` -> (access, pattern)."""
    words = text.split()
    access, pattern = ("read", words[0]) if len(words) == 1 else ("", "")
    if len(words) == 2:
        access, pattern = words
    if access not in ACCESS or not _is_filter(pattern):
        raise BrokerConfigError(
            f"gateway topic {text!r}: give an MQTT topic filter (wildcards + and # as whole"
            " levels, # last), optionally after read, write or readwrite"
        )
    return access, pattern


def _is_filter(pattern: str) -> bool:
    """An MQTT topic filter: ``+`` and ``#`` only as whole levels, ``#`` last."""
    levels = pattern.split("/")
    for i, level in enumerate(levels):
        if level in ("+", "#"):
            if level == "#" and i != len(levels) - 1:
                return False
        elif "+" in level or "#" in level:
            return False
    return bool(pattern) and "\0" not in pattern


@dataclass(frozen=True, slots=True)
class BrokerOptions:
    """What the configuration is made with (the command's options)."""

    out_dir: Path
    port: int | None = 1883
    """The plain listener; None: TLS only."""
    bind: str | None = None
    """Address the listeners bind to; None: every interface."""
    tls_port: int | None = None
    certfile: str | None = None
    keyfile: str | None = None
    cafile: str | None = None
    require_certificate: bool = False
    gateway_user: str = "eldercare-gateway"
    gateway_password: str | None = None
    """The gateway's password (from ELDERCARE_MQTT_URL); None: keep or generate one."""
    gateway_topics: tuple[str, ...] = ()
    """Extra topic patterns the gateway reads (``[access ]pattern``), e.g. ``zigbee2mqtt/#``."""
    queue_minutes: float = 10.0
    max_queued_messages: int | None = None
    """None: ``queue_minutes`` of the registry's traffic, at least 100,000."""
    max_inflight_messages: int = 1000
    max_packet_size: int = 262_144
    persistence_dir: str = "/var/lib/mosquitto/"
    run_as: str | None = None
    """Mosquitto's ``user`` (None: its default, ``mosquitto``)."""
    rotate: tuple[str, ...] = ()
    """Usernames that get a new password."""

    def __post_init__(self) -> None:
        if self.port is None and self.tls_port is None:
            raise BrokerConfigError("no listener: give a plain port, a TLS port or both")
        if self.tls_port is not None and not (self.certfile and self.keyfile):
            raise BrokerConfigError("a TLS listener needs --certfile and --keyfile")
        for grant in self.gateway_topics:
            topic_grant(grant)


@dataclass(slots=True)
class Generated:
    conf: Path
    passwd: Path
    acl: Path
    new_passwords: dict[str, str] = field(default_factory=dict)
    """username -> password of every account made or rotated now (shown once)."""
    changed: list[str] = field(default_factory=list)
    """Accounts made or given a new password now (the gateway's from its URL too)."""
    removed: list[str] = field(default_factory=list)
    """Accounts dropped (their device is gone)."""
    accounts: int = 0


def queued_messages(devices: Sequence[Device], minutes: float) -> int:
    """Messages the gateway's session must hold for ``minutes`` of the registry's
    traffic: bed bands send vitals every second, other devices at most a
    heartbeat a minute (in practice every 5 to 60); at least 100,000."""
    beds = sum(1 for d in devices if d.kind is DeviceKind.BED_BAND)
    per_s = beds + (len(devices) - beds) / 60
    return max(100_000, int(per_s * minutes * 60))


def render_acl(devices: Sequence[Device], gateway_user: str, gateway_topics: Sequence[str]) -> str:
    lines = [
        "# Written by `eldercare broker-config`; run it again when devices change.",
        "# A device publishes its own topics and reads nothing; the gateway reads,",
        "# on its main session and on its urgent one (gateway/urgent_session.py).",
    ]
    for user in (gateway_user, gateway_user + URGENT_SESSION_SUFFIX):
        lines += ["", f"user {user}", "topic read eldercare/v1/#"]
        lines += ["topic {} {}".format(*topic_grant(t)) for t in gateway_topics]
    for d in sorted(devices, key=lambda d: d.id):
        lines += [
            "",
            f"user {d.id}",
            f"topic write eldercare/v1/{d.home_id}/{d.id}/event",
            f"topic write eldercare/v1/{d.home_id}/{d.id}/status",
        ]
    return "\n".join(lines) + "\n"


def render_passwd(credentials: Sequence[MqttCredential]) -> str:
    """One line per account; the gateway's twice: its urgent session's account
    (``<gateway>-urgent``) has the same password."""
    lines = []
    for c in credentials:
        lines.append(f"{c.username}:{c.password_hash}\n")
        if c.role == "gateway":
            lines.append(f"{c.username}{URGENT_SESSION_SUFFIX}:{c.password_hash}\n")
    return "".join(lines)


def render_conf(options: BrokerOptions, queued: int, passwd: Path, acl: Path) -> str:
    o = options
    lines = [
        "# Written by `eldercare broker-config` from the registry; run it again when",
        "# devices change, then SIGHUP mosquitto (it rereads passwd and acl).",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {passwd}",
        f"acl_file {acl}",
        "persistence true",
        f"persistence_location {o.persistence_dir.rstrip('/')}/",
        f"autosave_interval {AUTOSAVE_INTERVAL}",
        "persistent_client_expiration 7d",
        f"max_queued_messages {queued}",
        f"max_inflight_messages {o.max_inflight_messages}",
        f"max_packet_size {o.max_packet_size}",
        "connection_messages true",
    ]
    if o.run_as is not None:
        lines.append(f"user {o.run_as}")
    bind = f" {o.bind}" if o.bind else ""
    if o.port is not None:
        lines += ["", f"listener {o.port}{bind}", "use_username_as_clientid true"]
    if o.tls_port is not None:
        lines += [
            "",
            f"listener {o.tls_port}{bind}",
            "use_username_as_clientid true",
            f"certfile {o.certfile}",
            f"keyfile {o.keyfile}",
            "tls_version tlsv1.2",
        ]
        if o.cafile:
            lines.append(f"cafile {o.cafile}")
        lines.append(f"require_certificate {'true' if o.require_certificate else 'false'}")
    return "\n".join(lines) + "\n"


def new_password() -> str:
    return secrets.token_urlsafe(18)


async def generate(store: Store, options: BrokerOptions, now: datetime) -> Generated:
    """Make or update the accounts in the store and write the three files."""
    o = options
    devices = await store.list_devices()
    taken = {o.gateway_user, o.gateway_user + URGENT_SESSION_SUFFIX}
    clash = next((d.id for d in devices if d.id in taken), None)
    if clash is not None:
        raise BrokerConfigError(
            f"device {clash} has the name of a gateway account ({o.gateway_user} and its"
            f" urgent session's {o.gateway_user}{URGENT_SESSION_SUFFIX}): choose another"
            " --gateway-user (and the same user in ELDERCARE_MQTT_URL)"
        )
    known = {c.username: c for c in await store.list_mqtt_credentials()}
    wanted = {d.id: "device" for d in devices} | {o.gateway_user: "gateway"}
    unknown_rotations = sorted(set(o.rotate) - set(wanted))
    if unknown_rotations:
        raise BrokerConfigError(f"--rotate: no such account: {', '.join(unknown_rotations)}")
    save: list[MqttCredential] = []
    shown: dict[str, str] = {}
    for username, role in wanted.items():
        old = known.get(username)
        if username == o.gateway_user and o.gateway_password is not None:
            same = old is not None and verify_password(o.gateway_password, old.password_hash)
            if same and old is not None and old.role == role:
                continue
            save.append(MqttCredential(username, role, hash_password(o.gateway_password), now))
            continue
        if old is not None and old.role == role and username not in o.rotate:
            continue
        password = new_password()
        shown[username] = password
        save.append(MqttCredential(username, role, hash_password(password), now))
    removed = sorted(set(known) - set(wanted))
    accounts = {c.username: c for c in known.values() if c.username in wanted}
    accounts.update({c.username: c for c in save})
    ordered = [accounts[name] for name in sorted(accounts)]

    out = o.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    passwd, acl, conf = out / "passwd", out / "acl", out / "mosquitto.conf"
    texts = {
        passwd: render_passwd(ordered),
        acl: render_acl(devices, o.gateway_user, o.gateway_topics),
        conf: render_conf(
            o,
            o.max_queued_messages or queued_messages(devices, o.queue_minutes),
            passwd,
            acl,
        ),
    }
    group = _group_of(o.run_as or "mosquitto")
    staged = [_stage(path, text, group) for path, text in texts.items()]
    try:
        if save or removed:
            await store.save_mqtt_credentials(save, delete=removed)
    except BaseException:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
        raise
    for tmp, path in zip(staged, texts, strict=True):
        os.replace(tmp, path)
    changed = sorted(c.username for c in save)
    return Generated(conf, passwd, acl, shown, changed, removed, len(ordered))


def _stage(path: Path, text: str, group: int | None) -> Path:
    """``text`` in a temporary file beside ``path``, readable by its owner and by
    ``group`` (Mosquitto reads passwd and acl after it dropped to its own user)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    if group is not None:
        os.chown(tmp, -1, group)
    return tmp


def _group_of(user: str) -> int | None:
    """The primary group of Mosquitto's user, when we may give files to it (root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(user).pw_gid
    except KeyError:
        return None


__all__ = [
    "BrokerConfigError",
    "BrokerOptions",
    "Generated",
    "generate",
    "hash_password",
    "queued_messages",
    "render_acl",
    "render_conf",
    "render_passwd",
    "topic_grant",
    "verify_password",
]
