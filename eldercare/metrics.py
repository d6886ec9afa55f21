"""In-process metrics rendered in the Prometheus text format at ``/metrics``.

One ``Metrics`` object is made at start-up and passed to whoever counts:
``inc`` for counters, ``gauge`` for values read when scraped, ``observe`` for
durations (a histogram: cumulative buckets, sum and count).
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


LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; the upper bounds of the histogram buckets of ``observe``."""

Labels = tuple[tuple[str, str], ...]


class _Histogram:
    __slots__ = ("counts", "sum", "total")

    def __init__(self) -> None:
        self.counts = [0] * len(LATENCY_BUCKETS)
        self.sum = 0.0
        self.total = 0


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, Callable[[], dict[tuple[tuple[str, str], ...], float]]] = {}
        self._histograms: dict[str, dict[Labels, _Histogram]] = {}

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        """Record one duration in the histogram ``name`` (``_bucket``, ``_sum``, ``_count``)."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            hist = self._histograms.setdefault(name, {}).setdefault(key, _Histogram())
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    hist.counts[i] += 1
            hist.sum += seconds
            hist.total += 1

    def observed(self, name: str, **labels: str) -> tuple[int, float]:
        """(count, sum) of a histogram; (0, 0.0) if nothing was observed."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            hist = self._histograms.get(name, {}).get(key)
            return (hist.total, hist.sum) if hist else (0, 0.0)

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
        with self._lock:
            histograms = {
                n: {k: (list(h.counts), h.sum, h.total) for k, h in s.items()}
                for n, s in self._histograms.items()
            }
        for name in sorted(histograms):
            _, text = self._help.get(name, ("histogram", name))
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} histogram")
            for labels, (counts, total_s, n) in sorted(histograms[name].items()):
                for bound, count in zip(LATENCY_BUCKETS, counts, strict=True):
                    le = (*labels, ("le", f"{bound:g}"))
                    lines.append(f"{name}_bucket{_label_text(le)} {count}")
                inf = (*labels, ("le", "+Inf"))
                lines.append(f"{name}_bucket{_label_text(inf)} {n}")
                lines.append(f"{name}_sum{_label_text(labels)} {total_s:g}")
                lines.append(f"{name}_count{_label_text(labels)} {n}")
        for name in sorted(self._gauges):
            _, text = self._help[name]
            lines.append(f"# HELP {name} {text}")
            lines.append(f"# TYPE {name} gauge")
            for labels, val in sorted(self._gauges[name]().items()):
                lines.append(f"{name}{_label_text(labels)} {val:g}")
        return "\n".join(lines) + "\n"
