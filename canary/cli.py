"""`python -m canary run [--target sandbox|env] [--fault NAME]... [--json] [--emf] [--html FILE]`
`[--lane full|quick] [--sessions N]`; `run --target env --dry-run`: what a run would touch,
without any network call (canary/dry_run.py).
`python -m canary retire [--lane quick] [--json]`: stop what a lane keeps warm (a real target,
from environment variables; canary/retire.py).

Exit codes: 0 nothing failed (degraded allowed), 1 a check failed (or the canary itself
errored), 2 a usage or configuration error (one line on stderr naming the variable).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import TextIO

from canary.clock import Clock, SystemClock
from canary.config import CanaryConfig, ConfigError
from canary.lanes import Lane
from canary.models import FleetResult, StepResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
KEY_READ_S, KEY_READ_FRACTION = 5.0, 0.25  # reading the key: at most this, and this share


class UsageError(Exception):
    """When the command line asks for something impossible (e.g. an unknown fault)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m canary",
                                description="Session-resumption canary.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the wake / route / sleep scenario once")
    run.add_argument("--target", choices=("sandbox", "env"), default="sandbox",
                     help="sandbox: start the embedded sandbox (default); env: a real "
                          "deployment configured by environment variables")
    run.add_argument("--fault", action="append", default=[], metavar="NAME",
                     help="start the sandbox with this fault (repeatable)")
    run.add_argument("--variation", action="append", default=[], metavar="NAME",
                     help="start the sandbox varying what the contract leaves open "
                          "(repeatable; `python -m sandbox --list-variations`)")
    run.add_argument("--json", action="store_true",
                     help="one JSON document on stdout; live lines go to stderr")
    run.add_argument("--emf", action="store_true",
                     help="print the CloudWatch EMF lines the Lambda would emit")
    run.add_argument("--quiet", action="store_true", help="no live lines")
    run.add_argument("--lane", choices=tuple(lane.value for lane in Lane), default=None,
                     help="which lane runs (default: CANARY_LANE, else full): full = cold wake, "
                          "sleep, auto-save; quick = a warm session's checks")
    run.add_argument("--sessions", type=_session_count, default=None, metavar="N",
                     help="sandbox only: run N synthetic sessions concurrently (s1..sN); "
                          "a real target takes its sessions from CANARY_SESSIONS")
    run.add_argument("--html", metavar="FILE",
                     help="also write the run's report as one self-contained HTML page")
    run.add_argument("--dry-run", action="store_true",
                     help="with --target env: print what a run would touch (endpoints, tables "
                          "and keys, the synthetic session, which tasks it may stop) and stop, "
                          "without any network call")
    retire = sub.add_parser(
        "retire", help="stop the tasks a lane keeps warm and remove its kept fixtures, for "
                       "every configured session (after turning the lane off or removing a "
                       "session); a real target, from environment variables")
    retire.add_argument("--lane", choices=tuple(lane.value for lane in Lane),
                        default=Lane.QUICK.value, help="the lane to retire (default quick)")
    retire.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return p


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None,
         clock: Clock | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage error
        return EXIT_USAGE if exc.code else EXIT_OK
    env = os.environ if environ is None else environ
    clock = clock or SystemClock()
    try:
        if args.command == "retire":
            return _retire(CanaryConfig.from_env(env, target="env"), args, clock, out)
        if getattr(args, "html", None):
            _check_writable(args.html)  # before the run, not after minutes of it
        if args.target == "env":
            if args.fault or args.variation:
                raise UsageError("--fault and --variation apply to the sandbox only "
                                 "(drop --target env)")
            if args.sessions is not None:
                raise UsageError("--sessions applies to the sandbox only; a real target's "
                                 "sessions come from CANARY_SESSIONS")
            config = CanaryConfig.from_env(env, target="env")
            if args.lane:
                config = config.for_lane(args.lane)
            if args.dry_run:
                return _dry_run(config, args, env, out)
            return _run(config, args, clock, out, err)
        if args.dry_run:
            raise UsageError("--dry-run needs --target env (the sandbox's endpoints exist only "
                             "once it has started)")
        return _run_sandbox(args, clock, out, err)
    except (ConfigError, UsageError) as exc:
        print(f"canary: configuration error: {exc}", file=err)
        return EXIT_USAGE


def _dry_run(config: CanaryConfig, args: argparse.Namespace, env: Mapping[str, str],
             out: TextIO) -> int:
    from canary.dry_run import plan, render

    doc = plan(config, env)
    out.write(json.dumps(doc, indent=2) + "\n" if args.json else render(doc))
    return EXIT_OK


def _run_sandbox(args: argparse.Namespace, clock: Clock, out: TextIO, err: TextIO) -> int:
    try:
        from sandbox import FAULTS, Sandbox
        from sandbox.variations import VARIATIONS
    except ImportError as exc:
        raise UsageError(
            f"the sandbox package is not importable ({exc}); use --target env") from None
    unknown = sorted(set(args.fault) - set(FAULTS))
    if unknown:
        raise UsageError(f"unknown fault(s): {', '.join(unknown)}; valid faults: "
                         f"{', '.join(sorted(FAULTS))}")
    odd = sorted(set(args.variation) - set(VARIATIONS))
    if odd:
        raise UsageError(f"unknown variation(s): {', '.join(odd)}; valid variations: "
                         f"{', '.join(sorted(VARIATIONS))}")
    live = err if args.json else out
    with Sandbox(faults=args.fault, variations=args.variation) as sb:
        config = CanaryConfig.for_sandbox(sb.info, **sandbox_fleet(args.lane, args.sessions))
        if not args.quiet:
            faults = ", ".join(args.fault) or "none"
            varied = f"; varied: {', '.join(args.variation)}" if args.variation else ""
            print(f"sandbox started (faults: {faults}{varied}); threshold profile: "
                  f"{config.describe_thresholds()}", file=live)
        return _run(config, args, clock, out, err)


