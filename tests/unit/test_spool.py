"""The local spool (eldercare/spool.py) on a real SQLite file: what is put in is
on disk, survives a restart of the process, comes back oldest first, and an SMS
begun once is never begun twice."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eldercare.domain import (
    Alert,
    AlertKind,
    AlertStatus,
    Clearance,
    DeadLetter,
    DeviceKind,
    Finding,
    Reading,
    Severity,
)
from eldercare.spool import Spool, SpooledSend, SpoolError, finding_key
from eldercare.store.base import LivenessUpdate

AT = datetime(2026, 12, 3, 3, 0, tzinfo=UTC)


def reading(seq: int) -> Reading:
    return Reading("h1", "h1-bed", DeviceKind.BED_BAND, AT, AT, seq, 90.0, {"hr": 60 + seq})


def alert() -> Alert:
    return Alert(
        0, "h1", "h1-r", AlertKind.SOS, Severity.CRITICAL, AlertStatus.OPEN, AT, AT,
        AT + timedelta(minutes=10), 1, "SOS", "h1-sos", "h1-r",
    )  # fmt: skip


async def test_batches_and_signals_survive_a_restart_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool.open(path)
    dead = DeadLetter("eldercare/v1/h1/x/event", b"{", "bad_json", "not JSON", AT)
    await spool.put_batch([reading(0), reading(1)], [dead], [LivenessUpdate("h1-bed", AT)])
    await spool.put_batch([reading(2)], [], [])
    finding = Finding("h1", "h1-r", AlertKind.SOS, Severity.CRITICAL, AT, "h1-sos:s0", "SOS")
    await spool.put_signal(finding)
    await spool.put_signal(Clearance("h1", "h1-gas", AlertKind.GAS_LEAK, AT, "gas cleared"))
    spool.close()

    again = Spool.open(path)  # the process died: everything is still there
    assert (again.batches, again.signals) == (2, 2)
    batches = await again.take_batches(10)
    assert [[r.seq for r in b.readings] for b in batches] == [[0, 1], [2]]
    assert batches[0].dead == [dead] and batches[0].liveness == [LivenessUpdate("h1-bed", AT)]
    signals = await again.take_signals(10)
    assert signals[0][1] == finding
    assert isinstance(signals[1][1], Clearance)
    await again.delete_batches([batches[0].id])
    await again.delete_signals([i for i, _ in signals])
    assert [[r.seq for r in b.readings] for b in await again.take_batches(10)] == [[2]]
    assert (again.batches, again.signals) == (1, 0)
    again.close()


async def test_one_provisional_alert_per_finding_key_with_negative_ids(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "spool.db")
    key = finding_key("h1", "h1-r", "sos")
    first = await spool.add_provisional(key, alert())
    assert first is not None and first.id == -1
    assert await spool.add_provisional(key, alert()) is None  # a redelivered press
    other = await spool.add_provisional(finding_key("h2", "h2-r", "sos"), alert())
    assert other is not None and other.id == -2
    await spool.drop_provisional(key)
    assert [k for k, _ in await spool.list_provisional()] == [finding_key("h2", "h2-r", "sos")]
    spool.close()


async def test_an_sms_is_begun_once_and_its_outcome_kept(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool.open(path)
    send = SpooledSend(
        finding_key("h1", "h1-r", "sos"), AT.isoformat(), "critical.family_first", "c1",
        "+8613800000001", "text", "sending",
    )  # fmt: skip
    assert await spool.begin_send(send)
    assert not await spool.begin_send(send)  # a second try after a crash: not sent again
    await spool.finish_send(send, "sent", provider_id="SM1", status="queued")
    spool.close()
    again = Spool.open(path)
    [kept] = await again.sends_for(send.finding_key, send.raised_at)
    assert (kept.state, kept.provider_id, kept.status) == ("sent", "SM1", "queued")
    assert await again.sends_for(send.finding_key, (AT + timedelta(hours=1)).isoformat()) == []
    again.close()


def test_a_spool_of_another_format_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    Spool.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE name = 'format'")
    with pytest.raises(SpoolError, match=r"format 99.*drain it"):
        Spool.open(path)


def test_an_unwritable_spool_path_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SpoolError, match="cannot open the spool"):
        Spool.open(blocker / "spool.db")
