"""The ``eldercare`` command (CONTRACT.md §3b).

Settings come from ``ELDERCARE_*`` environment variables or ``--config FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import re
import signal
import sys
from collections.abc import Callable

from eldercare import db_commands
from eldercare.domain import DEFAULT_ORGANISATION
from eldercare.settings import Settings, SettingsError
from eldercare.settings_help import settings_epilog, unfit_for_production

log = logging.getLogger("eldercare.cli")

CONFIG_HELP = "TOML settings file (same names as the settings, lower case; the environment wins)"


def build_parser() -> argparse.ArgumentParser:
    from simulators import cli as sim_cli

    parser = argparse.ArgumentParser(
        prog="eldercare",
        description="Eldercare safety monitoring: devices over MQTT, detectors, escalating "
        "alerts, care-centre API.",
    )
    parser.add_argument("--config", metavar="FILE", help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "demo", help="run everything here: embedded broker, SQLite, simulated homes, API"
    )
    p.add_argument("--homes", type=int, default=3, help="demo homes to provision (default 3)")
    p.add_argument(
        "--sos-every", type=float, default=180.0, help="seconds between SOS presses (default 180)"
    )

    p = sub.add_parser(
        "serve",
        help="run the service: gateway, detectors, alerts, API",
        description="Run the service: gateway, detectors, alerts, API. Warns once at start "
        "about each default in force that is not fit for production.",
        epilog=settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--check",
        action="store_true",
        help="check the settings and the files they name, connect to nothing, exit 0 "
        "(OK) or 1 (the setting named); for systemd's ExecStartPre=",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="scale-out (needs ELDERCARE_ENGINE_URL): run intake and detection in N "
        "`eldercare worker` processes, the API and escalation here (README 'Scale-out')",
    )
    sub.add_parser(
        "worker",
        help="one scale-out intake and detection process on NATS (ELDERCARE_ENGINE_URL)",
    )
    p = sub.add_parser(
        "intake-process",
        help="serve's intake and detection process (ELDERCARE_INTAKE_PROCESS=on);"
        " started by serve, not by hand",
    )
    p.add_argument("--link", required=True, metavar="SOCKET", help="serve's Unix socket")
    p.add_argument(
        "--parent", type=int, default=None, metavar="PID", help="stop when this process is gone"
    )

    p = sub.add_parser("db", help="database maintenance")
    dbsub = p.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    dbsub.add_parser("migrate", help="apply pending schema migrations")
    db_commands.add_parsers(dbsub)  # backup, restore, prune

    p = sub.add_parser("users", help="care-centre accounts")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    p = usub.add_parser("add", help="add an account (asks for the password)")
    p.add_argument("username")
    p.add_argument("--role", choices=["operator", "supervisor", "admin"], default="operator")
    p.add_argument("--phone", default=None, help="E.164, e.g. +8613800000000")
    p.add_argument(
        "--organisation",
        default=DEFAULT_ORGANISATION,
        metavar="ID",
        help=f"the care centre of the account (default {DEFAULT_ORGANISATION})",
    )
    p.add_argument(
        "--platform",
        action="store_true",
        help="a platform admin (--role admin): of no care centre, manages the"
        " organisations and sees every one",
    )
    p.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )

    p = sub.add_parser("organisations", help="the care centres of the installation")
    osub = p.add_subparsers(dest="organisations_command", required=True, metavar="COMMAND")
    p = osub.add_parser("add", help="add a care centre (organisation)")
    p.add_argument("id", help="1-64 letters, digits, _ or -")
    p.add_argument("name")

    p = sub.add_parser(
        "provision",
        help="add or update homes, residents, devices and contacts from a CSV or TOML file",
        description="Checks the whole file first (E.164 phones, IANA time zones, device "
        "kinds, a bed band needs a resident); any problem changes nothing and is reported "
        "with its line and field. Existing ids are updated. Formats: eldercare/provision.py.",
    )
    p.add_argument("file", nargs="?", help="a .csv or .toml file")
    p.add_argument("--dry-run", action="store_true", help="check only, change nothing")
    p.add_argument(
        "--organisation",
        default=DEFAULT_ORGANISATION,
        metavar="ID",
        help="the care centre of the homes that name no organisation_id"
        f" (default {DEFAULT_ORGANISATION})",
    )
    p.add_argument(
        "--discover",
        action="store_true",
        help="list the Zigbee2MQTT devices the broker shows that the registry lacks, "
        "with a suggested kind, as CSV rows to complete (home_id) and provision",
    )
    p.add_argument("--base-topic", default="zigbee2mqtt", help="Zigbee2MQTT base topic")

    p = sub.add_parser(
        "bench", help="measure throughput, alert latency and cost on this machine (see README)"
    )
    p.add_argument("--short", action="store_true", help="a quick run with small figures")
    p.add_argument("--homes", type=int, default=None, help="homes under load (default 10000)")
    p.add_argument("--messages", type=int, default=None, help="queued messages (default 200000)")
    p.add_argument("--seconds", type=float, default=None, help="load duration (default 60)")
    p.add_argument("--probes", type=int, default=None, help="SOS presses timed (default 100)")
    p.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds of load before the first probe (default 10): the service's first"
        " seconds under load create every resident's detector state",
    )
    p.add_argument(
        "--runs",
        type=int,
        default=None,
        help="measure alert latency and cost this many times in each condition (default 1)",
    )
    p.add_argument(
        "--load",
        "--cpu-burners",
        dest="load",
        type=int,
        default=None,
        metavar="N",
        help="add loaded runs: N CPU-burning processes beside the service (default 0: none)",
    )
    p.add_argument(
        "--mqtt-protocol",
        dest="protocol",
        choices=["5", "3.1.1"],
        default=None,
        help="the gateway's MQTT version (default 5)",
    )
    p.add_argument(
        "--urgent-session",
        dest="urgent_session",
        choices=["on", "off"],
        default=None,
        help="the service's second MQTT session for critical devices (default on)",
    )
    p.add_argument(
        "--intake-process",
        dest="intake_process",
        choices=["on", "off"],
        default=None,
        help="the service's intake and detection in a child process, critical alerts"
        " raised by serve itself (default off; README 'The intake process')",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=None,
        help="nice value of the bench and all it starts but the CPU burners (default: the"
        " production unit's Nice=, -5; 0 measures everything at normal priority)",
    )
    p.add_argument(
        "--workers",
        type=_counts,
        default=None,
        metavar="1,2,3",
        help="instead of the one-process bench: serve --workers N on a NATS node for each"
        " count, in one run (backlog drain, alert latency, CPU of serve and its workers)",
    )
    p.add_argument(
        "--json",
        default=None,
        metavar="FILE",
        help="where to write the figures (default bench-results/)",
    )

    from eldercare import broker_config_cli

    broker_config_cli.add_parser(sub)
    sim_cli.add_parser(sub)
    _config_everywhere(parser)
    return parser


def _config_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` before the command or after it, at any depth (the one given
    last wins); SUPPRESS keeps a subcommand from resetting the value given before it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in set(action.choices.values()):
                if not any("--config" in a.option_strings for a in child._actions):
                    child.add_argument(
                        "--config", metavar="FILE", default=argparse.SUPPRESS, help=CONFIG_HELP
                    )
                _config_everywhere(child)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve" and args.check:
        from eldercare.serve_check import run_check

        return run_check(args.config)
    try:
        settings = Settings.load(config_file=args.config)
    except SettingsError as exc:
        print(f"eldercare: {exc}", file=sys.stderr)
        return 2
    from eldercare.logs import setup_logging

    setup_logging(settings.log_format, settings.log_level, secrets=settings.secret_values())
    try:
        if args.command == "demo":
            settings = _demo_broker_port(
                settings, chosen="embedded_mqtt_port" in _set_by_user(args)
            )
            return _run_service(settings, demo=(args.homes, args.sos_every))
        if args.command == "serve":
            for warning in unfit_for_production(settings):
                log.warning("not fit for production: %s", warning)
            if args.workers and settings.engine_url is None:
                print("eldercare serve --workers needs ELDERCARE_ENGINE_URL", file=sys.stderr)
                return 2
            return _run_service(settings, demo=None, workers=args.workers, config=args.config)
        if args.command == "worker":
            return _run_worker(settings)
        if args.command == "intake-process":
            return _run_intake_process(settings, args.link, args.parent)
        if args.command == "db" and args.db_command in db_commands.COMMANDS:
            return db_commands.main(settings, args)
        if args.command == "db":
            return asyncio.run(_migrate(settings))
        if args.command == "organisations":
            return asyncio.run(_add_organisation(settings, args.id, args.name))
        if args.command == "users":
            return asyncio.run(_users_add(settings, args))
        if args.command == "provision" and args.discover:
            return asyncio.run(_discover(settings, args.base_topic))
        if args.command == "provision":
            if args.file is None:
                print("eldercare provision: give a FILE, or --discover", file=sys.stderr)
                return 2
            return asyncio.run(_provision(settings, args.file, args.dry_run, args.organisation))
        if args.command == "broker-config":
            from eldercare import broker_config_cli

            return asyncio.run(broker_config_cli.run(settings, args))
        if args.command == "bench":
            return _bench(args)
        if args.command == "sim":
            from simulators import cli as sim_cli

            return sim_cli.main_sync(args, settings)
    except KeyboardInterrupt:
        return 130
    raise AssertionError(args.command)


def _counts(text: str) -> tuple[int, ...]:
    """``1,2,3`` -> (1, 2, 3): the worker counts of ``eldercare bench --workers``."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: worker counts separated by commas, e.g. 1,2,3"
        ) from None
    return counts


