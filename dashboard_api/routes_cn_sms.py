"""Aliyun and Tencent Cloud SMS callbacks: delivery reports and family replies.

Both providers push by HTTP to URLs set in their console (Aliyun "HTTP batch push
mode" for SmsReport and SmsUp; Tencent Cloud's status and reply callbacks):

    POST /aliyun/sms/report/{token}    JSON array of SmsReport (biz_id, success, err_code…)
    POST /aliyun/sms/up/{token}        JSON array of SmsUp (phone_number, content…)
    POST /aliyun/voice/report/{token}  JSON array of VoiceReport (call_id, status_code…)
    POST /tencent/sms/status/{token}   JSON array (sid, report_status, errmsg…)
    POST /tencent/sms/reply/{token}    JSON object (mobile, nationcode, text, time)

Authenticity: neither provider signs these requests (Tencent publishes the
callback servers' IP list, for a firewall). So each URL carries a secret,
``ELDERCARE_SMS_CALLBACK_TOKEN`` (compared in constant time; unset or wrong =
403, nothing recorded); use HTTPS so it stays secret. A report only moves the
message it names (its provider id must be one the service sent), and a reply
only counts from a phone that is a family contact.

A whole push is checked before anything is recorded: a malformed one is 400 with
the reason (the provider's retry would not fix it). A push the provider repeats
(it retries on a timeout or a non-200) is handled once. Answers are what each
provider expects: Aliyun ``{"code": 0, "msg": "接收成功"}``, Tencent ``{"result": 0,
"errmsg": "OK"}``. Counted in ``eldercare_cn_sms_callbacks_total{hook, result}``.
"""

from __future__ import annotations

import hmac
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from alerts.channels import DeliveryEvents
from alerts.cn_sms import e164_from_report
from dashboard_api.context import AppContext

log = logging.getLogger("eldercare.api.cn_sms")

CHINA = timezone(timedelta(hours=8))
_SEEN_MAX = 10_000
ALIYUN_OK = {"code": 0, "msg": "接收成功"}
TENCENT_OK = {"result": 0, "errmsg": "OK"}


class BadPush(ValueError):
    pass


CALL_STATUSES = {
    "200000": "completed",
    "200001": "completed",
    "200002": "busy",
    "200003": "no-answer",
}
"""Aliyun's call result codes as the engine's call statuses (Twilio's words): heard it
all / hung up early = completed; busy; rang but not answered = no-answer; any other
code (invalid, unreachable, switched off, out of service…) = failed."""


def call_status(code: str) -> str:
    return CALL_STATUSES.get(code, "failed")


Event = Callable[[DeliveryEvents], Awaitable[None]]


def _text(item: dict[str, Any], name: str) -> str:
    value = item.get(name)
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise BadPush(f"{name} is missing or not a string")
    return str(value)


def _china_time(value: object, fallback: datetime) -> datetime:
    """A provider's ``YYYY-MM-DD hh:mm:ss`` in China time; ``fallback`` (when it
    came) for anything else, a year outside 1900–8999 included (0001-01-01 in
    China time is before the first UTC instant Python has: it cannot be stored)."""
    if isinstance(value, str):
        try:
            parsed = datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
        except ValueError:
            return fallback
        if 1900 <= parsed.year <= 8999:
            return parsed
    return fallback


def _items(body: Any, hook: str) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(i, dict) for i in body):
        raise BadPush(f"{hook}: the body must be a JSON array of objects")
    return body


