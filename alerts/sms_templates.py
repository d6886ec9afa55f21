"""Registered SMS templates for the domestic providers (Aliyun, Tencent Cloud), as data.

Mainland SMS go out only as a registered template under a registered sign name:
the provider gets a template code and the values of its variables. The texts
and codes live in ``alerts/templates/sms_cn.toml`` (or ``ELDERCARE_SMS_TEMPLATES``);
``load_templates`` checks the file completely at start, and ``template_call``
says which template an escalation message uses and with which values.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from alerts import messages
from alerts.escalation_texts import AlertContext
from eldercare.domain import AlertKind, AlertStatus, Outcome
from eldercare.settings import SettingsError

PROVIDERS = ("aliyun", "tencent")
KINDS = (
    "alert",
    "repeat",
    "window_breached",
    "summary",
    "supervisor",
    "not_on_site",
    "window_warning",
    "all_clear",
    "voice",
)
VARIABLES = frozenset({"who", "what", "time", "state", "result", "phone", "id", "count"})
LANGUAGES = (messages.ZH, messages.EN)
SEGMENT_UCS2 = 70
_VAR = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")
_LINK = re.compile(r"(https?://|www\.|\b[a-z0-9-]+\.(?:com|cn|net|org)\b)", re.IGNORECASE)
_LONGEST_SAMPLE = {
    "who": "欧阳秀英",  # a four-character name; longer ones are cut to param_max_chars
    "what": max((messages.what_text(messages.ZH, k) for k in AlertKind), key=len),
    "time": "23:59",
    "state": max((messages.state_text(messages.ZH, s) for s in AlertStatus), key=len),
    "result": max((messages.outcome_text(messages.ZH, o, short=True) for o in Outcome), key=len),
    "phone": "057100000000",
    "id": "#99999",
    "count": "99",
}


class TemplateError(SettingsError):
    """The templates file is unusable; the message names the place (a settings
    error: the start stops with it, as for any bad setting)."""


@dataclass(frozen=True, slots=True)
class Template:
    kind: str
    params: tuple[str, ...]
    texts: Mapping[str, str]
    """language → the text as registered, variables as ``${name}``"""
    codes: Mapping[str, Mapping[str, str]]
    """provider → language → template code"""

    def text(self, language: str) -> str:
        return self.texts[messages.language(language)]

    def code(self, provider: str, language: str) -> str:
        return self.codes[provider][messages.language(language)]

    def tencent_text(self, language: str) -> str:
        """The same text as Tencent registers it: ``{1}``, ``{2}``… in ``params`` order."""
        text = self.text(language)
        for i, name in enumerate(self.params, 1):
            text = text.replace("${" + name + "}", "{" + str(i) + "}")
        return text


@dataclass(frozen=True, slots=True)
class ProviderRules:
    sign_name: str
    param_max_chars: int
    voice_show_number: str = ""


@dataclass(frozen=True, slots=True)
class Templates:
    templates: Mapping[str, Template]
    providers: Mapping[str, ProviderRules]
    source: str

    def get(self, kind: str) -> Template:
        return self.templates[kind]

    def values(self, provider: str, kind: str, params: Mapping[str, str]) -> dict[str, str]:
        """The template's variables, each within the provider's length, links refused."""
        limit = self.providers[provider].param_max_chars
        out: dict[str, str] = {}
        for name in self.get(kind).params:
            value = params.get(name, "")
            if _LINK.search(value):
                value = _LINK.sub("", value)
            out[name] = cut(value, limit)
        return out

    def render(self, provider: str, kind: str, language: str, params: Mapping[str, str]) -> str:
        """The SMS as the family's phone shows it: 【sign】 + the text with its values."""
        values = self.values(provider, kind, params)
        text = _VAR.sub(lambda m: values.get(m.group(1), ""), self.get(kind).text(language))
        if kind == "voice":
            return text
        return f"【{self.providers[provider].sign_name}】{text}"


def cut(value: str, limit: int) -> str:
    """At most ``limit`` characters; a cut value ends in an ellipsis."""
    return value if len(value) <= limit else value[: max(limit - 1, 0)] + "…"


def national(phone: str) -> str:
    """A phone as written inside China: ``+8657100000000`` → ``057100000000``,
    ``+8613800000001`` → ``13800000001``; other countries keep their E.164 form."""
    if not phone.startswith("+86"):
        return phone
    rest = phone[3:]
    return rest if rest.startswith("1") and len(rest) == 11 else "0" + rest.lstrip("0")


def load_templates(path: str | Path | None = None) -> Templates:
    """The packaged ``alerts/templates/sms_cn.toml``, or ``path``; checked completely."""
    if path is None:
        source = "alerts/templates/sms_cn.toml"
        raw = resources.files("alerts").joinpath("templates", "sms_cn.toml").read_text("utf-8")
    else:
        source = str(path)
        try:
            raw = Path(path).read_text("utf-8")
        except OSError as exc:
            raise TemplateError(f"{source}: {exc}") from exc
    try:
        data = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{source}: {exc}") from exc
    return _parse(data, source)


