"""The sandbox's reference trading bot: a separate process whose whole state lives in one folder.

It does what the harness expects of a real bot and nothing more: a PID file, a
seq-numbered, hash-chained audit trail written so a SIGKILL never tears a line, positions in SQLite
(WAL), a TOML risk config, a log file, a kill switch persisted so it survives SIGKILL, a Telegram
alert on activation, positions opened with real market orders (:mod:`readiness.sandbox.trader`),
and a loopback control API that :mod:`readiness.sandbox.riskclient` turns into
the risk-manager protocol. Named faults (:data:`FAULTS`) make it misbehave in exactly the way one
deployment check or drill is meant to catch.

Run it as ``python -m readiness.sandbox.bot --workdir DIR [--heartbeat-s S] [--fault NAME ...]``
with ``TELEGRAM_API_URL``, ``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_CHAT_ID`` and ``BINANCE_API_URL`` in
the environment (and ``BINANCE_API_KEY``/``BINANCE_API_SECRET`` to trade). Start-up matters (the
sandbox aims at 1.5 s), so it imports only aiohttp, httpx and the standard library, and
python-binance only when it opens positions.

The launcher at the end (:func:`command`, :func:`settings_env`, :func:`start_bot`,
:func:`stop_bot`, :func:`kill_bot`) is what the sandbox session and the tests use to run it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import html
import json
import logging
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import httpx
from aiohttp import web

from readiness.report.files import write_atomic
from readiness.sandbox import trader
from readiness.sandbox.trader import USER_AGENT

__all__ = [
    "AUDIT_FILE",
    "CONTROL_FILE",
    "DB_FILE",
    "DEFAULT_RISK",
    "FAULTS",
    "LOG_FILE",
    "PID_FILE",
    "RISK_FILE",
    "STATE_FILE",
    "BotStartError",
    "command",
    "kill_bot",
    "main",
    "settings_env",
    "start_bot",
    "stop_bot",
    "wait_for_positions",
]

PID_FILE: Final = "bot.pid"
AUDIT_FILE: Final = "audit.jsonl"
DB_FILE: Final = "positions.db"
RISK_FILE: Final = "risk.toml"
LOG_FILE: Final = "bot.log"
STATE_FILE: Final = "state.json"
CONTROL_FILE: Final = "control.json"

ZERO_HASH: Final = "0" * 64

FAULTS: Final[dict[str, str]] = {
    "killswitch_ignores_buys": "validate_trade allows a BUY while the kill switch is active "
    "(fails drill.killswitch_activation)",
    "forget_killswitch": "the kill switch lives in memory only; state.json is neither written nor read, "
    "so a SIGKILL loses it (fails drill.crash_recovery)",
    "torn_audit_on_kill": "the trail always ends with half a heartbeat line: its second half is written "
    "just before the next event, which is followed by a new half heartbeat, so a SIGKILL at any "
    "moment leaves a torn last line "
    "(fails drill.crash_recovery)",
    "slow_alert": "waits 6 s before sending the kill-switch alert "
    "(fails drill.killswitch_activation on alert latency)",
    "circuit_breaker_trips": "emits circuit_breaker_open events at start (fails ops.circuit_breaker_trips)",
    "ws_reconnects": "emits ws_reconnect events at start (fails ops.ws_reconnects)",
    "critical_log": "writes a CRITICAL line to bot.log at start (fails deploy.no_critical_logs)",
    "secret_in_log": "writes the Telegram bot token into bot.log at start "
    "(fails security.secrets_not_in_logs)",
    "slow_api": "reports each api_call event about 3,000 ms slower than measured (fails ops.api_latency_p95)",
    "positions_mismatch": "records each opening fill's gross quantity, forgetting the commission the "
    "exchange takes in the asset bought: the DB holds 0.5 BTC, the exchange 0.4995 "
    "(fails drill.position_reconciliation; only on a fresh positions.db)",
    "silent_deactivation": "deactivating the kill switch writes no kill_switch_deactivated event "
    "(fails drill.killswitch_deactivation)",
    "audit_garbage_line": "writes one line that is not JSON after bot_started, the chain carried over it "
    "(fails audit.jsonl_valid)",
    "audit_seq_gap": "skips one seq number after bot_started, the line otherwise well-formed and chained "
    "(fails audit.sequence_intact)",
    "audit_chain_broken": "writes one line whose prev_sha256 is wrong after bot_started "
    "(fails audit.hash_chain_intact)",
}
#: Faults that damage the audit trail once, on the event after ``bot_started``.
AUDIT_FAULTS: Final = ("audit_garbage_line", "audit_seq_gap", "audit_chain_broken")
GARBAGE_LINE: Final = b"{this line is not JSON"
"""Fault name -> what the bot does wrong and the check meant to catch it."""

DEFAULT_RISK: Final[dict[str, float | int]] = {
    "max_position_usdt": 30000.0,
    "max_daily_loss_usdt": 1000.0,
    "max_loss_per_trade_usdt": 250.0,
    "max_open_positions": 5,
    "cooldown_minutes": 15,
}
"""Written to risk.toml when it is missing; max_position_usdt covers the opening 25,000 USDT of BTC."""

CIRCUIT_BREAKER_TRIPS: Final = 6
WS_RECONNECTS: Final = 12
SLOW_API_EXTRA_MS: Final = 3000.0
DEFAULT_ALERT_DELAY_S: Final = 6.0
ALERT_TIMEOUT_S: Final = 10.0
PING_TIMEOUT_S: Final = 2.0
STOP_GRACE_S: Final = 2.0
DEFAULT_TELEGRAM_API_URL: Final = "https://api.telegram.org"
DEFAULT_BINANCE_API_URL: Final = "https://testnet.binance.vision"
SECRET_ENV: Final = (
    "TELEGRAM_BOT_TOKEN",
    "BINANCE_TESTNET_API_KEY",
    "BINANCE_TESTNET_API_SECRET",
    "BINANCE_API_KEY",
    "BINANCE_API_SECRET",
)

log = logging.getLogger("bot")


class StartupError(Exception):
    """The bot cannot start (another instance runs, or its risk config is invalid)."""


def now_iso() -> str:
    """Wall-clock time as ISO-8601 with the UTC offset, millisecond precision."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# -- logging ----------------------------------------------------------------------------------


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then blanks every secret value, tracebacks included."""

    def __init__(self, fmt: str, secrets: Sequence[str]) -> None:
        super().__init__(fmt)
        self.secrets = [s for s in secrets if len(s) >= 4]

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each secret replaced by ``<redacted>``."""
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text