def _bench(args: argparse.Namespace) -> int:
    import dataclasses
    import time
    from pathlib import Path

    from eldercare.bench import BenchConfig
    from eldercare.bench import main as bench_main

    cfg = BenchConfig.short() if args.short else BenchConfig()
    changes = {
        k: getattr(args, k)
        for k in (
            "homes",
            "messages",
            "seconds",
            "probes",
            "protocol",
            "warmup",
            "runs",
            "load",
            "nice",
            "urgent_session",
            "intake_process",
            "workers",
        )
        if getattr(args, k) is not None
    }
    cfg = dataclasses.replace(cfg, **changes)
    try:
        cfg.check()
    except ValueError as exc:
        print(f"eldercare bench: {exc}", file=sys.stderr)
        return 2
    path = Path(args.json or f"bench-results/bench-{time.strftime('%Y%m%d-%H%M%S')}.json")
    return bench_main(cfg, path)


def _set_by_user(args: argparse.Namespace) -> set[str]:
    """Settings named in the environment or the config file."""
    names = {k[len("ELDERCARE_") :].lower() for k in os.environ if k.startswith("ELDERCARE_")}
    if args.config:
        import tomllib

        with open(args.config, "rb") as fh:
            names |= set(tomllib.load(fh))
    return names


def _demo_broker_port(settings: Settings, chosen: bool) -> Settings:
    """The demo on a machine that already runs a broker on 1883: unless the user chose
    the port, take a free one and say so (a chosen port that is taken stays an error)."""
    from eldercare.embedded_broker import any_free_port, port_is_free

    if settings.mqtt_url is not None or chosen:
        return settings
    if port_is_free("127.0.0.1", settings.embedded_mqtt_port):
        return settings
    port = any_free_port()
    print(
        f"eldercare demo: port {settings.embedded_mqtt_port} is taken (another MQTT broker?); "
        f"the embedded broker uses port {port} instead. "
        "Set ELDERCARE_EMBEDDED_MQTT_PORT to choose.",
        file=sys.stderr,
    )
    return settings.with_(embedded_mqtt_port=port)