def _parse(data: Mapping[str, Any], source: str) -> Templates:
    providers: dict[str, ProviderRules] = {}
    for provider in PROVIDERS:
        section = data.get(provider)
        if not isinstance(section, dict):
            raise TemplateError(f"{source}: missing [{provider}] with sign_name")
        sign, limit = section.get("sign_name"), section.get("param_max_chars", 12)
        if not isinstance(sign, str) or not sign:
            raise TemplateError(f"{source}: [{provider}] sign_name must be a non-empty string")
        if not isinstance(limit, int) or not 1 <= limit <= 35:
            raise TemplateError(f"{source}: [{provider}] param_max_chars must be 1 to 35")
        show = section.get("voice_show_number", "")
        providers[provider] = ProviderRules(sign, limit, show if isinstance(show, str) else "")
    table = data.get("templates")
    if not isinstance(table, dict):
        raise TemplateError(f"{source}: no [templates.*] tables")
    unknown = sorted(set(table) - set(KINDS))
    if unknown:
        raise TemplateError(f"{source}: unknown template kind(s): {', '.join(unknown)}")
    templates: dict[str, Template] = {}
    for kind in KINDS:
        where = f"{source}: [templates.{kind}]"
        spec = table.get(kind)
        if not isinstance(spec, dict):
            raise TemplateError(f"{where} is missing")
        params = spec.get("params")
        if not isinstance(params, list) or not all(p in VARIABLES for p in params):
            raise TemplateError(f"{where} params must be a list of {sorted(VARIABLES)}")
        texts: dict[str, str] = {}
        for lang in LANGUAGES:
            text = spec.get(lang)
            if not isinstance(text, str) or not text:
                raise TemplateError(f"{where} has no {lang} text")
            used = set(_VAR.findall(text))
            if used != set(params):
                raise TemplateError(
                    f"{where} {lang} text uses {sorted(used)}, params say {sorted(params)}"
                )
            if _LINK.search(_VAR.sub("", text)):
                raise TemplateError(f"{where} {lang} text has a link (not registrable)")
            texts[lang] = text
        codes: dict[str, dict[str, str]] = {}
        for provider in PROVIDERS:
            per = spec.get(provider)
            if not isinstance(per, dict) or not all(
                isinstance(per.get(lang), str) and per.get(lang) for lang in LANGUAGES
            ):
                raise TemplateError(f"{where} {provider} needs a code for zh-CN and en")
            codes[provider] = {lang: per[lang] for lang in LANGUAGES}
        templates[kind] = Template(kind, tuple(params), texts, codes)
    result = Templates(templates, providers, source)
    for provider in PROVIDERS:
        for kind in KINDS:
            if kind == "voice":
                continue
            sample = result.render(provider, kind, messages.ZH, _LONGEST_SAMPLE)
            if len(sample) > SEGMENT_UCS2:
                raise TemplateError(
                    f"{source}: [templates.{kind}] zh-CN with {provider}'s sign is "
                    f"{len(sample)} characters at its longest usual values: more than one "
                    f"SMS segment ({SEGMENT_UCS2})"
                )
    return result


def _hhmm(at: datetime, ctx: AlertContext) -> str:
    return at.astimezone(ctx.tz).strftime("%H:%M")


def template_call(
    ctx: AlertContext,
    message: str,
    unless: str,
    recipient_kind: str,
    channel: str,
    language: str,
    *,
    summary: bool = False,
    round: int = 0,
) -> tuple[str, dict[str, str]]:
    """Which template an escalation message uses, and its values (not yet cut).

    ``repeat`` is the family alert text of a step that stops on acknowledgement
    (so "not yet acknowledged" is true when it goes out) or of a later round;
    ``alert`` the others. The engine's no-repeat rule compares its own (Twilio)
    texts, so a number that got the alert text is not sent the repeat either."""
    a = ctx.alert
    values = {
        "who": ctx.who,
        "what": messages.what_text(language, a.kind),
        "time": _hhmm(a.raised_at, ctx),
        "phone": national(ctx.centre_phone),
        "id": f"#{a.id}",
        "count": "1",
        "state": messages.state_text(language, a.status),
        "result": messages.outcome_text(language, a.outcome or Outcome.HANDLED, short=True),
    }
    if summary:
        return "summary", values
    if message == "all_clear":
        return "all_clear", values
    if message == "window_breached":
        return "window_breached", {**values, "time": _hhmm(a.response_deadline, ctx)}
    if recipient_kind == "family":
        if channel == "voice":
            return "voice", values
        return ("repeat" if unless == "acknowledged" or round > 0 else "alert"), values
    if message == "window_warning":
        return "window_warning", {**values, "time": _hhmm(a.response_deadline, ctx)}
    if message == "not_on_site":
        return "not_on_site", values
    return "supervisor", values