def configure_logging(path: Path, secrets: Sequence[str]) -> logging.FileHandler:
    """Log the ``bot`` logger to ``path``; silence httpx, whose INFO lines carry Telegram URLs."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    for noisy in ("httpx", "httpcore", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler


# -- audit trail ------------------------------------------------------------------------------


def read_last_line(path: Path, chunk: int = 65536) -> bytes | None:
    """The file's last byte-line including its ``\\n`` (None if empty); a torn line has no ``\\n``."""
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        if end == 0:
            return None
        pos = end
        tail = b""
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
            cut = tail.rfind(b"\n", 0, len(tail) - 1)
            if cut >= 0:
                return tail[cut + 1 :]
        return tail


class AuditTrail:
    """Appends audit-trail events: one ``os.write`` of a whole line on an O_APPEND fd, then fsync.

    On start it resumes seq and hash chain from the last line. If that line is torn (no trailing
    newline) or unreadable, the bot does not append: writing after a torn line would glue the next
    event onto it, and repairing it would hide the crash from the validator. It logs an ERROR,
    counts the events it could not record and reports ``audit_ok: false`` on /health; the operator
    decides what to do with the file.
    """

    def __init__(
        self,
        path: Path,
        *,
        torn_tail: Callable[[], dict[str, Any]] | None = None,
        damage: str | None = None,
    ) -> None:
        self.path = path
        self._damage = damage  # one of AUDIT_FAULTS, done once on the second event
        self._appended = 0
        self.seq = 0
        self.prev_sha256 = ZERO_HASH
        self.problem: str | None = None
        self.dropped = 0
        self._torn_tail = torn_tail
        self._held_back = b""
        self._fd = -1

    def open(self) -> None:
        """Open for appending and resume seq/chain, or suspend writing (see class docstring)."""
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        last = read_last_line(self.path)
        if last is None:
            return
        if not last.endswith(b"\n"):
            self.problem = f"last line of {self.path.name} is torn (no trailing newline, {len(last)} bytes)"
        else:
            line = last[:-1]
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            seq = record.get("seq") if isinstance(record, dict) else None
            if isinstance(seq, int) and not isinstance(seq, bool):
                self.seq = seq
                self.prev_sha256 = hashlib.sha256(line).hexdigest()
            else:
                self.problem = f"last line of {self.path.name} is not a JSON object with an integer seq"
        if self.problem:
            log.error("audit trail left untouched, events will not be recorded: %s", self.problem)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def append(self, event: str, **fields: Any) -> int | None:
        """Record ``event``; return its seq, or None when the trail is suspended."""
        if self.problem is not None:
            self.dropped += 1
            return None
        seq = self.seq + 1
        prev_sha256 = self.prev_sha256
        prefix = b""
        self._appended += 1
        if self._damage is not None and self._appended == 2:
            if self._damage == "audit_seq_gap":
                seq += 1
            elif self._damage == "audit_chain_broken":
                prev_sha256 = "f" * 64
            else:
                prefix = GARBAGE_LINE + b"\n"
                prev_sha256 = hashlib.sha256(GARBAGE_LINE).hexdigest()
        line = _audit_line(event, seq, prev_sha256, fields)
        lines = [line]
        data = self._held_back + prefix + line + b"\n"
        self._held_back = b""
        if self._torn_tail is not None and event != "bot_stopped":
            # Fault torn_audit_on_kill: in the same write, end the file inside a heartbeat line.
            if event != "heartbeat":
                digest = hashlib.sha256(line).hexdigest()
                lines.append(_audit_line("heartbeat", seq + 1, digest, self._torn_tail()))
                data += lines[-1] + b"\n"
            half = len(lines[-1]) // 2 + 1
            data, self._held_back = data[:-half], data[-half:]
        try:
            self._write(data)
        except OSError as exc:
            self.problem = f"writing {self.path.name} failed: {exc}"
            log.error("audit trail suspended: %s", self.problem)
            return None
        self.seq = seq + len(lines) - 1
        self.prev_sha256 = hashlib.sha256(lines[-1]).hexdigest()
        return seq

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the trail, first finishing a line held back by fault ``torn_audit_on_kill``."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                if self._held_back:
                    self._write(self._held_back)
            os.close(self._fd)
            self._fd = -1


