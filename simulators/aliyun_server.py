"""A local look-alike of Aliyun's SMS (Dysmsapi 2017-05-25) and voice (Dyvmsapi
2017-05-25) APIs, for the tests and a local demo. Written from Aliyun's public
API documentation; the official SDK talks to it unchanged (endpoint setting).

- **Signing**: RPC over ``POST /`` with the V3 signature the SDK sends
  (``Authorization: ACS3-HMAC-SHA256 Credential=…,SignedHeaders=…,Signature=…``):
  the canonical request (method, path, sorted percent-encoded query, the signed
  headers, ``x-acs-content-sha256``) is rebuilt and its HMAC-SHA256 compared;
  ``host``, ``x-acs-action``, ``x-acs-date``, ``x-acs-signature-nonce`` and
  ``x-acs-content-sha256`` must be signed, the date within 15 minutes, a nonce
  used once. Failures answer 400/404 with Aliyun's JSON error (``Code``:
  ``SignatureDoesNotMatch``, ``InvalidAccessKeyId.NotFound``,
  ``SignatureNonceUsed``, ``InvalidTimeStamp.Expired``…).
- **SendSms** (``x-acs-action: SendSms``): ``PhoneNumbers``, ``SignName``,
  ``TemplateCode``, ``TemplateParam`` (JSON), ``OutId``. Refusals answer HTTP 200
  with ``Code`` (``isv.SMS_SIGNATURE_ILLEGAL``, ``isv.SMS_TEMPLATE_ILLEGAL``,
  ``isv.TEMPLATE_MISSING_PARAMETERS``, ``isv.PARAM_LENGTH_LIMIT``,
  ``isv.PARAM_NOT_SUPPORT_URL``, ``isv.MOBILE_NUMBER_ILLEGAL``, and the per-number
  flow control ``isv.BUSINESS_LIMIT_CONTROL`` "触发分钟级流控Permits:1" /
  "…小时级…" / "…天级…"); success ``{"Code": "OK", "BizId": …}``.
- **SingleCallByTts** (voice): ``CalledNumber``, ``CalledShowNumber``, ``TtsCode``,
  ``TtsParam``, ``PlayTimes``, ``OutId``; answers ``CallId``.
- **Pushes** (HTTP batch push mode): VoiceReport when a call ends (``call_id``,
  ``status_code`` ``200000`` heard it all, ``200003`` not answered…, ``out_id``…)
  to ``voice_report_url``; SmsReport, a JSON array of ``phone_number``,
  ``send_time``, ``report_time``, ``success``, ``err_code`` (``DELIVERED`` or a
  failure code), ``err_msg``, ``sms_size``, ``biz_id``, ``out_id``, posted to
  ``report_url``; SmsUp (``send_reply``): ``phone_number``, ``send_time``,
  ``content``, ``sign_name``, ``dest_code``, ``sequence_id`` to ``reply_url``.
  The receiver must answer ``{"code": 0}``.

    async with AliyunServer("LTAI…", "secret", report_url=…, reply_url=…) as aliyun:
        aliyun.fail_next(1, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        aliyun.fail_number("+8613800000001")          # reported as not received
        await aliyun.send_reply("+8613800000001", "收到")
        aliyun.advance(60)                            # its flow-control clock
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web

from simulators.cn_lookalike import LookAlike, Sent, render

_MAINLAND = re.compile(r"^1[3-9]\d{9}$")
_INTERNATIONAL = re.compile(r"^00[1-9]\d{6,14}$")
_LINK = re.compile(r"(https?://|www\.)", re.IGNORECASE)
_SIGNED_REQUIRED = (
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
)
_AUTH = re.compile(
    r"^ACS3-HMAC-SHA256 Credential=(?P<ak>[^,]+),SignedHeaders=(?P<sh>[^,]+),"
    r"Signature=(?P<sig>[0-9a-f]{64})$"
)
PARAM_MAX = 35
"""Aliyun's longest value for one variable of a notification template."""
CHINA = timedelta(hours=8)


def _canonical_query(query: dict[str, str]) -> str:
    return "&".join(f"{k}={quote(query[k], safe='~', encoding='utf-8')}" for k in sorted(query))


