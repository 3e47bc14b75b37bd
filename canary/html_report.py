"""A picture of each run: one self-contained HTML page (inline CSS and SVG, no script, no URL).

`render(doc)` takes the result JSON document (`RunResult.to_dict()`, or the fleet document
with a top-level `sessions` list) - never the Python objects - and draws, per session: a
waterfall of the steps (each bar at its `started_ms`; a document without it, where the
previous steps ended); under a step whose declared measure has a target (the wake steps'
WAKE_FAILED_MS, the warm API step's API_FAILED_MS: the alarms' 60 s and 2 s by default) the
measured value as its own bar with the target line, both from where that interval starts in
the step (`models.offset_key`), Hermes's answer as a tick; a wake's phases
(canary.phases.read: each at its own start, `~` across clocks, one not measured as a hollow
box saying why); each step's verdict and reason, and the seed's summary block
(canary.report.metrics_block). Every text is escaped: reasons come from
hostile targets. The page's Content-Security-Policy forbids scripts and every load.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from canary import phases, settings
from canary.catalogue import API_RESPONSE_TIME, CONTAINER_WAKE_TIME, PREVIEW_WAKE_TIME
from canary.models import RunResult, Status, StepResult, offset_key
from canary.report import metrics_block

LABEL_W, CHART_W, TAIL_W = 180, 720, 110  # px: step names | bars | the value after a bar
ROW_H, PHASE_H, AXIS_H = 24, 17, 26
COLOURS = {"passed": "#2e7d32", "degraded": "#ef8f00", "failed": "#c62828",
           "skipped": "#9e9e9e"}
TARGET_COLOUR = "#d50000"
CHAR_W = 6.6  # px: a 12 px character, about (where a text after a bar still fits)
PHASE_COLOURS = ("#1565c0", "#6a1b9a", "#00838f", "#4527a0", "#0277bd", "#ad1457")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
LEGEND = (
    "<p class=\"legend\">Each bar starts when its step started. \u21b3 rows under a step: the "
    "value its alarm judges (ContainerWakeTime, PreviewWakeTime, APIResponseTime), drawn from "
    "where that interval starts within the step, with <span style=\"color:" + TARGET_COLOUR
    + "\">the red dashed line</span> of its target from the same point (wake: WAKE_FAILED_MS, "
    "warm API: API_FAILED_MS; the alarms' thresholds) and a black tick where Hermes answered; "
    "then a wake's phases, each at its own start (<code>~</code>: across the canary's and "
    "ECS's clocks, which may disagree by a few seconds); a hollow dashed box is a phase not "
    "measured, with why.</p>"
)
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#212121;background:#fff}
h1{font-size:20px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px}
.ok{color:#2e7d32}.bad{color:#c62828}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:left;vertical-align:top}th{background:#f5f5f5}
td.reason{max-width:700px;word-break:break-word}
.badge{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-weight:600}
pre{background:#f5f5f5;padding:8px;border:1px solid #ddd;white-space:pre-wrap}
svg text{font:12px system-ui,sans-serif;fill:#212121}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px;margin:0}
dt{font-weight:600}dd{margin:0}.legend{color:#616161;font-size:12px;max-width:1000px}
"""


@dataclass(frozen=True)
class Target:
    """A line a step's measurement is held to (the alarm's threshold)."""

    label: str
    ms: float
    metric: str = ""  # the measure it judges


def render(doc: Mapping[str, Any], *, wake_failed_ms: float | None = None,
           api_failed_ms: float | None = None) -> str:
    """The whole page. The target lines default to the settings table's (the alarms')."""
    wake = settings.default("wake_failed_ms") if wake_failed_ms is None else wake_failed_ms
    api = settings.default("api_failed_ms") if api_failed_ms is None else api_failed_ms
    targets = _targets(float(wake), float(api))
    sessions = sessions_of(doc)
    title = f"Canary run {doc.get('run_id', '?')}"
    body = [_header(doc, title, wake, api)]
    for index, session in enumerate(sessions):
        name = session.get("name") or (f"session {index + 1}" if len(sessions) > 1 else "run")
        body.append(_section(str(name), session, targets, multi="sessions" in doc))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body) + "\n</body></html>\n"
    )


