"""``eldercare sim …``: device simulators for testers.

eldercare sim provision --homes 3            # demo homes h1..h3 through the API
eldercare sim press-sos --home h1            # the SOS button of h1 (device h1-sos)
eldercare sim event --home h1 --kind gas --set lel=12
eldercare sim status --home h1 --kind door --offline
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from eldercare.domain import DeviceKind
from eldercare.settings import Settings
from simulators.home import DemoHome, device_id
from simulators.payloads import NORMAL, sos_press
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher


def add_parser(sub: Any) -> None:
    sim = sub.add_parser("sim", help="simulate devices: provision homes, publish events")
    simsub = sim.add_subparsers(dest="sim_command", required=True, metavar="COMMAND")

    p = simsub.add_parser("provision", help="create demo homes h1..hN through the API")
    p.add_argument("--homes", type=int, default=1, help="how many homes (default 1)")
    p.add_argument("--api", default=None, help="API base URL (default from settings)")
    p.add_argument("--user", default=None, help="API user (default ELDERCARE_ADMIN_USER)")
    p.add_argument(
        "--password", default=None, help="its password (default ELDERCARE_ADMIN_PASSWORD)"
    )

    p = simsub.add_parser("press-sos", help="press the SOS button of a home")
    p.add_argument("--home", required=True)
    p.add_argument("--device", default=None, help="device id (default HOME-sos)")

    p = simsub.add_parser("event", help="publish one native event for any device kind")
    p.add_argument("--home", required=True)
    p.add_argument("--kind", required=True, choices=[k.value for k in DeviceKind])
    p.add_argument("--device", default=None, help="device id (default derived from home and kind)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="set a field, value as JSON (e.g. hr=38, in_bed=true, action='\"press\"')",
    )
    p.add_argument("--battery", type=float, default=None)
    p.add_argument(
        "--source",
        default=None,
        metavar="JSON",
        help="publish as this off-the-shelf device would (the device's registry source), "
        'e.g. \'{"type": "zigbee2mqtt", "topic": "zigbee2mqtt/hall_sos"}\'',
    )

    p = simsub.add_parser(
        "run", help="play scenario files and check the alerts (service on ELDERCARE_CLOCK=event)"
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="scenario TOML files")
    _api_args(p)
    p.add_argument(
        "--speed",
        type=float,
        default=0,
        help="simulated seconds per real second (1 = real time; default 0 = as fast as possible)",
    )
    p.add_argument("--settle", type=float, default=60, help="longest wait for the service (s)")

    p = simsub.add_parser("life", help="play ordinary days in N homes; report any alert")
    p.add_argument("--homes", type=int, default=10)
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    _api_args(p)

    p = simsub.add_parser("load", help="drive N homes' normal traffic in real time")
    p.add_argument("--homes", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--qos", type=int, choices=[0, 1], default=1)

    p = simsub.add_parser("status", help="publish a device's retained status")
    p.add_argument("--home", required=True)
    p.add_argument("--kind", required=True, choices=[k.value for k in DeviceKind])
    p.add_argument("--device", default=None)
    p.add_argument("--offline", action="store_true", help="publish offline (default online)")
    p.add_argument(
        "--source",
        default=None,
        metavar="JSON",
        help="publish as this off-the-shelf device would (the device's registry source), "
        'e.g. \'{"type": "zigbee2mqtt", "topic": "zigbee2mqtt/hall_sos"}\'',
    )

    p = simsub.add_parser(
        "twilio-server", help="a local Twilio-compatible server (Messages, Calls, callbacks)"
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="default: a free port")
    p.add_argument("--account-sid", default=None, help="default ELDERCARE_TWILIO_ACCOUNT_SID")
    p.add_argument("--auth-token", default=None, help="default ELDERCARE_TWILIO_AUTH_TOKEN")
    p.add_argument(
        "--rules",
        choices=["none", "twilio-cn"],
        default="none",
        help="per-number provider rules to enforce (twilio-cn: Twilio's rules for +86)",
    )

    for provider, what in (("aliyun", "SMS and voice"), ("tencent", "Cloud SMS")):
        p = simsub.add_parser(
            f"{provider}-server",
            help=f"a local {provider.capitalize()} {what} look-alike (signed API, pushes)",
        )
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=0, help="default: a free port")
        p.add_argument(
            "--no-push", action="store_true", help="do not push reports/replies to the service"
        )


def _api_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api", default=None, help="API base URL (default from settings)")
    p.add_argument("--user", default=None, help="API user (default ELDERCARE_ADMIN_USER)")
    p.add_argument(
        "--password", default=None, help="its password (default ELDERCARE_ADMIN_PASSWORD)"
    )


def _api(args: argparse.Namespace, settings: Settings) -> tuple[str, str, str]:
    api = args.api or f"http://{settings.api_host}:{settings.api_port}"
    password = args.password or settings.admin_password
    if password is None:
        raise SystemExit("give --password or set ELDERCARE_ADMIN_PASSWORD")
    return api, args.user or settings.admin_user, password


def _parse_set(items: list[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--set {item!r}: write FIELD=VALUE")
        try:
            fields[name] = json.loads(raw)
        except json.JSONDecodeError:
            fields[name] = raw
    return fields


async def _cn_server(args: argparse.Namespace, settings: Settings) -> None:
    """The look-alike with the service's credentials; reports and replies pushed to
    ``ELDERCARE_PUBLIC_URL`` with ``ELDERCARE_SMS_CALLBACK_TOKEN`` (when set)."""
    s, base, token = settings, settings.public_url.rstrip("/"), settings.sms_callback_token
    push = token is not None and not args.no_push
    if args.sim_command == "aliyun-server":
        from simulators import aliyun_server

        await aliyun_server.serve_forever(
            s.aliyun_access_key_id or "LTAIlocal",
            s.aliyun_access_key_secret or "local-secret",
            args.host,
            args.port,
            f"{base}/aliyun/sms/report/{token}" if push else None,
            f"{base}/aliyun/sms/up/{token}" if push else None,
            f"{base}/aliyun/voice/report/{token}" if push else None,
        )
        return
    from simulators import tencent_server

    await tencent_server.serve_forever(
        s.tencent_secret_id or "AKIDlocal",
        s.tencent_secret_key or "local-secret",
        s.tencent_sms_sdk_app_id or "1400000000",
        args.host,
        args.port,
        f"{base}/tencent/sms/status/{token}" if push else None,
        f"{base}/tencent/sms/reply/{token}" if push else None,
    )


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.sim_command == "twilio-server":
        from simulators.twilio_server import new_sid, serve_forever

        await serve_forever(
            args.account_sid or settings.twilio_account_sid or new_sid("AC"),
            args.auth_token or settings.twilio_auth_token or new_sid("")[:32],
            args.host,
            args.port,
            args.rules,
        )
        return 0
    if args.sim_command in ("aliyun-server", "tencent-server"):
        await _cn_server(args, settings)
        return 0
    b = settings.broker()
    if args.sim_command == "provision":
        api, user, password = _api(args, settings)
        homes = [DemoHome(f"h{i + 1}", i) for i in range(args.homes)]
        made = await provision_homes(api, user, password, homes)
        print(f"provisioned {len(homes)} home(s); new: {', '.join(made) or 'none'}")
        return 0
    if args.sim_command == "run":
        from simulators import runner
        from simulators.scenario import ScenarioError, load

        try:
            scenarios = [load(f) for f in args.files]
        except ScenarioError as exc:
            print(f"eldercare sim run: {exc}", file=sys.stderr)
            return 2
        api, user, password = _api(args, settings)
        outcomes = await runner.run(
            scenarios,
            api=api,
            username=user,
            password=password,
            mqtt_host=b.host,
            mqtt_port=b.port,
            mqtt_username=b.username,
            mqtt_password=b.password,
            speed=args.speed,
            settle=args.settle,
        )
        for outcome in outcomes:
            print("\n".join(outcome.lines()))
        failed = sum(not o.passed for o in outcomes)
        print(f"{len(outcomes) - failed} passed, {failed} failed")
        return 1 if failed else 0
    if args.sim_command == "life":
        from simulators import runner

        api, user, password = _api(args, settings)
        life = await runner.run_life(
            args.homes,
            args.days,
            api=api,
            username=user,
            password=password,
            mqtt_host=b.host,
            mqtt_port=b.port,
            mqtt_username=b.username,
            mqtt_password=b.password,
            seed=args.seed,
        )
        print("\n".join(life.lines()))
        return 1 if life.alerts else 0
    if args.sim_command == "load":
        from simulators.load import run_load
        from simulators.player import PlayError
        from simulators.wire import WirePublisher, random_client_id

        if b.tls:
            print("eldercare sim load: TLS (mqtts://) is not supported", file=sys.stderr)
            return 2
        client = WirePublisher(
            b.host,
            b.port,
            client_id=random_client_id(),
            username=b.username,
            password=b.password,
        )
        try:
            client.connect()
            try:
                report = await asyncio.to_thread(
                    run_load, client, args.homes, args.seconds, qos=args.qos
                )
            finally:
                all_acked = await asyncio.to_thread(client.close)
        except PlayError as exc:
            print(f"eldercare sim load: {exc}", file=sys.stderr)
            return 1
        print("\n".join(report.lines()))
        if not all_acked:
            qos1 = client.unacked + client.acked
            print(f"the broker acknowledged {client.acked} of {qos1} QoS 1 messages")
            return 1
        return 0
    async with DevicePublisher(b.host, b.port, username=b.username, password=b.password) as pub:
        if args.sim_command == "press-sos":
            dev = args.device or device_id(args.home, DeviceKind.SOS_BUTTON)
            payload = await pub.event(args.home, dev, sos_press())
        elif args.sim_command in ("event", "status") and args.source is not None:
            return await _publish_as(pub, args)
        elif args.sim_command == "event":
            kind = DeviceKind(args.kind)
            dev = args.device or device_id(args.home, kind)
            fields = {**NORMAL[kind], **_parse_set(args.set)}
            payload = await pub.event(args.home, dev, fields, battery=args.battery)
        else:
            kind = DeviceKind(args.kind)
            dev = args.device or device_id(args.home, kind)
            await pub.status(args.home, dev, not args.offline)
            payload = {"status": "offline" if args.offline else "online"}
    print(f"published to {args.home}/{dev}: {json.dumps(payload, ensure_ascii=False)}")
    return 0


async def _publish_as(pub: DevicePublisher, args: argparse.Namespace) -> int:
    """``--source``: the event or status in the device's own ecosystem's words."""
    from simulators.ecosystems import NotSupported, availability, messages

    try:
        source = json.loads(args.source)
        kind = DeviceKind(args.kind)
        if args.sim_command == "status":
            sent = [availability(source, not args.offline)]
        else:
            fields = {**NORMAL[kind], **_parse_set(args.set)}
            sent = messages(kind.value, source, fields, args.battery)
    except (ValueError, KeyError, TypeError) as exc:  # NotSupported is a ValueError
        why = str(exc) if isinstance(exc, NotSupported) else f"bad --source: {exc!r}"
        print(f"eldercare sim {args.sim_command}: {why}", file=sys.stderr)
        return 2
    for topic, payload, retain in sent:
        await pub.raw(topic, payload, retain=retain)
        print(f"published to {topic}{' (retained)' if retain else ''}: {payload.decode()}")
    return 0


def main_sync(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(run(args, settings))