def sign_acs3(
    secret: str,
    method: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    signed: list[str],
    payload_hash: str,
) -> str:
    """The ACS3-HMAC-SHA256 signature of a request (Aliyun's V3 signature)."""
    canonical_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in signed)
    canonical = "\n".join(
        [
            method,
            path or "/",
            _canonical_query(query),
            canonical_headers,
            ";".join(signed),
            payload_hash,
        ]
    )
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class AliyunServer(LookAlike):
    provider = "aliyun"

    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        *,
        voice_report_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.voice_report_url = voice_report_url
        """Where VoiceReport (the call's record when it ends) is pushed."""
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self._nonces: dict[str, datetime] = {}
        self._sequence = 1000

    def default_limits(self) -> list[tuple[str, float, int]]:
        """Aliyun's per-number flow control (one signature): 1 a minute, 5 an hour,
        and the 50 a day of notifications Issue 19 cites."""
        return [("分钟级", 60, 1), ("小时级", 3600, 5), ("天级", 86400, 50)]

    def undelivered_code(self) -> str:
        return "MK:0001"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/", self._rpc)

    # --- requests -----------------------------------------------------------------
    def _error(
        self, status: int, code: str, message: str, action: str = "", phone: str = ""
    ) -> web.Response:
        self.requests.append((action, phone, status))
        body = {
            "RequestId": str(uuid.uuid4()).upper(),
            "HostId": "dysmsapi.aliyuncs.com",
            "Code": code,
            "Message": message,
            "Recommend": "https://api.aliyun.com/troubleshoot",
        }
        return web.json_response(body, status=status)

    def _refuse(self, action: str, phone: str, code: str, message: str) -> web.Response:
        self.requests.append((action, phone, 200))
        self.refused.append((phone, code))
        body = {"RequestId": str(uuid.uuid4()).upper(), "Code": code, "Message": message}
        return web.json_response(body)

    def _check_signature(self, request: web.Request, body: bytes) -> web.Response | None:
        action = request.headers.get("x-acs-action", "")
        match = _AUTH.match(request.headers.get("Authorization", ""))
        if match is None:
            return self._error(
                400,
                "IncompleteSignature",
                "The request signature is missing or not ACS3-HMAC-SHA256.",
                action,
            )
        if match["ak"] != self.access_key_id:
            return self._error(
                404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.", action
            )
        signed = match["sh"].split(";")
        missing = [h for h in _SIGNED_REQUIRED if h not in signed]
        if missing or signed != sorted(signed):
            return self._error(
                400,
                "IncompleteSignature",
                f"SignedHeaders must include {', '.join(missing)}",
                action,
            )
        payload_hash = hashlib.sha256(body).hexdigest()
        if request.headers.get("x-acs-content-sha256") != payload_hash:
            return self._error(
                400,
                "InvalidParameter.ContentSHA256",
                "x-acs-content-sha256 does not match the body.",
                action,
            )
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(request.query)
        expected = sign_acs3(
            self.access_key_secret,
            request.method,
            request.path,
            query,
            headers,
            signed,
            payload_hash,
        )
        if not hmac.compare_digest(expected, match["sig"]):
            return self._error(
                400,
                "SignatureDoesNotMatch",
                "Specified signature does not match our calculation.",
                action,
            )
        try:
            date = datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=UTC
            )
        except ValueError:
            return self._error(
                400, "InvalidTimeStamp.Format", "x-acs-date is not ISO 8601.", action
            )
        now = datetime.now(UTC)
        if abs(now - date) > timedelta(minutes=15):
            return self._error(
                400, "InvalidTimeStamp.Expired", "x-acs-date is more than 15 minutes off.", action
            )
        nonce = headers["x-acs-signature-nonce"]
        self._nonces = {n: t for n, t in self._nonces.items() if now - t < timedelta(minutes=15)}
        if nonce in self._nonces:
            return self._error(
                400, "SignatureNonceUsed", "Specified signature nonce was used already.", action
            )
        self._nonces[nonce] = now
        return None

    async def _rpc(self, request: web.Request) -> web.Response:
        body = await request.read()
        refused = self._check_signature(request, body)
        if refused is not None:
            return refused
        action = request.headers.get("x-acs-action", "")
        version = request.headers.get("x-acs-version", "")
        if version != "2017-05-25":
            return self._error(
                400, "InvalidVersion", f"Specified version {version} is not valid.", action
            )
        fault = self.take_fault()
        phone = request.query.get("PhoneNumbers") or request.query.get("CalledNumber") or ""
        if fault is not None:
            if fault.status != 200:
                return self._error(fault.status, fault.code, fault.message, action, phone)
            return self._refuse(action, phone, fault.code, fault.message)
        if action == "SendSms":
            return await self.answer_late(self._send_sms(dict(request.query)))
        if action == "SingleCallByTts":
            return self._call(dict(request.query))
        return self._error(
            404, "InvalidAction.NotFound", f"Specified api {action} is not found.", action
        )

    def _values(
        self, action: str, phone: str, code: str, raw: str | None
    ) -> tuple[Any, dict[str, str]] | web.Response:
        found = self.template_for(code)
        if found is None:
            return self._refuse(
                action, phone, "isv.SMS_TEMPLATE_ILLEGAL", f"模板不合法(不存在或被拉黑) {code}"
            )
        template, lang = found
        try:
            values = json.loads(raw or "{}")
        except json.JSONDecodeError:
            return self._refuse(action, phone, "isv.INVALID_JSON_PARAM", "JSON参数不合法")
        if not isinstance(values, dict):
            return self._refuse(action, phone, "isv.INVALID_JSON_PARAM", "JSON参数不合法")
        values = {str(k): str(v) for k, v in values.items()}
        missing = [p for p in template.params if p not in values]
        if missing:
            return self._refuse(
                action,
                phone,
                "isv.TEMPLATE_MISSING_PARAMETERS",
                f"模板缺少变量 {', '.join(missing)}",
            )
        for name, value in values.items():
            if len(value) > PARAM_MAX:
                return self._refuse(
                    action, phone, "isv.PARAM_LENGTH_LIMIT", f"参数超出长度限制 {name}"
                )
            if _LINK.search(value):
                return self._refuse(
                    action, phone, "isv.PARAM_NOT_SUPPORT_URL", f"不支持url为变量 {name}"
                )
        return (template, lang), values

    def _e164(self, phone: str) -> str:
        return "+86" + phone if _MAINLAND.match(phone) else "+" + phone[2:]

    def _send_sms(self, q: dict[str, str]) -> web.Response:
        action, phone = "SendSms", q.get("PhoneNumbers", "")
        if not phone or "," in phone:
            return self._refuse(
                action,
                phone,
                "isv.MOBILE_NUMBER_ILLEGAL",
                "非法手机号 (one number per request here)",
            )
        if not (_MAINLAND.match(phone) or _INTERNATIONAL.match(phone)):
            return self._refuse(action, phone, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        sign = self.templates.providers["aliyun"].sign_name
        if q.get("SignName") != sign:
            return self._refuse(
                action,
                phone,
                "isv.SMS_SIGNATURE_ILLEGAL",
                f"签名不合法(不存在或被拉黑) {q.get('SignName')}",
            )
        checked = self._values(action, phone, q.get("TemplateCode", ""), q.get("TemplateParam"))
        if isinstance(checked, web.Response):
            return checked
        (template, lang), values = checked
        level = self.over_limit(phone)
        if level is not None:
            permits = next(c for n, _, c in self.limits if n == level)
            return self._refuse(
                action, phone, "isv.BUSINESS_LIMIT_CONTROL", f"触发{level}流控Permits:{permits}"
            )
        biz_id = f"{secrets.randbelow(10**18):018d}^0"
        sent = Sent(
            biz_id,
            "sms",
            phone,
            q["TemplateCode"],
            values,
            render(template, lang, values, sign),
            q.get("OutId", ""),
            self.now(),
        )
        self.record(sent)
        self.requests.append((action, phone, 200))
        if self.report_url:
            self.later(self._report(sent))
        return web.json_response(
            {"RequestId": str(uuid.uuid4()).upper(), "Code": "OK", "Message": "OK", "BizId": biz_id}
        )

    def _call(self, q: dict[str, str]) -> web.Response:
        action, phone = "SingleCallByTts", q.get("CalledNumber", "")
        if not _MAINLAND.match(phone):
            return self._refuse(action, phone, "isv.MOBILE_NUMBER_ILLEGAL", "非法号码")
        checked = self._values(action, phone, q.get("TtsCode", ""), q.get("TtsParam"))
        if isinstance(checked, web.Response):
            return checked
        (template, lang), values = checked
        call_id = f"{secrets.randbelow(10**15):015d}^{secrets.randbelow(10**11):011d}"
        sent = Sent(
            call_id,
            "call",
            phone,
            q["TtsCode"],
            values,
            render(template, lang, values, ""),
            q.get("OutId", ""),
            self.now(),
        )
        self.record(sent)
        self.requests.append((action, phone, 200))
        if self.voice_report_url:
            self.later(self._voice_report(sent))
        return web.json_response(
            {
                "RequestId": str(uuid.uuid4()).upper(),
                "Code": "OK",
                "Message": "OK",
                "CallId": call_id,
            }
        )

    # --- pushes -------------------------------------------------------------------
    def _china_time(self, at: datetime) -> str:
        return (at.astimezone(UTC) + CHINA).strftime("%Y-%m-%d %H:%M:%S")

    async def _report(self, sent: Sent) -> None:
        await asyncio.sleep(self.push_delay)
        fault = self.number_fault(self._e164(sent.phone))
        sent.status = "failed" if fault else "delivered"
        report = {
            "phone_number": sent.phone,
            "send_time": self._china_time(sent.at),
            "report_time": self._china_time(self.now()),
            "success": fault is None,
            "err_code": fault or "DELIVERED",
            "err_msg": "用户接收失败" if fault else "用户接收成功",
            "sms_size": "1" if len(sent.text) <= 70 else str(-(-len(sent.text) // 67)),
            "biz_id": sent.provider_id,
            "out_id": sent.session,
        }
        assert self.report_url is not None
        await self.push(self.report_url, [report])

    async def _voice_report(self, sent: Sent) -> None:
        """VoiceReport: ``200000`` the callee heard it all; a failed number ``200003``
        (rang, not answered) unless ``fail_number`` gave another call status code."""
        await asyncio.sleep(self.push_delay)
        fault = self.number_fault(self._e164(sent.phone))
        code = "200000" if fault is None else (fault if fault.startswith("2000") else "200003")
        sent.status = code
        answered = code in ("200000", "200001")
        report = {
            "status_code": code,
            "status_msg": "用户听完语音" if answered else "用户收到呼叫但未接听",
            "callee": sent.phone,
            "caller": "057100000000",
            "originate_time": self._china_time(sent.at),
            "ring_time": self._china_time(sent.at),
            "b_start_time": self._china_time(sent.at) if answered else "",
            "end_time": self._china_time(self.now()),
            "duration": "12" if answered else "0",
            "call_id": sent.provider_id,
            "out_id": sent.session,
            "voice_type": "voice",
            "toll_type": "LOCAL",
        }
        assert self.voice_report_url is not None
        await self.push(self.voice_report_url, [report])

    async def send_reply(self, from_e164: str, text: str) -> Any:
        """Push an SMS from ``from_e164`` (a family reply) as SmsUp to ``reply_url``."""
        assert self.reply_url is not None, "no reply_url configured"
        self._sequence += 1
        phone = from_e164[3:] if from_e164.startswith("+86") else "00" + from_e164.lstrip("+")
        up = {
            "phone_number": phone,
            "send_time": self._china_time(self.now()),
            "content": text,
            "sign_name": self.templates.providers["aliyun"].sign_name,
            "dest_code": "1234",
            "sequence_id": self._sequence,
        }
        return await self.push(self.reply_url, [up])


async def serve_forever(
    access_key_id: str,
    secret: str,
    host: str,
    port: int,
    report_url: str | None,
    reply_url: str | None,
    voice_report_url: str | None = None,
) -> None:
    """``eldercare sim aliyun-server``: run until cancelled, printing what arrives."""

    def show(s: Sent) -> None:
        print(f"[aliyun] {s.kind} {s.provider_id} to {s.phone}: {s.text}", flush=True)

    async with AliyunServer(
        access_key_id,
        secret,
        host=host,
        port=port,
        report_url=report_url,
        reply_url=reply_url,
        voice_report_url=voice_report_url,
    ) as server:
        server.listeners.append(show)
        print(f"local Aliyun SMS/voice server on {server.base_url}", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
