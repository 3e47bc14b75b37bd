"""Politeness: Retry-After read against its cap and floor; poll() has a minimum interval and a
maximum number of probes whatever its caller asks."""

from __future__ import annotations

import pytest

from canary import politeness
from canary.harness import poll
from canary.politeness import retry_after

NOW = 1_700_000_000.0


def test_retry_after_zero_is_valid_but_waits_the_floor():
    ra = retry_after("0", cap_s=5, now_wall=NOW)
    assert ra.valid and ra.asked_s == 0
    assert ra.wait_s == politeness.PAGE_MIN_INTERVAL_S


def test_retry_after_within_the_cap_is_honoured():
    ra = retry_after(" 3 ", cap_s=5, now_wall=NOW)
    assert (ra.wait_s, ra.too_long) == (3, False)


def test_huge_retry_after_is_valid_capped_and_too_long():
    ra = retry_after("99999", cap_s=5, now_wall=NOW)
    assert ra.valid and ra.too_long
    assert ra.asked_s == 99999 and ra.wait_s == 5


def test_absurdly_many_digits_stay_finite():
    ra = retry_after("9" * 400, cap_s=5, now_wall=NOW)
    assert ra.valid and ra.too_long and ra.wait_s == 5


@pytest.mark.parametrize("raw", [None, "", "soon", "-1", "1.5", "1e3", "0x10", "Mon, 99 Foo"])
def test_missing_or_garbage_retry_after_is_invalid_and_waits_the_default(raw):
    ra = retry_after(raw, cap_s=5, now_wall=NOW)
    assert not ra.valid and not ra.too_long
    assert ra.wait_s == politeness.PAGE_DEFAULT_RETRY_S


def test_http_date_retry_after_counts_from_now():
    ra = retry_after("Tue, 14 Nov 2023 22:13:22 GMT", cap_s=5, now_wall=NOW)  # NOW + 2 s
    assert ra.valid and ra.asked_s == pytest.approx(2.0)
    assert ra.wait_s == pytest.approx(2.0)


def test_http_date_in_the_past_means_now_and_waits_the_floor():
    ra = retry_after("Wed, 21 Oct 2015 07:28:00 GMT", cap_s=5, now_wall=NOW)
    assert ra.valid and ra.asked_s == 0 and ra.wait_s == politeness.PAGE_MIN_INTERVAL_S


def test_poll_never_waits_less_than_the_minimum_interval(clock):
    res = poll(clock, lambda: None, lambda v: False, deadline=clock.monotonic() + 1,
               start_s=0.0, cap_s=0.0)
    assert min(clock.sleeps[:-1]) >= politeness.POLL_MIN_INTERVAL_S
    assert res.polls <= 1 / politeness.POLL_MIN_INTERVAL_S + 2


def test_poll_stops_at_the_maximum_number_of_probes(clock, monkeypatch):
    monkeypatch.setattr(politeness, "POLL_MAX_PROBES", 7)
    probes = []
    res = poll(clock, lambda: probes.append(1), lambda v: False,
               deadline=clock.monotonic() + 3600)
    assert not res.ok
    assert len(probes) == res.polls == 7
