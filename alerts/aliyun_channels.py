"""Aliyun SMS and voice channels, through the official SDKs
``alibabacloud-dysmsapi20170525`` (SendSms) and ``alibabacloud-dyvmsapi20170525``
(SingleCallByTts), both signed ACS3-HMAC-SHA256 by ``alibabacloud-tea-openapi``.

- **SMS**: ``SendSms`` with ``PhoneNumbers`` (national form), ``SignName``,
  ``TemplateCode`` (per message kind and language, from
  ``alerts/templates/sms_cn.toml``), ``TemplateParam`` (JSON of the template's
  variables, each cut to the template rules' length) and ``OutId`` (the step key).
  The answer's ``BizId`` is the provider id; delivery reports (SmsReport) and
  replies (SmsUp) come back by HTTP push to ``/aliyun/sms/report/{token}`` and
  ``/aliyun/sms/up/{token}`` (``dashboard_api/routes_cn_sms.py``).
- **Voice**: ``SingleCallByTts`` with ``CalledNumber``, ``CalledShowNumber``, a TTS
  template (kind ``voice``) and its parameters, played twice; the ``CallId`` is the
  provider id.

Errors: SendSms answers HTTP 200 with ``Code`` other than ``OK`` for a refused
message; the gateway answers 4xx/5xx for signing, throttling and server errors.
Both are sorted as ``alerts/cn_sms.py`` describes (``classify``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client as SmsClient
from alibabacloud_dyvmsapi20170525 import models as voice_models
from alibabacloud_dyvmsapi20170525.client import Client as VoiceClient
from alibabacloud_tea_openapi import utils_models as openapi_models
from darabonba.runtime import RuntimeOptions

from alerts.channels import Outbound, Receipt
from alerts.cn_sms import Endpoint, ProviderError, RetryPolicy, SendRecord, national_number
from alerts.sms_templates import Templates

log = logging.getLogger("eldercare.alerts.aliyun")

SMS_ENDPOINT = "dysmsapi.aliyuncs.com"
VOICE_ENDPOINT = "dyvmsapi.aliyuncs.com"
DELIVERED = "DELIVERED"

_PERMANENT_LIMITS = ("小时级", "天级", "hour", "day")
_THROTTLE_CODES = frozenset(
    {"Throttling", "Throttling.User", "Throttling.Api", "Throttling.Concurrent"}
)
_RETRY_CODES = frozenset(
    {
        "isv.SYSTEM_ERROR",
        "isp.SYSTEM_ERROR",
        "isp.RAM_PERMISSION_DENY_TEMPORARY",
        "ServiceUnavailable",
        "InternalError",
        "UnknownError",
    }
)


def classify(code: str, message: str, status: int | None = None) -> str:
    """``permanent``, ``throttle`` or ``retry`` for an Aliyun error code.

    ``isv.BUSINESS_LIMIT_CONTROL`` is the per-number flow control: its message says
    which level ("触发分钟级流控Permits:1", "…小时级…", "…天级…"); the minute level
    clears within a minute (throttle), hour and day levels do not clear in the
    response window (permanent: the next contact)."""
    if code == "isv.BUSINESS_LIMIT_CONTROL":
        return "permanent" if any(w in message for w in _PERMANENT_LIMITS) else "throttle"
    if code in _THROTTLE_CODES or code.startswith("Throttling"):
        return "throttle"
    if code in _RETRY_CODES or code.startswith("isp."):
        return "retry"
    if status is not None and status >= 500:
        return "retry"
    return "permanent"


@dataclass(frozen=True, slots=True)
class AliyunConfig:
    access_key_id: str
    access_key_secret: str
    sms_endpoint: Endpoint
    voice_endpoint: Endpoint
    voice_show_number: str = ""
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def _client_config(cfg: AliyunConfig, endpoint: Endpoint) -> openapi_models.Config:
    ms = int(cfg.retry.timeout_s * 1000)
    return openapi_models.Config(
        access_key_id=cfg.access_key_id,
        access_key_secret=cfg.access_key_secret,
        endpoint=endpoint.host,
        protocol=endpoint.scheme,
        connect_timeout=ms,
        read_timeout=ms,
    )


def _error(exc: Exception) -> ProviderError:
    """An SDK exception as a sorted ``ProviderError``."""
    code = getattr(exc, "code", None)
    status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None)
    if code:
        message = str(getattr(exc, "message", "") or exc)
        data = getattr(exc, "data", None)
        if isinstance(data, dict) and data.get("Message"):
            message = str(data["Message"])
        return ProviderError(classify(str(code), message, status), str(code), message, status)
    inner = getattr(exc, "inner_exception", None) or exc
    name = type(inner).__name__
    text = f"{name}: {inner}" if str(inner) else name
    if name in ("ClientConnectorError", "ConnectionRefusedError", "ClientConnectorDNSError"):
        return ProviderError("retry", "connect", text)  # never reached the provider
    return ProviderError("ambiguous", "network", text)


class AliyunSms:
    """``SmsChannel`` through Aliyun SendSms (registered templates only)."""

    name = "aliyun_sms"
    provider = "aliyun"

    def __init__(self, config: AliyunConfig, templates: Templates, record: SendRecord) -> None:
        self.config = config
        self.templates = templates
        self.record = record
        self._client: SmsClient | None = None

    def client(self) -> SmsClient:
        if self._client is None:
            self._client = SmsClient(_client_config(self.config, self.config.sms_endpoint))
        return self._client

    async def send_sms(self, message: Outbound) -> Receipt:
        kind = message.template or "alert"
        t = self.templates
        values = t.values(self.provider, kind, message.params)
        request = sms_models.SendSmsRequest(
            phone_numbers=national_number(message.to),
            sign_name=t.providers[self.provider].sign_name,
            template_code=t.get(kind).code(self.provider, message.language),
            template_param=json.dumps(values, ensure_ascii=False),
            out_id=message.step_key[:64],
        )
        text = t.render(self.provider, kind, message.language, message.params)

        async def attempt() -> Receipt:
            try:
                response = await self.client().send_sms_with_options_async(
                    request, RuntimeOptions()
                )
            except Exception as exc:
                raise _error(exc) from exc
            body: Any = response.body
            if body.code != "OK":
                raise ProviderError(
                    classify(body.code or "", body.message or ""), body.code or "?", body.message
                )
            return Receipt(
                body.biz_id,
                "sent",
                {"channel": self.name, "to": message.to, "text": text, "template": kind},
            )

        receipt = await self.record.once("sms", message, attempt)
        log.info(
            "SMS %s to %s: %s",
            receipt.provider_id,
            message.to,
            text,
            extra={"alert_id": message.alert_id, "step": message.step_key, "to": message.to},
        )
        return receipt


class AliyunVoice:
    """``VoiceChannel`` through Aliyun SingleCallByTts (a TTS template, played twice)."""

    name = "aliyun_voice"
    provider = "aliyun"

    def __init__(self, config: AliyunConfig, templates: Templates, record: SendRecord) -> None:
        self.config = config
        self.templates = templates
        self.record = record
        self._client: VoiceClient | None = None

    def client(self) -> VoiceClient:
        if self._client is None:
            self._client = VoiceClient(_client_config(self.config, self.config.voice_endpoint))
        return self._client

    async def call(self, message: Outbound) -> Receipt:
        t = self.templates
        values = t.values(self.provider, "voice", message.params)
        show = self.config.voice_show_number or t.providers[self.provider].voice_show_number
        request = voice_models.SingleCallByTtsRequest(
            called_number=national_number(message.to),
            called_show_number=show or None,
            tts_code=t.get("voice").code(self.provider, message.language),
            tts_param=json.dumps(values, ensure_ascii=False),
            play_times=2,
            out_id=message.step_key[:64],
        )
        text = t.render(self.provider, "voice", message.language, message.params)

        async def attempt() -> Receipt:
            try:
                response = await self.client().single_call_by_tts_with_options_async(
                    request, RuntimeOptions()
                )
            except Exception as exc:
                raise _error(exc) from exc
            body: Any = response.body
            if body.code != "OK":
                raise ProviderError(
                    classify(body.code or "", body.message or ""), body.code or "?", body.message
                )
            return Receipt(body.call_id, "initiated", {"channel": self.name, "text": text})

        receipt = await self.record.once("call", message, attempt)
        log.info(
            "call %s to %s",
            receipt.provider_id,
            message.to,
            extra={"alert_id": message.alert_id, "step": message.step_key, "to": message.to},
        )
        return receipt