def build_router(ctx: AppContext) -> APIRouter:
    router = APIRouter(tags=["sms callbacks (Aliyun, Tencent Cloud)"])
    seen: OrderedDict[tuple[str, ...], None] = OrderedDict()

    def count(hook: str, result: str) -> None:
        ctx.metrics.inc("eldercare_cn_sms_callbacks_total", hook=hook, result=result)

    async def handle(
        request: Request,
        token: str,
        hook: str,
        ok: dict[str, Any],
        parse: Callable[[Any, datetime], list[tuple[tuple[str, ...], Event]]],
    ) -> JSONResponse:
        expected = ctx.settings.sms_callback_token
        if not expected:
            count(hook, "no_token")
            return JSONResponse(
                {"detail": "ELDERCARE_SMS_CALLBACK_TOKEN is not set: callbacks are refused"},
                status_code=403,
            )
        if not hmac.compare_digest(token.encode(), expected.encode()):
            count(hook, "bad_token")
            log.warning("%s callback refused: wrong token", hook)
            return JSONResponse({"detail": "wrong callback token"}, status_code=403)
        try:
            body = await request.json()
            events = parse(body, ctx.clock.now())
        except (ValueError, BadPush) as exc:  # JSONDecodeError is a ValueError
            count(hook, "bad_body")
            log.warning("%s callback refused: %s", hook, exc)
            return JSONResponse({"detail": f"{hook}: {exc}"}, status_code=400)
        delivery = ctx.delivery
        if delivery is None:
            count(hook, "not_ready")
            return JSONResponse({"detail": "the escalation engine is not running yet"}, 503)
        handled = 0
        for key, event in events:
            if key in seen:
                continue
            await event(delivery)
            seen[key] = None
            handled += 1
            while len(seen) > _SEEN_MAX:
                seen.popitem(last=False)
        count(hook, "ok" if handled else "repeat")
        return JSONResponse(ok)

    def status_event(provider_id: str, status: str, at: datetime, details: dict[str, str]) -> Event:
        async def run(delivery: DeliveryEvents) -> None:
            await delivery.on_delivery_status(provider_id, status, at, details)

        return run

    def reply_event(phone: str, text: str, at: datetime) -> Event:
        async def run(delivery: DeliveryEvents) -> None:
            await delivery.on_family_reply(phone, text, at)

        return run

    def aliyun_reports(body: Any, now: datetime) -> list[tuple[tuple[str, ...], Event]]:
        out: list[tuple[tuple[str, ...], Event]] = []
        for item in _items(body, "SmsReport"):
            biz_id, phone, code = (_text(item, n) for n in ("biz_id", "phone_number", "err_code"))
            if not isinstance(item.get("success"), bool):
                raise BadPush("success must be true or false")
            status = "delivered" if item["success"] else "undelivered"
            details = {
                "provider": "aliyun",
                "error_code": code,
                "error": str(item.get("err_msg", "")),
                "phone": e164_from_report(phone),
            }
            at = _china_time(item.get("report_time"), now)
            key = ("aliyun-report", biz_id, code, str(item.get("report_time", "")))
            out.append((key, status_event(biz_id, status, at, details)))
        return out

    def aliyun_calls(body: Any, now: datetime) -> list[tuple[tuple[str, ...], Event]]:
        out: list[tuple[tuple[str, ...], Event]] = []
        for item in _items(body, "VoiceReport"):
            call_id, code = _text(item, "call_id"), _text(item, "status_code")
            status = call_status(code)
            details = {
                "provider": "aliyun",
                "error_code": code,
                "error": str(item.get("status_msg", "")),
                "duration": str(item.get("duration", "")),
            }
            at = _china_time(item.get("end_time"), now)
            out.append((("aliyun-call", call_id, code), status_event(call_id, status, at, details)))
        return out

    def aliyun_replies(body: Any, now: datetime) -> list[tuple[tuple[str, ...], Event]]:
        out: list[tuple[tuple[str, ...], Event]] = []
        for item in _items(body, "SmsUp"):
            phone, content = _text(item, "phone_number"), _text(item, "content")
            at = _china_time(item.get("send_time"), now)
            key = ("aliyun-up", str(item.get("sequence_id", "")), phone, content)
            out.append((key, reply_event(e164_from_report(phone), content, at)))
        return out

    def tencent_statuses(body: Any, now: datetime) -> list[tuple[tuple[str, ...], Event]]:
        out: list[tuple[tuple[str, ...], Event]] = []
        for item in _items(body, "status callback"):
            sid, mobile, report = (_text(item, n) for n in ("sid", "mobile", "report_status"))
            if report not in ("SUCCESS", "FAIL"):
                raise BadPush(f"report_status must be SUCCESS or FAIL, not {report!r}")
            nation = str(item.get("nationcode") or "86")
            details = {
                "provider": "tencent",
                "error_code": str(item.get("errmsg", "")),
                "error": str(item.get("description", "")),
                "phone": e164_from_report(mobile, nation),
            }
            status = "delivered" if report == "SUCCESS" else "undelivered"
            at = _china_time(item.get("user_receive_time"), now)
            key = ("tencent-status", sid, report, str(item.get("user_receive_time", "")))
            out.append((key, status_event(sid, status, at, details)))
        return out

    def tencent_replies(body: Any, now: datetime) -> list[tuple[tuple[str, ...], Event]]:
        if not isinstance(body, dict):
            raise BadPush("the reply callback body must be a JSON object")
        mobile, text = _text(body, "mobile"), _text(body, "text")
        nation = str(body.get("nationcode") or "86")
        stamp = body.get("time")
        at = (
            datetime.fromtimestamp(stamp, UTC)
            if isinstance(stamp, int) and not isinstance(stamp, bool)
            else now
        )
        key = ("tencent-reply", nation, mobile, str(stamp), text)
        return [(key, reply_event(e164_from_report(mobile, nation), text, at))]

    @router.post("/aliyun/sms/report/{token}", summary="Aliyun SmsReport (HTTP batch push)")
    async def aliyun_report(token: str, request: Request) -> JSONResponse:
        return await handle(request, token, "aliyun_report", ALIYUN_OK, aliyun_reports)

    @router.post("/aliyun/voice/report/{token}", summary="Aliyun VoiceReport: a call's end")
    async def aliyun_voice(token: str, request: Request) -> JSONResponse:
        return await handle(request, token, "aliyun_voice", ALIYUN_OK, aliyun_calls)

    @router.post("/aliyun/sms/up/{token}", summary="Aliyun SmsUp: family replies")
    async def aliyun_up(token: str, request: Request) -> JSONResponse:
        return await handle(request, token, "aliyun_up", ALIYUN_OK, aliyun_replies)

    @router.post("/tencent/sms/status/{token}", summary="Tencent Cloud SMS status callback")
    async def tencent_status(token: str, request: Request) -> JSONResponse:
        return await handle(request, token, "tencent_status", TENCENT_OK, tencent_statuses)

    @router.post("/tencent/sms/reply/{token}", summary="Tencent Cloud SMS reply callback")
    async def tencent_reply(token: str, request: Request) -> JSONResponse:
        return await handle(request, token, "tencent_reply", TENCENT_OK, tencent_replies)

    return router