def _run_service(
    settings: Settings,
    demo: tuple[int, float] | None,
    workers: int = 0,
    config: str | None = None,
) -> int:
    from eldercare.app import Service
    from eldercare.embedded_broker import BrokerPortTaken
    from eldercare.process_tuning import tune_for_service
    from eldercare.store.base import StoreError

    async def go() -> None:
        holder: dict[str, Service] = {}
        loop = asyncio.get_running_loop()
        signals = 0

        def on_signal() -> None:
            nonlocal signals
            signals += 1
            if signals > 1:
                log.warning("second signal: forcing exit")
                os._exit(130)
            log.info("signal received: shutting down (again to force)")
            if "service" in holder:
                holder["service"].request_stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)

        def started(service: Service) -> None:
            holder["service"] = service
            tune_for_service(service.metrics)  # after start-up: see eldercare/process_tuning.py
            if signals:
                service.request_stop()

        if demo is not None:
            from eldercare.demo import run_demo

            await run_demo(settings, homes=demo[0], sos_every=demo[1], on_start=started)
        else:
            service = Service(settings, workers=workers, config_file=config)
            async with service:
                started(service)
                if service.generated_admin_password:
                    print(
                        f"created admin account {settings.admin_user} with password "
                        f"{service.generated_admin_password}",
                        flush=True,
                    )
                await service.run()

    try:
        asyncio.run(go())
    except (StoreError, BrokerPortTaken, SettingsError, OSError) as exc:
        print(f"eldercare: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_worker(settings: Settings) -> int:
    from eldercare.store.base import StoreError
    from eldercare.worker import Worker

    async def go() -> None:
        worker = Worker(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.request_stop)
        async with worker:
            await worker.run()

    try:
        asyncio.run(go())
    except (StoreError, SettingsError, OSError) as exc:
        print(f"eldercare worker: {exc}", file=sys.stderr)
        return 1
    return 0


def _run_intake_process(settings: Settings, link: str, parent: int | None) -> int:
    from eldercare.intake_process import IntakeProcess
    from eldercare.process_tuning import tune_for_service
    from eldercare.store.base import StoreError

    async def go() -> None:
        intake = IntakeProcess(settings, link, parent=parent)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, intake.request_stop)
        async with intake:
            tune_for_service(intake.metrics)
            await intake.run()

    try:
        asyncio.run(go())
    except (StoreError, SettingsError, OSError) as exc:
        print(f"eldercare intake-process: {exc}", file=sys.stderr)
        return 1
    return 0


