"""``eldercare bench --short`` runs end to end and writes well-formed JSON,
with the mosquitto_sub reference and, with ``--load 1 --runs 2``, two unloaded
and two loaded runs.

Its figures are not asserted (the machine is shared and noisy); only that
every part produced them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from eldercare.bench import priority

BENCH = (sys.executable, "-m", "eldercare", "bench")


def _work_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("eldercare-bench-*"))


def test_short_bench_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    before = _work_folders()
    done = subprocess.run(
        [*BENCH, "--short", "--load", "1", "--runs", "2", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    doc = json.loads(out.read_text())
    tp, lat = doc["throughput"], doc["latency"]
    assert tp["messages"] == doc["config"]["messages"]
    # the production unit's CPU priority (as root), the burners at normal priority
    want = priority.deployed_nice() if os.geteuid() == 0 else 0
    assert (doc["config"]["nice"], doc["config"]["burners_nice"]) == (want, 0)
    assert f"nice {want} (service, broker, PostgreSQL, load); burners nice 0" in done.stdout
    for key in (
        "mosquitto_sub_msgs_per_s",
        "bare_paho_msgs_per_s",
        "pipeline_msgs_per_s",
        "pipeline_over_bare",
        "pipeline_over_mosquitto_sub",
    ):
        assert tp[key] > 0, key
    assert f"{tp['mosquitto_sub_msgs_per_s']:,} msg/s" in done.stdout
    assert "(a) mosquitto_sub" in done.stdout and "bare paho subscriber" in done.stdout
    # both conditions, each run numbered, interleaved so they share the machine's drift
    runs = [(d["run"], d["cpu_burners"]) for d in doc["runs"]]
    assert runs == [(1, 0), (1, 1), (2, 0), (2, 1)]
    assert lat == doc["runs"][0]
    for d in doc["runs"]:
        assert d["publish_to_sse_ms"]["seen"] == d["probes"] > 0
        assert d["publish_to_sms_request_ms"]["seen"] == d["probes"]
        for path in ("publish_to_sse_ms", "publish_to_sms_request_ms"):
            spread = d[path]
            assert spread["max"] >= spread["p99"] >= spread["p90"] >= spread["p50"] > 0, path
        assert d["service_rss_mb"] > 0 and d["background_msgs_per_s"] > 0
    for row in ("unloaded 1", "loaded 1", "unloaded 2", "loaded 2"):
        assert f"\n{row} " in done.stdout, row
    for name in ("unloaded", "loaded"):
        worst = doc["worst"][name]
        assert worst["runs"] == 2
        slowest = max(
            d["publish_to_sse_ms"]["p99"]
            for d in doc["runs"]
            if bool(d["cpu_burners"]) == (name == "loaded")
        )
        assert worst["publish_to_sse_ms"]["p99"] == slowest
        assert f"\nworst {name} " in done.stdout
    # a run that went through leaves no work folder (broker database, logs) behind
    assert _work_folders() - before == set()


def test_bench_refuses_runs_that_would_press_an_sos_twice_in_a_home() -> None:
    """Each probe needs a home of its own (an open alert is repeated, not raised):
    5 probes x 2 runs x 2 conditions need 20 homes, and it says so before starting."""
    done = subprocess.run(
        [*BENCH, "--homes", "10", "--probes", "5", "--runs", "2", "--load", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "need 20 homes" in done.stderr and "--homes is 10" in done.stderr


def test_short_bench_with_1_and_2_workers_measures_each(tmp_path: Path) -> None:
    """``--workers 1,2``: serve --workers 1, then 2, on one NATS node in one run; each
    drained its whole backlog, saw every SOS on the screen and as an SMS request, and
    its CPU is serve's and its workers' together (more processes, more memory)."""
    out = tmp_path / "bench.json"
    before = _work_folders()
    done = subprocess.run(
        [*BENCH, "--short", "--workers", "1,2", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    doc = json.loads(out.read_text())
    rows = doc["workers"]
    assert [d["workers"] for d in rows] == [1, 2]
    for d in rows:
        assert d["backlog"] == doc["config"]["messages"]
        assert d["drain_msgs_per_s"] > 0
        assert d["publish_to_sse_ms"]["seen"] == d["probes"] > 0
        assert d["publish_to_sms_request_ms"]["seen"] == d["probes"]
        assert d["background_msgs_per_s"] > 0
        assert d["publish_to_sse_ms"]["max"] >= d["publish_to_sse_ms"]["p50"] > 0
    # serve and one worker, then serve and two: the second holds one process more
    assert rows[1]["service_rss_mb"] > rows[0]["service_rss_mb"] > 0
    for d in rows:
        assert f"\n{d['workers']}  " in done.stdout
    assert _work_folders() - before == set()


def test_bench_refuses_worker_counts_it_cannot_measure() -> None:
    for counts, said in (("0,2", "from 1 to 16"), ("1,x", "separated by commas")):
        done = subprocess.run(
            [*BENCH, "--short", "--workers", counts],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2 and said in done.stderr, done.stderr


def test_short_bench_with_the_intake_process(tmp_path: Path) -> None:
    """``--intake-process on``: serve with its intake process, every SOS seen on the
    screen and as an SMS request, the mode said in the figures."""
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [*BENCH, "--short", "--intake-process", "on", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    doc = json.loads(out.read_text())
    assert doc["config"]["intake_process"] == "on"
    lat = doc["latency"]
    assert lat["publish_to_sse_ms"]["seen"] == lat["probes"] > 0
    assert lat["publish_to_sms_request_ms"]["seen"] == lat["probes"]
    assert lat["service_rss_mb"] > 0
    assert "intake process                     on" in done.stdout
