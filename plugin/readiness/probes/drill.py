"""Drill mechanics: act on the bot only through its own protocol and process.

The drills change the bot's state, so everything here is built to put it back: the kill switch is
restored by :func:`kill_switch_as_found` on the way out (also when the drill failed), and
:func:`crash_and_restart` starts the bot again once it has killed it, whatever happened in between.
The bot's files are only read: the audit trail's tail (:class:`AuditMark`), the positions DB
(SQLite opened ``mode=ro``) and the PID file. The exchange is only read too: one
``GET /api/v3/account`` (and ``exchangeInfo`` for a symbol whose quote asset is not the configured
one), through python-binance's sync ``Client`` behind the harness's one allow-list
(:func:`readiness.probes.binance.guard_request`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import shlex
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import psutil

from ..profiles.names import BotNames
from ..profiles.protocol import KillSwitch
from ..settings import Settings
from .binance import REQUEST_TIMEOUT_S, USER_AGENT, guard_request, load_python_binance
from .process import PidSource

#: Seconds a kill-switch change may take to show in ``kill_switch_active``.
SWITCH_TIMEOUT_S: Final = 5.0
#: The drill's limit for trading to be re-enabled after deactivation (the DR runbook's 5 minutes).
REENABLE_LIMIT_S: Final = 300.0
#: Seconds a SIGKILLed bot may take to disappear.
KILL_TIMEOUT_S: Final = 5.0
#: Bound on the wait for a restarted bot to be healthy; also the recovery-time threshold.
RESTART_TIMEOUT_S: Final = 30.0
POLL_S: Final = 0.05
#: A PID file written this long before its process started is stale (the PID was reused).
PID_REUSE_TOLERANCE_S: Final = 5.0
TOLERANCE_ENV: Final = "READINESS_RECONCILE_TOLERANCE"
#: Default reconciliation tolerance, used both relative and absolute: float noise, not real drift.
DEFAULT_TOLERANCE: Final = 1e-8
TAIL_CHUNK: Final = 65536
#: Bound on the wait for another drill on the same bot (another xdist worker) to finish.
LOCK_TIMEOUT_S: Final = 600.0

#: Bots this process restarted. Kept referenced so no ``Popen`` is collected (and warns) while the
#: bot it started still runs: drills leave a restarted bot running on purpose.
_RESTARTED: list[subprocess.Popen[bytes]] = []


class DrillError(Exception):
    """A drill step could not be carried out; the message says which and why."""


# -- kill switch ----------------------------------------------------------------------------------


class KillSwitchGuard:
    """The bot's kill switch (its profile's :class:`KillSwitch`) plus the state it was found in."""

    def __init__(self, kill_switch: KillSwitch) -> None:
        self.kill_switch = kill_switch
        self.found: bool | None = None

    @property
    def where(self) -> str:
        return self.kill_switch.where

    def switch(self, active: bool, reason: str) -> None:
        self.kill_switch.switch(active, reason)

    def wait_state(self, active: bool, timeout: float = SWITCH_TIMEOUT_S) -> bool:
        """Poll the switch until it is ``active``; False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self.kill_switch.is_active() is active:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_S)

    def restore(self) -> None:
        """Put the switch back as found; retry once afresh. Raises :class:`DrillError`."""
        if self.found is None:
            return
        state = "active" if self.found else "inactive"
        problem = ""
        for attempt in range(2):
            try:
                if attempt:
                    self.kill_switch.close()
                if self.kill_switch.is_active() is not self.found:
                    self.switch(self.found, f"readiness drill: restoring the kill switch to {state}")
                if self.wait_state(self.found):
                    return
                problem = f"the switch is still not {state} after {SWITCH_TIMEOUT_S:g} s"
            except Exception as exc:
                problem = f"{type(exc).__name__}: {exc}"
        raise DrillError(
            f"could not restore the kill switch ({self.where}) to {state}, as found before the drill: "
            f"{problem}; set it by hand"
        )

    def remember(self) -> bool:
        """Note the switch's state: what :meth:`restore` puts back."""
        self.found = self.kill_switch.is_active()
        return self.found


