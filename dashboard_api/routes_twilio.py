"""Twilio webhooks (CONTRACT.md §3): delivery statuses, family replies, call statuses.

Each request must carry a valid ``X-Twilio-Signature``: the HMAC Twilio computes
over ``ELDERCARE_PUBLIC_URL`` + the path (+ query) and the form fields, checked
with ``twilio.request_validator.RequestValidator`` and the auth token. Anything
else is 403 and nothing is recorded. The engine's side is ``ctx.delivery``
(``alerts.channels.DeliveryEvents``); until it is wired, a signed request is
answered 503 with the reason, so Twilio retries it later.

A webhook Twilio retries carries the same ``I-Twilio-Idempotency-Token``: one
already handled is answered again without reaching the engine twice. Without
that header, a replay is still caught in the store (``claim_webhook``, kept 90
days): an inbound SMS by its ``MessageSid``, a delivery status by ``MessageSid``
+ status, a call status by ``CallSid`` + status. A claim whose handling fails
is released, so Twilio's retry is handled.
"""

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from twilio.request_validator import RequestValidator

from alerts.channels import DeliveryEvents
from dashboard_api.context import AppContext

log = logging.getLogger("eldercare.api.twilio")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
_SEEN_MAX = 10_000
RECEIPT_KEEP_S = 90 * 86400.0
"""How long a handled webhook's identity is kept against replays."""

Handler = Callable[[DeliveryEvents, dict[str, str]], Awaitable[None]]


def receipt_key(hook: str, params: dict[str, str]) -> str | None:
    """What makes one webhook unique: the SID, and for statuses the status too."""
    if hook == "voice_status":
        sid, status = params.get("CallSid", ""), params.get("CallStatus", "")
    else:
        sid = params.get("MessageSid") or params.get("SmsSid", "")
        status = params.get("MessageStatus") or params.get("SmsStatus", "")
    if not sid:
        return None
    return f"{hook}:{sid}" if hook == "sms_inbound" else f"{hook}:{sid}:{status}"


def _refused(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def build_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(prefix="/twilio", tags=["twilio"])
    token = ctx.settings.twilio_auth_token
    validator = RequestValidator(token) if token else None
    seen: OrderedDict[str, None] = OrderedDict()

    def count(hook: str, result: str) -> None:
        ctx.metrics.inc("eldercare_twilio_webhooks_total", hook=hook, result=result)

    async def handle(request: Request, hook: str, ok: Response, handler: Handler) -> Response:
        form = await request.form()
        params = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        signature = request.headers.get("X-Twilio-Signature", "")
        url = ctx.settings.public_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        if validator is None:
            count(hook, "no_token")
            log.warning("Twilio webhook %s refused: ELDERCARE_TWILIO_AUTH_TOKEN is not set", hook)
            return _refused(403, "Twilio is not configured: no auth token to check signatures")
        if not signature or not validator.validate(url, form, signature):
            count(hook, "bad_signature")
            log.warning(
                "Twilio webhook %s refused: %s X-Twilio-Signature (checked against %s)",
                hook,
                "bad" if signature else "missing",
                url,
                extra={"hook": hook},
            )
            return _refused(403, "invalid or missing X-Twilio-Signature")
        if ctx.delivery is None:
            count(hook, "unavailable")
            return _refused(503, "the escalation engine is not running; Twilio will retry")
        replay = request.headers.get(IDEMPOTENCY_HEADER)
        if replay and replay in seen:
            count(hook, "replay")
            return ok
        receipt = receipt_key(hook, params)
        if receipt is not None and not await ctx.store.claim_webhook(
            receipt, ctx.clock.now(), RECEIPT_KEEP_S
        ):
            count(hook, "duplicate")
            log.info("Twilio webhook %s: %s was handled before; ignored", hook, receipt)
            return ok
        try:
            await handler(ctx.delivery, params)
        except BaseException:
            if receipt is not None:
                await ctx.store.release_webhook(receipt)
            raise
        if replay:
            seen[replay] = None
            while len(seen) > _SEEN_MAX:
                seen.popitem(last=False)
        count(hook, "ok")
        return ok

    def details(params: dict[str, str], channel: str, *names: str) -> dict[str, str]:
        out = {"channel": channel}
        for name in ("To", "From", "ErrorCode", "ErrorMessage", *names):
            if params.get(name):
                out[name.lower() if name in ("To", "From") else _snake(name)] = params[name]
        return out

    @router.post(
        "/sms/status",
        status_code=204,
        summary="SMS delivery status (Twilio StatusCallback)",
        responses={403: {"description": "Bad or missing signature"}},
    )
    async def sms_status(request: Request) -> Response:
        """Form fields as Twilio sends them: ``MessageSid``, ``MessageStatus``
        (queued, sent, delivered, undelivered, failed), ``ErrorCode``…"""

        async def on(delivery: DeliveryEvents, p: dict[str, str]) -> None:
            sid = p.get("MessageSid") or p.get("SmsSid", "")
            status = p.get("MessageStatus") or p.get("SmsStatus", "")
            await delivery.on_delivery_status(
                sid, status, ctx.clock.now(), details(p, "sms", "MessagingServiceSid")
            )

        return await handle(request, "sms_status", Response(status_code=204), on)

    @router.post(
        "/sms/inbound",
        summary="An SMS to our number (a family reply); answers empty TwiML",
        responses={
            200: {"content": {"text/xml": {}}},
            403: {"description": "Bad or missing signature"},
        },
    )
    async def sms_inbound(request: Request) -> Response:
        """``From`` and ``Body``: ``1``, ``OK`` or ``收到`` means the family member
        is handling it (the engine decides and records it on the timeline)."""

        async def on(delivery: DeliveryEvents, p: dict[str, str]) -> None:
            await delivery.on_family_reply(p.get("From", ""), p.get("Body", ""), ctx.clock.now())

        ok = Response(EMPTY_TWIML, media_type="text/xml")
        return await handle(request, "sms_inbound", ok, on)

    @router.post(
        "/voice/status",
        status_code=204,
        summary="Call progress (Twilio StatusCallback)",
        responses={403: {"description": "Bad or missing signature"}},
    )
    async def voice_status(request: Request) -> Response:
        """``CallSid``, ``CallStatus`` (queued, initiated, ringing, in-progress,
        completed, busy, no-answer, canceled, failed), ``CallDuration``…"""

        async def on(delivery: DeliveryEvents, p: dict[str, str]) -> None:
            await delivery.on_delivery_status(
                p.get("CallSid", ""),
                p.get("CallStatus", ""),
                ctx.clock.now(),
                details(p, "voice", "CallDuration", "AnsweredBy", "SipResponseCode"),
            )

        return await handle(request, "voice_status", Response(status_code=204), on)

    @router.post(
        "/voice/keypress",
        summary="A key pressed during a family call (Twilio <Gather> action)",
        responses={403: {"description": "Bad or missing signature"}},
    )
    async def voice_keypress(request: Request) -> Response:
        """``CallSid``, ``Digits``: ``1`` means "I am handling it" (as the SMS reply
        ``1``); answers empty TwiML (the call ends)."""

        async def on(delivery: DeliveryEvents, p: dict[str, str]) -> None:
            await delivery.on_call_keypress(
                p.get("CallSid", ""), p.get("Digits", ""), ctx.clock.now()
            )

        ok = Response(EMPTY_TWIML, media_type="application/xml")
        return await handle(request, "voice_keypress", ok, on)

    return router


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))
