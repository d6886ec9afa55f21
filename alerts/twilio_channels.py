"""Twilio SMS and voice channels, through the official ``twilio`` package's async client.

``build_channels(settings)`` picks them when ``ELDERCARE_TWILIO_ACCOUNT_SID``,
``_AUTH_TOKEN`` and ``_FROM`` are set, else ``alerts.channels.ConsoleSms``.

Every request has a timeout. 5xx, 429, timeouts and connection errors are
retried with jittered exponential backoff (never sooner than a ``Retry-After``
the answer carried, up to ``retry_after_max_s``); any other 4xx is a
``PermanentFailure``; retries used up are a ``TemporaryFailure``.

Never two SMS for one step: ``Outbound.step_key`` is the idempotency key.
- The channel keeps a record of the keys it has sent, and sends one key at a
  time, so a second ``send_sms`` with a sent key answers the first receipt.
- Each request carries ``I-Twilio-Idempotency-Token`` derived from the key, the
  same on every retry, so a retry after an ambiguous failure (a timeout after
  the request went out) is answered with the message already made. The local
  server (``simulators/twilio_server.py``) honours it. Twilio puts that header on
  its own webhooks; that the public Messages API de-duplicates on it is not
  documented, so against the real API the record above (and the escalation
  engine's stored step, which survives restarts) is what stops a second SMS.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib
import logging
import random
import re
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from alerts.channels import (
    ConsoleSms,
    Outbound,
    PermanentFailure,
    Receipt,
    SmsChannel,
    TemporaryFailure,
    VoiceChannel,
)
from alerts.messages import EN, keypress_prompt, language
from eldercare.settings import Settings

log = logging.getLogger("eldercare.alerts.twilio")

DEFAULT_BASE_URL = "https://api.twilio.com"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
SMS_STATUS_PATH = "/twilio/sms/status"
VOICE_STATUS_PATH = "/twilio/voice/status"
VOICE_KEYPRESS_PATH = "/twilio/voice/keypress"
CALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
SAY = {"zh-CN": ("zh-CN", "alice"), EN: ("en-US", "alice")}
"""<Say> language and voice per contact language. ``alice`` is the voice Twilio's
<Say> reference lists for zh-CN; an account may set a newer default voice in its
console, and this is the one place to change it."""

_TOKEN: ContextVar[str | None] = ContextVar("eldercare_twilio_idempotency", default=None)
_RETRY_AFTER: ContextVar[list[float] | None] = ContextVar(
    "eldercare_twilio_retry_after", default=None
)
"""Where ``_HttpClient`` puts the ``Retry-After`` of a 429/503 for the try under way
(Twilio's exceptions do not carry the answer's headers)."""
_SAFE_TOKEN = re.compile(r"^[A-Za-z0-9._:-]{1,200}$")


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    from_number: str
    public_url: str
    base_url: str = DEFAULT_BASE_URL
    messaging_service_sid: str | None = None
    """When set, SMS go through this Messaging Service (``MessagingServiceSid``)
    instead of ``From``; calls always use ``from_number``."""
    timeout_s: float = 10.0
    """Per request, connect to last byte."""
    attempts: int = 4
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    retry_after_max_s: float = 30.0
    """A ``Retry-After`` longer than this is waited only this long."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioConfig | None:
        s = settings
        if not (s.twilio_account_sid and s.twilio_auth_token and s.twilio_from):
            return None
        return cls(
            account_sid=s.twilio_account_sid,
            auth_token=s.twilio_auth_token,
            from_number=s.twilio_from,
            public_url=s.public_url.rstrip("/"),
            base_url=s.twilio_base_url,
            messaging_service_sid=s.twilio_messaging_service_sid,
        )


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """Twilio's aiohttp client with three changes.

    - Base URL: Twilio documents a custom HTTP client as the way to send the
      library's requests elsewhere ("Custom HTTP clients for the Twilio Python
      helper library"); the resources build ``https://api.twilio.com/…`` and this
      swaps scheme and host for ``ELDERCARE_TWILIO_BASE_URL`` (path kept). The
      library's ``TWILIO_EDGE``/``TWILIO_REGION`` only rename ``*.twilio.com``
      hosts, so they cannot point at a local server.
    - Timeout: the stock client takes one but does not apply it; here every
      request gets it.
    - The idempotency header of the step being sent (from a context variable,
      since ``create_async`` takes no headers).
    The aiohttp session is made on first use, inside the running loop.
    """

    session: Any
    timeout: float | None

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__(pool_connections=False, timeout=timeout_s)
        base = urlsplit(base_url)
        self._rebase = None if base_url.rstrip("/") == DEFAULT_BASE_URL else base

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Any:
        if self._rebase is not None:
            parts = urlsplit(url)
            prefix = self._rebase.path.rstrip("/")
            url = urlunsplit(
                (self._rebase.scheme, self._rebase.netloc, prefix + parts.path, parts.query, "")
            )
        headers = dict(headers or {})
        if auth is not None:  # aiohttp 3.14 deprecates the BasicAuth the stock client uses
            pair = f"{auth[0]}:{auth[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        token = _TOKEN.get()
        if token is not None:
            headers[IDEMPOTENCY_HEADER] = token
        if self.session is None:
            self.session = aiohttp.ClientSession()
        response = await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )
        holder = _RETRY_AFTER.get()
        if holder is not None and response.status_code in (429, 503):
            wait = retry_after_s((response.headers or {}).get("Retry-After"))
            if wait is not None:
                holder.append(wait)
        return response


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` header (delay-seconds or an HTTP-date) as seconds, None if absent
    or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        return None
    return max(0.0, (at - datetime.now(UTC)).total_seconds())


Sleep = Callable[[float], Awaitable[None]]


class TwilioTransport:
    """One Twilio client shared by the SMS and voice channels; retries and the record."""

    def __init__(
        self,
        config: TwilioConfig,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http: _HttpClient | None = None
        self._client: Any = None
        self._sent: OrderedDict[str, Receipt] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.requests = 0
        """API requests made (each try counts)."""

    def client(self) -> Any:
        if self._client is None:
            self._http = _HttpClient(self.config.base_url, self.config.timeout_s)
            self._client = Client(
                self.config.account_sid, self.config.auth_token, http_client=self._http
            )
        return self._client

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = self._client = None

    def token(self, kind: str, step_key: str) -> str:
        raw = f"{kind}:{step_key}"
        if _SAFE_TOKEN.match(raw):
            return raw
        return f"{kind}:" + hashlib.sha256(step_key.encode()).hexdigest()

    async def once(
        self, kind: str, message: Outbound, create: Callable[[], Awaitable[Any]]
    ) -> Receipt:
        """Run ``create`` at most once per (kind, step key), with retries."""
        key = self.token(kind, message.step_key)
        lock = self._locks.get(key)
        if lock is None:  # held by every caller of this key until it is done, then dropped
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            done = self._sent.get(key)
            if done is not None:
                log.info("step %s already sent as %s", message.step_key, done.provider_id)
                return done
            receipt = await self._with_retries(kind, key, message, create)
            self._sent[key] = receipt
            while len(self._sent) > 100_000:
                self._sent.popitem(last=False)
            return receipt

    async def _with_retries(
        self, kind: str, key: str, message: Outbound, create: Callable[[], Awaitable[Any]]
    ) -> Receipt:
        cfg = self.config
        last: str = ""
        status: int | None = None
        for attempt in range(1, cfg.attempts + 1):
            reset = _TOKEN.set(key)
            retry_after: list[float] = []
            reset_after = _RETRY_AFTER.set(retry_after)
            self.requests += 1
            try:
                resource = await create()
            except TwilioException as exc:
                status = getattr(exc, "status", None)
                code = getattr(exc, "code", None)
                last = f"HTTP {status}, Twilio error {code}: {getattr(exc, 'msg', exc)}"
                if status is not None and status != 429 and 400 <= status < 500:
                    raise PermanentFailure(
                        f"Twilio refused the {kind} to {message.to}: {last}", status=status
                    ) from exc
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                status = None
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                return Receipt(
                    resource.sid,
                    str(resource.status),
                    {"channel": kind, "to": message.to, "attempts": str(attempt)},
                )
            finally:
                _RETRY_AFTER.reset(reset_after)
                _TOKEN.reset(reset)
            log.warning(
                "Twilio %s to %s failed (try %d of %d): %s",
                kind,
                message.to,
                attempt,
                cfg.attempts,
                last,
                extra={"alert_id": message.alert_id, "step": message.step_key},
            )
            if attempt < cfg.attempts:
                cap = min(cfg.backoff_max_s, cfg.backoff_s * 2 ** (attempt - 1))
                wait = cap / 2 + self._rng.uniform(0, cap / 2)
                if retry_after:  # the provider said when: not sooner (within reason)
                    wait = max(wait, min(retry_after[-1], cfg.retry_after_max_s))
                await self._sleep(wait)
        raise TemporaryFailure(
            f"Twilio {kind} to {message.to} failed after {cfg.attempts} tries: {last}",
            status=status,
        )


class TwilioSms:
    """``SmsChannel`` through Twilio Messages (To, From or MessagingServiceSid, Body,
    StatusCallback = ``{public_url}/twilio/sms/status``)."""

    name = "twilio_sms"

    def __init__(self, transport: TwilioTransport) -> None:
        self.transport = transport

    async def send_sms(self, message: Outbound) -> Receipt:
        cfg = self.transport.config
        sender: dict[str, str] = (
            {"messaging_service_sid": cfg.messaging_service_sid}
            if cfg.messaging_service_sid
            else {"from_": cfg.from_number}
        )

        async def create() -> Any:
            return await self.transport.client().messages.create_async(
                to=message.to,
                body=message.body,
                status_callback=message.status_callback or cfg.public_url + SMS_STATUS_PATH,
                **sender,
            )

        receipt = await self.transport.once("sms", message, create)
        log.info(
            "SMS %s to %s: %s",
            receipt.provider_id,
            message.to,
            message.body,
            extra={"alert_id": message.alert_id, "step": message.step_key, "to": message.to},
        )
        return receipt

    async def aclose(self) -> None:
        await self.transport.aclose()


def twiml_for(text: str, lang: str, keypress_url: str | None = None) -> str:
    """TwiML that says ``text`` twice in the contact's language; with ``keypress_url``
    inside a one-digit ``<Gather>`` that ends asking for 1 ("I am handling it")."""
    tag, voice = SAY[language(lang)]
    response = VoiceResponse()
    if keypress_url is None:
        response.say(text, voice=voice, language=tag, loop=2)
        return str(response)
    gather = response.gather(num_digits=1, action=keypress_url, method="POST", timeout=8)
    gather.say(text, voice=voice, language=tag, loop=2)
    gather.say(keypress_prompt(lang), voice=voice, language=tag)
    return str(response)


class TwilioVoice:
    """``VoiceChannel`` through Twilio Calls with inline TwiML (no URL to fetch);
    StatusCallback = ``{public_url}/twilio/voice/status`` for every call event; a
    key pressed goes to ``{public_url}/twilio/voice/keypress`` (1: "I am handling it")."""

    name = "twilio_voice"

    def __init__(self, transport: TwilioTransport) -> None:
        self.transport = transport

    async def call(self, message: Outbound) -> Receipt:
        cfg = self.transport.config
        callback = cfg.public_url + VOICE_STATUS_PATH

        async def create() -> Any:
            return await self.transport.client().calls.create_async(
                to=message.to,
                from_=cfg.from_number,
                twiml=twiml_for(
                    message.body, message.language, cfg.public_url + VOICE_KEYPRESS_PATH
                ),
                status_callback=callback,
                status_callback_event=CALL_EVENTS,
                status_callback_method="POST",
            )

        receipt = await self.transport.once("call", message, create)
        log.info(
            "call %s to %s",
            receipt.provider_id,
            message.to,
            extra={"alert_id": message.alert_id, "step": message.step_key, "to": message.to},
        )
        return receipt

    async def aclose(self) -> None:
        await self.transport.aclose()


def build_channels(settings: Settings) -> tuple[SmsChannel, VoiceChannel]:
    """Twilio SMS and voice when the Twilio settings are complete, else the console."""
    config = TwilioConfig.from_settings(settings)
    if config is None:
        console = ConsoleSms()
        return console, console
    log.info(
        "Twilio channels: account %s via %s, callbacks to %s",
        config.account_sid,
        config.base_url,
        config.public_url,
    )
    # The first request would import ~100 modules of twilio's API tree (60 ms
    # with the event loop held, at the first alert's SMS): import them now.
    importlib.import_module("twilio.rest.api.v2010.account")
    transport = TwilioTransport(config)
    return TwilioSms(transport), TwilioVoice(transport)


async def close_channels(*channels: object) -> None:
    """Close what ``build_channels`` made (the HTTP session); others are left alone."""
    for channel in channels:
        close = getattr(channel, "aclose", None)
        if close is not None:
            await close()
