"""What the Aliyun and Tencent Cloud channels share: retries, the record of sent
keys, error classes, phone formats and the provider endpoint setting.

Every provider answer is sorted into one of four kinds (``ProviderError.action``):

- ``permanent``: the provider refused this message for good (a bad number, a
  blacklisted number, a daily or hourly per-number limit, a template or sign not
  approved, bad credentials): ``PermanentFailure``, so a step meant for contact
  #1 moves on to the next contact at once.
- ``throttle``: a short per-number or per-account limit (Aliyun's minute-level
  ``isv.BUSINESS_LIMIT_CONTROL``, Tencent's 30-second limit, API throttling):
  nothing went out; the same message is tried again once the limit allows
  (after ``throttle_wait_s``, at most ``throttle_attempts`` times).
- ``retry``: a provider-side error that says nothing went out (5xx with an error
  code, a refused connection): retried with jittered exponential backoff.
- ``ambiguous``: the request may have reached the provider (a read timeout, a
  connection cut after sending): not sent again, since neither provider
  de-duplicates on a key; ``TemporaryFailure``, and the step moves on to the next
  contact instead.

Never two SMS for one step: the channel keeps the keys it sent and sends one key
at a time (as the Twilio channel does); each request also carries the step key
(Aliyun ``OutId``, Tencent ``SessionContext``), which comes back in the delivery
report and in the provider's records.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from alerts.channels import Outbound, PermanentFailure, Receipt, TemporaryFailure

log = logging.getLogger("eldercare.alerts.cn_sms")

Sleep = Callable[[float], Awaitable[None]]


class ProviderError(Exception):
    """A provider (or network) error, sorted: ``permanent``, ``throttle``, ``retry``
    or ``ambiguous`` (see the module docstring)."""

    def __init__(self, action: str, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.action = action
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the SDK sends its requests: ``https://dysmsapi.aliyuncs.com`` or a local
    look-alike such as ``http://127.0.0.1:8020``."""

    scheme: str
    host: str
    """host[:port], as the SDKs take it (and sign it)"""

    @classmethod
    def parse(cls, value: str) -> Endpoint:
        if "://" not in value:
            return cls("https", value.strip("/"))
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise ValueError(f"not an http(s) endpoint: {value!r}")
        return cls(url.scheme, url.netloc)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    """Tries for ``retry`` errors."""
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    throttle_wait_s: float = 30.0
    """Wait before trying a throttled message again (Tencent's limit is 30 s, Aliyun's
    minute-level limit is met by the second wait)."""
    throttle_attempts: int = 3
    """Tries in all for a throttled message: at most (attempts - 1) waits."""
    timeout_s: float = 10.0


def national_number(phone: str) -> str:
    """Aliyun's ``PhoneNumbers``: a mainland number without ``+86``; others as
    ``00`` + country code + number, as Aliyun's international format asks."""
    if phone.startswith("+86"):
        return phone[3:]
    return "00" + phone.lstrip("+")


def e164_from_report(number: str, nationcode: str | None = None) -> str:
    """A phone from a provider's report back to E.164 (``13800000001`` → ``+8613800000001``)."""
    number = number.strip()
    if number.startswith("+"):
        return number
    if nationcode:
        return f"+{nationcode.lstrip('+')}{number}"
    if number.startswith("00"):
        return "+" + number[2:]
    if number.startswith("86") and len(number) == 13:
        return "+" + number
    return "+86" + number


class SendRecord:
    """Sends each (kind, step key) at most once, with the retry policy; the record of
    the keys sent answers a repeated call with the first receipt."""

    def __init__(
        self,
        provider: str,
        policy: RetryPolicy,
        *,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.provider = provider
        self.policy = policy
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._sent: OrderedDict[str, Receipt] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.requests = 0
        """Send requests made (each try counts)."""

    async def once(
        self, kind: str, message: Outbound, attempt: Callable[[], Awaitable[Receipt]]
    ) -> Receipt:
        key = f"{kind}:{message.step_key}"
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            done = self._sent.get(key)
            if done is not None:
                log.info("step %s already sent as %s", message.step_key, done.provider_id)
                return done
            receipt = await self._with_retries(kind, message, attempt)
            self._sent[key] = receipt
            while len(self._sent) > 100_000:
                self._sent.popitem(last=False)
            return receipt

    async def _with_retries(
        self, kind: str, message: Outbound, attempt: Callable[[], Awaitable[Receipt]]
    ) -> Receipt:
        p = self.policy
        retries = throttles = 0
        while True:
            self.requests += 1
            try:
                receipt = await attempt()
            except ProviderError as exc:
                where = f"{self.provider} {kind} to {message.to}"
                extra = {"alert_id": message.alert_id, "step": message.step_key, "code": exc.code}
                if exc.action == "permanent":
                    raise PermanentFailure(f"{where} refused: {exc}", status=exc.status) from exc
                if exc.action == "ambiguous":
                    raise TemporaryFailure(
                        f"{where}: no answer ({exc}); it may have gone out, so it is not "
                        "sent again",
                        status=exc.status,
                    ) from exc
                if exc.action == "throttle":
                    throttles += 1
                    if throttles >= p.throttle_attempts:
                        raise TemporaryFailure(
                            f"{where} still throttled after {throttles} tries: {exc}",
                            status=exc.status,
                        ) from exc
                    wait = p.throttle_wait_s
                else:
                    retries += 1
                    if retries >= p.attempts:
                        raise TemporaryFailure(
                            f"{where} failed after {retries} tries: {exc}", status=exc.status
                        ) from exc
                    cap = min(p.backoff_max_s, p.backoff_s * 2 ** (retries - 1))
                    wait = cap / 2 + self._rng.uniform(0, cap / 2)
                log.warning("%s: %s; trying again in %.1f s", where, exc, wait, extra=extra)
                await self._sleep(wait)
                continue
            receipt.details.setdefault("attempts", str(retries + throttles + 1))
            return receipt