def _audit_line(event: str, seq: int, prev_sha256: str, fields: Mapping[str, Any]) -> bytes:
    """One audit record as compact UTF-8 JSON, without its newline."""
    record = {"timestamp": now_iso(), "event": event, "seq": seq, "prev_sha256": prev_sha256, **fields}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


# -- positions --------------------------------------------------------------------------------


class PositionStore:
    """The positions table in SQLite, WAL mode, every change in one transaction."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS positions("
            "symbol TEXT, qty REAL, avg_price REAL, status TEXT, opened_at, updated_at)"
        )

    def empty(self) -> bool:
        (count,) = self.conn.execute("SELECT COUNT(*) FROM positions").fetchone()
        return bool(count == 0)

    def open(self, positions: Sequence[tuple[str, float, float]]) -> None:
        """Record ``(symbol, qty, avg_price)`` as open positions, in one transaction."""
        stamp = now_iso()
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany(
                "INSERT INTO positions VALUES (?, ?, ?, 'open', ?, ?)",
                [(symbol, qty, price, stamp, stamp) for symbol, qty, price in positions],
            )
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def open_symbols(self) -> list[str]:
        rows = self.conn.execute("SELECT symbol FROM positions WHERE status = 'open' ORDER BY symbol")
        return [symbol for (symbol,) in rows]

    def close(self) -> None:
        self.conn.close()


# -- risk config and kill-switch state --------------------------------------------------------


def render_risk(risk: Mapping[str, float | int]) -> str:
    lines = ["# Risk limits of the sandbox reference bot, read once at start-up."]
    lines += [f"{key} = {value!r}" for key, value in risk.items()]
    return "\n".join(lines) + "\n"


def load_risk(path: Path) -> dict[str, float]:
    """Read risk.toml, writing the defaults first if it is missing; refuse an invalid one."""
    if not path.exists():
        write_atomic(path, render_risk(DEFAULT_RISK).encode())
        log.info("wrote default risk config %s", path.name)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise StartupError(f"cannot read risk config {path}: {exc}") from exc
    risk: dict[str, float] = {}
    for key in DEFAULT_RISK:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise StartupError(f"risk config {path}: {key} must be a number, got {value!r}")
        if value < 0 or (value == 0 and key != "cooldown_minutes"):
            raise StartupError(f"risk config {path}: {key} must be positive, got {value!r}")
        risk[key] = float(value)
    return risk


@dataclass
class KillSwitch:
    active: bool = False
    reason: str = ""
    changed_at: str = ""


def load_kill_switch(path: Path) -> KillSwitch:
    """Read state.json; an unreadable one fails closed (switch active), as a kill switch must."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return KillSwitch()
    except (OSError, ValueError) as exc:
        log.error("state file %s unreadable (%s): kill switch forced active", path.name, exc)
        return KillSwitch(True, f"state file unreadable: {exc}", now_iso())
    if not isinstance(data, dict) or not isinstance(data.get("active"), bool):
        log.error("state file %s malformed: kill switch forced active", path.name)
        return KillSwitch(True, "state file malformed", now_iso())
    return KillSwitch(data["active"], str(data.get("reason", "")), str(data.get("changed_at", "")))


