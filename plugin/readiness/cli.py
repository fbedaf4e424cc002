"""The ``readiness`` console script: ``audit``, ``sandbox``.

One function per subcommand: ``_add_<name>`` declares its arguments, ``cmd_<name>`` runs it and
returns the exit status. Add a subcommand by writing both and registering it in ``_parser``.
Subcommands import their machinery inside these functions, so one command's start-up never
pays for another's imports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


# The audit trail's default names, as in AuditConfig (literal, so building the parser imports nothing).
_FIELD_DEFAULTS = {"timestamp": "timestamp", "event": "event", "seq": "seq", "hash": "prev_sha256"}


def _add_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "audit",
        help="validate an audit trail (JSONL): format, seq, time order, hash chain",
        description="Validate an audit trail as the audit.* checks do. Exit 0 valid, 1 invalid, "
        "2 usage error or unreadable file.",
    )
    p.add_argument("path", help="the audit trail (JSONL) to validate; opened read-only")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="check the whole file; neither read nor write a checkpoint",
    )
    p.add_argument(
        "--cache-dir",
        default="reports/.cache",
        metavar="DIR",
        help="where checkpoints live, under <DIR>/audit/ (default: %(default)s)",
    )
    p.add_argument(
        "--workers", type=int, default=None, metavar="N", help="processes for large files (default: up to 2)"
    )
    for field, default in _FIELD_DEFAULTS.items():
        p.add_argument(
            f"--{field}-field",
            dest=f"{field}_field",
            metavar="NAME",
            help=f"name of the {field} field (default: {default})",
        )
    p.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    from readiness.audit import AuditConfig, TrailUnreadable, validate_file

    if args.workers is not None and args.workers < 1:
        print("readiness audit: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    names = {f"{f}_field": getattr(args, f"{f}_field") for f in _FIELD_DEFAULTS}
    cfg = AuditConfig(workers=args.workers, **{k: v for k, v in names.items() if v is not None})
    try:
        result = validate_file(args.path, cfg, cache_dir=None if args.no_checkpoint else args.cache_dir)
    except TrailUnreadable as exc:
        print(f"readiness audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        for err in result.errors:
            print(f"{result.path}:{err.line}: {err.reason}")
        verdict = "valid" if result.valid else f"INVALID, {result.error_count} error(s)"
        extra = f", parsed {result.bytes_parsed} new bytes" if result.incremental else ""
        chain = "hash-chained" if result.chained else "no hash chain"
        print(
            f"{result.path}: {verdict}: {result.lines} lines, {result.bytes} bytes, {chain}, "
            f"{result.seconds:.2f} s{extra}"
        )
        if result.error_count > len(result.errors):
            print(f"(first {len(result.errors)} of {result.error_count} errors shown)")
    return EXIT_OK if result.valid else EXIT_INVALID


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sandbox",
        help="serve the Binance and Telegram emulators and the reference bot until Ctrl-C",
        description="Serve the sandbox for manual drills; prints NAME=value lines that point a bot "
        "or the harness at it (e.g. `export $(readiness sandbox | grep =)` in another shell).",
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every emulator request")
    p.add_argument("--fault", action="append", default=[], metavar="NAME", help="inject a named fault")
    p.add_argument("--list-faults", action="store_true", help="print the fault catalogue and exit")
    p.set_defaults(func=cmd_sandbox)


def cmd_sandbox(args: argparse.Namespace) -> int:
    import signal
    import threading

    from readiness.sandbox.session import Sandbox, SandboxError, describe_faults

    if args.list_faults:
        print(describe_faults())
        return EXIT_OK
    if not args.latency_ms >= 0:
        print(f"readiness sandbox: --latency-ms must be >= 0, got {args.latency_ms:g}", file=sys.stderr)
        return EXIT_USAGE
    try:
        sandbox = Sandbox(latency_ms=args.latency_ms, faults=args.fault)
    except SandboxError as exc:
        print(f"readiness sandbox: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    with sandbox:
        for name, value in sorted(sandbox.env.items()):
            print(f"{name}={value}")
        print("READINESS_TARGET=sandbox")
        print(
            f"# sandbox up in {sandbox.startup_s:.2f} s, files in {sandbox.workdir}; Ctrl-C stops it",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="readiness", description="Deployment-readiness tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_audit(sub)
    _add_sandbox(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (argparse usage errors give 2)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its usage line already
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