def sessions_of(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The sessions of either document shape (a single run is its own one session)."""
    sessions = doc.get("sessions")
    if isinstance(sessions, list):
        return [s for s in sessions if isinstance(s, Mapping)]
    return [doc]


def _targets(wake_ms: float, api_ms: float) -> dict[str, tuple[str, Target]]:
    """Step name -> (its measurement, its line), from the steps' own declarations."""
    from canary.scenario import SCENARIO

    lines = {CONTAINER_WAKE_TIME.name: Target("wake target", wake_ms, CONTAINER_WAKE_TIME.name),
             PREVIEW_WAKE_TIME.name: Target("wake target", wake_ms, PREVIEW_WAKE_TIME.name),
             API_RESPONSE_TIME.name: Target("API target", api_ms, API_RESPONSE_TIME.name)}
    found: dict[str, tuple[str, Target]] = {}
    for spec in SCENARIO.all_steps:
        for metric, key in spec.measures.items():
            if metric in lines:
                found[spec.name] = (key, lines[metric])
    return found


# -- the page's parts ------------------------------------------------------------------------


def _header(doc: Mapping[str, Any], title: str, wake_ms: float, api_ms: float) -> str:
    ok = bool(doc.get("ok"))
    facts = [("verdict", "OK" if ok else "FAILED"), ("run", doc.get("run_id")),
             ("lane", doc.get("lane")), ("target", doc.get("target")),
             ("environment", doc.get("environment")), ("started", _when(doc.get("started_at"))),
             ("duration", _ms(doc.get("duration_ms"))),
             ("first attempt ok", doc.get("first_attempt_ok")),
             ("canary error", doc.get("error") or None),
             ("target lines", f"wake {_ms(wake_ms)}, warm API {_ms(api_ms)}")]
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts if v not in (None, ""))
    verdict = "ok" if ok else "bad"
    return f"<h1 class=\"{verdict}\">{_e(title)}</h1><dl>{rows}</dl>"


def _section(name: str, session: Mapping[str, Any], targets: Mapping[str, tuple[str, Target]],
             *, multi: bool) -> str:
    steps = [s for s in session.get("steps") or () if isinstance(s, Mapping)]
    head = ""
    if multi:
        ok = bool(session.get("ok"))
        facts = [("verdict", "OK" if ok else "FAILED"), ("clientId", session.get("client_id")),
                 ("threadId", session.get("thread_id")),
                 ("duration", _ms(session.get("duration_ms"))),
                 ("error", session.get("error") or None)]
        rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts
                       if v not in (None, ""))
        head = f"<h2 class=\"{'ok' if ok else 'bad'}\">Session {_e(name)}</h2><dl>{rows}</dl>"
    cut = session.get("cut_short") or []
    cut_note = (f"<p class=\"bad\">cut short by the time budget: {_e(', '.join(map(str, cut)))}"
                "</p>" if cut else "")
    block = metrics_block(_as_run(session), emoji=False)  # no emoji font assumed
    return (f"<section>{head}<h2>Waterfall</h2>{waterfall(steps, targets)}{cut_note}{LEGEND}"
            f"<h2>Steps</h2>{_step_table(steps)}"
            f"<h2>Summary</h2><pre>{_e(block)}</pre></section>")