# -- the bot ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What the bot reads from its command line and the environment (the harness's setting names)."""

    workdir: Path
    heartbeat_s: float
    alert_delay_s: float
    faults: frozenset[str]
    watch_pid: int | None
    telegram_api_url: str
    telegram_token: str
    telegram_chat_id: str
    binance_api_url: str
    binance_api_key: str
    binance_api_secret: str
    secrets: tuple[str, ...]

    @classmethod
    def from_args(cls, args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
        return cls(
            workdir=Path(args.workdir).resolve(),
            heartbeat_s=args.heartbeat_s,
            alert_delay_s=args.alert_delay_s,
            faults=frozenset(args.fault),
            watch_pid=args.watch_pid,
            telegram_api_url=env.get("TELEGRAM_API_URL", DEFAULT_TELEGRAM_API_URL).rstrip("/"),
            telegram_token=env.get("TELEGRAM_BOT_TOKEN", ""),
            telegram_chat_id=env.get("TELEGRAM_CHAT_ID", ""),
            binance_api_url=env.get("BINANCE_API_URL", DEFAULT_BINANCE_API_URL).rstrip("/"),
            binance_api_key=env.get("BINANCE_API_KEY") or env.get("BINANCE_TESTNET_API_KEY", ""),
            binance_api_secret=env.get("BINANCE_API_SECRET") or env.get("BINANCE_TESTNET_API_SECRET", ""),
            secrets=tuple(env[name] for name in SECRET_ENV if env.get(name)),
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_is_bot(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process running this module."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"readiness.sandbox.bot" in cmdline


class Bot:
    """One bot process: owns the files in the workdir, the control API and the heartbeat."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.dir = settings.workdir
        self.pid = os.getpid()
        self.faults = settings.faults
        torn = "torn_audit_on_kill" in self.faults
        damage = next((fault for fault in AUDIT_FAULTS if fault in self.faults), None)
        self.audit = AuditTrail(
            self.dir / AUDIT_FILE, torn_tail=self._heartbeat_fields if torn else None, damage=damage
        )
        self.store: PositionStore | None = None
        self.risk: dict[str, float] = {}
        self.kill = KillSwitch()
        self._http: httpx.AsyncClient | None = None
        self.started = time.monotonic()
        #: Set once the opening orders are done (or failed): the DB then says what the bot holds.
        self.positions_ready = False
        self.stop = asyncio.Event()
        self.tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle

    def claim_pid_file(self) -> None:
        """Refuse to run beside a live instance; otherwise (stale file after SIGKILL) take over."""
        path = self.dir / PID_FILE
        with contextlib.suppress(OSError, ValueError):
            other = int(path.read_text().strip())
            if other != self.pid and _pid_is_bot(other):
                raise StartupError(f"another bot (pid {other}) is running in {self.dir}")
        write_atomic(path, f"{self.pid}\n".encode())

    def release_files(self) -> None:
        """Remove bot.pid and control.json if they are still this process's (a successor may own them)."""
        with contextlib.suppress(OSError, ValueError):
            if json.loads((self.dir / CONTROL_FILE).read_bytes()).get("pid") == self.pid:
                (self.dir / CONTROL_FILE).unlink()
        with contextlib.suppress(OSError):
            if (self.dir / PID_FILE).read_text() == f"{self.pid}\n":
                (self.dir / PID_FILE).unlink()

    async def run(self) -> int:
        self.claim_pid_file()
        try:
            await self._serve()
        finally:
            self.release_files()
        return 0

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop.set)
        self.risk = load_risk(self.dir / RISK_FILE)
        if "forget_killswitch" not in self.faults:
            self.kill = load_kill_switch(self.dir / STATE_FILE)
        self.audit.open()
        self.store = PositionStore(self.dir / DB_FILE)
        runner = web.AppRunner(self._make_app(), access_log=None, handle_signals=False)
        try:
            self._start_events()
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            control = {"url": f"http://127.0.0.1:{port}", "pid": self.pid, "started_at": now_iso()}
            write_atomic(self.dir / CONTROL_FILE, json.dumps(control).encode())
            log.info("control API listening on 127.0.0.1:%d", port)
            heartbeat = asyncio.create_task(self._trade())
            await self.stop.wait()
            log.info("stopping on signal")
            await runner.cleanup()
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=STOP_GRACE_S)
                for task in self.tasks:
                    task.cancel()
                await asyncio.gather(*self.tasks, return_exceptions=True)
            self.audit.append("bot_stopped", pid=self.pid, reason="signal")
        finally:
            await runner.cleanup()
            if self._http is not None:
                await self._http.aclose()
            self.store.close()
            self.audit.close()
            log.info("stopped")

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client, built on first use: loading the CA bundle costs ~0.2 s of start-up."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=PING_TIMEOUT_S, headers={"User-Agent": USER_AGENT})
        return self._http

    def _start_events(self) -> None:
        log.info("bot started, pid %d, faults: %s", self.pid, ", ".join(sorted(self.faults)) or "none")
        self.audit.append(
            "bot_started",
            pid=self.pid,
            heartbeat_s=self.s.heartbeat_s,
            kill_switch_active=self.kill.active,
            faults=sorted(self.faults),
        )
        if "circuit_breaker_trips" in self.faults:
            for trip in range(1, CIRCUIT_BREAKER_TRIPS + 1):
                self.audit.append("circuit_breaker_open", breaker="binance_rest", trip=trip, cooldown_s=30)
            log.warning("binance circuit breaker opened %d times", CIRCUIT_BREAKER_TRIPS)
        if "ws_reconnects" in self.faults:
            for attempt in range(1, WS_RECONNECTS + 1):
                self.audit.append("ws_reconnect", stream="btcusdt@bookTicker", attempt=attempt)
            log.warning("market-data websocket reconnected %d times", WS_RECONNECTS)
        if "critical_log" in self.faults:
            log.critical("order book desynchronised, trading halted (injected fault critical_log)")
        if "secret_in_log" in self.faults:
            log.info("telegram configured with token %s", self.s.telegram_token)

    async def _trade(self) -> None:
        """Once listening (healthy): open the positions, then beat; python-binance loads meanwhile."""
        await self._open_positions()
        self.positions_ready = True
        await self._heartbeats()

    async def _open_positions(self) -> None:
        """On an empty DB, buy the opening positions and record them from their fills.

        Tried once per start: a bot that cannot trade says so once (an error event and an ERROR
        line) rather than every heartbeat, and records whatever did fill before the failure.
        """
        assert self.store is not None
        if not self.store.empty():
            return
        if not (self.s.binance_api_key and self.s.binance_api_secret):
            self._error("binance", "no BINANCE_API_KEY and BINANCE_API_SECRET: no positions opened")
            return
        failure: trader.TradeError | None = None
        try:
            opened = await trader.open_positions(
                self.s.binance_api_url, self.s.binance_api_key, self.s.binance_api_secret, log.warning
            )
        except trader.TradeError as exc:
            opened, failure = exc.opened, exc
        gross = "positions_mismatch" in self.faults
        rows = [(p.symbol, p.filled_qty if gross else p.qty, p.avg_price) for p in opened]
        self.store.open(rows)
        for position, (symbol, qty, price) in zip(opened, rows, strict=True):
            self.audit.append(
                "position_opened", symbol=symbol, side="BUY", qty=qty, price=price, order_id=position.order_id
            )
            log.info("opened position %s qty %s at %s (order %d)", symbol, qty, price, position.order_id)
        if failure is not None:
            self._error("binance", str(failure))

    async def _heartbeats(self) -> None:
        """Ping Binance and append ``api_call`` then ``heartbeat``, every ``heartbeat_s``, no drift."""
        next_tick = time.monotonic()
        while True:
            if self.s.watch_pid is not None and not _alive(self.s.watch_pid):
                log.warning("process %d that started the sandbox is gone; stopping", self.s.watch_pid)
                self.stop.set()
                return
            await self._ping()
            self.audit.append("heartbeat", **self._heartbeat_fields())
            next_tick += self.s.heartbeat_s
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))

    def _heartbeat_fields(self) -> dict[str, Any]:
        return {
            "kill_switch_active": self.kill.active,
            "open_positions": len(self.store.open_symbols()) if self.store else 0,
            "uptime_s": round(time.monotonic() - self.started, 3),
        }

    async def _ping(self) -> None:
        endpoint = "/api/v3/ping"
        started = time.perf_counter()
        try:
            response = await self.http.get(self.s.binance_api_url + endpoint, timeout=PING_TIMEOUT_S)
        except httpx.HTTPError as exc:
            self._error("binance", f"GET {endpoint} failed: {type(exc).__name__}: {exc}")
            return
        latency_ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            self._error("binance", f"GET {endpoint} answered HTTP {response.status_code}")
            return
        if "slow_api" in self.faults:
            latency_ms += SLOW_API_EXTRA_MS
        self.audit.append(
            "api_call", endpoint=endpoint, method="GET", status=200, latency_ms=round(latency_ms, 3)
        )

    def _error(self, source: str, message: str) -> None:
        message = redact(message, self.s.secrets)
        log.error("%s: %s", source, message)
        self.audit.append("error", source=source, message=message)

    # -- kill switch and trading rules

    def _persist_kill_switch(self) -> None:
        if "forget_killswitch" not in self.faults:
            write_atomic(self.dir / STATE_FILE, json.dumps(asdict(self.kill)).encode())

    def set_kill_switch(self, active: bool, reason: str) -> dict[str, Any]:
        """Flip the switch: state.json first, then the audit event, then the alert (in background)."""
        requested = time.monotonic()
        if self.kill.active == active:
            return {"changed": False, **asdict(self.kill)}
        self.kill = KillSwitch(active, reason, now_iso())
        self._persist_kill_switch()
        event = "kill_switch_activated" if active else "kill_switch_deactivated"
        silent = not active and "silent_deactivation" in self.faults
        seq = None if silent else self.audit.append(event, reason=reason)
        if active:
            log.warning("kill switch activated: %s", reason)
            text = f"<b>CRITICAL</b> kill switch activated: {html.escape(reason)}\nBUY orders are blocked."
        else:
            log.info("kill switch deactivated: %s", reason)
            text = f"<b>INFO</b> kill switch deactivated: {html.escape(reason)}\nTrading re-enabled."
        task = asyncio.create_task(self._alert(event, text, requested))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return {"changed": True, "seq": seq, **asdict(self.kill)}

    async def _alert(self, trigger: str, text: str, requested: float) -> None:
        """Send ``text`` to the alert chat; record ``alert_sent`` with latency since the request."""
        if trigger == "kill_switch_activated" and "slow_alert" in self.faults:
            await asyncio.sleep(self.s.alert_delay_s)
        if not self.s.telegram_token or not self.s.telegram_chat_id:
            self._error("telegram", "alert not sent: TELEGRAM_BOT_TOKEN or TELEGRAM_CHAT_ID is not set")
            return
        url = f"{self.s.telegram_api_url}/bot{self.s.telegram_token}/sendMessage"
        payload = {"chat_id": self.s.telegram_chat_id, "text": text, "parse_mode": "HTML"}
        try:
            response = await self.http.post(url, json=payload, timeout=ALERT_TIMEOUT_S)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            self._error("telegram", f"alert for {trigger} failed: {type(exc).__name__}: {exc}")
            return
        latency_ms = (time.monotonic() - requested) * 1000
        result = body.get("result") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(result, dict):
            description = body.get("description") if isinstance(body, dict) else None
            refusal = f"HTTP {response.status_code} {description or ''}".strip()
            self._error("telegram", f"alert for {trigger} refused: {refusal}")
            return
        self.audit.append(
            "alert_sent",
            trigger=trigger,
            channel="telegram",
            latency_ms=round(latency_ms, 3),
            message_id=result.get("message_id"),
        )
        log.info("alert for %s delivered in %.0f ms", trigger, latency_ms)

    def validate_trade(self, symbol: str, side: str, quote_qty: float) -> tuple[bool, str]:
        """The pre-trade rules: BUYs stop while the switch is on; no order above max_position_usdt."""
        assert self.store is not None
        limit = self.risk["max_position_usdt"]
        if side == "BUY" and self.kill.active and "killswitch_ignores_buys" not in self.faults:
            return False, f"kill switch active: {self.kill.reason}"
        if quote_qty > limit:
            return False, f"exceeds max_position_usdt ({quote_qty:g} > {limit:g})"
        open_symbols = self.store.open_symbols()
        max_open = int(self.risk["max_open_positions"])
        if side == "BUY" and symbol not in open_symbols and len(open_symbols) >= max_open:
            return False, f"exceeds max_open_positions ({len(open_symbols)} open, limit {max_open})"
        if side == "SELL" and self.kill.active:
            return True, "allowed: a SELL reduces exposure while the kill switch is active"
        return True, f"allowed: {side} {quote_qty:g} USDT of {symbol} within limits"

    # -- control API

    def health(self) -> dict[str, Any]:
        return {
            "ok": True,
            "pid": self.pid,
            "seq": self.audit.seq,
            "audit_ok": self.audit.ok,
            "audit_problem": self.audit.problem,
            "audit_dropped": self.audit.dropped,
            "kill_switch_active": self.kill.active,
            "positions_ready": self.positions_ready,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "faults": sorted(self.faults),
        }

    def _make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self._h_health)
        app.router.add_get("/kill-switch", self._h_kill_switch)
        app.router.add_post("/kill-switch/activate", self._h_activate)
        app.router.add_post("/kill-switch/deactivate", self._h_deactivate)
        app.router.add_post("/validate-trade", self._h_validate)
        return app

    async def _h_health(self, request: web.Request) -> web.Response:
        return web.json_response(self.health())

    async def _h_kill_switch(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.kill))

    async def _h_activate(self, request: web.Request) -> web.Response:
        return await self._h_switch(request, active=True)

    async def _h_deactivate(self, request: web.Request) -> web.Response:
        return await self._h_switch(request, active=False)

    async def _h_switch(self, request: web.Request, *, active: bool) -> web.Response:
        body = await _json_object(request)
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise _bad_request("reason must be a non-empty string")
        return web.json_response(self.set_kill_switch(active, reason.strip()))

    async def _h_validate(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        symbol, side, raw_qty = body.get("symbol"), body.get("side"), body.get("quote_qty")
        if not isinstance(symbol, str) or not symbol.strip():
            raise _bad_request("symbol must be a non-empty string")
        if not isinstance(side, str) or side.strip().upper() not in ("BUY", "SELL"):
            raise _bad_request("side must be BUY or SELL")
        try:
            quote_qty = float(raw_qty) if isinstance(raw_qty, str | int | float) else math.nan
        except ValueError:
            quote_qty = math.nan
        if isinstance(raw_qty, bool) or not math.isfinite(quote_qty) or quote_qty <= 0:
            raise _bad_request("quote_qty must be a positive number")
        allowed, reason = self.validate_trade(symbol.strip().upper(), side.strip().upper(), quote_qty)
        return web.json_response({"allowed": allowed, "reason": reason})


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _bad_request("body must be JSON") from None
    if not isinstance(body, dict):
        raise _bad_request("body must be a JSON object")
    return body


# -- command line -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m readiness.sandbox.bot",
        description="The readiness sandbox's reference trading bot (state in --workdir).",
        epilog="faults: " + "; ".join(f"{name}: {text}" for name, text in FAULTS.items()),
    )
    parser.add_argument("--workdir", required=True, help="folder holding every file of the bot")
    parser.add_argument("--heartbeat-s", type=float, default=1.0, help="seconds between heartbeats")
    parser.add_argument(
        "--alert-delay-s",
        type=float,
        default=DEFAULT_ALERT_DELAY_S,
        help="delay before the kill-switch alert under fault slow_alert",
    )
    parser.add_argument("--fault", action="append", default=[], metavar="NAME", help="inject a fault")
    parser.add_argument(
        "--watch-pid", type=int, metavar="PID", help="stop gracefully once process PID is gone (the harness)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    unknown = sorted(set(args.fault) - FAULTS.keys())
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(unknown)}; valid faults: {', '.join(sorted(FAULTS))}")
    if not (args.heartbeat_s > 0 and math.isfinite(args.heartbeat_s)) or args.alert_delay_s < 0:
        parser.error("--heartbeat-s must be positive and --alert-delay-s not negative")
    settings = Settings.from_args(args, os.environ)
    settings.workdir.mkdir(parents=True, exist_ok=True)
    # Fault secret_in_log is a bot that forgot to redact: its log formatter knows no secrets.
    secrets = () if "secret_in_log" in settings.faults else settings.secrets
    configure_logging(settings.workdir / LOG_FILE, secrets)
    try:
        return asyncio.run(Bot(settings).run())
    except StartupError as exc:
        log.error("not starting: %s", exc)
        print(f"bot: {exc}", file=sys.stderr)
        return 1
    except Exception:
        log.critical("bot crashed", exc_info=True)
        raise


