"""`python -m canary run [--target sandbox|env] [--fault NAME]... [--json] [--emf]`.

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
from canary.models import RunResult, StepResult

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
        if args.target == "env":
            if args.fault or args.variation:
                raise UsageError("--fault and --variation apply to the sandbox only "
                                 "(drop --target env)")
            config = CanaryConfig.from_env(env, target="env")
            return _run(config, args, clock, out, err)
        return _run_sandbox(args, clock, out, err)
    except (ConfigError, UsageError) as exc:
        print(f"canary: configuration error: {exc}", file=err)
        return EXIT_USAGE


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
        config = CanaryConfig.for_sandbox(sb.info)
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
    from canary.runner import new_run_id, run_scenario
    from canary.secrets import SecretError

    live = err if args.json else out
    deadline = Deadline.after(clock, config.budget_s)  # the key read is charged to the budget

    def on_step(step: StepResult) -> None:
        if not args.quiet:
            print(step_line(step), file=live, flush=True)

    with open_dependencies(config, clock) as deps:
        try:
            key = deps.api_key.get(timeout_s=deadline.share(KEY_READ_S, KEY_READ_FRACTION,
                                                            floor_s=1.0))
        except SecretError as exc:
            if exc.configuration:
                print(f"canary: configuration error: INTERNAL_API_KEY_SECRET_ARN: {exc}",
                      file=err)
                return EXIT_USAGE
            run = RunResult(run_id=new_run_id(), target=config.target,
                            environment=config.environment, started_at=clock.now(),
                            error=f"could not read the internal API key: {exc}")
        else:
            if not args.quiet:
                print(f"canary run against {config.target} ({config.environment}): "
                      f"{config.hermes_api_url}", file=live, flush=True)
                if config.target == "env":
                    print(f"thresholds: {config.describe_thresholds()}", file=live, flush=True)
            with _masked_logs(key):
                run = run_scenario(config, deps, clock, on_step=on_step,
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
    return EXIT_OK if run.ok else EXIT_FAILED


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


def _emf(run: RunResult, config: CanaryConfig, err: TextIO) -> list[str] | None:
    try:
        from canary.metrics import emf_lines
    except ImportError as exc:
        print(f"canary: --emf unavailable: canary.metrics not importable ({exc})", file=err)
        return None
    return emf_lines(run, namespace=config.metrics_namespace, environment=config.environment)
