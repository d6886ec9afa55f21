"""A local Twilio-compatible server for the tests and the demo (aiohttp, in-process).

It speaks the part of Twilio's REST API the service uses, the way the real one
does: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` and
``/Calls.json`` with HTTP Basic auth (account SID and auth token; anything else
is 401 with Twilio's JSON error shape), form fields as the real API takes them,
201 with a Twilio-like resource (34-character ``SM…``/``CA…`` SIDs, status
``queued``). It records everything, sends status callbacks signed like Twilio's
(``X-Twilio-Signature``, checkable with ``twilio.request_validator``), and can be
told to fail or delay. ``I-Twilio-Idempotency-Token`` on a create is honoured:
the same token gives back the same message, never a second one.

    async with TwilioServer("AC…", "token") as twilio:
        ...                         # point ELDERCARE_TWILIO_BASE_URL at twilio.base_url
        twilio.fail_next(1, 500)    # the next request answers 500
        twilio.fail_next(1, 429, retry_after=3)   # 429 with Retry-After: 3
        twilio.delay_next(1, 2.0)   # the next create is recorded, answered 2 s later
        twilio.fail_number("+86138…", "undelivered")
        await twilio.press_key(call_sid, "1")   # a key pressed in a call's <Gather>
        twilio.messages             # what it got

Per-number rules (``SmsRule``; ``CHINA_RULES`` are Twilio's for +86) make it
behave like a provider with limits: past a rule a message is refused at create
(400), or accepted and then ``undelivered`` with the rule's error code, or
accepted and held for manual review (it stays ``queued``). Windows count on the
server's ``clock`` (injectable, so a test replays a night in milliseconds).

``eldercare sim twilio-server --port N`` runs it alone; ``POST /_sim/…`` (see
``_control``) sets the same faults over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

log = logging.getLogger("eldercare.sim.twilio")

API = "/2010-04-01"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MESSAGE_FINAL = ("delivered", "undelivered", "failed")
CALL_FINAL = ("completed", "busy", "no-answer", "failed", "canceled")
_ERROR_CODES = {"undelivered": 30003, "failed": 30008}
"""Twilio's codes: 30003 unreachable destination handset, 30008 unknown error."""


@dataclass(frozen=True)
class SmsRule:
    """A per-number rule of a provider, enforced on messages to numbers with ``prefix``.

    Past ``max`` messages to one number within ``window_s`` seconds (only those
    with the same body when ``same_body``) the next one is: ``refuse`` d at create
    (400 with ``error_code``), accepted then ``undelivered`` with ``error_code``,
    or accepted and held for manual ``review`` (never progresses here). With
    ``links`` the rule refuses any message with a URL instead (``max`` unused)."""

    name: str
    prefix: str
    max: int = 0
    window_s: float = 86400.0
    same_body: bool = False
    outcome: str = "undelivered"
    """``refuse``, ``undelivered`` or ``review``"""
    error_code: int = 30007
    """Twilio's 30007: message filtered (carrier violation)."""
    links: bool = False


CHINA_RULES = (
    SmsRule("identical_24h", "+86", max=2, same_body=True, outcome="undelivered"),
    SmsRule("review_24h", "+86", max=4, outcome="review"),
    SmsRule("no_links", "+86", outcome="undelivered", links=True),
)
"""Twilio to +86: a third identical message within 24 h is filtered (30007); a fifth
within 24 h goes to manual review (about 24 h late); links are not delivered."""
RULE_PRESETS = {"twilio-cn": CHINA_RULES}
_URL = re.compile(r"https?://|www\.", re.IGNORECASE)
_GATHER = re.compile(r'<Gather[^>]*\saction="([^"]+)"')


def new_sid(prefix: str) -> str:
    """``SM``/``CA``/``AC`` + 32 hex digits: 34 characters, like Twilio's."""
    return prefix + secrets.token_hex(16)