# -- launcher (runs in the harness, not in the bot) --------------------------------------------


class BotStartError(RuntimeError):
    """The bot exited during start-up or did not become healthy in time."""


def command(
    workdir: str | os.PathLike[str],
    faults: Iterable[str] = (),
    *,
    heartbeat_s: float | None = None,
    extra_args: Iterable[str] = (),
) -> list[str]:
    """The argv that starts the bot; ``shlex.join`` it for ``READINESS_BOT_COMMAND``."""
    argv = [sys.executable, "-m", "readiness.sandbox.bot", "--workdir", os.fspath(workdir)]
    if heartbeat_s is not None:
        argv += ["--heartbeat-s", str(heartbeat_s)]
    for fault in faults:
        argv += ["--fault", fault]
    return argv + list(extra_args)


def settings_env(workdir: str | os.PathLike[str]) -> dict[str, str]:
    """The settings that point the harness at the bot in ``workdir``."""
    base = Path(workdir).resolve()
    return {
        "READINESS_AUDIT_TRAIL": str(base / AUDIT_FILE),
        "READINESS_POSITIONS_DB": str(base / DB_FILE),
        "READINESS_RISK_CONFIG": str(base / RISK_FILE),
        "READINESS_LOG_FILE": str(base / LOG_FILE),
        "READINESS_PID_FILE": str(base / PID_FILE),
        "READINESS_RISK_MANAGER": "readiness.sandbox.riskclient:connect",
        "READINESS_SANDBOX_BOT_DIR": str(base),
    }