@contextlib.contextmanager
def kill_switch_as_found(kill_switch: KillSwitch) -> Iterator[KillSwitchGuard]:
    """A :class:`KillSwitchGuard` whose switch is put back, on exit however left, as it was when
    :meth:`KillSwitchGuard.remember` was called (nothing is asked before that: a check calls it,
    so an unreachable switch fails the check rather than erroring its setup)."""
    guard = KillSwitchGuard(kill_switch)
    try:
        yield guard
    finally:
        try:
            guard.restore()
        finally:
            kill_switch.close()


def answers(guard: KillSwitchGuard) -> Callable[[], bool]:
    """A health probe: the switch, asked afresh, answers."""

    def probe() -> bool:
        guard.kill_switch.close()
        try:
            guard.kill_switch.is_active()
        except Exception:
            return False
        return True

    return probe


def lock_key(settings: Settings) -> str:
    """What names one bot for :func:`exclusive`: its PID file, else its risk manager or API."""
    return str(settings.pid_file or settings.risk_manager or settings.bot_api_url or "bot")


@contextlib.contextmanager
def exclusive(key: str, *, shared: bool = False, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the drill lock of one bot (``key``: :func:`lock_key`) across processes.

    Drills on the same bot must not overlap (an activation drill while the crash drill holds the
    switch on would see the wrong state), and under pytest-xdist they may run on different workers.
    A check that only reads the kill switch (``system.killswitch_inactive``) takes it ``shared``,
    so it never sees a drill's temporary state.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"readiness-drill-{digest}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DrillError(f"another drill on the same bot held {path} for {timeout:g} s") from None
                time.sleep(POLL_S)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# -- audit trail ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditMark:
    """A point in the audit trail: the byte just after its last complete line, and that line's seq."""

    path: Path
    offset: int
    seq: int | None
    at: float = field(default_factory=time.monotonic)
    #: How the bot names its audit fields and events; records after the mark are read by them.
    names: BotNames = field(default_factory=BotNames)


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def mark_audit(path: Path, names: BotNames | None = None) -> AuditMark:
    """Mark the trail's current end (a torn last line is left out: it is not an event yet)."""
    names = names or BotNames()
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        pos, tail = end, b""
        while pos > 0:
            step = min(TAIL_CHUNK, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
            cut = tail.rfind(b"\n")
            if cut < 0:
                continue
            offset = pos + cut + 1
            previous = tail.rfind(b"\n", 0, cut)
            if previous >= 0 or pos == 0:
                record = _parse(tail[previous + 1 : cut])
                seq = names.reference_record(record).get("seq") if record else None
                ok = isinstance(seq, int) and not isinstance(seq, bool)
                return AuditMark(path, offset, seq if ok else None, names=names)
        return AuditMark(path, 0, None, names=names)


def events_since(mark: AuditMark) -> list[dict[str, Any]]:
    """The complete, readable records appended after ``mark`` (from the start if the file shrank)."""
    with open(mark.path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        f.seek(mark.offset if end >= mark.offset else 0)
        data = f.read()
    lines = data.split(b"\n")[:-1]  # the last piece is empty or a line still being written
    return [mark.names.reference_record(record) for line in lines if (record := _parse(line)) is not None]


def wait_for_event(
    mark: AuditMark, predicate: Callable[[dict[str, Any]], bool], timeout: float
) -> dict[str, Any] | None:
    """The first record after ``mark`` matching ``predicate``, polling up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        for record in events_since(mark):
            if predicate(record):
                return record
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_S)


def wait_for_alert(
    mark: AuditMark, trigger: Callable[[dict[str, Any]], bool], event: str, timeout: float
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The first record after ``mark`` matching ``trigger`` and the first ``alert_sent`` after it
    whose ``trigger`` field (if any) is ``event``: an earlier, late alert is not mistaken for it."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] | None = None
        for record in events_since(mark):
            if found is None:
                found = record if trigger(record) else None
            elif record.get("event") == "alert_sent" and record.get("trigger", event) == event:
                return found, record
        if time.monotonic() >= deadline:
            return found, None
        time.sleep(POLL_S)


def timestamp_s(record: Mapping[str, Any]) -> float | None:
    """A record's ``timestamp`` as epoch seconds (ISO-8601 with offset, or epoch seconds)."""
    raw = record.get("timestamp")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        try:
            stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return stamp.timestamp() if stamp.tzinfo is not None else None
    return None


def alert_latency_s(alert: Mapping[str, Any], trigger: Mapping[str, Any] | None) -> float | None:
    """Latency of an ``alert_sent`` record: its ``latency_ms``, else its timestamp minus the trigger's."""
    raw = alert.get("latency_ms")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return float(raw) / 1000
    sent = timestamp_s(alert)
    started = timestamp_s(trigger) if trigger is not None else None
    if sent is None or started is None:
        return None
    return max(0.0, sent - started)


# -- the bot's process ----------------------------------------------------------------------------


def live_process(pid: int) -> psutil.Process | None:
    """The process ``pid`` if it exists and has not exited (a zombie has)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return process


def bot_process(source: PidSource) -> psutil.Process:
    """The running bot the PID source names; refuses a dead or reused PID (never kill a stranger)."""
    if source.pid is None:
        raise DrillError(f"{source.problem}: start the bot")
    process = live_process(source.pid)
    if process is None:
        raise DrillError(f"{source.where} names process {source.pid}, which is not running: start the bot")
    try:
        started = process.create_time()
    except psutil.Error as exc:
        raise DrillError(f"cannot inspect process {source.pid} from {source.where}: {exc}") from None
    if source.written is not None and started > source.written + PID_REUSE_TOLERANCE_S:
        raise DrillError(
            f"{source.where} is stale: process {source.pid} started {started - source.written:.0f} s "
            "after it was written, so it is another program; start the bot"
        )
    return process


def kill(process: psutil.Process, timeout: float = KILL_TIMEOUT_S) -> None:
    """SIGKILL ``process`` and wait until it is gone: reaped if it is our child, else gone or a
    zombie (its parent, e.g. the pytest-xdist controller that started the sandbox, reaps it)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        process.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while True:
        try:
            process.wait(POLL_S)
            return
        except psutil.TimeoutExpired:
            pass
        if live_process(process.pid) is None:
            return
        if time.monotonic() >= deadline:
            raise DrillError(f"process {process.pid} still runs {timeout:g} s after SIGKILL")


def start(command: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Run ``READINESS_BOT_COMMAND`` in its own session (it outlives the harness if it must).

    Its stdin, stdout and stderr are discarded: a bot left running must not write into a pipe
    nobody reads; it logs to its own log file. pytest's own variables are left out of its
    environment: a bot that sees ``PYTEST_VERSION`` may think it is under test (freqtrade then
    skips its logging setup and never writes its logfile).
    """
    argv = shlex.split(command)
    if not argv:
        raise DrillError("READINESS_BOT_COMMAND is empty")
    try:
        proc = subprocess.Popen(
            argv,
            env={
                k: v for k, v in (os.environ if env is None else env).items() if not k.startswith("PYTEST_")
            },
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise DrillError(f"READINESS_BOT_COMMAND {argv[0]!r} cannot be started: {exc}") from None
    _RESTARTED.append(proc)
    return proc


def wait_healthy(
    locate: Callable[[], PidSource],
    old_pid: int,
    proc: subprocess.Popen[bytes],
    probes: Sequence[Callable[[], bool]],
    timeout: float = RESTART_TIMEOUT_S,
) -> int:
    """Wait until the PID source names a new live process and one of ``probes`` passes; its PID.

    ``proc`` exiting non-zero ends the wait at once; exiting 0 does not (the command may be a
    launcher such as ``systemctl start`` that leaves the bot running).
    """
    deadline = time.monotonic() + timeout
    while True:
        status = proc.poll()
        if status not in (None, 0):
            raise DrillError(f"READINESS_BOT_COMMAND exited with status {status}: the bot did not restart")
        source = locate()
        pid = source.pid
        fresh = pid is not None and pid != old_pid and live_process(pid) is not None
        if fresh and any(probe() for probe in probes):
            assert pid is not None
            return pid
        if time.monotonic() >= deadline:
            where = f"{source.where} names {pid}" if pid is not None else str(source.problem)
            raise DrillError(f"the bot was not healthy within {timeout:g} s of the restart ({where})")
        time.sleep(POLL_S)


def audit_grew(mark: AuditMark) -> Callable[[], bool]:
    """A health probe: a complete line was appended to the trail after ``mark``."""

    def probe() -> bool:
        try:
            return bool(events_since(mark))
        except OSError:
            return False

    return probe


@dataclass(frozen=True, slots=True)
class Recovery:
    """A SIGKILL and restart: the PIDs, seconds from kill to healthy, and what went wrong."""

    old_pid: int
    new_pid: int | None
    recovery_s: float | None
    problem: str | None


def crash_and_restart(
    locate: Callable[[], PidSource],
    command: str,
    probes: Sequence[Callable[[], bool]],
    *,
    audit_trail: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = RESTART_TIMEOUT_S,
) -> Recovery:
    """SIGKILL the bot ``locate()`` names, restart it with ``command``, wait (bounded) for health.

    Healthy: the PID source names a new live process and one of ``probes`` passes, or the audit
    trail (if given) grew after the kill. Raises :class:`DrillError` only before the kill (nothing
    changed then); once it has killed the bot it always tries to start it again and reports what
    went wrong in :attr:`Recovery.problem`.
    """
    process = bot_process(locate())
    old_pid = process.pid
    killed_at = time.monotonic()
    problem: str | None = None
    new_pid: int | None = None
    try:
        kill(process)
    except DrillError as exc:
        problem = str(exc)
    if problem is None:
        try:
            if audit_trail is not None:
                with contextlib.suppress(OSError):
                    probes = [*probes, audit_grew(mark_audit(audit_trail))]
            proc = start(command, env)
            new_pid = wait_healthy(locate, old_pid, proc, probes, timeout)
        except DrillError as exc:
            problem = f"{exc}; the bot may not be running: start it by hand"
    recovery_s = time.monotonic() - killed_at if new_pid is not None else None
    return Recovery(old_pid, new_pid, recovery_s, problem)


# -- positions DB ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Position:
    symbol: str
    qty: float
    avg_price: float | None
    status: str


@contextlib.contextmanager
def _read_only(db: Path) -> Iterator[sqlite3.Connection]:
    if not db.is_file():
        raise DrillError(f"positions DB {db} does not exist")
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    try:
        yield conn
    except sqlite3.Error as exc:
        raise DrillError(f"positions DB {db}: {exc}") from None
    finally:
        conn.close()


def positions(db: Path, names: BotNames) -> list[Position]:
    """Every row of the positions table (what a crash must not change), in a stable order."""
    with _read_only(db) as conn:
        rows = [row[:4] for row in conn.execute(names.positions_select()).fetchall()]
    return sorted(
        Position(str(s), float(q or 0.0), None if p is None else float(p), str(st)) for s, q, p, st in rows
    )


def integrity_check(db: Path) -> list[str]:
    """``PRAGMA integrity_check``'s answer: ``["ok"]`` for a sound database."""
    with _read_only(db) as conn:
        return [str(row[0]) for row in conn.execute("PRAGMA integrity_check").fetchall()]


def open_quantities(db: Path, names: BotNames) -> dict[str, float]:
    """Open positions' quantities summed per symbol."""
    totals: dict[str, float] = {}
    for position in positions(db, names):
        if position.status.strip().lower() == names.open_status.lower():
            totals[position.symbol] = totals.get(position.symbol, 0.0) + position.qty
    return totals


# -- exchange (read only) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Balance:
    free: float
    locked: float

    @property
    def total(self) -> float:
        return self.free + self.locked


def _client(settings: Settings) -> Any:
    """python-binance's sync ``Client`` aimed at ``BINANCE_API_URL``, every request guarded."""
    load_python_binance()
    from binance.client import Client

    class GuardedSyncClient(Client):  # type: ignore[misc]
        def _request(self, method: str, uri: str, signed: bool, force_params: bool = False, **kw: Any) -> Any:
            guard_request(method, uri, origin=origin, network=settings.network, with_key=bool(self.API_KEY))
            return super()._request(method, uri, signed, force_params, **kw)

        def _get_headers(self) -> dict[str, str]:
            return {**super()._get_headers(), "User-Agent": USER_AGENT}

    origin = settings.binance_api_url.rstrip("/")
    client = GuardedSyncClient(
        settings.binance_key,
        settings.binance_secret,
        requests_params={"timeout": REQUEST_TIMEOUT_S},
        ping=False,
    )
    client.API_URL = client.API_TESTNET_URL = f"{origin}/api"
    client.MARGIN_API_URL = f"{origin}/sapi"
    return client


def _describe(exc: Exception) -> str:
    load_python_binance()
    from binance.exceptions import BinanceAPIException

    if isinstance(exc, BinanceAPIException):
        return f"HTTP {exc.status_code}, code {exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def exchange_holdings(
    settings: Settings, symbols: Sequence[str]
) -> tuple[dict[str, str], dict[str, Balance]]:
    """(symbol -> base asset, asset -> balance) from ``GET /api/v3/account`` (and exchangeInfo).

    The base asset is the symbol minus the configured quote asset; other symbols are looked up.
    Raises :class:`DrillError` on any exchange error.
    """
    client = _client(settings)
    try:
        bases: dict[str, str] = {}
        for symbol in symbols:
            quote = settings.quote_asset
            if symbol.endswith(quote) and len(symbol) > len(quote):
                bases[symbol] = symbol[: -len(quote)]
                continue
            info = client._get("exchangeInfo", data={"symbol": symbol})
            entry = next((s for s in info.get("symbols", []) if s.get("symbol") == symbol), None)
            if entry is None or not entry.get("baseAsset"):
                raise DrillError(f"the exchange does not list {symbol} (exchangeInfo)")
            bases[symbol] = str(entry["baseAsset"])
        account = client.get_account()
    except DrillError:
        raise
    except Exception as exc:
        raise DrillError(f"cannot read balances from {settings.binance_api_url}: {_describe(exc)}") from None
    finally:
        client.close_connection()
    balances: dict[str, Balance] = {}
    for row in account.get("balances", []):
        try:
            balances[str(row["asset"])] = Balance(float(row["free"]), float(row["locked"]))
        except (KeyError, TypeError, ValueError):
            continue
    return bases, balances


# -- reconciliation -------------------------------------------------------------------------------


def tolerance(environ: Mapping[str, str] | None = None) -> float:
    """``READINESS_RECONCILE_TOLERANCE`` (default 1e-8), relative and absolute. Raises :class:`DrillError`."""
    raw = (os.environ if environ is None else environ).get(TOLERANCE_ENV, "").strip()
    if not raw:
        return DEFAULT_TOLERANCE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise DrillError(f"{TOLERANCE_ENV} must be a finite number >= 0, got {raw!r}")
    return value


@dataclass(frozen=True, slots=True)
class Discrepancy:
    asset: str
    db_qty: float
    exchange_qty: float
    symbols: tuple[str, ...]

    def describe(self) -> str:
        where = ", ".join(self.symbols)
        return f"{self.asset}: DB {self.db_qty:.8g} ({where}) vs exchange {self.exchange_qty:.8g}"


def reconcile(
    open_qty: Mapping[str, float], bases: Mapping[str, str], balances: Mapping[str, Balance], tol: float
) -> tuple[dict[str, float], list[Discrepancy]]:
    """Per base asset: DB quantity summed over its symbols vs free + locked on the exchange."""
    per_asset: dict[str, float] = {}
    symbols: dict[str, list[str]] = {}
    for symbol, qty in open_qty.items():
        asset = bases[symbol]
        per_asset[asset] = per_asset.get(asset, 0.0) + qty
        symbols.setdefault(asset, []).append(symbol)
    found = []
    for asset, db_qty in sorted(per_asset.items()):
        balance = balances.get(asset)
        held = balance.total if balance is not None else 0.0
        if not math.isclose(db_qty, held, rel_tol=tol, abs_tol=tol):
            found.append(Discrepancy(asset, db_qty, held, tuple(sorted(symbols[asset]))))
    return per_asset, found
