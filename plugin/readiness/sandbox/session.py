"""Start and stop the whole sandbox: both emulators on loopback and the reference bot.

The emulators run in this process (background threads), the bot as a child process in its own
process group. :meth:`Sandbox.env` is what points the harness (and a bot) at them: every
setting that names a service, a credential, a bot file or the attestation file. Without its own
bot (``host_bot`` False: the operator's bot, of another profile, is the one checked) it serves
the emulators only.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from subprocess import Popen

from . import attestations, binance, bot, botrepo, drill_runs, faults, faults_audit, faults_deploy, telegram
from .faults import SessionFault
from .server import BackgroundServer

#: Every fault the sandbox knows, by name; each is meant to fail exactly one check.
SESSION_FAULTS: Mapping[str, SessionFault] = {**faults.FAULTS, **faults_audit.FAULTS, **faults_deploy.FAULTS}
FAULTS: Mapping[str, str] = {
    **binance.FAULTS,
    **telegram.FAULTS,
    **bot.FAULTS,
    **botrepo.FAULTS,
    **drill_runs.FAULTS,
    **attestations.FAULTS,
    **{name: fault.description for name, fault in SESSION_FAULTS.items()},
}
#: Faults for rehearsing a bot on the paper exchange (its reconnect, retry and gap handling):
#: what a real exchange does now and then, not made to fail any check.
REHEARSALS: Mapping[str, str] = binance.BOT_FAULTS

#: The paper account the sandbox's bot starts from: quote to buy its opening positions with (about
#: 37,500 USDT of BTC and ETH at the walk's prices) and no base asset, so every BTC or ETH the
#: exchange holds came from the bot's fills.
ACCOUNT: Mapping[str, str] = {"USDT": "50000", "BNB": "1"}


class SandboxError(Exception):
    """The sandbox could not start (e.g. an unknown fault name)."""


def validate_faults(names: Collection[str]) -> None:
    known = {**FAULTS, **REHEARSALS}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SandboxError(
            f"unknown sandbox fault(s) {', '.join(unknown)}; known faults: {', '.join(sorted(known))}"
        )


class Sandbox:
    """Emulators plus reference bot in a temporary folder; a context manager."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        faults: Collection[str] = (),
        workdir: Path | None = None,
        host_bot: bool = True,
    ) -> None:
        validate_faults(faults)
        needs_bot = sorted(set(faults) & {*bot.FAULTS, *SESSION_FAULTS, *botrepo.FAULTS, *drill_runs.FAULTS})
        if needs_bot and not host_bot:
            raise SandboxError(
                f"{', '.join(needs_bot)} act on the sandbox's own bot, which it hosts only for "
                "READINESS_BOT_PROFILE=reference"
            )
        self.host_bot = host_bot
        self.faults = frozenset(faults)
        self.binance = binance.BinanceEmulator(
            network="mainnet",
            latency_ms=latency_ms,
            faults=self.faults & {*binance.FAULTS, *REHEARSALS},
            balances=ACCOUNT,
        )
        self.telegram = telegram.TelegramEmulator(
            latency_ms=latency_ms, faults=self.faults & set(telegram.FAULTS)
        )
        self._tempdir = None if workdir else tempfile.TemporaryDirectory(prefix="readiness-sandbox-")
        self.workdir = workdir or Path(self._tempdir.name)  # type: ignore[union-attr]
        self._servers: list[BackgroundServer] = []
        self._bot: Popen[bytes] | None = None
        self._repo = botrepo.BotRepo(self.workdir / "repo", self.faults)
        self.startup_s = 0.0
        self.env: dict[str, str] = {}
        self.env_file: Path | None = None

    def start(self) -> dict[str, str]:
        """Start everything and return the environment that points at it."""
        started = time.perf_counter()
        try:
            binance_url = self._serve(self.binance.make_app())
            telegram_url = self._serve(self.telegram.make_app())
            bot_dir = self.workdir / "bot"
            bot_dir.mkdir(parents=True, exist_ok=True)
            self.env = {
                **self.telegram.env(telegram_url),
                "BINANCE_API_URL": binance_url,
                # the paper exchange's streams and WebSocket API share its origin, as on Binance's paths
                "BINANCE_STREAM_URL": binance_url.replace("http://", "ws://", 1),
                "BINANCE_WS_API_URL": binance_url.replace("http://", "ws://", 1) + "/ws-api/v3",
                "BINANCE_API_KEY": self.binance.api_key,
                "BINANCE_API_SECRET": self.binance.api_secret,
                # the manual steps, attested for the rehearsal (whoever runs the bot checks)
                "READINESS_ATTESTATIONS": str(attestations.write(self.workdir, self.faults)),
            }
            if not self.host_bot:
                self.env_file = self._write_env_file()
                self.startup_s = time.perf_counter() - started
                return self.env
            self.env.update(bot.settings_env(bot_dir))
            self._repo.start()  # its tests run while the bot starts
            self.env.update(self._repo.env())
            try:
                drill_runs.apply(self.faults, self.workdir / "drills", self.env)
            except drill_runs.DrillRunError as exc:
                raise SandboxError(str(exc)) from None
            self.env_file = self._write_env_file()
            bot_faults = sorted(self.faults & set(bot.FAULTS))
            # The bot follows this process: a harness killed outright leaves no bot behind.
            watch = ["--watch-pid", str(os.getpid())]
            self.env["READINESS_BOT_COMMAND"] = shlex.join(bot.command(bot_dir, bot_faults, extra_args=watch))
            self._bot = bot.start_bot(bot_dir, self.env, faults=bot_faults, extra_args=watch)
            self._apply_session_faults(bot_dir)
            self._repo.finish()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.perf_counter() - started
        return self.env

    def wait_for_bot_activity(self, timeout: float = 5.0) -> None:
        """Let the bot record its first API call (or its failure) before the checks read it.

        A deployed bot has a history; one started a second ago may not have pinged yet. The bot
        opens its positions first (python-binance's import and two market orders, about a second
        on a busy host), then pings; an exchange that fails or hangs makes it record an error
        within its 2 s order timeout, so this waits at most ``timeout``.
        """
        if not self.host_bot:
            return
        trail = self.workdir / "bot" / bot.AUDIT_FILE
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = trail.read_bytes()
            if b'"event":"api_call"' in content or b'"event":"error"' in content:
                return
            time.sleep(0.02)

    def _write_env_file(self) -> Path:
        """The credentials as a deployment keeps them: a ``.env`` only its owner can read."""
        path = self.workdir / faults.ENV_FILE
        secrets = [
            name for name in self.env if name.startswith(("TELEGRAM_", "BINANCE_")) and "URL" not in name
        ]
        path.write_text("".join(f"{name}={self.env[name]}\n" for name in sorted(secrets)), encoding="utf-8")
        path.chmod(0o600)
        return path

    def _apply_session_faults(self, bot_dir: Path) -> None:
        for name in sorted(self.faults & set(SESSION_FAULTS)):
            SESSION_FAULTS[name].apply(bot_dir, self.env)

    def _serve(self, app: object) -> str:
        server = BackgroundServer(app)  # type: ignore[arg-type]
        self._servers.append(server)
        return server.start()

    def stop(self) -> None:
        """Stop the bot (whoever restarted it last: the PID file says), then the emulators."""
        bot.stop_bot(self.workdir / "bot", self._bot)
        self._bot = None
        self._repo.stop()
        while self._servers:
            self._servers.pop().stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def kill(self) -> None:
        """Stop at once (a second Ctrl-C cut :meth:`stop` short): SIGKILL the bot, drop the temp folder.

        Only right before this process exits: the emulators are its threads and end with it. Safe in
        a signal handler that interrupted :meth:`stop` (the temp folder may be half removed).
        """
        bot.kill_bot(self.workdir / "bot", self._bot)
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir.name, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def describe_faults() -> str:
    """The catalogue as text, one fault a line, rehearsals last (``readiness sandbox --list-faults``)."""
    width = max(map(len, {**FAULTS, **REHEARSALS}))
    lines = [f"{name:<{width}}  {FAULTS[name]}" for name in sorted(FAULTS)]
    lines += ["", "For rehearsing a bot (no check is made to fail by these):"]
    lines += [f"{name:<{width}}  {REHEARSALS[name]}" for name in sorted(REHEARSALS)]
    return "\n".join(lines)
