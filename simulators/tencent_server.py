"""A local look-alike of Tencent Cloud SMS (API 3.0, version 2021-01-11), for the
tests and a local demo. Written from Tencent Cloud's public API documentation;
the official SDK (``tencentcloud-sdk-python-sms``) talks to it unchanged.

- **Signing**: ``POST /`` with JSON and ``Authorization: TC3-HMAC-SHA256
  Credential={SecretId}/{date}/sms/tc3_request, SignedHeaders=content-type;host,
  Signature=…``: the canonical request and the derived key (``TC3`` + SecretKey →
  date → service → ``tc3_request``) are rebuilt and compared; ``X-TC-Timestamp``
  must be within 5 minutes and its UTC date the credential's. Failures answer
  HTTP 200 with ``Response.Error`` (``AuthFailure.SignatureFailure``,
  ``AuthFailure.SecretIdNotFound``, ``AuthFailure.SignatureExpire``…).
- **SendSms** (``X-TC-Action: SendSms``): ``PhoneNumberSet`` (E.164),
  ``SmsSdkAppId``, ``SignName``, ``TemplateId``, ``TemplateParamSet`` (in the
  template's ``{1}``, ``{2}``… order), ``SessionContext``. Request errors
  (``UnauthorizedOperation.SmsSdkAppIdVerifyFail``,
  ``FailedOperation.SignatureIncorrectOrUnapproved``,
  ``FailedOperation.TemplateIncorrectOrUnapproved``,
  ``InvalidParameterValue.TemplateParameterFormatError``,
  ``InvalidParameterValue.TemplateParameterLengthLimit``,
  ``InvalidParameterValue.ProhibitedUseUrlInTemplateParameter``,
  ``RequestLimitExceeded``) come in ``Response.Error``; per-number results in
  ``SendStatusSet`` with ``Code`` ``Ok`` or e.g.
  ``LimitExceeded.PhoneNumberThirtySecondLimit`` (same content within 30 s),
  ``LimitExceeded.PhoneNumberDailyLimit`` (10 a day),
  ``InvalidParameterValue.IncorrectPhoneNumber``.
- **Callbacks**: the status callback, a JSON array of ``user_receive_time``,
  ``nationcode``, ``mobile``, ``report_status`` (``SUCCESS``/``FAIL``), ``errmsg``,
  ``description``, ``sid`` (the SerialNo), ``ext`` (the SessionContext), posted to
  ``report_url``; the reply callback (``send_reply``), one JSON object of
  ``extend``, ``mobile``, ``nationcode``, ``sign``, ``text``, ``time``, to
  ``reply_url``. The receiver answers ``{"result": 0, "errmsg": "OK"}``.
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

from aiohttp import web

from simulators.cn_lookalike import LookAlike, Sent, render

_E164_CN = re.compile(r"^\+861[3-9]\d{9}$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_LINK = re.compile(r"(https?://|www\.)", re.IGNORECASE)
_AUTH = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<svc>[a-z]+)"
    r"/tc3_request, SignedHeaders=(?P<sh>[a-z;-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)
CHINA = timedelta(hours=8)


def _json(body: Any, status: int = 200) -> web.Response:
    """JSON as Tencent Cloud answers it: ``Content-Type: application/json`` exactly
    (the SDK reads ``Response.Error`` only under that type)."""
    data = json.dumps(body, ensure_ascii=False).encode()
    return web.Response(body=data, status=status, headers={"Content-Type": "application/json"})


def sign_tc3(secret_key: str, service: str, timestamp: str, canonical_request: str) -> str:
    """The TC3-HMAC-SHA256 signature of a canonical request."""
    date = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    digest = hashlib.sha256(canonical_request.encode()).hexdigest()
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{digest}"

    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class TencentServer(LookAlike):
    provider = "tencent"

    def __init__(self, secret_id: str, secret_key: str, sdk_app_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.secret_id = secret_id
        self.secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.param_max = 12
        """Tencent's per-variable length for the strictest account kind."""

    def default_limits(self) -> list[tuple[str, float, int]]:
        """Tencent's defaults: the same content once per 30 s, 10 a day per number."""
        return [("ThirtySecond", 30, 1), ("Daily", 86400, 10)]

    def undelivered_code(self) -> str:
        return "UNDELIV"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/", self._api)

    # --- requests -----------------------------------------------------------------
    def _error(self, action: str, code: str, message: str, phone: str = "") -> web.Response:
        self.requests.append((action, phone, 200))
        self.refused.append((phone, code))
        return _json(
            {
                "Response": {
                    "Error": {"Code": code, "Message": message},
                    "RequestId": str(uuid.uuid4()),
                }
            }
        )

    def _check_signature(self, request: web.Request, body: bytes) -> web.Response | None:
        action = request.headers.get("X-TC-Action", "")
        match = _AUTH.match(request.headers.get("Authorization", ""))
        if match is None:
            return self._error(
                action,
                "AuthFailure.SignatureFailure",
                "The Authorization header is not TC3-HMAC-SHA256.",
            )
        if match["id"] != self.secret_id:
            return self._error(action, "AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        timestamp = request.headers.get("X-TC-Timestamp", "")
        if not timestamp.isdigit():
            return self._error(
                action, "AuthFailure.InvalidAuthorization", "X-TC-Timestamp is missing."
            )
        at = datetime.fromtimestamp(int(timestamp), UTC)
        if abs(datetime.now(UTC) - at) > timedelta(minutes=5):
            return self._error(
                action,
                "AuthFailure.SignatureExpire",
                "Signature expired: the timestamp is off by more than 5 minutes.",
            )
        if match["date"] != at.strftime("%Y-%m-%d") or match["svc"] != "sms":
            return self._error(
                action,
                "AuthFailure.InvalidAuthorization",
                "The credential scope does not match the timestamp or service.",
            )
        signed = match["sh"].split(";")
        if "content-type" not in signed or "host" not in signed:
            return self._error(
                action,
                "AuthFailure.InvalidAuthorization",
                "SignedHeaders must include content-type and host.",
            )
        headers = {k.lower(): v for k, v in request.headers.items()}
        canonical_headers = "".join(f"{h}:{headers.get(h, '').strip().lower()}\n" for h in signed)
        canonical = "\n".join(
            [
                request.method,
                request.path,
                request.query_string,
                canonical_headers,
                ";".join(signed),
                hashlib.sha256(body).hexdigest(),
            ]
        )
        expected = sign_tc3(self.secret_key, "sms", timestamp, canonical)
        if not hmac.compare_digest(expected, match["sig"]):
            return self._error(
                action,
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated.",
            )
        return None

    async def _api(self, request: web.Request) -> web.Response:
        body = await request.read()
        refused = self._check_signature(request, body)
        if refused is not None:
            return refused
        action = request.headers.get("X-TC-Action", "")
        if request.headers.get("X-TC-Version") != "2021-01-11":
            return self._error(action, "NoSuchVersion", "The API version is not 2021-01-11.")
        try:
            params = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return self._error(action, "InvalidParameter", "The body is not JSON.")
        if action != "SendSms":
            return self._error(action, "InvalidAction", f"The action {action} is not supported.")
        phones = params.get("PhoneNumberSet") or []
        phone = phones[0] if phones else ""
        fault = self.take_fault()
        if fault is not None:
            if fault.status != 200:
                self.requests.append((action, phone, fault.status))
                return _json({"message": fault.message}, status=fault.status)
            if fault.code.startswith("LimitExceeded.PhoneNumber"):
                return self._per_phone(params, [self._status(phone, fault.code, fault.message)])
            return self._error(action, fault.code, fault.message, phone)
        return await self.answer_late(self._send(params))

    def _status(self, phone: str, code: str, message: str, serial: str = "") -> dict[str, Any]:
        if code != "Ok":
            self.refused.append((phone, code))
        return {
            "SerialNo": serial,
            "PhoneNumber": phone,
            "Fee": 1 if code == "Ok" else 0,
            "SessionContext": "",
            "Code": code,
            "Message": message,
            "IsoCode": "CN" if phone.startswith("+86") else "US",
        }

    def _per_phone(self, params: dict[str, Any], statuses: list[dict[str, Any]]) -> web.Response:
        phone = statuses[0]["PhoneNumber"] if statuses else ""
        self.requests.append(("SendSms", phone, 200))
        for s in statuses:
            s["SessionContext"] = params.get("SessionContext", "")
        return _json({"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}})

    def _send(self, p: dict[str, Any]) -> web.Response:
        action = "SendSms"
        phones = p.get("PhoneNumberSet")
        if not isinstance(phones, list) or not phones:
            return self._error(action, "MissingParameter", "PhoneNumberSet is missing.")
        if p.get("SmsSdkAppId") != self.sdk_app_id:
            return self._error(
                action,
                "UnauthorizedOperation.SmsSdkAppIdVerifyFail",
                "SmsSdkAppId verification failed.",
                phones[0],
            )
        sign = self.templates.providers["tencent"].sign_name
        if p.get("SignName") != sign:
            return self._error(
                action,
                "FailedOperation.SignatureIncorrectOrUnapproved",
                "The signature is not approved or does not exist.",
                phones[0],
            )
        found = self.template_for(str(p.get("TemplateId", "")))
        if found is None:
            return self._error(
                action,
                "FailedOperation.TemplateIncorrectOrUnapproved",
                "The template is not approved or does not exist.",
                phones[0],
            )
        template, lang = found
        values = p.get("TemplateParamSet") or []
        if not isinstance(values, list) or len(values) != len(template.params):
            return self._error(
                action,
                "InvalidParameterValue.TemplateParameterFormatError",
                "TemplateParamSet does not match the template's variables.",
                phones[0],
            )
        for value in values:
            if _LINK.search(str(value)):
                return self._error(
                    action,
                    "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
                    "A template variable may not hold a URL.",
                    phones[0],
                )
            if len(str(value)) > self.param_max:
                return self._error(
                    action,
                    "InvalidParameterValue.TemplateParameterLengthLimit",
                    f"A template variable is longer than {self.param_max}.",
                    phones[0],
                )
        named = dict(zip(template.params, (str(v) for v in values), strict=True))
        text = render(template, lang, named, sign)
        statuses = []
        for phone in phones:
            if not _E164.match(str(phone)):
                statuses.append(
                    self._status(
                        str(phone),
                        "InvalidParameterValue.IncorrectPhoneNumber",
                        "The phone number is incorrect.",
                    )
                )
                continue
            level = self._over(phone, text)
            if level is not None:
                statuses.append(
                    self._status(
                        phone,
                        f"LimitExceeded.PhoneNumber{level}Limit",
                        "The number is over its limit.",
                    )
                )
                continue
            serial = f"2433:{secrets.randbelow(10**20):020d}"
            sent = Sent(
                serial,
                "sms",
                phone,
                str(p["TemplateId"]),
                named,
                text,
                str(p.get("SessionContext", "")),
                self.now(),
            )
            self.record(sent)
            statuses.append(self._status(phone, "Ok", "send success", serial))
            if self.report_url:
                self.later(self._report(sent))
        return self._per_phone(p, statuses)

    def _over(self, phone: str, text: str) -> str | None:
        """``ThirtySecond`` (the same content within its window) or ``Daily``, or None."""
        now = self.now()
        for name, seconds, count in self.limits:
            since = now - timedelta(seconds=seconds)
            mine = [s for s in self.sms_to(phone) if s.at > since]
            if name == "ThirtySecond":
                mine = [s for s in mine if s.text == text]
            if len(mine) >= count:
                return name
        return None

    # --- callbacks ----------------------------------------------------------------
    def _china_time(self, at: datetime) -> str:
        return (at.astimezone(UTC) + CHINA).strftime("%Y-%m-%d %H:%M:%S")

    @staticmethod
    def _split(e164: str) -> tuple[str, str]:
        if e164.startswith("+86"):
            return "86", e164[3:]
        return e164[1:2], e164[2:]  # a rough split; the tests use +86 and +1

    async def _report(self, sent: Sent) -> None:
        await asyncio.sleep(self.push_delay)
        fault = self.number_fault(sent.phone)
        sent.status = "failed" if fault else "delivered"
        nation, mobile = self._split(sent.phone)
        report = {
            "user_receive_time": self._china_time(self.now()),
            "nationcode": nation,
            "mobile": mobile,
            "report_status": "FAIL" if fault else "SUCCESS",
            "errmsg": fault or "DELIVRD",
            "description": "用户短信接收失败" if fault else "用户短信送达成功",
            "sid": sent.provider_id,
            "ext": sent.session,
        }
        assert self.report_url is not None
        await self.push(self.report_url, [report])

    async def send_reply(self, from_e164: str, text: str) -> Any:
        """Post an SMS from ``from_e164`` (a family reply) as the reply callback."""
        assert self.reply_url is not None, "no reply_url configured"
        nation, mobile = self._split(from_e164)
        reply = {
            "extend": "",
            "mobile": mobile,
            "nationcode": nation,
            "sign": self.templates.providers["tencent"].sign_name,
            "text": text,
            "time": int(self.now().timestamp()),
        }
        return await self.push(self.reply_url, reply)


async def serve_forever(
    secret_id: str,
    secret_key: str,
    sdk_app_id: str,
    host: str,
    port: int,
    report_url: str | None,
    reply_url: str | None,
) -> None:
    """``eldercare sim tencent-server``: run until cancelled, printing what arrives."""

    def show(s: Sent) -> None:
        print(f"[tencent] sms {s.provider_id} to {s.phone}: {s.text}", flush=True)

    async with TencentServer(
        secret_id,
        secret_key,
        sdk_app_id,
        host=host,
        port=port,
        report_url=report_url,
        reply_url=reply_url,
    ) as server:
        server.listeners.append(show)
        print(f"local Tencent Cloud SMS server on {server.base_url}", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
