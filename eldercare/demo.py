"""``eldercare demo``: the whole service on one machine with nothing installed.

Embedded broker, SQLite, gateway, API; provisions a few homes through the API,
presses an SOS within the first 30 seconds and every few minutes after, sends
ordinary bed-band vitals, and prints every alert change as it happens.
Family SMS and calls go through the Twilio channels to a local Twilio-compatible
server started here (``simulators/twilio_server.py``, fake account), and the demo
prints what families would have received from that server's record.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import secrets
import sys
from collections.abc import Callable
from typing import TextIO

import httpx

from alerts.events import AlertBus
from eldercare.app import Service
from eldercare.domain import DeviceKind
from eldercare.logs import clock_time
from eldercare.passwords import hash_password
from eldercare.settings import Settings
from simulators.home import DemoHome, device_id
from simulators.payloads import bed_band, sos_press
from simulators.provision import provision_homes
from simulators.publisher import DevicePublisher
from simulators.twilio_server import CHINA_RULES, Recorded, TwilioServer, new_sid

log = logging.getLogger("eldercare.demo")


async def run_demo(
    settings: Settings,
    *,
    homes: int = 3,
    sos_every: float = 180.0,
    out: TextIO = sys.stdout,
    on_start: Callable[[Service], None] | None = None,
) -> Service:
    """Run until the returned service is asked to stop (``service.request_stop()``)."""
    password = settings.admin_password or secrets.token_urlsafe(12)
    settings = settings.with_(admin_password=password)
    # with Twilio's rules for +86 numbers (the demo's families are +86): see "SMS provider limits"
    twilio = await TwilioServer(
        new_sid("AC"), secrets.token_hex(16), rules=CHINA_RULES
    ).__aenter__()
    twilio.listeners.append(_family_printer(out))
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    settings = settings.with_(  # never the real Twilio: the demo's numbers are made up
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from="+15005550006",
        twilio_messaging_service_sid=None,
        twilio_base_url=twilio.base_url,
        public_url=f"http://{host}:{settings.api_port}",
    )
    service = Service(settings)
    async with service:
        if on_start is not None:
            on_start(service)
        # The demo database may be left from an earlier run: make the printed password true.
        await service.store.update_user(
            settings.admin_user, {"password_hash": hash_password(password)}
        )
        api = f"http://{settings.api_host}:{settings.api_port}"
        print(
            f"eldercare demo: API on {api}  (try it at {api}/docs)\n"
            f"  log in as {settings.admin_user} / {password}\n"
            f"  press Ctrl-C to stop",
            file=out,
            flush=True,
        )
        demo_homes = [DemoHome(f"h{i + 1}", i) for i in range(homes)]
        run = asyncio.create_task(service.run(), name="service")
        helpers = [
            asyncio.create_task(_print_alerts(service.bus, settings, out), name="demo-printer"),
            asyncio.create_task(
                _drive(service, settings, api, password, demo_homes, sos_every, out),
                name="demo-driver",
            ),
        ]
        try:
            await run
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await twilio.__aexit__(None, None, None)
    return service


def _family_printer(out: TextIO) -> Callable[[str, Recorded], None]:
    """What families would have received, as the local Twilio server records it."""

    def show(event: str, r: Recorded) -> None:
        if r.kind == "message" and event == "created":
            line = f"[family SMS] to {r.to}: {r.body}  ({r.sid[:10]}…, {r.status})"
        elif r.kind == "call" and event == "created":
            said = html.unescape(re.sub(r"<[^>]+>", " ", r.twiml.split("?>", 1)[-1]).strip())
            line = f"[family call] to {r.to}, says: {said}  ({r.sid[:10]}…)"
        elif r.status in ("delivered", "undelivered", "failed", "completed", "no-answer", "busy"):
            line = f"[family {'SMS' if r.kind == 'message' else 'call'}] {r.sid[:10]}… {r.status}"
        else:
            return
        print(line, file=out, flush=True)

    return show


async def _print_alerts(bus: AlertBus, settings: Settings, out: TextIO) -> None:
    async with bus.watch() as queue:
        while True:
            event = await queue.get()
            if event is None:
                return
            a = event.alert
            print(
                f"[alert #{a.id}] {event.change:<12} {a.kind.value} ({a.severity.value}) "
                f"home {a.home_id}, status {a.status.value}, count {a.count}, "
                f"respond by {clock_time(a.response_deadline.astimezone(settings.tz))}",
                file=out,
                flush=True,
            )


async def _wait_healthy(api: str, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(base_url=api, timeout=2) as client:
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if loop.time() > deadline:
                raise TimeoutError(f"the API at {api} did not come up in {timeout:.0f} s")
            await asyncio.sleep(0.2)


async def _drive(
    service: Service,
    settings: Settings,
    api: str,
    password: str,
    homes: list[DemoHome],
    sos_every: float,
    out: TextIO,
) -> None:
    try:
        await _wait_healthy(api)
        await provision_homes(api, settings.admin_user, password, homes)
        print(
            f"provisioned {len(homes)} demo homes: {', '.join(h.home_id for h in homes)}",
            file=out,
            flush=True,
        )
        b = settings.broker()
        async with DevicePublisher(b.host, b.port, username=b.username, password=b.password) as pub:
            loop = asyncio.get_running_loop()
            next_sos = loop.time() + 5.0
            turn = 0
            while not service.stopping:
                for home in homes:
                    await pub.event(
                        home.home_id,
                        device_id(home.home_id, DeviceKind.BED_BAND),
                        bed_band(hr=60 + secrets.randbelow(10), rr=13 + secrets.randbelow(4)),
                        battery=90,
                    )
                if loop.time() >= next_sos:
                    home = homes[turn % len(homes)]
                    turn += 1
                    await pub.event(
                        home.home_id, device_id(home.home_id, DeviceKind.SOS_BUTTON), sos_press()
                    )
                    print(
                        f"[demo] pressed the SOS button in home {home.home_id}",
                        file=out,
                        flush=True,
                    )
                    next_sos = loop.time() + sos_every
                await asyncio.sleep(min(5.0, max(0.1, next_sos - loop.time())))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("the demo driver stopped; the service keeps running")
