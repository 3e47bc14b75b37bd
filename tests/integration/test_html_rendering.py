"""A real sandbox run's HTML report (`python -m canary run --html FILE`), rendered by headless
Chromium (Debian's package): the picture is not blank and every step of the scenario
(canary.scenario, not the run's own JSON) is named in the DOM.

Without Chromium these tests skip and say so, unless CANARY_REQUIRE_CHROMIUM=1 (CI sets it:
.ci/run installs Chromium), where a missing browser fails them instead of passing silently.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from canary.cli import main
from canary.html_report import COLOURS
from canary.scenario import Scenario

pytestmark = pytest.mark.integration

CHROMIUM_S = 90  # one page; a cold start on a busy 2-core machine is a few seconds
WINDOW = (1200, 1000)
BROWSERS = (Path(__file__).parents[2] / ".ci" / "chromium-names").read_text().split()
"""The names Chromium goes by (Debian: chromium; others: chromium-browser); .ci/run reads
the same file to decide whether to install it."""


@pytest.fixture(scope="module")
def browser() -> str:
    """Chromium's path; checked before the sandbox run it would render."""
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found:
        return found
    why = "Chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CANARY_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{why}, and CANARY_REQUIRE_CHROMIUM=1 requires it")
    pytest.skip(why)


def run_chromium(browser: str, tmp: Path, page: Path, *mode: str
                 ) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on `page` with its own profile in `tmp`, bounded in time: in its own
    process group, killed whole (its renderer and GPU helpers too) when it overruns."""
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}", *mode, page.as_uri()]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=CHROMIUM_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    done.check_returncode()
    return done


@pytest.fixture(scope="module")
def report(browser, tmp_path_factory) -> tuple[dict[str, Any], Path]:
    """One sandbox run through the CLI, with its JSON document and its HTML report."""
    page = tmp_path_factory.mktemp("report") / "run.html"
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "--json", "--quiet", "--html", str(page)], environ={}, stdout=out,
                stderr=err)
    assert code == 0, err.getvalue()
    assert f"HTML report written to {page}" in err.getvalue()  # the CLI says where
    return json.loads(out.getvalue()), page


def step_names(lane: str) -> list[str]:
    """Every step the lane's scenario declares, cleanup included."""
    return [s.name for s in Scenario.for_lane(lane).all_steps]


def test_the_report_renders_to_a_picture_that_is_not_blank(browser, report, tmp_path):
    _, page = report
    png = tmp_path / "run.png"
    run_chromium(browser, tmp_path, page, f"--screenshot={png}")
    width, height, pixels = decode_png(png.read_bytes())
    assert (width, height) == WINDOW
    colours = set(pixels)
    assert len(colours) > 20, f"{len(colours)} colours: a blank page?"
    passed = tuple(int(COLOURS["passed"][i:i + 2], 16) for i in (1, 3, 5))
    assert sum(1 for p in pixels if p[:3] == passed) > 500  # the passed steps' bars are drawn


def test_every_step_name_is_in_the_rendered_dom(browser, report, tmp_path):
    doc, page = report
    dom = run_chromium(browser, tmp_path, page, "--dump-dom").stdout
    assert "<svg" in dom
    names = step_names(doc.get("lane") or "full")
    assert names and "wake_hermes" in names and "cleanup" in names
    for name in names:
        assert f">{name}</td>" in dom, name


# -- a PNG decoder, enough for Chromium's screenshots (8-bit RGB or RGBA, not interlaced) ----


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """(width, height, pixels) of a PNG: the stdlib's zlib and the spec's five row filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None, "no IHDR"
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    channels = 4 if colour_type == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        row = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), previous,
                        channels)
        rows.append(row)
        previous = row
    pixels = [tuple(row[x:x + channels]) for row in rows for x in range(0, stride, channels)]
    return width, height, pixels


def _unfilter(kind: int, row: bytearray, prev: bytearray, bpp: int) -> bytearray:
    for i in range(len(row)):
        left = row[i - bpp] if i >= bpp else 0
        up = prev[i]
        if kind == 1:
            row[i] = (row[i] + left) & 0xFF
        elif kind == 2:
            row[i] = (row[i] + up) & 0xFF
        elif kind == 3:
            row[i] = (row[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            corner = prev[i - bpp] if i >= bpp else 0
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
            row[i] = (row[i] + predictor) & 0xFF
    return row