def start_bot(
    workdir: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    faults: Iterable[str] = (),
    *,
    heartbeat_s: float | None = None,
    extra_args: Iterable[str] = (),
    timeout: float = 5.0,
) -> subprocess.Popen[bytes]:
    """Start the bot in its own process group; return once its control API answers /health.

    ``env`` overrides this process's environment for the child. The child's stderr goes to
    ``bot.stderr`` in the workdir and is quoted in :class:`BotStartError`. A control.json left by
    a killed bot does not count: it must carry the new PID.
    """
    base = Path(workdir)
    base.mkdir(parents=True, exist_ok=True)
    argv = command(base, faults, heartbeat_s=heartbeat_s, extra_args=extra_args)
    stderr_path = base / "bot.stderr"
    with open(stderr_path, "ab") as stderr:
        proc = subprocess.Popen(
            argv,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    limits = httpx.Limits(max_keepalive_connections=0)
    try:
        with httpx.Client(timeout=1.0, limits=limits, trust_env=False) as http:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    tail = stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:].strip()
                    raise BotStartError(f"bot exited with status {proc.returncode} during start-up: {tail}")
                if _healthy(http, base, proc.pid):
                    return proc
                time.sleep(0.01)
    except BaseException:  # a Ctrl-C or SIGTERM mid-start: the caller never learns of this process
        stop_bot(base, proc)
        raise
    stop_bot(base, proc)
    raise BotStartError(f"bot in {base} not healthy within {timeout:g} s")


