"""The per-device token bucket (gateway/ratelimit.py): pure, time handed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.ratelimit import DeviceRateLimiter, Verdict

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
S = timedelta(seconds=1)


def verdicts(limiter: DeviceRateLimiter, n: int, at: datetime | None, now: datetime) -> list[str]:
    return [limiter.admit("d1", at, now).value for _ in range(n)]


def test_burst_then_one_dead_letter_a_window_then_drops() -> None:
    lim = DeviceRateLimiter(2, 3, window=timedelta(minutes=1))
    got = verdicts(lim, 6, None, T0)
    assert got == ["admit"] * 3 + ["dead_letter", "drop", "drop"]
    assert verdicts(lim, 3, None, T0 + S) == ["admit", "admit", "drop"]  # 2 tokens a second
    assert verdicts(lim, 4, None, T0 + 61 * S) == ["admit"] * 3 + ["dead_letter"]  # new window


def test_devices_have_buckets_of_their_own() -> None:
    lim = DeviceRateLimiter(1, 1)
    assert lim.admit("d1", None, T0) is Verdict.ADMIT
    assert lim.admit("d2", None, T0) is Verdict.ADMIT
    assert lim.admit("d1", None, T0) is Verdict.DEAD_LETTER


def test_readings_made_at_their_pace_pass_even_when_they_arrive_at_once() -> None:
    lim = DeviceRateLimiter(1, 1)
    now = T0 + 600 * S
    assert all(lim.admit("d1", T0 + i * S, now) is Verdict.ADMIT for i in range(600))


def test_timestamps_never_go_back_nor_past_now_nor_beyond_the_horizon() -> None:
    lim = DeviceRateLimiter(1, 1, horizon=timedelta(seconds=10))
    now = T0
    assert lim.admit("d1", T0, now) is Verdict.ADMIT
    assert lim.admit("d1", T0 - 5 * S, now) is not Verdict.ADMIT  # older: no tokens
    assert lim.admit("d1", T0 + 3600 * S, now) is not Verdict.ADMIT  # ahead of now: now
    # Forged old times on a new device buy at most the horizon's tokens.
    forged = [lim.admit("d2", T0 - 10**6 * S + i * 1000 * S, now) for i in range(1001)]
    assert sum(v is Verdict.ADMIT for v in forged) <= 1 + 10


def test_rate_zero_is_no_limit() -> None:
    lim = DeviceRateLimiter(0, 0)
    assert not lim.enabled
    assert set(verdicts(lim, 10_000, None, T0)) == {"admit"}


def test_a_service_clock_that_goes_back_starts_the_buckets_time_again() -> None:
    """The event clock reads the wall clock until the first event, then jumps back
    to that event's time: a replay of last week must not be cut to the burst."""
    lim = DeviceRateLimiter(1, 10)
    wall = T0 + timedelta(days=7)
    assert lim.admit("d1", None, wall) is Verdict.ADMIT  # a status before any event
    got = [lim.admit("d1", T0 + i * 300 * S, T0 + i * 300 * S) for i in range(100)]
    assert set(got) == {Verdict.ADMIT}
