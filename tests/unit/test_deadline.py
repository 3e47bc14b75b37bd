"""Deadline and bounded(): a call runs only while time remains and is abandoned when it ends."""

from __future__ import annotations

import threading
import time

import pytest

from canary.deadline import Deadline, TimeUp, bounded


def test_a_bounded_call_returns_its_value():
    assert bounded(lambda: 42, 1.0) == 42


def test_a_bounded_call_raises_its_own_error_in_the_caller():
    def fail() -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        bounded(fail, 1.0)


def test_a_hanging_call_is_abandoned_at_its_timeout():
    release = threading.Event()
    began = time.monotonic()
    try:
        with pytest.raises(TimeUp, match=r"no answer within 0\.2 s \(abandoned\)"):
            bounded(lambda: release.wait(30), 0.2)
        assert time.monotonic() - began < 0.2 + 0.5
    finally:
        release.set()


def test_with_no_time_left_the_call_is_not_started():
    started = []
    with pytest.raises(TimeUp, match="not attempted"):
        bounded(lambda: started.append(1), 0.0)
    assert started == []


def test_a_deadline_counts_down_on_the_injected_clock(clock):
    deadline = Deadline.after(clock, 10)
    clock.advance(4)
    assert deadline.remaining() == pytest.approx(6)
    assert deadline.share(5, 0.5) == pytest.approx(3)  # half of what is left, under the cap
    assert deadline.share(2) == pytest.approx(2)  # the cap
    clock.advance(7)
    assert deadline.remaining() == 0 and deadline.expired()


def test_a_floor_gives_a_busy_call_time_but_never_more_than_half_of_what_is_left(clock):
    assert Deadline.after(clock, 6).share(3, 0.1, floor_s=1) == pytest.approx(1)
    assert Deadline.after(clock, 1.2).share(3, 0.1, floor_s=1) == pytest.approx(0.6)
    assert Deadline.after(clock, 600).share(3, 0.1, floor_s=1) == pytest.approx(3)
