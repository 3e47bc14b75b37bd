"""`python -m sandbox`: start the sandbox, print its JSON line, serve until interrupted.

`--list-faults` prints one fault per line (name, then description); `--fault-matrix` prints
the fault matrix (how the canary proves it catches each fault) as the README's Markdown
table; `--fault NAME` (repeatable) switches a fault on. `--list-variations` and
`--variation NAME` do the same for variations (what the contract leaves open). The API key
is never printed: read it from Secrets Manager at `secret_arn` (endpoint `aws_endpoint_url`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from sandbox.faults import FAULTS, UnknownFaultError, matrix_markdown, validate
from sandbox.variations import VARIATIONS, UnknownVariationError
from sandbox.variations import validate as validate_variations


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    p.add_argument("--list-faults", action="store_true", help="print the fault registry and exit")
    p.add_argument("--fault-matrix", action="store_true",
                   help="print the fault matrix as a Markdown table and exit")
    p.add_argument("--fault", action="append", default=[], metavar="NAME",
                   help="switch a fault on (repeatable; see --list-faults)")
    p.add_argument("--list-variations", action="store_true",
                   help="print the variation registry and exit")
    p.add_argument("--variation", action="append", default=[], metavar="NAME",
                   help="switch a variation on (repeatable; see --list-variations)")
    p.add_argument("--idle-timeout", type=float, default=1.0, metavar="S",
                   help="container idle timeout in seconds (production: 1200)")
    p.add_argument("--idle-mark", type=float, default=None, metavar="S",
                   help="quiet seconds before a running container marks itself idle "
                        "(default: a quarter of the idle timeout; production: 300)")
    p.add_argument("--check-interval", type=float, default=0.1, metavar="S",
                   help="auto-sleep check interval in seconds (production: 60)")
    p.add_argument("--boot-delay", type=float, default=0.3, metavar="S",
                   help="container boot time in seconds (production: 15-30)")
    p.add_argument("--sessions-key-schema", choices=("hash", "hash_range"), default="hash",
                   help="sessions table key: sessionId, or sessionId + userId")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.fault_matrix:
        print(matrix_markdown(), end="")
        return 0
    if args.list_faults or args.list_variations:
        for name, description in (FAULTS if args.list_faults else VARIATIONS).items():
            print(f"{name}\t{description}")
        return 0
    try:
        faults = validate(args.fault)
        variations = validate_variations(args.variation)
    except (UnknownFaultError, UnknownVariationError) as exc:
        print(f"python -m sandbox: error: {exc}", file=sys.stderr)
        return 2

    from sandbox.platform import Sandbox, SandboxError

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        sb = Sandbox(
            faults=sorted(faults),
            variations=sorted(variations),
            idle_timeout_s=args.idle_timeout,
            idle_mark_s=args.idle_mark,
            check_interval_s=args.check_interval,
            boot_delay_s=args.boot_delay,
            sessions_key_schema=args.sessions_key_schema,
        )
    except SandboxError as exc:
        print(f"python -m sandbox: error: {exc}", file=sys.stderr)
        return 2
    with sb:
        print(sb.info.to_json(), flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
