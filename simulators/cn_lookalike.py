"""What the local Aliyun and Tencent Cloud look-alike servers share (aiohttp, in-process).

Each server knows the registered sign name and templates (from the same
``alerts/templates/sms_cn.toml`` the service uses: a code not in it is refused as
the real provider refuses an unregistered template), checks each request's
signature with the account's secret, applies per-number flow control on its
own clock (``advance(seconds)`` moves it: tests replay time, never sleep),
records what it accepted, pushes delivery reports and replies to the receiving
URLs configured as in the provider's console, and can be told to fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from alerts.sms_templates import Template, Templates, load_templates

log = logging.getLogger("eldercare.sim.cn_sms")


@dataclass
class Sent:
    """One SMS (or call) the server accepted."""

    provider_id: str
    kind: str
    """``sms`` or ``call``"""
    phone: str
    """as the request gave it (national form for Aliyun, E.164 for Tencent)"""
    template_code: str
    params: dict[str, str]
    text: str
    """what the phone shows (【sign】 + the template with its values)"""
    session: str
    """Aliyun ``OutId`` / Tencent ``SessionContext``"""
    at: datetime
    status: str = "accepted"


@dataclass(frozen=True)
class Pushed:
    """A report or reply the server posted to the service."""

    url: str
    body: Any
    answer: int | None
    response_text: str = ""


@dataclass
class _Fault:
    count: int
    code: str
    message: str
    status: int


@dataclass
class Limits:
    """Per-number flow control: at most ``count`` SMS per ``seconds``."""

    windows: list[tuple[str, float, int]] = field(default_factory=list)
    """(name, seconds, count): e.g. ("minute", 60, 1)."""


class LookAlike:
    """The shared half; subclasses add the provider's API and formats."""

    provider = ""

    def __init__(
        self,
        *,
        templates: Templates | None = None,
        report_url: str | None = None,
        reply_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: list[tuple[str, float, int]] | None = None,
        push_delay: float = 0.01,
    ) -> None:
        self.templates = templates or load_templates()
        self.report_url = report_url
        """Where delivery reports are pushed (the provider console's receiving URL)."""
        self.reply_url = reply_url
        self.host = host
        self.port = port
        self.push_delay = push_delay
        self.limits = list(limits) if limits is not None else self.default_limits()
        self.sent: list[Sent] = []
        self.pushed: list[Pushed] = []
        self.requests: list[tuple[str, str, int]] = []
        """Every API request: (action, phone or "", answered code or status)."""
        self.refused: list[tuple[str, str]] = []
        """(phone, code) of every message refused."""
        self.listeners: list[Callable[[Sent], None]] = []
        self.offset = timedelta(0)
        self._faults: list[_Fault] = []
        self._delays: list[float] = []
        self._number_faults: dict[str, str] = {}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._by_code: dict[str, tuple[Template, str]] = {
            t.code(self.provider, lang): (t, lang)
            for t in self.templates.templates.values()
            for lang in ("zh-CN", "en")
        }

    def default_limits(self) -> list[tuple[str, float, int]]:
        return []

    # --- lifecycle ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> LookAlike:
        app = web.Application()
        self.routes(app)
        app.router.add_post("/_sim/{what}", self._control)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        log.info("local %s server on %s", self.provider, self.base_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def settle(self) -> None:
        """Wait until every push under way has been posted."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- time ---------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        """Move the server's clock (flow control) on by ``seconds``."""
        self.offset += timedelta(seconds=seconds)

    # --- faults -------------------------------------------------------------------
    def fail_next(self, count: int, code: str, message: str = "", status: int = 200) -> None:
        """The next ``count`` sends answer the provider error ``code`` (HTTP ``status``)."""
        self._faults.append(_Fault(count, code, message or code, status))

    def fail_number(self, phone: str, code: str = "") -> None:
        """Messages to ``phone`` (E.164) are accepted and then reported as not received."""
        self._number_faults[phone] = code or self.undelivered_code()

    def undelivered_code(self) -> str:
        return "UNDELIV"

    def delay_next(self, count: int, seconds: float) -> None:
        """The next ``count`` sends are accepted (and recorded) at once and answered
        ``seconds`` later: a client with a shorter timeout cannot tell whether it went."""
        self._delays.extend([seconds] * count)

    async def answer_late(self, response: web.Response) -> web.Response:
        if self._delays:
            await asyncio.sleep(self._delays.pop(0))
        return response

    def take_fault(self) -> _Fault | None:
        while self._faults:
            fault = self._faults[0]
            if fault.count <= 0:
                self._faults.pop(0)
                continue
            fault.count -= 1
            return fault
        return None

    def number_fault(self, e164: str) -> str | None:
        return self._number_faults.get(e164)

    def over_limit(self, phone: str, same: Callable[[Sent], bool] | None = None) -> str | None:
        """The name of the first flow-control window ``phone`` is past, or None."""
        now = self.now()
        mine = [s for s in self.sent if s.phone == phone and s.kind == "sms"]
        if same is not None:
            mine = [s for s in mine if same(s)]
        for name, seconds, count in self.limits:
            since = now - timedelta(seconds=seconds)
            if sum(1 for s in mine if s.at > since) >= count:
                return name
        return None

    # --- inspection ---------------------------------------------------------------
    def sms_to(self, phone: str) -> list[Sent]:
        return [s for s in self.sent if s.kind == "sms" and s.phone == phone]

    def calls_to(self, phone: str) -> list[Sent]:
        return [s for s in self.sent if s.kind == "call" and s.phone == phone]

    def template_for(self, code: str) -> tuple[Template, str] | None:
        return self._by_code.get(code)

    def record(self, sent: Sent) -> None:
        self.sent.append(sent)
        for listener in self.listeners:
            listener(sent)

    # --- pushes -------------------------------------------------------------------
    def later(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def push(self, url: str, body: Any) -> Pushed:
        assert self._session is not None, "server not started"
        answer: int | None = None
        text = ""
        try:
            async with self._session.post(url, json=body) as resp:
                answer, text = resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("push to %s failed: %s", url, exc)
        pushed = Pushed(url, body, answer, text)
        self.pushed.append(pushed)
        return pushed

    # --- control over HTTP --------------------------------------------------------
    async def _control(self, request: web.Request) -> web.Response:
        """``POST /_sim/fail-next?count=N&code=…&status=200``, ``/_sim/fail-number?to=+86…``,
        ``/_sim/advance?seconds=60``, ``/_sim/reply?from=+86…&text=收到`` (no auth: a
        local test tool)."""
        q = request.query
        what = request.match_info["what"]
        try:
            if what == "fail-next":
                self.fail_next(
                    int(q.get("count", "1")), q["code"], status=int(q.get("status", 200))
                )
            elif what == "fail-number":
                self.fail_number(q["to"], q.get("code", ""))
            elif what == "advance":
                self.advance(float(q["seconds"]))
            elif what == "reply":
                pushed = await self.send_reply(q["from"], q["text"])
                return web.json_response({"ok": True, "answer": pushed.answer})
            else:
                return web.json_response({"detail": f"unknown control {what}"}, status=404)
        except (KeyError, ValueError) as exc:
            return web.json_response({"detail": f"bad parameter: {exc}"}, status=400)
        return web.json_response({"ok": True})

    async def send_reply(self, from_e164: str, text: str) -> Pushed:
        raise NotImplementedError


def render(template: Template, lang: str, values: dict[str, str], sign: str) -> str:
    text = template.text(lang)
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return f"【{sign}】{text}" if template.kind != "voice" else text
