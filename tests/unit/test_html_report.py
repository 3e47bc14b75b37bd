"""The HTML report: escaped, self-contained, every step drawn and listed, both document shapes,
the wake phases under their step and the target lines from the settings."""

from __future__ import annotations

import re
from typing import Any

import pytest

from canary import phases
from canary.html_report import CHART_W, LABEL_W, render
from canary.scenario import STEP_NAMES

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & \'quoted\''


def step(name: str, status: str = "passed", duration_ms: float = 100.0, reason: str = "fine",
         **measurements: Any) -> dict[str, Any]:
    return {"name": name, "status": status, "duration_ms": duration_ms, "reason": reason,
            "measurements": measurements, "findings": []}


def single_run(**overrides: Any) -> dict[str, Any]:
    doc = {"ok": True, "run_id": "r1", "target": "env", "environment": "unit",
           "started_at": 1_700_000_000.0, "duration_ms": 1300.0, "error": "", "cut_short": [],
           "steps": [step(name) for name in STEP_NAMES],
           "metrics": {"ContainerWakeTime": 800.0, "APIResponseTime": 40.0}}
    doc.update(overrides)
    return doc


def test_a_hostile_reason_and_finding_are_escaped_text_not_markup():
    bad = step("warm_api", "failed", reason=HOSTILE)
    bad["findings"] = [HOSTILE + " again"]
    page = render(single_run(ok=False, steps=[step("preflight"), bad]))
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&#x27;quoted&#x27;" in page


def test_every_step_name_of_a_single_run_is_in_the_page_and_the_waterfall():
    page = render(single_run())
    svg = page[page.index("<svg"):page.index("</svg>")]
    for name in STEP_NAMES:
        assert f"<td>{name}</td>" in page, name
        assert f">{name}</text>" in svg, name


def test_a_sessions_document_gets_one_section_per_session():
    doc = {"ok": False, "run_id": "r2", "lane": "quick", "target": "env", "environment": "unit",
           "started_at": 1_700_000_000.0, "duration_ms": 900.0, "error": "",
           "first_attempt_ok": False,
           "sessions": [
               {"name": "alpha", "ok": True, "client_id": "c1", "thread_id": "t1",
                "duration_ms": 500.0, "error": "", "cut_short": [],
                "steps": [step("preflight"), step("route", duration_ms=30)], "metrics": {}},
               {"name": "beta", "ok": False, "client_id": "c2", "thread_id": "t2",
                "duration_ms": 700.0, "error": "", "cut_short": [],
                "steps": [step("preflight"), step("websocket", "failed", reason="no 502")],
                "metrics": {}},
           ]}
    page = render(doc)
    assert page.count("<section>") == 2 and page.count("<svg") == 2
    assert "Session alpha" in page and "Session beta" in page
    alpha, beta = page.split("Session beta")
    assert "route" in alpha and "websocket" not in alpha
    assert "websocket" in beta and "no 502" in beta
    assert "quick" in page  # the lane


def test_the_page_loads_nothing_and_runs_nothing():
    page = render(single_run(steps=[step("preflight", reason="see https://evil.test/x.js")]))
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert not re.search(r"<script|<link|<iframe|<img|\bsrc=|\bhref=|url\(", page)


T0 = 1_700_000_000.0
# A 20 s wake, 5 s into its step: created +1, pull started +3 (stopped: missing), started +13,
# row +18, preview +20; Hermes answered at +0.4 s.
WAKE = {"wake_ms": 20_000.0, "wake_offset_ms": 5000.0, "api_answered_ms": 400.0,
        **phases.measurements(phases.split(
            phases.Marks(requested=T0, row_running=T0 + 18, preview_ok=T0 + 20),
            {"taskArn": "arn:x/task/c/1", "createdAt": T0 + 1, "pullStartedAt": T0 + 3,
             "startedAt": T0 + 13}))}


def rows(page: str) -> dict[str, tuple[float, float]]:
    """Each sub-row's label -> (its bar's x, width)."""
    found = re.findall(r">\u21b3 ([^<]+)</text><rect x=\"([\d.]+)\" y=\"[\d.]+\" "
                       r"width=\"([\d.]+)\"", page)
    return {label: (float(x), float(w)) for label, x, w in found}


