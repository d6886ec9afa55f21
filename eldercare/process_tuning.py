"""The interpreter, set for a long-running service process: the cyclic garbage
collector and the GIL's switch interval.

The collector. Measured with 3,000 homes sending vitals once a second (the live mode of
``benchmarks/profile_pipeline.py``, this machine): in 20 s the service made four
full collections of the ~170,000 objects it holds, the longest 206 ms. A full
collection stops everything, so it lands in the alert latency p99. Once the
service has started (registry loaded, detectors restored):

- ``gc.freeze()``: everything alive now (modules, the registry, the app) moves
  to the permanent generation and is never scanned again; reference counting
  still frees it when it dies, only a cycle among those objects would be kept.
  On a synthetic heap of 300,000 long-lived objects this took full collections
  from 111 ms to 0.5 ms (``gc`` callbacks timing each pass);
- a young generation of 100,000 objects instead of 700 (``GC_THRESHOLDS``).
  With 10,000 homes (``eldercare bench``, 10,000 msg/s) Python's 700 made a
  full collection every 1 to 1.5 s, 27 to 313 ms each: a batch of up to 1,000
  messages (its readings, dicts, tuples) outlived two young collections, was
  promoted to the old generation and died there, and every 25 % of growth
  there starts a full collection. With 100,000 a batch dies young;
- every collection's pause is observed in ``eldercare_gc_seconds`` (by
  generation) on ``/metrics``, so a latency spike can be matched to one.

The switch interval. paho's network thread and the event loop share the GIL.
A thread that wants it waits up to the switch interval (5 ms by default) for
the other to let go, and the alert path waits like that after each of its
dozen database round trips while paho parses a burst of vitals. 1 ms bounds
that wait at a cost of more frequent hand-overs.

Process-wide, so it is called by the ``serve`` and ``demo`` entry points, not
by ``Service`` (tests run many services in one process).
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any

from eldercare.metrics import Metrics

METRIC = "eldercare_gc_seconds"
SWITCH_INTERVAL_S = 0.001
GC_THRESHOLDS = (100_000, 20, 10)
"""Objects allocated (net) before a young collection; young collections per
middle one; middle ones per full one (Python's: 700, 10, 10)."""


def tune_for_service(metrics: Metrics) -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    metrics.describe(METRIC, "histogram", "Pauses of Python's cyclic garbage collector")
    started = 0.0

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            metrics.observe(
                METRIC, time.perf_counter() - started, generation=str(info["generation"])
            )

    gc.callbacks.append(on_gc)