@dataclass
class Recorded:
    """One message or call the server accepted."""

    sid: str
    kind: str
    """``message`` or ``call``"""
    to: str
    from_: str | None
    params: dict[str, list[str]]
    """Every form field as sent (lists: a field may repeat)."""
    status: str
    created: datetime
    idempotency_token: str | None
    history: list[str] = field(default_factory=list)
    """Every status it went through, in order."""
    broke: str | None = None
    """The rule (``SmsRule.name``) it broke, if any: then undelivered or held."""

    @property
    def body(self) -> str:
        return self.field("Body") or ""

    @property
    def twiml(self) -> str:
        return self.field("Twiml") or ""

    @property
    def status_callback(self) -> str | None:
        return self.field("StatusCallback")

    def field(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class Callback:
    """A status callback (or simulated inbound SMS) the server posted."""

    url: str
    params: dict[str, str]
    answer: int | None
    """HTTP status the receiver answered; None when it could not be reached."""
    response_text: str = ""


@dataclass
class _Fault:
    count: int
    status: int = 0
    delay: float = 0.0
    retry_after: float | None = None


class TwilioServer:
    """Start with ``async with``; ``base_url`` is where to point the Twilio client."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        callback_interval: float = 0.02,
        rules: Iterable[SmsRule] = (),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.callback_interval = callback_interval
        self.rules: list[SmsRule] = list(rules)
        """Per-number rules for messages (see ``SmsRule``); add or clear at any time."""
        self.clock = clock or (lambda: datetime.now(UTC))
        self.refused: list[tuple[str, str, str]] = []
        """Messages refused at create by a rule: (to, body, rule name)."""
        self.requests: list[tuple[str, str, int]] = []
        """Every API request: (method, path, answered status)."""
        self.messages: list[Recorded] = []
        self.calls: list[Recorded] = []
        self.callbacks: list[Callback] = []
        self.listeners: list[Callable[[str, Recorded], None]] = []
        """Called with (event, resource) on ``created`` and on every status change."""
        self._faults: list[_Fault] = []
        self._number_faults: dict[str, str] = {}
        self._by_token: dict[tuple[str, str], Recorded] = {}
        self._validator = RequestValidator(auth_token)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> TwilioServer:
        app = web.Application()
        app.router.add_post(API + "/Accounts/{account}/Messages.json", self._create_message)
        app.router.add_post(API + "/Accounts/{account}/Calls.json", self._create_call)
        app.router.add_get(API + "/Accounts/{account}/Messages.json", self._list_messages)
        app.router.add_get(API + "/Accounts/{account}/Calls.json", self._list_calls)
        app.router.add_get(API + "/Accounts/{account}/Messages/{sid}.json", self._fetch_message)
        app.router.add_get(API + "/Accounts/{account}/Calls/{sid}.json", self._fetch_call)
        app.router.add_post("/_sim/{what}", self._control)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        log.info("local Twilio server on %s", self.base_url)
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
        """Wait until every status callback under way has been posted."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- faults -------------------------------------------------------------------
    def fail_next(
        self, count: int = 1, status: int = 500, *, retry_after: float | None = None
    ) -> None:
        """The next ``count`` API requests answer ``status`` (500, 503, 429…), creating
        nothing; with ``retry_after`` the answer has a ``Retry-After`` header (seconds)."""
        self._faults.append(_Fault(count, status=status, retry_after=retry_after))

    def delay_next(self, count: int, seconds: float) -> None:
        """The next ``count`` creates are recorded at once and answered ``seconds`` later
        (a client with a shorter timeout sees an ambiguous failure)."""
        self._faults.append(_Fault(count, delay=seconds))

    def fail_number(self, to: str, status: str = "undelivered") -> None:
        """Messages to ``to`` end ``undelivered`` or ``failed``; calls ``no-answer``,
        ``busy`` or ``failed`` (``undelivered`` means ``no-answer`` for a call)."""
        self._number_faults[to] = status

    def _take_fault(self) -> _Fault | None:
        while self._faults:
            fault = self._faults[0]
            if fault.count <= 0:
                self._faults.pop(0)
                continue
            fault.count -= 1
            return fault
        return None

    def broken_rule(self, to: str, body: str) -> SmsRule | None:
        """The first rule a message to ``to`` with ``body`` would break now."""
        for rule in self.rules:
            if not to.startswith(rule.prefix):
                continue
            if rule.links:
                if _URL.search(body):
                    return rule
                continue
            since = self.clock() - timedelta(seconds=rule.window_s)
            earlier = [
                m
                for m in self.messages
                if m.to == to and m.created > since and (not rule.same_body or m.body == body)
            ]
            if len(earlier) >= rule.max:
                return rule
        return None

    @property
    def broken(self) -> list[Recorded]:
        """Messages accepted but undelivered or held because they broke a rule."""
        return [m for m in self.messages if m.broke is not None]

    # --- inspection ---------------------------------------------------------------
    def messages_to(self, to: str) -> list[Recorded]:
        return [m for m in self.messages if m.to == to]

    def find(self, sid: str) -> Recorded | None:
        return next((r for r in [*self.messages, *self.calls] if r.sid == sid), None)

    # --- family replies -----------------------------------------------------------
    async def send_inbound_sms(self, url: str, from_: str, body: str, to: str = "") -> Callback:
        """Post an inbound SMS to ``url`` as Twilio would (signed), e.g. a family reply."""
        params = {
            "MessageSid": new_sid("SM"),
            "SmsSid": "",
            "AccountSid": self.account_sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        params["SmsSid"] = params["MessageSid"]
        return await self._post_signed(url, params)

    async def press_key(self, call_sid: str, digits: str) -> Callback:
        """Press ``digits`` during a call whose TwiML has a ``<Gather action=…>``: post
        them to that action as Twilio would (signed), e.g. a family pressing 1."""
        call = self.find(call_sid)
        found = _GATHER.search(call.twiml) if call is not None else None
        if call is None or found is None:
            raise ValueError(f"call {call_sid} has no <Gather action=…> to press keys in")
        params = {
            "AccountSid": self.account_sid,
            "CallSid": call.sid,
            "From": call.from_ or "",
            "To": call.to,
            "Digits": digits,
            "CallStatus": "in-progress",
            "Direction": "outbound-api",
            "ApiVersion": "2010-04-01",
        }
        return await self._post_signed(html.unescape(found.group(1)), params)

    # --- API handlers -------------------------------------------------------------
    def _error(self, request: web.Request, status: int, code: int, message: str) -> web.Response:
        self.requests.append((request.method, request.path, status))
        return web.json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status=status,
        )

    def _authorised(self, request: web.Request) -> web.Response | None:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        if (
            scheme.lower() != "basic"
            or not secrets.compare_digest(user.encode(), self.account_sid.encode())
            or not secrets.compare_digest(password.encode(), self.auth_token.encode())
        ):
            return self._error(request, 401, 20003, "Authenticate")
        if request.match_info["account"] != self.account_sid:
            return self._error(
                request, 404, 20404, f"The requested resource {request.path} was not found"
            )
        return None

    async def _create_message(self, request: web.Request) -> web.Response:
        return await self._create(request, "message")

    async def _create_call(self, request: web.Request) -> web.Response:
        return await self._create(request, "call")

    async def _create(self, request: web.Request, kind: str) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        fault = self._take_fault()
        if fault is not None and fault.status:
            if fault.status == 429:
                answer = self._error(request, 429, 20429, "Too Many Requests")
            else:
                answer = self._error(request, fault.status, 20500, "Internal Server Error")
            if fault.retry_after is not None:
                answer.headers["Retry-After"] = f"{fault.retry_after:g}"
            return answer
        form = await request.post()
        params: dict[str, list[str]] = {}
        for key, value in form.items():
            params.setdefault(key, []).append(str(value))
        token = request.headers.get(IDEMPOTENCY_HEADER)
        if token and (kind, token) in self._by_token:
            resource = self._by_token[(kind, token)]
            log.info("idempotent replay of %s for token %s", resource.sid, token)
        else:
            invalid = self._invalid(params, kind)
            if invalid is not None:
                return self._error(request, 400, *invalid)
            rule = self.broken_rule(params["To"][0], params.get("Body", [""])[0])
            if kind == "message" and rule is not None and rule.outcome == "refuse":
                self.refused.append((params["To"][0], params.get("Body", [""])[0], rule.name))
                return self._error(request, 400, rule.error_code, f"Message refused: {rule.name}")
            resource = self._record(kind, params, token, rule if kind == "message" else None)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        self.requests.append((request.method, request.path, 201))
        return web.json_response(self._json(resource), status=201)

    def _invalid(self, params: Mapping[str, list[str]], kind: str) -> tuple[int, str] | None:
        def one(name: str) -> str:
            values = params.get(name)
            return values[0] if values else ""

        to, from_ = one("To"), one("From")
        if not to:
            return 21604, "A 'To' phone number is required."
        if not _E164.match(to):
            return 21211, f"The 'To' number {to} is not a valid phone number."
        if kind == "message":
            if not from_ and not one("MessagingServiceSid"):
                return 21603, "A 'From' phone number is required."
            if not one("Body") and not one("MediaUrl") and not one("ContentSid"):
                return 21602, "Message body is required."
            if len(one("Body")) > 1600:
                return 21617, "The concatenated message body exceeds the 1600 character limit."
        else:
            if not from_:
                return 21603, "A 'From' phone number is required."
            if not one("Url") and not one("Twiml") and not one("ApplicationSid"):
                return 21205, "Url parameter is required."
        return None

    def _record(
        self,
        kind: str,
        params: dict[str, list[str]],
        token: str | None,
        rule: SmsRule | None = None,
    ) -> Recorded:
        first = "accepted" if kind == "message" and not params.get("From") else "queued"
        resource = Recorded(
            sid=new_sid("SM" if kind == "message" else "CA"),
            kind=kind,
            to=params["To"][0],
            from_=params["From"][0] if params.get("From") else None,
            params=params,
            status=first,
            created=self.clock(),
            idempotency_token=token,
            history=[first],
            broke=rule.name if rule is not None else None,
        )
        if rule is not None:
            log.info("message to %s breaks %s: %s", resource.to, rule.name, rule.outcome)
        (self.messages if kind == "message" else self.calls).append(resource)
        if token:
            self._by_token[(kind, token)] = resource
        self._notify("created", resource)
        task = asyncio.get_running_loop().create_task(self._progress(resource))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return resource

    def _notify(self, event: str, resource: Recorded) -> None:
        for listener in self.listeners:
            try:
                listener(event, resource)
            except Exception:  # a listener must not break the server
                log.exception("listener failed")

    def _json(self, r: Recorded) -> dict[str, Any]:
        base = f"{API}/Accounts/{self.account_sid}"
        created = format_datetime(r.created, usegmt=True)
        common: dict[str, Any] = {
            "sid": r.sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "to": r.to,
            "from": r.from_,
            "status": r.status,
            "direction": "outbound-api",
            "date_created": created,
            "date_updated": created,
            "price": None,
            "price_unit": "USD",
        }
        if r.kind == "message":
            return common | {
                "body": r.body,
                "num_segments": str(_segments(r.body)),
                "num_media": "0",
                "messaging_service_sid": r.field("MessagingServiceSid"),
                "date_sent": None,
                "error_code": self._error_code(r),
                "error_message": None,
                "uri": f"{base}/Messages/{r.sid}.json",
                "subresource_uris": {"media": f"{base}/Messages/{r.sid}/Media.json"},
            }
        return common | {
            "parent_call_sid": None,
            "phone_number_sid": None,
            "start_time": None,
            "end_time": None,
            "duration": None,
            "answered_by": None,
            "caller_name": None,
            "uri": f"{base}/Calls/{r.sid}.json",
        }

    def _error_code(self, r: Recorded) -> int | None:
        rule = next((x for x in self.rules if x.name == r.broke), None)
        if rule is not None and r.status == "undelivered":
            return rule.error_code
        return _ERROR_CODES.get(r.status)

    # --- status progress and callbacks ----------------------------------------------
    async def _progress(self, r: Recorded) -> None:
        fault = self._number_faults.get(r.to)
        rule = next((x for x in self.rules if x.name == r.broke), None)
        if rule is not None and rule.outcome == "review":
            return  # held for manual review: no progress while a test runs
        if rule is not None:
            fault = "undelivered"
        if r.kind == "message":
            steps = ["queued", "sent", fault if fault in MESSAGE_FINAL else "delivered"]
            if r.status == "queued":
                steps = steps[1:]
            wanted: set[str] | None = None
        else:
            if fault is None:
                final = "completed"
            else:
                final = "no-answer" if fault == "undelivered" else fault
            steps = ["initiated", "ringing"]
            steps += ["in-progress", "completed"] if final == "completed" else [final]
            events = set(r.params.get("StatusCallbackEvent", []))
            wanted = {"answered" if s == "in-progress" else s for s in steps[:-1]} & events
        for status in steps:
            await asyncio.sleep(self.callback_interval)
            r.status = status
            r.history.append(status)
            self._notify("status", r)
            if r.status_callback is None:
                continue
            if wanted is not None and status not in CALL_FINAL:
                event = "answered" if status == "in-progress" else status
                if event not in wanted:
                    continue
            await self._post_signed(r.status_callback, self._callback_params(r))

    def _callback_params(self, r: Recorded) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid,
            "To": r.to,
            "From": r.from_ or "",
            "ApiVersion": "2010-04-01",
        }
        if r.kind == "message":
            params |= {
                "MessageSid": r.sid,
                "SmsSid": r.sid,
                "MessageStatus": r.status,
                "SmsStatus": r.status,
            }
            if r.status in _ERROR_CODES:
                params["ErrorCode"] = str(_ERROR_CODES[r.status])
            rule = next((x for x in self.rules if x.name == r.broke), None)
            if rule is not None and r.status == "undelivered":
                params["ErrorCode"] = str(rule.error_code)
            ms = r.field("MessagingServiceSid")
            if ms:
                params["MessagingServiceSid"] = ms
        else:
            params |= {"CallSid": r.sid, "CallStatus": r.status, "Direction": "outbound-api"}
            if r.status == "completed":
                params["CallDuration"] = "12"
            if r.status in CALL_FINAL or r.status == "in-progress":
                params["CallbackSource"] = "call-progress-events"
        return params

    async def _post_signed(self, url: str, params: dict[str, str]) -> Callback:
        assert self._session is not None, "server not started"
        headers = {
            "X-Twilio-Signature": self._validator.compute_signature(url, params),
            IDEMPOTENCY_HEADER: secrets.token_hex(16),
            "User-Agent": "TwilioProxy/1.1",
        }
        answer: int | None = None
        text = ""
        try:
            async with self._session.post(url, data=params, headers=headers) as resp:
                answer, text = resp.status, await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("callback to %s failed: %s", url, exc)
        cb = Callback(url, params, answer, text)
        self.callbacks.append(cb)
        return cb

    # --- listing ------------------------------------------------------------------
    async def _list_messages(self, request: web.Request) -> web.Response:
        return self._list(request, "messages", self.messages)

    async def _list_calls(self, request: web.Request) -> web.Response:
        return self._list(request, "calls", self.calls)

    def _list(self, request: web.Request, key: str, items: list[Recorded]) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        to = request.query.get("To")
        chosen = [r for r in reversed(items) if to is None or r.to == to]  # newest first
        self.requests.append((request.method, request.path, 200))
        uri = f"{API}/Accounts/{self.account_sid}/{key.capitalize()}.json"
        return web.json_response(
            {
                key: [self._json(r) for r in chosen],
                "page": 0,
                "page_size": max(len(chosen), 50),
                "start": 0,
                "end": max(len(chosen) - 1, 0),
                "uri": uri,
                "first_page_uri": uri,
                "next_page_uri": None,
                "previous_page_uri": None,
            }
        )

    async def _fetch_message(self, request: web.Request) -> web.Response:
        return self._fetch(request, self.messages)

    async def _fetch_call(self, request: web.Request) -> web.Response:
        return self._fetch(request, self.calls)

    def _fetch(self, request: web.Request, items: list[Recorded]) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        sid = request.match_info["sid"]
        found = next((r for r in items if r.sid == sid), None)
        if found is None:
            return self._error(
                request, 404, 20404, f"The requested resource {request.path} was not found"
            )
        self.requests.append((request.method, request.path, 200))
        return web.json_response(self._json(found))

    async def _control(self, request: web.Request) -> web.Response:
        """``POST /_sim/fail-next?count=N&status=500``, ``/_sim/delay-next?count=N&seconds=S``,
        ``/_sim/fail-number?to=+86…&status=undelivered``, ``/_sim/rules?preset=twilio-cn``
        (or ``none``) (no auth: a local test tool)."""
        q = request.query
        what = request.match_info["what"]
        try:
            if what == "fail-next":
                self.fail_next(int(q.get("count", "1")), int(q.get("status", "500")))
            elif what == "delay-next":
                self.delay_next(int(q.get("count", "1")), float(q.get("seconds", "5")))
            elif what == "fail-number":
                self.fail_number(q["to"], q.get("status", "undelivered"))
            elif what == "rules":
                self.rules = (
                    [] if q.get("preset", "none") == "none" else [*RULE_PRESETS[q["preset"]]]
                )
            else:
                return web.json_response({"detail": f"unknown control {what}"}, status=404)
        except (KeyError, ValueError) as exc:
            return web.json_response({"detail": f"bad parameter: {exc}"}, status=400)
        return web.json_response({"ok": True})


def _segments(body: str) -> int:
    """Rough SMS part count as Twilio reports it (ASCII as GSM-7, else UCS-2)."""
    single, part = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // part)


async def serve_forever(
    account_sid: str, auth_token: str, host: str, port: int, rules: str = "none"
) -> None:
    """``eldercare sim twilio-server``: run until cancelled, printing what arrives."""

    def show(event: str, r: Recorded) -> None:
        what = r.body if r.kind == "message" else r.twiml
        if event == "created":
            print(f"[twilio] {r.kind} {r.sid} to {r.to}: {what}", flush=True)
        else:
            print(f"[twilio] {r.sid} {r.status}", flush=True)

    chosen = RULE_PRESETS.get(rules, ())
    async with TwilioServer(account_sid, auth_token, host=host, port=port, rules=chosen) as server:
        server.listeners.append(show)
        print(
            f"local Twilio server on {server.base_url}\n"
            f"  account SID {account_sid}, auth token {auth_token}\n"
            f"  ELDERCARE_TWILIO_BASE_URL={server.base_url}",
            flush=True,
        )
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
