"""The ``readiness`` console script: ``audit``, ``sandbox``, ``init``.

One function per subcommand: ``_add_<name>`` declares its arguments, ``cmd_<name>`` runs it and
returns the exit status. Add a subcommand by writing both and registering it in ``_parser``.
Subcommands import their machinery inside these functions, so one command's start-up never
pays for another's imports.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

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
        metavar="DIR",
        help="where checkpoints live, under <DIR>/audit/ (default: $XDG_CACHE_HOME/readiness, "
        "else ~/.cache/readiness)",
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
    from readiness.audit import AuditConfig, TrailUnreadable, user_cache_dir, validate_file

    if args.workers is not None and args.workers < 1:
        print("readiness audit: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    names = {f"{f}_field": getattr(args, f"{f}_field") for f in _FIELD_DEFAULTS}
    cfg = AuditConfig(workers=args.workers, **{k: v for k, v in names.items() if v is not None})
    try:
        cache_dir = None if args.no_checkpoint else args.cache_dir or user_cache_dir()
        result = validate_file(args.path, cfg, cache_dir=cache_dir)
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


_SANDBOX_ABOUT = """\
Serve the sandbox for manual drills and print NAME=value lines that point a bot
or the harness at it (sh and python-dotenv read them alike). SIGINT (Ctrl-C) or
SIGTERM stops it, also when started in the background, and removes the bot and
its temp folder: exit 0. A second one while it stops kills the bot at once:
exit 130 (SIGINT) or 143 (SIGTERM). Exit 2 on a usage error.
"""
_SANDBOX_SCRIPT = """\
from a script (the file appears once the sandbox answers):
  rm -f sb.env
  readiness sandbox --write-env sb.env & sb=$!
  until [ -e sb.env ]; do kill -0 $sb || exit 1; sleep 0.1; done
  set -a; . ./sb.env; set +a
  curl -s "$BINANCE_API_URL/api/v3/ping"  # or a bot: it finds URLs and keys in its environment
  kill $sb; wait $sb
