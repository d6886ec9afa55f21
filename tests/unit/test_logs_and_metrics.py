"""One JSON line per log event with its fields; Prometheus text for metrics."""

from __future__ import annotations

import io
import json
import logging

from eldercare.logs import setup_logging
from eldercare.metrics import Metrics


def test_json_log_line_carries_extra_fields() -> None:
    stream = io.StringIO()
    setup_logging("auto", "INFO", stream)  # a StringIO is not a terminal: JSON
    logging.getLogger("eldercare.test").warning(
        "alert %s raised", 3, extra={"alert_id": 3, "home_id": "h1"}
    )
    (line,) = stream.getvalue().splitlines()
    doc = json.loads(line)
    assert doc["msg"] == "alert 3 raised"
    assert doc["level"] == "warning"
    assert doc["alert_id"] == 3 and doc["home_id"] == "h1"
    setup_logging("text", "WARNING")


def test_metrics_render_counters_with_labels() -> None:
    m = Metrics()
    m.describe("eldercare_dead_letters_total", "counter", "Rejected messages by reason.")
    m.inc("eldercare_dead_letters_total", reason="bad_json")
    m.inc("eldercare_dead_letters_total", reason="bad_json")
    m.inc("eldercare_dead_letters_total", reason='we"ird')
    text = m.render()
    assert "# TYPE eldercare_dead_letters_total counter" in text
    assert 'eldercare_dead_letters_total{reason="bad_json"} 2' in text
    assert 'eldercare_dead_letters_total{reason="we\\"ird"} 1' in text
    assert m.value("eldercare_dead_letters_total", reason="bad_json") == 2
