"""The SMS providers' per-number limits, and what the escalation does instead of
a send they would reject (Issue 19).

The limits are data: ``alerts/policies/sms_limits.toml`` holds the providers'
published rules per provider and destination prefix (Twilio to +86: no two-way
SMS, a third identical text within 24 h rejected, a fifth within 24 h held for
manual review, no links; Tencent Cloud: the same content once per 30 s, 10 a
day; Aliyun: 50 a day); ``ELDERCARE_SMS_LIMITS`` names a centre's own file of
the same shape, whose destinations replace the defaults they name.

``SmsLimitGuard.begin_send`` is the one call the engine makes before a provider
call (in place of ``Store.begin_send``). For an SMS it looks at what the number
already received (``Store.list_sms_sent_to`` over the longest window) and, when
the send would break a rule, does not call the provider but takes the next
useful action and writes why on the timeline (``sms_limited``, also on the
live stream, so the care-centre screen shows "family could not be reached by
SMS: limit" at once):

1. ``later``: the rule frees the number within ``max_defer_s`` (Tencent's 30 s):
   the same message to the same person when it does;
2. ``next_contact``: a step meant for one contact goes to the next one;
3. ``voice``: a critical or high alert (the ladders text families only for
   those) calls the person instead, but not twice within ``voice_gap_s`` for
   one alert (``voice_already``);
4. ``none``: the care centre has it on the screen.

``asks_reply`` says whether a family SMS may ask for a reply (``1`` / ``收到``):
only where the provider carries replies back (not Twilio to +86; there the
acknowledgement comes from the voice call or the centre).

Within one process, the check and the start of the send are one step per phone
number (a lock), so two alerts at once cannot both take the last allowed SMS.
Several instances sharing PostgreSQL may, rarely, both pass the check.
"""

from __future__ import annotations

import asyncio
import logging
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from alerts.escalation_texts import AlertContext
from alerts.events import AlertBus
from alerts.policy import ALL_CLEAR
from eldercare.clock import Clock
from eldercare.domain import Alert, Severity, TimelineEntry
from eldercare.metrics import Metrics
from eldercare.settings import SettingsError
from eldercare.store.base import EscalationSend, EscalationStep, SentSms, Store

log = logging.getLogger("eldercare.alerts.limits")

OUTCOMES = ("rejected", "review")
LINK = re.compile(r"https?://|www\.", re.IGNORECASE)
SCREEN_TEXT = "family could not be reached by SMS: limit"
"""What the care centre reads (the screen words it in its language)."""


class LimitsError(SettingsError):
    """The limits file cannot be used; ``where`` names the file and table. A
    ``SettingsError``: ``eldercare serve`` says so in one line and exits 1."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"SMS limits {where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(frozen=True, slots=True)
class LimitRule:
    name: str
    max: int
    """most SMS to one number within ``window_s`` (the next one breaks the rule)"""
    window_s: float
    same_text: bool
    """only texts identical to the one about to go count"""
    outcome: str
    """what the provider does past it: ``rejected`` or ``review`` (held ~24 h)"""
    reason: str


@dataclass(frozen=True, slots=True)
class Destination:
    """One provider's rules for numbers starting with ``prefix`` (``*``: any)."""

    provider: str
    prefix: str
    two_way: bool = True
    links: bool = True
    rules: tuple[LimitRule, ...] = ()
    source: str = ""

    @property
    def window_s(self) -> float:
        return max((r.window_s for r in self.rules), default=0.0)


@dataclass(frozen=True, slots=True)
class Breach:
    """Why a send must not go: the rule, and when the number is free of it again."""

    destination: Destination
    rule: str
    """a rule's name, or ``links``"""
    outcome: str
    reason: str
    allowed_at: datetime | None
    """None: never (the text itself is refused)"""