def _run(config: CanaryConfig, args: argparse.Namespace, clock: Clock, out: TextIO,
         err: TextIO) -> int:
    from canary.composition import open_dependencies
    from canary.deadline import Deadline
    from canary.report import full_report, step_line
    from canary.runner import new_run_id, run_fleet
    from canary.secrets import SecretError

    live = err if args.json else out
    deadline = Deadline.after(clock, config.budget_s)  # the key read is charged to the budget
    several = len(config.sessions) > 1

    def on_step(session: str, step: StepResult) -> None:
        if not args.quiet:
            print((f"{session:<8} " if several else "") + step_line(step), file=live, flush=True)

    with open_dependencies(config, clock) as deps:
        try:
            key = deps.api_key.get(timeout_s=deadline.share(KEY_READ_S, KEY_READ_FRACTION,
                                                            floor_s=1.0))
        except SecretError as exc:
            if exc.configuration:
                print(f"canary: configuration error: INTERNAL_API_KEY_SECRET_ARN: {exc}",
                      file=err)
                return EXIT_USAGE
            run = FleetResult(run_id=new_run_id(), lane=config.lane, target=config.target,
                              environment=config.environment, started_at=clock.now(),
                              error=f"could not read the internal API key: {exc}")
        else:
            if not args.quiet:
                print(f"canary run against {config.target} ({config.environment}): "
                      f"{config.hermes_api_url}; {config.lane} lane, "
                      f"{len(config.sessions)} session(s)", file=live, flush=True)
                if config.target == "env":
                    print(f"thresholds: {config.describe_thresholds()}", file=live, flush=True)
            with _masked_logs(key):
                run = run_fleet(config, deps, clock, on_step=on_step,
                                deadline_s=deadline.remaining())
    emf = _emf(run, config, err) if args.emf else None
    if args.json:
        doc = run.to_dict()
        if emf is not None:
            doc["emf"] = emf
        print(json.dumps(doc, indent=2, default=str), file=out)
    else:
        print("", file=out)
        print(full_report(run, out), file=out)
        if emf is not None:
            print("", file=out)
            for line in emf:
                print(line, file=out)
    if args.html and not _write_html(args.html, run.to_dict(), config, err):
        return EXIT_FAILED
    return EXIT_OK if run.ok else EXIT_FAILED


def _retire(config: CanaryConfig, args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    """Every configured session of the lane retired (canary/retire.py): 0 when all were."""
    from canary.composition import open_dependencies
    from canary.retire import render, retire_lane

    with open_dependencies(config, clock) as deps:
        results = retire_lane(config, deps, clock, lane=args.lane)
    if args.json:
        print(json.dumps({"lane": args.lane, "sessions": [r.to_dict() for r in results]},
                         indent=2), file=out)
    else:
        out.write(render(results, args.lane))
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _check_writable(path: str) -> None:
    """--html FILE can be written (a missing directory, a directory, no permission: a usage
    error). Opened for appending, so an existing file is left as it is until the run ends."""
    existed = os.path.lexists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise UsageError(f"--html {path}: cannot write the report there "
                         f"({exc.strerror or exc}); choose a writable file") from None
    if not existed:
        os.unlink(path)


def _write_html(path: str, doc: dict, config: CanaryConfig, err: TextIO) -> bool:
    """The run's HTML report (canary/html_report.py) with the run's own target lines."""
    from canary.html_report import render

    page = render(doc, wake_failed_ms=config.wake_failed_ms, api_failed_ms=config.api_failed_ms)
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as exc:
        print(f"canary: could not write the HTML report {path}: {exc.strerror or exc}", file=err)
        return False
    print(f"canary: HTML report written to {os.path.abspath(path)}", file=err)  # not stdout: --json
    return True


@contextlib.contextmanager
def _masked_logs(key: str) -> Iterator[None]:
    """The canary's log records (a step's traceback on stderr) with the key masked, as the
    Lambda's are."""
    from canary.redaction import RedactingStdout, RedactSecrets, mask_loggers, unmask_loggers

    stream = RedactingStdout()
    stream.add_secret(key)
    redact_filter = RedactSecrets(stream)
    mask_loggers("canary", redact_filter)
    try:
        yield
    finally:
        unmask_loggers("canary", redact_filter)


def _session_count(text: str) -> int:
    """--sessions N: a whole number 1..MAX_SESSIONS (argparse reports the error, exit 2)."""
    from canary.sessions import MAX_SESSIONS

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= n <= MAX_SESSIONS:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_SESSIONS}, got {n}")
    return n


def sandbox_fleet(lane: str | None, sessions: int | None) -> dict[str, object]:
    """The sandbox profile's overrides for --lane and --sessions N: N sessions s1..sN, each
    its own thread (so its own container) of the one synthetic client."""
    from canary.sessions import SessionSpec

    out: dict[str, object] = {"lane": lane} if lane else {}
    if sessions is not None:
        out["configured_sessions"] = tuple(
            SessionSpec(f"s{i}", thread_id=f"canary-thread-s{i}") for i in range(1, sessions + 1))
    return out


def _emf(run: FleetResult, config: CanaryConfig, err: TextIO) -> list[str] | None:
    try:
        from canary.metrics import emf_lines
    except ImportError as exc:
        print(f"canary: --emf unavailable: canary.metrics not importable ({exc})", file=err)
        return None
    return emf_lines(run, namespace=config.metrics_namespace, environment=config.environment)