def wake_page(measured: dict[str, Any] = WAKE) -> tuple[str, Any]:
    """A preflight then a 30 s wake step at 100 ms; the axis ends at the wake's line (25 s
    after the wake's start at 5.1 s = 30.1 s, the step's end too)."""
    doc = single_run(steps=[
        {**step("preflight", duration_ms=100), "started_ms": 0.0},
        {**step("wake_hermes", duration_ms=30_000, **measured), "started_ms": 100.0}])
    page = render(doc, wake_failed_ms=25_000)
    return page, lambda ms: round(LABEL_W + CHART_W * ms / 30_100, 1)


def test_each_wake_phase_is_drawn_at_its_own_start_with_a_missing_one_as_a_labelled_gap():
    page, x = wake_page()
    drawn = rows(page)
    assert list(drawn) == ["ContainerWakeTime", "scheduling~", "provisioning", "image pull",
                           "container start", "app ready~", "preview"]
    assert drawn["scheduling~"][0] == x(5100)  # the wake's start, not the step's
    assert drawn["provisioning"][0] == x(6100)
    assert drawn["app ready~"][0] == x(18_100)  # where it began, not where the last one ended
    assert drawn["preview"][0] == x(23_100)
    for gap in ("image pull", "container start"):  # after provisioning, up to app ready
        assert drawn[gap][0] == x(8100)
        assert drawn[gap][1] == pytest.approx(x(18_100) - x(8100), abs=0.2)
    assert "not measured: no pullStoppedAt from ECS" in page
    assert "across the canary's and ECS's clocks" in page  # the legend says what ~ means


def test_the_measured_value_and_its_target_line_start_where_the_wake_starts():
    page, x = wake_page()
    assert rows(page)["ContainerWakeTime"] == (x(5100), pytest.approx(x(25_100) - x(5100),
                                                                      abs=0.2))
    line = re.search(r"<line x1=\"([\d.]+)\"[^>]*stroke=\"#d50000\"", page)
    assert float(line.group(1)) == x(30_100)  # 5.1 s + the 25 s line, not 0.1 s + 25 s
    assert f'<line x1="{x(5500):.1f}"' in page and "API answered 400 ms" in page


def test_an_unfinished_wake_draws_its_phases_and_says_it_did_not_finish():
    marks = phases.Marks(requested=T0, ended=T0 + 25)
    task = {"taskArn": "arn:x/task/c/1", "createdAt": T0 + 1, "pullStartedAt": T0 + 3,
            "pullStoppedAt": T0 + 11}
    page, x = wake_page({"wake_offset_ms": 5000.0, **phases.measurements(
        phases.split(marks, task), finished=False)})
    assert rows(page)["image pull"][0] == x(8100)
    assert "8000 ms (the wake did not finish)" in page
    assert "not measured: no startedAt from ECS; the containers row never said running" in page


def test_the_warm_api_line_judges_its_slowest_response_not_the_whole_step():
    warm = {**step("warm_api", duration_ms=10_000, response_ms=2500.0,
                   response_offset_ms=6000.0), "started_ms": 0.0}
    page = render(single_run(steps=[warm]), api_failed_ms=2000)
    x = lambda ms: round(LABEL_W + CHART_W * ms / 10_000, 1)  # noqa: E731 - the axis
    assert rows(page)["APIResponseTime"] == (x(6000), pytest.approx(x(8500) - x(6000), abs=0.2))
    line = re.search(r"<line x1=\"([\d.]+)\"[^>]*stroke=\"#d50000\"", page)
    assert float(line.group(1)) == x(8000)


def test_target_lines_default_to_the_settings_and_follow_the_run_thresholds():
    doc = single_run(steps=[step("wake_hermes", wake_ms=800), step("warm_api", response_ms=40)])
    default = render(doc)
    assert "<title>wake target 60.0 s</title>" in default
    assert "<title>API target 2000 ms</title>" in default
    sandbox = render(doc, wake_failed_ms=3000, api_failed_ms=500)
    assert "<title>wake target 3000 ms</title>" in sandbox
    assert "<title>API target 500 ms</title>" in sandbox


def test_the_summary_block_is_the_seeds():
    page = render(single_run())
    assert "Session Resumption Test Metrics:" in page
    assert "Container Wake Time: avg 800ms" in page
    assert "Successful Wakes: 1" in page and "Total Errors: 0" in page
