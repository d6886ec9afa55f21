"""The alert lifecycle of CONTRACT.md §2: status moves forward only.

``open → acknowledged → dispatched → on_site → resolved``; steps may be
skipped; ``resolved`` needs an outcome. Pure logic, no I/O.
"""

from __future__ import annotations

from eldercare.domain import AlertStatus, Outcome


class IllegalTransition(Exception):
    """A staff action that the alert's current status does not allow.

    ``reason`` is a sentence for the person who tried it (the API's 409 detail).
    """

    def __init__(self, alert_id: int, current: AlertStatus, wanted: AlertStatus, reason: str):
        super().__init__(reason)
        self.alert_id = alert_id
        self.current = current
        self.wanted = wanted
        self.reason = reason


def check_transition(
    alert_id: int, current: AlertStatus, wanted: AlertStatus, outcome: Outcome | None = None
) -> None:
    """Raise IllegalTransition unless ``current → wanted`` is allowed."""
    if current is AlertStatus.RESOLVED:
        raise IllegalTransition(
            alert_id,
            current,
            wanted,
            f"alert {alert_id} is already resolved; nothing can change it",
        )
    if wanted.order <= current.order:
        raise IllegalTransition(
            alert_id,
            current,
            wanted,
            f"alert {alert_id} is already {current.value}; it cannot go back to {wanted.value}"
            if wanted.order < current.order
            else f"alert {alert_id} is already {current.value}",
        )
    if wanted is AlertStatus.RESOLVED and outcome is None:
        raise IllegalTransition(
            alert_id,
            current,
            wanted,
            "resolving needs an outcome: " + ", ".join(o.value for o in Outcome),
        )
