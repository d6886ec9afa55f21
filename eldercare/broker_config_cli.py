"""The ``eldercare broker-config`` command (eldercare/broker_config.py does the work)."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eldercare.settings import Settings


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "broker-config",
        help="write a Mosquitto configuration from the registry: accounts, ACL, TLS",
        description="Writes mosquitto.conf, passwd and acl into --out: one account per "
        "device (username = device id) that may publish only its own topics and read "
        "nothing, the gateway's own account, and every listener with "
        "use_username_as_clientid. New passwords are printed once; the store keeps "
        "only their hashes, so run it again when devices change, then SIGHUP mosquitto.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the three files")
    p.add_argument("--port", type=int, default=1883, help="plain MQTT listener (default 1883)")
    p.add_argument("--no-plain", action="store_true", help="no plain listener: TLS only")
    p.add_argument("--bind", default=None, metavar="ADDRESS", help="listen on this address only")
    p.add_argument("--tls-port", type=int, default=None, help="TLS listener, e.g. 8883")
    p.add_argument("--certfile", default=None, help="PEM server certificate (TLS)")
    p.add_argument("--keyfile", default=None, help="PEM server key (TLS)")
    p.add_argument("--cafile", default=None, help="PEM CA for client certificates (TLS)")
    p.add_argument(
        "--require-certificate", action="store_true", help="TLS clients must show a certificate"
    )
    p.add_argument(
        "--gateway-user",
        default=None,
        help="the gateway's account (default: the user of ELDERCARE_MQTT_URL, else "
        "ELDERCARE_MQTT_CLIENT_ID); its password is the URL's, else generated",
    )
    p.add_argument(
        "--gateway-topic",
        action="append",
        default=[],
        metavar="[ACCESS ]PATTERN",
        help="another topic pattern the gateway may read (repeat), e.g. 'zigbee2mqtt/#'; "
        "ACCESS read (default), write or readwrite",
    )
    p.add_argument(
        "--queue-minutes",
        type=float,
        default=10.0,
        help="max_queued_messages holds this many minutes of the registry's traffic "
        "(default 10, at least 100,000 messages)",
    )
    p.add_argument("--max-queued-messages", type=int, default=None, help="set it directly")
    p.add_argument(
        "--max-inflight-messages",
        type=int,
        default=None,
        help="default ELDERCARE_BATCH_MAX: a whole batch in flight with MQTT 3.1.1",
    )
    p.add_argument("--max-packet-size", type=int, default=262_144, help="bytes (default 262144)")
    p.add_argument("--persistence-dir", default="/var/lib/mosquitto/")
    p.add_argument("--run-as", default=None, metavar="USER", help="mosquitto's user option")
    p.add_argument(
        "--rotate", action="append", default=[], metavar="USERNAME", help="new password (repeat)"
    )
    p.add_argument(
        "--credentials-out",
        default=None,
        metavar="FILE",
        help="write the new passwords to this CSV file (mode 0600) instead of printing them",
    )


async def run(settings: Settings, args: argparse.Namespace) -> int:
    from eldercare.broker_config import BrokerConfigError, BrokerOptions, generate
    from eldercare.cli_audit import audit_cli
    from eldercare.store import open_store

    address = settings.broker() if settings.mqtt_url is not None else None
    user = args.gateway_user or (address and address.username) or settings.mqtt_client_id
    password = address.password if address is not None and address.username == user else None
    try:
        options = BrokerOptions(
            out_dir=Path(args.out),
            port=None if args.no_plain else args.port,
            bind=args.bind,
            tls_port=args.tls_port,
            certfile=args.certfile,
            keyfile=args.keyfile,
            cafile=args.cafile,
            require_certificate=args.require_certificate,
            gateway_user=user,
            gateway_password=password,
            gateway_topics=tuple(args.gateway_topic),
            queue_minutes=args.queue_minutes,
            max_queued_messages=args.max_queued_messages,
            max_inflight_messages=args.max_inflight_messages or settings.batch_max,
            max_packet_size=args.max_packet_size,
            persistence_dir=args.persistence_dir,
            run_as=args.run_as,
            rotate=tuple(args.rotate),
        )
    except BrokerConfigError as exc:
        print(f"eldercare broker-config: {exc}", file=sys.stderr)
        return 2
    store = await open_store(settings.database_url)
    try:
        await store.migrate()
        done = await generate(store, options, datetime.now(UTC))
        details: dict[str, Any] = {"changed": sorted(done.changed), "accounts": done.accounts}
        details["removed"] = sorted(done.removed)  # the names of accounts, never a password
        await audit_cli(store, "broker.config", f"file:{done.acl.name}", None, details)
    except BrokerConfigError as exc:
        print(f"eldercare broker-config: {exc}", file=sys.stderr)
        return 2
    finally:
        await store.close()
    print(
        f"wrote {done.conf}, {done.passwd} and {done.acl}: {done.accounts} accounts"
        f" ({len(done.changed)} made or changed, {len(done.removed)} removed)"
    )
    if done.new_passwords:
        if args.credentials_out:
            fd = os.open(args.credentials_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["username", "password"])
                writer.writerows(sorted(done.new_passwords.items()))
            print(f"new passwords in {args.credentials_out} (shown nowhere else, kept hashed)")
        else:
            print("new passwords (shown this once, kept only hashed):")
            for username, secret in sorted(done.new_passwords.items()):
                print(f"{username} {secret}")
        if user in done.new_passwords:
            print(f"set ELDERCARE_MQTT_URL=mqtt://{user}:<its password>@HOST:PORT for the service")
    print("reload the broker to apply: systemctl reload mosquitto (or kill -HUP its pid)")
    return 0
