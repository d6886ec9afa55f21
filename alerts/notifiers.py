"""Notifiers: where an alert goes once raised or changed.

Each notifier is isolated: one that fails is logged and counted, and cannot
stop the others (Home Assistant's ``alert`` style). The Twilio SMS and voice
notifiers come with the escalation work; the console notifier stands in for
families in the demo.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from eldercare.domain import Alert, Contact, Home, Resident
from eldercare.metrics import Metrics

log = logging.getLogger("eldercare.alerts.notify")


@dataclass(frozen=True, slots=True)
class Notice:
    """One message to one family contact about one alert."""

    alert: Alert
    contact: Contact
    home: Home
    resident: Resident | None
    text: str


class Notifier(Protocol):
    name: str

    async def send(self, notice: Notice) -> str:
        """Deliver the notice; return a delivery status word (e.g. ``printed``,
        ``queued``). Raise on failure."""
        ...


class ConsoleNotifier:
    """Prints what the family would receive; the demo's and the default SMS channel."""

    name = "console"

    def __init__(self) -> None:
        self.sent: list[Notice] = []

    async def send(self, notice: Notice) -> str:
        self.sent.append(notice)
        log.info(
            "SMS to %s (%s): %s",
            notice.contact.name,
            notice.contact.phone,
            notice.text,
            extra={"alert_id": notice.alert.id, "channel": self.name, "to": notice.contact.phone},
        )
        return "printed"


async def send_all(
    notifiers: Sequence[Notifier], notice: Notice, metrics: Metrics
) -> list[tuple[str, str]]:
    """Send through every notifier; return (channel, status) pairs, ``failed: …`` on error."""
    results: list[tuple[str, str]] = []
    for notifier in notifiers:
        try:
            status = await notifier.send(notice)
        except Exception as exc:  # one notifier's failure must not stop the others
            log.exception("notifier %s failed", notifier.name, extra={"alert_id": notice.alert.id})
            status = f"failed: {exc}"
            metrics.inc("eldercare_notifications_total", channel=notifier.name, status="failed")
        else:
            metrics.inc("eldercare_notifications_total", channel=notifier.name, status="ok")
        results.append((notifier.name, status))
    return results
