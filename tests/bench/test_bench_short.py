"""``eldercare bench --short`` runs end to end and writes well-formed JSON.

Its figures are not asserted (the machine is shared and noisy); only that
every part produced them."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path


def _work_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("eldercare-bench-*"))


def test_short_bench_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    before = _work_folders()
    done = subprocess.run(
        [sys.executable, "-m", "eldercare", "bench", "--short", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "(a) bare paho subscriber" in done.stdout
    doc = json.loads(out.read_text())
    tp, lat = doc["throughput"], doc["latency"]
    assert tp["messages"] == doc["config"]["messages"]
    for key in ("bare_paho_msgs_per_s", "pipeline_msgs_per_s", "pipeline_over_bare"):
        assert tp[key] > 0
    assert lat["publish_to_sse_ms"]["seen"] == lat["probes"] > 0
    for path in ("publish_to_sse_ms", "publish_to_sms_request_ms"):
        spread = lat[path]
        assert spread["max"] >= spread["p99"] >= spread["p90"] >= spread["p50"] > 0, path
    assert lat["service_rss_mb"] > 0 and lat["background_msgs_per_s"] > 0
    # a run that went through leaves no work folder (broker database, logs) behind
    assert _work_folders() - before == set()
