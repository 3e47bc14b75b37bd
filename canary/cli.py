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
from typing import Any, TextIO

from canary.clock import Clock, SystemClock
from canary.config import CanaryConfig, ConfigError
from canary.models import RunResult, StepResult

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
            if args.fault:
                raise UsageError("--fault applies to the sandbox only (drop --target env)")
            config = CanaryConfig.from_env(env, target="env")
            return _run(config, args, clock, out, err)
        return _run_sandbox(args, clock, out, err)
    except (ConfigError, UsageError) as exc:
        print(f"canary: configuration error: {exc}", file=err)
        return EXIT_USAGE


def _run_sandbox(args: argparse.Namespace, clock: Clock, out: TextIO, err: TextIO) -> int:
    try:
        from sandbox import FAULTS, Sandbox
    except ImportError as exc:
        raise UsageError(
            f"the sandbox package is not importable ({exc}); use --target env") from None
    unknown = sorted(set(args.fault) - set(FAULTS))
    if unknown:
        raise UsageError(f"unknown fault(s): {', '.join(unknown)}; valid faults: "
                         f"{', '.join(sorted(FAULTS))}")
    live = err if args.json else out
    with Sandbox(faults=args.fault) as sb:
        config = CanaryConfig.for_sandbox(sb.info)
        if not args.quiet:
            faults = ", ".join(args.fault) or "none"
            print(f"sandbox started (faults: {faults}); threshold profile: "
                  f"{config.describe_thresholds()}", file=live)
        return _run(config, args, clock, out, err)


@contextlib.contextmanager
def open_dependencies(config: CanaryConfig, clock: Clock) -> Iterator[Any]:
    """One httpx client and boto3 clients for one run, closed afterwards."""
    from canary.runner import Dependencies

    deps = Dependencies.build(config, clock)
    try:
        yield deps
    finally:
        deps.close()


def _run(config: CanaryConfig, args: argparse.Namespace, clock: Clock, out: TextIO,
         err: TextIO) -> int:
    from canary.report import full_report, step_line
    from canary.runner import run_scenario
    from canary.secrets import SecretError

    live = err if args.json else out

    def on_step(step: StepResult) -> None:
        if not args.quiet:
            print(step_line(step), file=live, flush=True)

    with open_dependencies(config, clock) as deps:
        try:
            deps.api_key.get()
        except SecretError as exc:
            print(f"canary: configuration error: INTERNAL_API_KEY_SECRET_ARN: {exc}", file=err)
            return EXIT_USAGE
        if not args.quiet:
            print(f"canary run against {config.target} ({config.environment}): "
                  f"{config.hermes_api_url}", file=live, flush=True)
            if config.target == "env":
                print(f"thresholds: {config.describe_thresholds()}", file=live, flush=True)
        run = run_scenario(config, deps, clock, on_step=on_step)
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


def _emf(run: RunResult, config: CanaryConfig, err: TextIO) -> list[str] | None:
    try:
        from canary.metrics import emf_lines
    except ImportError as exc:
        print(f"canary: --emf unavailable: canary.metrics not importable ({exc})", file=err)
        return None
    return emf_lines(run, namespace=config.metrics_namespace, environment=config.environment)