class ProviderLimits:
    """Every provider's destinations; ``destination`` finds a number's rules."""

    def __init__(self, table: Mapping[str, Mapping[str, Destination]], source: str = "default"):
        self.table = {p: dict(d) for p, d in table.items()}
        self.source = source

    def destination(self, provider: str, phone: str) -> Destination:
        """The longest prefix of ``phone`` the provider has rules for, else ``*``,
        else no limits at all (a provider nobody described: the console)."""
        found = self.table.get(provider, {})
        best = max((p for p in found if p != "*" and phone.startswith(p)), key=len, default="*")
        return found.get(best) or Destination(provider, "*", source="no limits known")

    def check(
        self, dest: Destination, body: str, history: Sequence[SentSms], now: datetime
    ) -> Breach | None:
        """The first rule sending ``body`` now would break, given what the number
        already received (``history``); None when it may go."""
        if not dest.links and LINK.search(body):
            reason = f"{dest.provider} does not deliver links to {dest.prefix} numbers"
            return Breach(dest, "links", "rejected", reason, None)
        for rule in dest.rules:
            since = now - timedelta(seconds=rule.window_s)
            counted = sorted(
                h.started_at
                for h in history
                if h.started_at > since and (not rule.same_text or h.body == body)
            )
            if len(counted) >= rule.max:
                # free again once enough of them have left the window
                free_at = counted[len(counted) - rule.max] + timedelta(seconds=rule.window_s)
                return Breach(dest, rule.name, rule.outcome, rule.reason, free_at)
        return None


def provider_of(channel_name: str) -> str:
    """``twilio_sms`` → ``twilio``: the provider of an SMS channel."""
    return channel_name.removesuffix("_sms")


# --- loading ------------------------------------------------------------------------