"""


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sandbox",
        help="serve the Binance and Telegram emulators and the reference bot until Ctrl-C",
        description=_SANDBOX_ABOUT,
        epilog=_SANDBOX_SCRIPT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every emulator request")
    p.add_argument("--fault", action="append", default=[], metavar="NAME", help="inject a named fault")
    p.add_argument("--list-faults", action="store_true", help="print the fault catalogue and exit")
    p.add_argument(
        "--write-env",
        metavar="PATH",
        help="also write the lines to PATH (mode 600, replacing a file or symlink there, never a "
        "symlink's target) once the sandbox answers; removed when it stops, as its values die with it",
    )
    _add_sandbox_delivery(p)
    p.set_defaults(func=cmd_sandbox)


def _add_sandbox_delivery(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--deliver",
        metavar="TEXT",
        help="deliver TEXT (a chat message, or a command such as /stop) to the bot of a sandbox "
        "already running, as a user of its chat, then exit",
    )
    what.add_argument(
        "--press",
        metavar="DATA",
        help="press the inline button whose callback data is DATA on the bot's latest message "
        "carrying it, in a sandbox already running, then exit",
    )
    p.add_argument(
        "--telegram-url",
        metavar="URL",
        help="that sandbox's TELEGRAM_API_URL (default: the TELEGRAM_API_URL environment variable)",
    )


def cmd_sandbox(args: argparse.Namespace) -> int:
    if args.deliver is not None or args.press is not None:
        return cmd_sandbox_deliver(args)
    from readiness.sandbox.session import Sandbox, SandboxError, describe_faults

    if args.list_faults:
        print(describe_faults())
        return EXIT_OK
    if not args.latency_ms >= 0:
        print(f"readiness sandbox: --latency-ms must be >= 0, got {args.latency_ms:g}", file=sys.stderr)
        return EXIT_USAGE
    env_file = _EnvFile(args.write_env)
    if problem := env_file.problem():
        print(f"readiness sandbox: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        sandbox = Sandbox(latency_ms=args.latency_ms, faults=args.fault)
        stop = _stop_on_signals(env_file.remove, sandbox.kill)
        with sandbox, env_file.holding(_env_lines(sandbox.env)) as lines:
            print(*lines, sep="\n")
            print(
                f"# sandbox up in {sandbox.startup_s:.2f} s, files in {sandbox.workdir}; Ctrl-C stops it",
                flush=True,
            )
            stop.wait()
            print("# stopping; a second Ctrl-C stops it at once", flush=True)
    except SandboxError as exc:
        print(f"readiness sandbox: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _env_lines(env: dict[str, str]) -> list[str]:
    """The NAME=value lines, read alike by sh (``set -a; . FILE``) and python-dotenv: a value is
    single-quoted only when it needs it (the bot command has spaces), and neither expands inside."""
    pairs = [*sorted(env.items()), ("READINESS_TARGET", "sandbox")]
    return [f"{name}={shlex.quote(value)}" for name, value in pairs]


class _EnvFile:
    """``--write-env PATH`` (a no-op without it): the env lines, for scripts, while the sandbox serves.

    Written whole by rename, so a script waiting for PATH never reads half of it. Removed at the
    end only if it is still the file this run wrote (another sandbox may have replaced it since).
    """

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self._written: tuple[int, int] | None = None

    def problem(self) -> str | None:
        """Why PATH cannot take the file, checked before the sandbox starts (None: it can)."""
        if self.path is None:
            return None
        if not self.path.parent.is_dir():
            return f"--write-env {self.path}: folder {self.path.parent} does not exist"
        if self.path.is_dir():
            return f"--write-env {self.path}: is a folder"
        return None

    @contextlib.contextmanager
    def holding(self, lines: list[str]) -> Iterator[list[str]]:
        from readiness.report.files import write_atomic
        from readiness.sandbox.session import SandboxError

        if self.path is not None:
            try:
                write_atomic(self.path, "".join(f"{line}\n" for line in lines).encode(), mode=0o600)
                stat = self.path.lstat()
            except OSError as exc:
                raise SandboxError(f"--write-env {self.path}: {exc.strerror}") from None
            self._written = (stat.st_dev, stat.st_ino)
        try:
            yield lines
        finally:
            self.remove()

    def remove(self) -> None:
        if self.path is None or self._written is None:
            return
        with contextlib.suppress(OSError):
            stat = self.path.lstat()
            if (stat.st_dev, stat.st_ino) == self._written:
                self.path.unlink()
        self._written = None


def _stop_on_signals(*cut_short: Callable[[], None]) -> threading.Event:
    """An event the first SIGINT or SIGTERM sets; a second one runs ``cut_short`` and exits 128+N.

    Handlers are installed for both explicitly: a background job of a non-interactive shell starts
    with SIGINT ignored, and a KeyboardInterrupt in the middle of shutdown would end in a traceback.
    """
    stop = threading.Event()

    def handle(signum: int, _frame: object) -> None:
        if not stop.is_set():
            stop.set()
            return
        for step in cut_short:
            step()
        os.write(2, f"readiness sandbox: second {signal.Signals(signum).name}: stopped at once\n".encode())
        os._exit(128 + signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handle)
    return stop


def cmd_sandbox_deliver(args: argparse.Namespace) -> int:
    """``readiness sandbox --deliver TEXT`` / ``--press DATA``: one update to a running sandbox's bot."""
    import httpx

    from readiness.sandbox.telegram.control import deliver

    url = args.telegram_url or os.environ.get("TELEGRAM_API_URL", "")
    if not url:
        print("readiness sandbox: give --telegram-url or set TELEGRAM_API_URL", file=sys.stderr)
        return EXIT_USAGE
    payload = {"text": args.deliver} if args.deliver is not None else {"callback_data": args.press}
    try:
        answer = deliver(url, payload)
    except (httpx.HTTPError, ValueError) as exc:
        print(f"readiness sandbox: no sandbox Telegram emulator answers at {url}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not answer.get("ok"):
        print(f"readiness sandbox: {answer.get('description')}", file=sys.stderr)
        return EXIT_USAGE
    update = answer["result"]
    if update is None:
        print(f"not delivered: {answer.get('description')}")
    else:
        print(f"delivered update {update['update_id']}: {json.dumps(update, ensure_ascii=False)}")
    return EXIT_OK


_INIT_ABOUT = """\
Set up a new deployment's configuration in one folder. Asks for the Telegram bot
token and alert chat and the Binance API key and secret of the target's network
(secrets are read without echo and never printed), and checks each against the
live API as it is given: the token (getMe), the chat (getChat and a test
message), the Binance endpoint's network, the key, its trade permission and, on
mainnet, that it cannot withdraw. A rejected answer is explained and asked for
again. Only once every answer passes does it write .env (mode 600) and the
templates readiness.toml (every setting, commented out at its default),
readiness-waivers.toml and readiness-attestations.toml (commented examples).
An existing .env is never replaced without --force (exit 2); an existing
template is kept. Ctrl-C stops it with nothing written (exit 130).
"""
_INIT_SCRIPT = """\
without a terminal (or with --non-interactive) every answer comes from the environment:
  TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID, BINANCE_TESTNET_API_KEY, BINANCE_TESTNET_API_SECRET
  (BINANCE_API_KEY, BINANCE_API_SECRET with --target mainnet), and optionally the origins
  TELEGRAM_API_URL and BINANCE_API_URL; the first answer that fails its check ends the run: exit 1.
"""


def _add_init(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "init",
        help="write a new deployment's .env and setting templates, each credential checked live",
        description=_INIT_ABOUT,
        epilog=_INIT_SCRIPT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--dir", default=".", metavar="DIR", help="the folder to write in (default: this one)")
    p.add_argument(
        "--target",
        choices=("testnet", "mainnet"),
        default="testnet",
        help="the network the credentials are for (default: %(default)s)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing .env and templates")
    p.add_argument(
        "--non-interactive",
        action="store_true",
        help="read every answer from the environment, never prompt (also when stdin is not a terminal)",
    )
    p.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    from readiness.init import InitOptions, run

    interactive = not args.non_interactive and sys.stdin.isatty()
    folder = Path(args.dir)
    return run(InitOptions(folder, args.target, force=args.force, interactive=interactive), os.environ)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="readiness", description="Deployment-readiness tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_audit(sub)
    _add_sandbox(sub)
    _add_init(sub)
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