def _healthy(http: httpx.Client, workdir: Path, pid: int | None, field: str = "ok") -> bool:
    """Whether the bot in ``workdir`` (with ``pid``, when given) answers /health with ``field`` true."""
    try:
        control = json.loads((workdir / CONTROL_FILE).read_bytes())
        if pid is not None and control.get("pid") != pid:
            return False
        return bool(http.get(control["url"] + "/health").json().get(field))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, httpx.HTTPError):
        return False


def wait_for_positions(workdir: str | os.PathLike[str], timeout: float = 5.0) -> bool:
    """Wait until the bot has opened its positions (or given up trying): its DB then says what it holds.

    The bot answers /health before its opening orders are done; whatever changes its DB behind
    its back waits for this first. False if it did not say so within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0, trust_env=False) as http:
        while time.monotonic() < deadline:
            if _healthy(http, Path(workdir), None, "positions_ready"):
                return True
            time.sleep(0.02)
    return False


def stop_bot(
    workdir: str | os.PathLike[str], proc: subprocess.Popen[bytes] | None = None, timeout: float = 5.0
) -> int | None:
    """Stop ``proc`` and the bot the workdir's PID file names (a crash drill may have restarted it).

    Each gets SIGTERM (graceful stop), then SIGKILL after ``timeout``. Returns ``proc``'s exit
    status (None without ``proc``). A stale PID file, or one naming another program, is left alone.
    """
    status = None
    if proc is not None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
        status = proc.wait()
    pid = _pid_file_pid(workdir)
    if pid is not None and (proc is None or pid != proc.pid) and _pid_is_bot(pid):
        _terminate(pid, timeout)
    return status


def kill_bot(
    workdir: str | os.PathLike[str], proc: subprocess.Popen[bytes] | None = None, timeout: float = 1.0
) -> None:
    """SIGKILL ``proc`` and the bot the PID file names, and wait (up to ``timeout``) until they are gone.

    For a launcher that must exit at once (a second Ctrl-C), so it may run in a signal handler that
    interrupted :func:`stop_bot` in ``proc.wait()``: it never calls into ``proc``, only kill and waitpid.
    """
    pids = {pid for pid in (proc.pid if proc else None, _pid_file_pid(workdir)) if pid and _pid_is_bot(pid)}
    for pid in pids:
        _terminate(pid, timeout, signals=(signal.SIGKILL,))


def _pid_file_pid(workdir: str | os.PathLike[str]) -> int | None:
    try:
        return int((Path(workdir) / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _terminate(
    pid: int, timeout: float, signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGKILL)
) -> None:
    """Send ``signals`` in turn, each given ``timeout``, to a process that may or may not be our
    child, until it is gone; reap it if it is our child."""
    for signum in signals:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not _pid_is_bot(pid):
                return
            time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
