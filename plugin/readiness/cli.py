"""The ``readiness`` console script (SPEC §10).

One function per subcommand: ``_add_<name>`` declares its arguments, ``cmd_<name>`` runs it and
returns the exit status. Add a subcommand by writing both and registering it in ``_parser``.
Subcommands import their machinery inside these functions, so one command's start-up never
pays for another's imports.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2


# SPEC §7 names, as in AuditConfig (kept literal here so building the parser imports nothing).
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="readiness", description="Deployment-readiness tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_audit(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (argparse usage errors give 2, like SPEC §10)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its usage line already
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