def load_provider_limits(path: str | Path | None = None) -> ProviderLimits:
    """The packaged defaults, with the destinations of the file at ``path`` over them."""
    text = resources.files("alerts").joinpath("policies", "sms_limits.toml").read_text("utf-8")
    table = parse_limits(tomllib.loads(text), "default")
    if path is None:
        return ProviderLimits(table)
    where = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise LimitsError(where, f"cannot read it: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LimitsError(where, f"not valid TOML: {exc}") from exc
    for provider, dests in parse_limits(data, where).items():
        table.setdefault(provider, {}).update(dests)
    return ProviderLimits(table, where)


_DEST_FIELDS = {"two_way", "links", "source", "rules"}
_RULE_FIELDS = {"name", "max", "window", "same_text", "outcome", "reason"}
_PREFIX = re.compile(r"^(\*|\+[1-9]\d{0,14})$")


Table = dict[str, dict[str, Destination]]


def parse_limits(data: Mapping[str, Any], where: str = "inline") -> Table:
    out: Table = {}
    for provider, dests in data.items():
        if not isinstance(dests, dict) or not re.fullmatch(r"[a-z][a-z0-9_]*", provider):
            raise LimitsError(where, f"[{provider}] must be a table named by a provider")
        out[provider] = {}
        for prefix, raw in dests.items():
            at = f'{where} {provider}."{prefix}"'
            if not _PREFIX.match(prefix):
                raise LimitsError(at, 'a destination is "*" or a prefix like "+86"')
            out[provider][prefix] = _destination(at, provider, prefix, raw)
    return out


def _destination(at: str, provider: str, prefix: str, raw: Any) -> Destination:
    if not isinstance(raw, dict):
        raise LimitsError(at, "must be a table")
    unknown = sorted(set(raw) - _DEST_FIELDS)
    if unknown:
        raise LimitsError(at, f"unknown field(s) {', '.join(unknown)}")
    for flag in ("two_way", "links"):
        if not isinstance(raw.get(flag, True), bool):
            raise LimitsError(at, f"{flag} must be true or false")
    rules = raw.get("rules", [])
    if not isinstance(rules, list):
        raise LimitsError(at, "rules must be an array of tables")
    return Destination(
        provider,
        prefix,
        two_way=raw.get("two_way", True),
        links=raw.get("links", True),
        rules=tuple(_rule(f"{at}.rules[{i}]", r) for i, r in enumerate(rules)),
        source=str(raw.get("source", "")),
    )


def _rule(at: str, raw: Any) -> LimitRule:
    if not isinstance(raw, dict):
        raise LimitsError(at, "each rule must be a table")
    unknown = sorted(set(raw) - _RULE_FIELDS)
    if unknown:
        raise LimitsError(at, f"unknown field(s) {', '.join(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"\w+", name):
        raise LimitsError(at, "name must be a word")
    most, window = raw.get("max"), raw.get("window")
    if not isinstance(most, int) or isinstance(most, bool) or most < 1:
        raise LimitsError(at, "max must be a whole number, at least 1")
    if not isinstance(window, int | float) or isinstance(window, bool) or window <= 0:
        raise LimitsError(at, "window must be a number of seconds above 0")
    outcome = raw.get("outcome", "rejected")
    if outcome not in OUTCOMES:
        raise LimitsError(at, f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    same_text = raw.get("same_text", False)
    if not isinstance(same_text, bool):
        raise LimitsError(at, "same_text must be true or false")
    reason = raw.get("reason", f"at most {most} SMS per number within {window:g} s")
    return LimitRule(name, most, float(window), same_text, outcome, str(reason))


# --- the engine's side ------------------------------------------------------------------


class Channel(Protocol):
    name: str


class LimitHost(Protocol):
    """What the guard needs of the escalation engine."""

    store: Store
    clock: Clock
    bus: AlertBus
    metrics: Metrics

    @property
    def sms(self) -> Channel: ...

    def wake(self) -> None: ...

    async def _next_contact(
        self, alert: Alert, step: EscalationStep, failed_contact: int | None
    ) -> None: ...


STARTED = ("planned", "sending", "sent", "unknown")
"""Send states of a voice call that is or was under way (for ``voice_gap_s``)."""


class SmsLimitGuard:
    def __init__(
        self,
        limits: ProviderLimits | None = None,
        *,
        max_defer_s: float = 60.0,
        voice_gap_s: float = 300.0,
        voice_severities: frozenset[Severity] = frozenset({Severity.CRITICAL, Severity.HIGH}),
    ) -> None:
        self.limits = limits or load_provider_limits()
        self.max_defer_s = max_defer_s
        self.voice_gap_s = voice_gap_s
        self.voice_severities = voice_severities
        self._locks: dict[str, asyncio.Lock] = {}

    def asks_reply(self, channel: Channel, phone: str, recipient_kind: str) -> bool:
        """May this family SMS ask for a reply? Only where the provider carries one back."""
        if recipient_kind != "family":
            return False
        return self.limits.destination(provider_of(channel.name), phone).two_way

    def texts_for(
        self, ctx: AlertContext, channel: Channel, phone: str, recipient_kind: str
    ) -> AlertContext:
        """The alert's text context for one recipient: without the reply instruction
        where the provider cannot carry a reply back (Twilio to +86)."""
        if ctx.reply_hint and not self.asks_reply(channel, phone, recipient_kind):
            return replace(ctx, reply_hint=False)
        return ctx

    async def begin_send(
        self,
        host: LimitHost,
        alert: Alert,
        step: EscalationStep,
        send: EscalationSend,
        quota: int | None,
    ) -> str:
        """``Store.begin_send``'s decision, or ``limited`` (the provider is not called;
        the next useful action is taken and the timeline says why)."""
        dest = self.limits.destination(provider_of(host.sms.name), send.to_phone)
        if send.channel != "sms" or (not dest.rules and dest.links):
            return await host.store.begin_send(send.key, host.clock.now(), quota)
        lock = self._locks.setdefault(send.to_phone, asyncio.Lock())
        async with lock:
            now = host.clock.now()
            since = now - timedelta(seconds=dest.window_s)
            history = await host.store.list_sms_sent_to(send.to_phone, since)
            breach = self.limits.check(dest, send.body, history, now)
            if breach is None:
                return await host.store.begin_send(send.key, now, quota)
        # the action and its why first: a crash before the send is marked redoes them
        # (steps are idempotent by name), never leaves a skip without its reason
        action = await self._instead(host, alert, step, send, breach)
        await self._tell(host, alert, step, send, breach, action)
        await host.store.finish_send(
            send.key, "skipped", host.clock.now(), status="limited", error=f"limit: {breach.rule}"
        )
        return "limited"

    async def _instead(
        self,
        host: LimitHost,
        alert: Alert,
        step: EscalationStep,
        send: EscalationSend,
        breach: Breach,
    ) -> str:
        now = host.clock.now()
        cid = send.contact_id
        if send.recipient_kind != "family" or cid is None:
            return "none"  # supervisors: the care centre has it on the screen
        if breach.allowed_at is not None and breach.allowed_at - now <= timedelta(
            seconds=self.max_defer_s
        ):
            later = ALL_CLEAR if step.action == ALL_CLEAR else "sms"
            await host.store.add_steps([_variant(step, f"+l{cid}", later, cid, breach.allowed_at)])
            return "later"
        if step.action == ALL_CLEAR:
            return "none"  # nobody is called at night to hear that it is over
        single = step.target == "family_first" or step.target.startswith("contact:")
        if single and await _has_next_contact(host.store, alert.home_id, cid):
            await host._next_contact(alert, step, cid)
            return "next_contact"
        if alert.severity in self.voice_severities:
            if await self._called_lately(host, alert, send.to_phone, now):
                return "voice_already"
            await host.store.add_steps([_variant(step, f"+v{cid}", "voice", cid, now)])
            host.wake()
            return "voice"
        return "none"

    async def _called_lately(
        self, host: LimitHost, alert: Alert, phone: str, now: datetime
    ) -> bool:
        since = now - timedelta(seconds=self.voice_gap_s)
        for s in await host.store.list_sends(alert.id):
            recent = s.updated_at is None or s.updated_at > since
            if s.channel == "voice" and s.to_phone == phone and s.state in STARTED and recent:
                return True
        steps = await host.store.list_steps(alert.id)
        return any(
            s.action == "voice"
            and s.state in ("pending", "claimed")
            and s.due_at <= now + timedelta(seconds=self.voice_gap_s)
            and "+v" in s.name
            for s in steps
        )

    async def _tell(
        self,
        host: LimitHost,
        alert: Alert,
        step: EscalationStep,
        send: EscalationSend,
        breach: Breach,
        action: str,
    ) -> None:
        dest = breach.destination
        details: dict[str, Any] = {
            "message": SCREEN_TEXT,
            "recipient": send.to_phone,
            "recipient_kind": send.recipient_kind,
            "contact_id": send.contact_id,
            "provider": dest.provider,
            "destination": dest.prefix,
            "rule": breach.rule,
            "outcome": breach.outcome,
            "reason": breach.reason,
            "allowed_at": breach.allowed_at.isoformat() if breach.allowed_at else None,
            "action": action,
            "step": step.name,
            "key": send.key,
            "text": send.body,
        }
        await host.store.add_timeline(
            TimelineEntry(alert.id, host.clock.now(), "sms_limited", None, details)
        )
        host.metrics.inc(
            "eldercare_sms_limited_total", provider=dest.provider, rule=breach.rule, action=action
        )
        log.warning(
            "alert %s: SMS to %s not sent (%s: %s); instead: %s",
            alert.id,
            send.to_phone,
            breach.rule,
            breach.reason,
            action,
            extra={"alert_id": alert.id, "step": send.key, "rule": breach.rule},
        )
        host.bus.publish("sms_limited", alert)


async def _has_next_contact(store: Store, home_id: str, contact_id: int) -> bool:
    ids = [c.id for c in await store.list_contacts(home_id)]
    return contact_id in ids and ids.index(contact_id) + 1 < len(ids)


def _variant(
    step: EscalationStep, suffix: str, action: str, contact_id: int, due: datetime
) -> EscalationStep:
    """The same step, for one contact, by ``action``, at ``due`` (a new step row)."""
    return replace(
        step,
        name=f"{step.name}{suffix}",
        due_at=due,
        action=action,
        target=f"contact:{contact_id}",
        repeat_every_s=None,
        state="pending",
        id=None,
        claimed_by=None,
        attempts=0,
    )