def _step_table(steps: Sequence[Mapping[str, Any]]) -> str:
    rows = ["<tr><th>step</th><th>verdict</th><th>ms</th><th>reason</th></tr>"]
    for s in steps:
        status = str(s.get("status", "?"))
        reason = _e(s.get("reason", ""))
        notes = [f for f in s.get("findings") or () if f != s.get("reason")]
        if notes:
            reason += "<ul>" + "".join(f"<li>{_e(f)}</li>" for f in notes) + "</ul>"
        attempts = s.get("attempts")
        if isinstance(attempts, int) and attempts > 1:
            reason += f" <em>({attempts} attempts)</em>"
        rows.append(
            f"<tr><td>{_e(s.get('name', '?'))}</td><td>{_badge(status)}</td>"
            f"<td>{_e(_number(s.get('duration_ms')))}</td><td class=\"reason\">{reason}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _badge(status: str) -> str:
    colour = COLOURS.get(status, "#616161")
    return f"<span class=\"badge\" style=\"background:{colour}\">{_e(status)}</span>"


# -- the waterfall -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Bar:
    """One row: a step (`indent` 0), or under it its measured value or a wake phase. A
    `gap` is a phase not measured: a hollow box where its time fell."""

    label: str
    start_ms: float
    length_ms: float
    colour: str
    text: str
    indent: bool = False
    gap: bool = False
    target: Target | None = None
    ticks: tuple[tuple[float, str], ...] = ()  # (ms, what): marks on the row


def waterfall(steps: Sequence[Mapping[str, Any]],
              targets: Mapping[str, tuple[str, Target]]) -> str:
    """The steps on one time axis, their measured values, phases and marks under them,
    targets as dashed lines from where their measured interval starts."""
    bars = [bar for s in _placed(steps) for bar in _bars_of(*s, targets)]
    if not bars:
        return "<p>no steps ran</p>"
    ends = [b.start_ms + b.length_ms for b in bars]
    ends += [b.start_ms + b.target.ms for b in bars if b.target is not None]
    ends += [ms for b in bars for ms, _ in b.ticks]
    scale = _Scale(max(max(ends), 1.0))
    parts, y = [], AXIS_H
    for bar in bars:
        parts.append(_row(bar, y, scale))
        y += PHASE_H if bar.indent else ROW_H
    width = LABEL_W + CHART_W + TAIL_W
    return (f"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{y + 8}\" "
            f"role=\"img\" aria-label=\"waterfall of the steps\">"
            f"{scale.axis(y)}{''.join(parts)}</svg>")


def _placed(steps: Sequence[Mapping[str, Any]]) -> Iterable[tuple[Mapping[str, Any], float]]:
    """Each step with where it starts: its `started_ms`, else where the steps before it
    ended (a document from before the runner recorded it)."""
    at = 0.0
    for s in steps:
        duration = _non_negative(s.get("duration_ms")) or 0.0
        started = _non_negative(s.get("started_ms"))
        start = at if started is None else started
        at = max(at, start + duration)
        yield s, start


def _bars_of(s: Mapping[str, Any], start: float,
             targets: Mapping[str, tuple[str, Target]]) -> Iterable[_Bar]:
    """A step's row, then its measured value against its target (anchored where the value's
    interval starts in the step: `models.offset_key`) and its wake phases from there."""
    name, status = str(s.get("name", "?")), str(s.get("status", "?"))
    duration = _non_negative(s.get("duration_ms")) or 0.0
    measured = s.get("measurements") or {}
    colour = COLOURS.get(status, "#616161")
    yield _Bar(name, start, duration, colour, f"{_ms(duration)} {status}")
    if status == "skipped":
        return
    anchor, value, end = start, None, start + duration
    if name in targets:
        key, target = targets[name]
        anchor = start + (_non_negative(measured.get(offset_key(key))) or 0.0)
        value = _non_negative(measured.get(key))
        answered = _non_negative(measured.get(phases.API_ANSWERED))
        ticks = ((anchor + answered, f"API answered {_ms(answered)}"),) if answered else ()
        text = (f"{_ms(value)} (line {_ms(target.ms)})" if value is not None
                else f"not measured (line {_ms(target.ms)})")
        yield _Bar(f"{target.metric}", anchor, value or 0.0, colour, text, indent=True,
                   target=target, ticks=ticks)
        if value is not None:
            end = anchor + value
    yield from _phase_bars(phases.read(measured), anchor, max(end, anchor))


def _phase_bars(shown: Sequence[phases.Shown], anchor: float, end: float) -> Iterable[_Bar]:
    """Each phase at its own start (`at_ms` after the wake's request); one not measured as a
    hollow box from the measured phase before it to the one after it (or the wake's end)."""
    starts: list[float | None] = []
    prev_end = anchor
    for p in shown:  # where each measured phase starts (derived when the document lacks it)
        if p.ms is None:
            starts.append(None)
            continue
        at = anchor + max(p.at_ms, 0.0) if p.at_ms is not None else prev_end
        starts.append(at)
        prev_end = at + p.ms
    prev_end = anchor
    for i, p in enumerate(shown):
        label = p.spec.title + ("~" if p.spec.cross_clock else "")
        at = starts[i]
        if p.ms is not None and at is not None:
            note = " (the wake did not finish)" if p.unfinished else ""
            yield _Bar(label, at, p.ms, _phase_colour(p.spec), _ms(p.ms) + note, indent=True)
            prev_end = at + p.ms
            continue
        after = next((a for a in starts[i + 1:] if a is not None), end)
        yield _Bar(label, prev_end, max(after - prev_end, 0.0), "#9e9e9e",
                   f"not measured: {p.why_not or '?'}", indent=True, gap=True)


def _phase_colour(spec: phases.PhaseSpec) -> str:
    """One colour per phase, the same in every run."""
    return PHASE_COLOURS[phases.PHASES.index(spec) % len(PHASE_COLOURS)]


@dataclass(frozen=True)
class _Scale:
    domain_ms: float

    def x(self, ms: float) -> float:
        return LABEL_W + CHART_W * min(ms, self.domain_ms) / self.domain_ms

    def axis(self, bottom: float) -> str:
        step = _tick_step(self.domain_ms)
        parts = []
        for i in range(int(self.domain_ms // step) + 1):
            x = self.x(i * step)
            parts.append(f"<line x1=\"{x:.1f}\" y1=\"{AXIS_H - 6}\" x2=\"{x:.1f}\" "
                         f"y2=\"{bottom}\" stroke=\"#e0e0e0\"/>"
                         f"<text x=\"{x:.1f}\" y=\"{AXIS_H - 10}\" text-anchor=\"middle\">"
                         f"{_e(_ms(i * step))}</text>")
        return "".join(parts)


def _row(bar: _Bar, y: float, scale: _Scale) -> str:
    height = 9 if bar.indent else 14
    row_h = PHASE_H if bar.indent else ROW_H
    x0 = scale.x(bar.start_ms)
    width = max(scale.x(bar.start_ms + bar.length_ms) - x0, 1.5)
    top = y + (row_h - height) / 2
    label = f"\u21b3 {bar.label}" if bar.indent else bar.label
    indent = 14 if bar.indent else 4
    baseline = y + row_h / 2 + 4
    shape = (f"fill=\"none\" stroke=\"{bar.colour}\" stroke-dasharray=\"3 2\"" if bar.gap
             else f"fill=\"{bar.colour}\"")
    out = [f"<g><title>{_e(bar.label)}: {_e(bar.text)}</title>"
           f"<text x=\"{indent}\" y=\"{baseline:.1f}\">{_e(label)}</text>"
           f"<rect x=\"{x0:.1f}\" y=\"{top:.1f}\" width=\"{width:.1f}\" height=\"{height}\" "
           f"{shape} rx=\"2\"/>"]
    line_x = None
    if bar.target is not None:
        line_x = scale.x(bar.start_ms + bar.target.ms)
        ends = f"x1=\"{line_x:.1f}\" y1=\"{y}\" x2=\"{line_x:.1f}\" y2=\"{y + row_h}\""
        out.append(f"<line {ends} stroke=\"#fff\" stroke-width=\"4\"/>"  # seen on a red bar
                   f"<line {ends} stroke=\"{TARGET_COLOUR}\" stroke-width=\"2\" "
                   f"stroke-dasharray=\"4 2\"><title>{_e(bar.target.label)} "
                   f"{_e(_ms(bar.target.ms))}</title></line>")
    for at, what in bar.ticks:
        tx = scale.x(at)
        out.append(f"<line x1=\"{tx:.1f}\" y1=\"{y + 1}\" x2=\"{tx:.1f}\" "
                   f"y2=\"{y + row_h - 1}\" stroke=\"#212121\" stroke-width=\"2\">"
                   f"<title>{_e(what)}</title></line>")
    out.append(_value(bar.text, x0, max(x0 + width, line_x or 0.0), baseline))
    out.append("</g>")
    return "".join(out)


def _value(text: str, x0: float, right: float, baseline: float) -> str:
    """The value after the bar and its line, or before the bar when it would run off; cut
    (whole in the row's tooltip) when it fits on neither side, never over the step names."""
    after, before = right + 4, x0 - 4
    room_after, room_before = LABEL_W + CHART_W + TAIL_W - after, before - LABEL_W
    if CHAR_W * len(text) > room_after and room_before > room_after:
        return (f"<text x=\"{before:.1f}\" y=\"{baseline:.1f}\" text-anchor=\"end\">"
                f"{_e(_cut(text, room_before))}</text>")
    return f"<text x=\"{after:.1f}\" y=\"{baseline:.1f}\">{_e(_cut(text, room_after))}</text>"


def _cut(text: str, room_px: float) -> str:
    fits = max(int(room_px / CHAR_W), 1)
    return text if len(text) <= fits else text[:max(fits - 1, 0)] + "\u2026"


def _tick_step(domain_ms: float) -> float:
    """A 1-2-5 step giving at most about eight ticks."""
    raw = domain_ms / 8
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


# -- the seed's summary block from the document ---------------------------------------------


def _as_run(session: Mapping[str, Any]) -> RunResult:
    """The document as the RunResult canary.report reads (the block is its, not redone)."""
    steps = [StepResult(
        name=str(s.get("name", "?")),
        status=Status._value2member_map_.get(str(s.get("status")), Status.FAILED),  # type: ignore[arg-type]
        duration_ms=_non_negative(s.get("duration_ms")) or 0.0,
        reason=str(s.get("reason", "")),
        measurements=dict(s.get("measurements") or {}),
        findings=list(s.get("findings") or []),
    ) for s in session.get("steps") or () if isinstance(s, Mapping)]
    metrics = {str(k): float(v) for k, v in (session.get("metrics") or {}).items()
               if isinstance(v, int | float) and not isinstance(v, bool)}
    return RunResult(run_id=str(session.get("run_id", "")), target=str(session.get("target", "")),
                     environment=str(session.get("environment", "")), started_at=0.0,
                     steps=steps, metrics=metrics, error=str(session.get("error") or ""))


# -- formatting ------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _non_negative(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _number(value: Any) -> str:
    number = _non_negative(value)
    return "" if number is None else f"{number:.0f}"


def _ms(value: Any) -> str:
    number = _non_negative(value)
    if number is None:
        return "?"
    return f"{number:.0f} ms" if number < 10_000 else f"{number / 1000:.1f} s"


def _when(epoch: Any) -> str | None:
    if isinstance(epoch, bool) or not isinstance(epoch, int | float) or not math.isfinite(epoch):
        return None
    import datetime as dt

    try:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return None