async def _migrate(settings: Settings) -> int:
    from eldercare.store import open_store

    store = await open_store(settings.database_url)
    try:
        applied = await store.migrate()
    finally:
        await store.close()
    print(f"applied: {', '.join(applied)}" if applied else "the schema is up to date")
    return 0


async def _add_organisation(settings: Settings, organisation_id: str, name: str) -> int:
    from eldercare.cli_audit import audit_cli
    from eldercare.domain import ID_PATTERN, Organisation
    from eldercare.store import open_store
    from eldercare.store.base import Conflict

    if not ID_PATTERN.match(organisation_id) or not name.strip():
        print("eldercare: an organisation id is 1-64 letters, digits, _ or -", file=sys.stderr)
        return 2
    store = await open_store(settings.database_url)
    try:
        await store.migrate()
        await store.create_organisation(Organisation(organisation_id, name.strip()))
        await audit_cli(
            store,
            "organisation.create",
            f"organisation:{organisation_id}",
            organisation_id,
            {"name": name.strip()},
        )
    except Conflict as exc:
        print(f"eldercare: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    print(f"added organisation {organisation_id}")
    return 0


async def _users_add(settings: Settings, args: argparse.Namespace) -> int:
    from eldercare.cli_audit import audit_cli
    from eldercare.domain import E164_PATTERN, ID_PATTERN, Role, User
    from eldercare.passwords import WeakPassword, check_new_password, hash_password
    from eldercare.store import open_store
    from eldercare.store.base import Conflict

    if not ID_PATTERN.match(args.username):
        print("eldercare: a username is 1-64 letters, digits, _ or -", file=sys.stderr)
        return 2
    if args.phone is not None and not E164_PATTERN.match(args.phone):
        print(
            f"eldercare: --phone must be E.164 (+8613800000000), not {args.phone}", file=sys.stderr
        )
        return 2
    if args.platform and args.role != "admin":
        print("eldercare: --platform is for --role admin only", file=sys.stderr)
        return 2
    password = _read_password(args.password_stdin)
    try:
        check_new_password(password, args.username)
    except WeakPassword as exc:
        print(f"eldercare: {exc}", file=sys.stderr)
        return 2
    store = await open_store(settings.database_url)
    try:
        await store.migrate()
        made = await store.create_user(
            User(
                args.username,
                hash_password(password),
                Role(args.role),
                args.phone,
                organisation_id=None if args.platform else args.organisation,
            )
        )
        target = f"user:{made.username}"
        details = {"role": made.role.value}
        await audit_cli(store, "user.create", target, made.organisation_id, details)
    except Conflict as exc:
        taken = "already exists" in str(exc)
        print(
            f"eldercare: user {args.username} exists already" if taken else f"eldercare: {exc}",
            file=sys.stderr,
        )
        return 1
    finally:
        await store.close()
    print(f"added {args.role} {args.username}")
    return 0


async def _discover(settings: Settings, base: str) -> int:
    from eldercare.store import open_store
    from gateway.adapters.discovery import read_bridge_devices, suggest

    broker = settings.broker()
    try:
        listed = await read_bridge_devices(
            broker.host, broker.port, base, 10.0, broker.username, broker.password
        )
    except (TimeoutError, OSError, ValueError) as exc:
        print(
            f"eldercare provision --discover: no device list on {base}/bridge/devices "
            f"at {broker.host}:{broker.port} ({exc!r})",
            file=sys.stderr,
        )
        return 1
    store = await open_store(settings.database_url)
    try:
        await store.migrate()
        found = suggest(listed, await store.list_devices(), base)
    finally:
        await store.close()
    print("type,id,home_id,kind,source")
    for s in found:
        ident = re.sub(r"[^A-Za-z0-9_-]", "-", s.friendly_name)[:64]
        cell = ";".join(f"{k}={'true' if v is True else v}" for k, v in s.source().items())
        print(f"{ident}: {s.vendor} {s.model}: {s.kind or 'no kind'} ({s.why})", file=sys.stderr)
        print(f"device,{ident},,{s.kind or ''},{cell}")
    note = f"{len(found)} device(s) not in the registry; fill in home_id (and kind)"
    print(f"eldercare provision --discover: {note}", file=sys.stderr)
    return 0


async def _provision(settings: Settings, file: str, dry_run: bool, organisation: str) -> int:
    from pathlib import Path

    from eldercare.cli_audit import audit_provision
    from eldercare.provision import ProvisionError, provision
    from eldercare.store import open_store

    store = await open_store(settings.database_url)
    try:
        await store.migrate()
        result = await provision(
            Path(file), store, settings.timezone, dry_run=dry_run, organisation=organisation
        )
        if not dry_run:
            await audit_provision(store, Path(file).name, organisation, result)
    except ProvisionError as exc:
        print(f"eldercare provision: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    if dry_run:
        print(f"{file}: valid; nothing changed (--dry-run)")
    else:
        print(
            f"{file}: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        )
    return 0


def _read_password(from_stdin: bool, prompt: Callable[[str], str] = getpass.getpass) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = prompt("password: ")
    if prompt("again: ") != first:
        raise SystemExit("eldercare: the passwords differ")
    return first
