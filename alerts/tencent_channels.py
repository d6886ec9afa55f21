"""Tencent Cloud SMS channel, through the official SDK ``tencentcloud-sdk-python-sms``
(API 2021-01-11, its async client; requests signed TC3-HMAC-SHA256).

``SendSms`` with ``PhoneNumberSet`` (one E.164 number), ``SmsSdkAppId``,
``SignName``, ``TemplateId`` (per message kind and language, from
``alerts/templates/sms_cn.toml``), ``TemplateParamSet`` (the template's values in
its ``{1}``, ``{2}``… order, each cut to the template rules' length) and
``SessionContext`` (the step key). The number's ``SerialNo`` is the provider id;
status and reply callbacks come back to ``/tencent/sms/status/{token}`` and
``/tencent/sms/reply/{token}`` (``dashboard_api/routes_cn_sms.py``).

Errors come two ways: for the request (``Response.Error``: signing, app id, sign,
template, parameters, ``RequestLimitExceeded``) as an SDK exception, and per
number (``SendStatusSet[].Code``: ``LimitExceeded.PhoneNumberDailyLimit``,
``InvalidParameterValue.IncorrectPhoneNumber``…); both are sorted by
``classify`` as ``alerts/cn_sms.py`` describes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models
from tencentcloud.sms.v20210111.sms_client_async import SmsClient

from alerts.channels import Outbound, Receipt
from alerts.cn_sms import Endpoint, ProviderError, RetryPolicy, SendRecord
from alerts.sms_templates import Templates

log = logging.getLogger("eldercare.alerts.tencent")

SMS_ENDPOINT = "sms.tencentcloudapi.com"
DELIVERED = "SUCCESS"

_THROTTLE = frozenset(
    {
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        "LimitExceeded.DeliveryFrequencyLimit",
        "RequestLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
    }
)
_RETRY_PREFIXES = ("InternalError", "ServerNetworkError", "FailedOperation.FailResolvePacket")


def classify(code: str) -> str:
    """``permanent``, ``throttle`` or ``retry`` for a Tencent Cloud error code.

    The 30-second same-content limit and API rate limits clear in seconds (throttle);
    the hourly and daily per-number limits (``LimitExceeded.PhoneNumberOneHourLimit``,
    ``…DailyLimit``, ``…SameContentDailyLimit``) do not clear within the response
    window: permanent, so the step moves on to the next contact."""
    if code in _THROTTLE or code.startswith("RequestLimitExceeded"):
        return "throttle"
    if code.startswith(_RETRY_PREFIXES):
        return "retry"
    return "permanent"


@dataclass(frozen=True, slots=True)
class TencentConfig:
    secret_id: str
    secret_key: str
    sdk_app_id: str
    endpoint: Endpoint
    region: str = "ap-guangzhou"
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def _error(exc: Exception) -> ProviderError:
    if isinstance(exc, TencentCloudSDKException):
        code = str(exc.get_code() or "ClientError")
        message = str(exc.get_message() or "")
        if code == "ClientNetworkError":
            return ProviderError("ambiguous", code, message)
        return ProviderError(classify(code), code, message)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ProviderError("retry", "connect", f"{type(exc).__name__}: {exc}")
    return ProviderError("ambiguous", "network", f"{type(exc).__name__}: {exc}")


class TencentSms:
    """``SmsChannel`` through Tencent Cloud SendSms (registered templates only)."""

    name = "tencent_sms"
    provider = "tencent"

    def __init__(self, config: TencentConfig, templates: Templates, record: SendRecord) -> None:
        self.config = config
        self.templates = templates
        self.record = record
        self._client: SmsClient | None = None

    def client(self) -> SmsClient:
        if self._client is None:
            cfg = self.config
            http = HttpProfile(
                protocol=cfg.endpoint.scheme,
                endpoint=cfg.endpoint.host,
                reqTimeout=int(max(cfg.retry.timeout_s, 1)),
            )
            profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http)
            self._client = SmsClient(Credential(cfg.secret_id, cfg.secret_key), cfg.region, profile)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def send_sms(self, message: Outbound) -> Receipt:
        kind = message.template or "alert"
        t = self.templates
        template = t.get(kind)
        values = t.values(self.provider, kind, message.params)
        request = models.SendSmsRequest()
        request.PhoneNumberSet = [message.to]
        request.SmsSdkAppId = self.config.sdk_app_id
        request.SignName = t.providers[self.provider].sign_name
        request.TemplateId = template.code(self.provider, message.language)
        request.TemplateParamSet = [values[name] for name in template.params]
        request.SessionContext = message.step_key
        text = t.render(self.provider, kind, message.language, message.params)

        async def attempt() -> Receipt:
            try:
                response: Any = await self.client().SendSms(request)
            except Exception as exc:
                raise _error(exc) from exc
            statuses = response.SendStatusSet or []
            status = next((s for s in statuses if s.PhoneNumber == message.to), None)
            if status is None:
                raise ProviderError("ambiguous", "NoStatus", "no SendStatus for the number")
            if status.Code != "Ok":
                code = str(status.Code)
                raise ProviderError(classify(code), code, str(status.Message or ""))
            return Receipt(
                str(status.SerialNo),
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
