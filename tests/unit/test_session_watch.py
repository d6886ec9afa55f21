"""SessionWatch (gateway/session_watch.py): which disconnects are takeovers."""

from __future__ import annotations

from gateway.session_watch import SESSION_TAKEN_OVER, SessionWatch


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_mqtt5_reason_code_is_a_takeover_whenever_it_comes() -> None:
    clock = Clock()
    watch = SessionWatch("gw", clock=clock)
    watch.connected()
    clock.t += 3600
    assert watch.disconnected(SESSION_TAKEN_OVER, by_server_packet=True, by_us=False) == "broker"
    problem = watch.problem()
    assert problem is not None and "taken over 1 time(s)" in problem and "gw" in problem


def test_a_close_soon_after_connecting_is_suspected_a_late_one_is_not() -> None:
    clock = Clock()
    watch = SessionWatch("gw", clock=clock, suspect_within=60)
    watch.connected()
    clock.t += 5
    assert watch.disconnected(128, by_server_packet=False, by_us=False) == "suspected"
    watch.connected()
    clock.t += 61
    assert watch.disconnected(128, by_server_packet=False, by_us=False) is None


def test_other_reasons_and_our_own_disconnect_are_not_takeovers() -> None:
    clock = Clock()
    watch = SessionWatch("gw", clock=clock)
    watch.connected()
    assert watch.disconnected(0x8B, by_server_packet=True, by_us=False) is None  # shutting down
    watch.connected()
    assert watch.disconnected(0, by_server_packet=False, by_us=True) is None
    assert watch.problem() is None


def test_the_problem_ends_after_the_window() -> None:
    clock = Clock()
    watch = SessionWatch("gw", clock=clock, window=300)
    for _ in range(3):
        watch.connected()
        clock.t += 1
        watch.disconnected(SESSION_TAKEN_OVER, by_server_packet=True, by_us=False)
    problem = watch.problem()
    assert problem is not None and "taken over 3 time(s)" in problem
    clock.t += 301
    assert watch.problem() is None
