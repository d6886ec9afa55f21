"""In-process metrics rendered in the Prometheus text format at ``/metrics``.

One ``Metrics`` object is made at start-up and passed to whoever counts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def _label_text(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in labels
    )
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, Callable[[], dict[tuple[tuple[str, str], ...], float]]] = {}

    def describe(self, name: str, kind: str, text: str) -> None:
        self._help[name] = (kind, text)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + amount

    def value(self, name: str, **labels: str) -> float:
        key = tuple(sorted(labels.items()))
        with self._lock:
            return self._counters.get(name, {}).get(key, 0.0)

    def gauge(
        self, name: str, read: Callable[[], dict[tuple[tuple[str, str], ...], float]], text: str
    ) -> None:
        """A gauge computed when scraped; ``read`` returns {labels: value}."""
        self._gauges[name] = read
        self._help[name] = ("gauge", text)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            counters = {n: dict(s) for n, s in self._counters.items()}
        for name in sorted(counters):
            kind, text = self._help.get(name, ("counter", name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, val in sorted(counters[name].items()):
                lines.append(f"{name}{_label_text(labels)} {val:g}")
        for name in sorted(self._gauges):
            _, text = self._help[name]
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} gauge")
            for labels, val in sorted(self._gauges[name]().items()):
                lines.append(f"{name}{_label_text(labels)} {val:g}")
        return "\n".join(lines) + "\n"
