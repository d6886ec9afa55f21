"""Which provider carries each message: the centre's choice, a contact's override.

``ELDERCARE_SMS_PROVIDER`` (``twilio``, ``aliyun``, ``tencent`` or ``console``) is
the centre's provider. A contact's ``sms_provider`` (API and provisioning field)
overrides it for that person. Without an override, a number outside mainland
China (not ``+86``) goes through Twilio when Twilio is configured and the centre
uses a domestic provider: an overseas child with a ``+1`` number still gets
Twilio. An override naming a provider that is not configured falls back to the
centre's provider (logged).

Voice calls: Aliyun's voice service for ``aliyun``; Tencent Cloud's voice service
is not wired, so a ``tencent`` centre calls through Twilio when configured, else
Aliyun's voice when configured, else the console.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from alerts.channels import ConsoleSms, Outbound, Receipt, SmsChannel, VoiceChannel
from alerts.cn_sms import Endpoint, RetryPolicy, SendRecord
from alerts.sms_templates import Templates, load_templates
from alerts.twilio_channels import build_channels as build_twilio
from alerts.twilio_channels import close_channels
from eldercare.settings import Settings

log = logging.getLogger("eldercare.alerts.channels")

PROVIDERS = ("twilio", "aliyun", "tencent", "console")
CONTACT_CACHE_S = 10.0
"""How long a contact's provider override is remembered (a change applies within this)."""


class ContactLookup(Protocol):
    async def get_contact(self, contact_id: int) -> object: ...


class SmsRouter:
    """An ``SmsChannel`` and ``VoiceChannel`` that hands each message to the provider
    chosen for its recipient (module docstring)."""

    def __init__(
        self,
        centre: str,
        sms: Mapping[str, SmsChannel],
        voice: Mapping[str, VoiceChannel],
        voice_for: Mapping[str, str],
    ) -> None:
        self.centre = centre
        self.sms = dict(sms)
        self.voice = dict(voice)
        self.voice_for = dict(voice_for)
        self.name = self.sms[centre].name
        self._store: ContactLookup | None = None
        self._cache: dict[int, tuple[str | None, float]] = {}

    def attach(self, store: ContactLookup) -> None:
        """Where the contacts' overrides are read (the store, once it is open)."""
        self._store = store

    async def _override(self, contact_id: int | None) -> str | None:
        if contact_id is None or self._store is None:
            return None
        now = asyncio.get_running_loop().time()
        hit = self._cache.get(contact_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        try:
            contact = await self._store.get_contact(contact_id)
        except Exception:  # a deleted contact, a store hiccup: the centre's provider
            log.warning("contact %s not readable; the centre's provider is used", contact_id)
            return None
        chosen = getattr(contact, "sms_provider", None)
        self._cache[contact_id] = (chosen, now + CONTACT_CACHE_S)
        return chosen

    async def provider_for(self, message: Outbound) -> str:
        override = await self._override(message.contact_id)
        if override:
            if override in self.sms:
                return override
            log.warning(
                "contact %s asks for %s, which is not configured; using %s",
                message.contact_id,
                override,
                self.centre,
            )
        abroad = not message.to.startswith("+86")
        if self.centre in ("aliyun", "tencent") and abroad and "twilio" in self.sms:
            return "twilio"
        return self.centre

    async def send_sms(self, message: Outbound) -> Receipt:
        channel = self.sms[await self.provider_for(message)]
        receipt = await channel.send_sms(message)
        receipt.details.setdefault("via", channel.name)  # the timeline names the provider used
        return receipt

    async def call(self, message: Outbound) -> Receipt:
        provider = await self.provider_for(message)
        channel = self.voice[self.voice_for.get(provider, provider)]
        receipt = await channel.call(message)
        receipt.details.setdefault("via", channel.name)
        return receipt

    async def aclose(self) -> None:
        await close_channels(
            *{id(c): c for c in [*self.sms.values(), *self.voice.values()]}.values()
        )


def build_channels(
    settings: Settings, templates: Templates | None = None
) -> tuple[SmsChannel, VoiceChannel]:
    """The channels for ``settings``: Twilio alone (or the console) as before when no
    domestic provider is configured, else an ``SmsRouter`` over every configured one."""
    s = settings
    twilio_sms, twilio_voice = build_twilio(settings)
    has_twilio = not isinstance(twilio_sms, ConsoleSms)
    sms: dict[str, SmsChannel] = {}
    voice: dict[str, VoiceChannel] = {}
    if has_twilio:
        sms["twilio"], voice["twilio"] = twilio_sms, twilio_voice
    has_aliyun = bool(s.aliyun_access_key_id and s.aliyun_access_key_secret)
    has_tencent = bool(s.tencent_secret_id and s.tencent_secret_key and s.tencent_sms_sdk_app_id)
    if has_aliyun or has_tencent:
        templates = templates or load_templates(s.sms_templates)
    if has_aliyun:  # the SDKs are imported only when used (the Aliyun one takes ~0.5 s)
        from alerts.aliyun_channels import AliyunConfig, AliyunSms, AliyunVoice

        assert templates is not None
        config = AliyunConfig(
            s.aliyun_access_key_id or "",
            s.aliyun_access_key_secret or "",
            Endpoint.parse(s.aliyun_sms_endpoint),
            Endpoint.parse(s.aliyun_voice_endpoint),
            s.aliyun_voice_show_number or "",
            RetryPolicy(),
        )
        record = SendRecord("aliyun", config.retry)
        sms["aliyun"] = AliyunSms(config, templates, record)
        voice["aliyun"] = AliyunVoice(config, templates, record)
        log.info("Aliyun channels via %s", config.sms_endpoint.host)
    if has_tencent:
        from alerts.tencent_channels import TencentConfig, TencentSms

        assert templates is not None
        tconfig = TencentConfig(
            s.tencent_secret_id or "",
            s.tencent_secret_key or "",
            s.tencent_sms_sdk_app_id or "",
            Endpoint.parse(s.tencent_sms_endpoint),
            s.tencent_region,
            RetryPolicy(),
        )
        sms["tencent"] = TencentSms(tconfig, templates, SendRecord("tencent", tconfig.retry))
        log.info("Tencent Cloud SMS via %s", tconfig.endpoint.host)
    console = ConsoleSms()
    sms["console"], voice["console"] = console, console
    centre = s.sms_provider or ("twilio" if has_twilio else "console")
    if centre not in sms:
        centre = "console"  # Settings.validate refuses this at start; a direct caller gets this
    if not (has_aliyun or has_tencent):
        return sms[centre], voice[centre]
    voice_for = {"tencent": next((p for p in ("twilio", "aliyun") if p in voice), "console")}
    router = SmsRouter(centre, sms, voice, voice_for)
    log.info("SMS: centre provider %s; configured: %s", centre, ", ".join(sorted(sms)))
    return router, router


def attach_store(store: ContactLookup, *channels: object) -> None:
    """Give routers the store they read contacts' overrides from (others: no-op)."""
    for channel in channels:
        if isinstance(channel, SmsRouter):
            channel.attach(store)
