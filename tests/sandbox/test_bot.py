"""The reference bot as a real process against in-process Binance and Telegram emulators."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from readiness.sandbox.binance import BinanceEmulator, sign
from readiness.sandbox.bot import (
    DEFAULT_RISK,
    FAULTS,
    command,
    settings_env,
    start_bot,
    stop_bot,
    wait_for_positions,
)
from readiness.sandbox.riskclient import BotUnreachable, RiskManagerClient, RiskManagerError, connect
from readiness.sandbox.server import BackgroundServer
from readiness.sandbox.session import ACCOUNT
from readiness.sandbox.telegram import TelegramEmulator
from readiness.sandbox.trader import OPENING_ORDERS

from ..helpers import wait_until

HEARTBEAT_S = 0.1


@dataclass
class Sandbox:
    binance: BinanceEmulator
    telegram: TelegramEmulator
    env: dict[str, str]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    binance = BinanceEmulator(balances=ACCOUNT)
    telegram = TelegramEmulator()
    with BackgroundServer(binance.make_app()) as b, BackgroundServer(telegram.make_app()) as t:
        env = dict(
            os.environ,
            BINANCE_API_URL=b.url,
            BINANCE_API_KEY=binance.api_key,
            BINANCE_API_SECRET=binance.api_secret,
            **telegram.env(t.url),
        )
        yield Sandbox(binance, telegram, env)


@dataclass
class Bots:
    """Starts bots in one workdir; the fixture stops every one and checks none is left."""

    sandbox: Sandbox
    workdir: Path
    procs: list[subprocess.Popen[bytes]]
    clients: list[RiskManagerClient]

    def start(self, *faults: str, extra_args: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        proc = start_bot(
            self.workdir, self.sandbox.env, faults, heartbeat_s=HEARTBEAT_S, extra_args=extra_args
        )
        self.procs.append(proc)
        # healthy comes first; the opening orders follow, and the DB says what the bot holds after them
        assert wait_for_positions(self.workdir)
        return proc

    def client(self) -> RiskManagerClient:
        client = connect(self.workdir)
        self.clients.append(client)
        return client

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(5) == -signal.SIGKILL

    @property
    def trail(self) -> Path:
        return self.workdir / "audit.jsonl"

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in parse_trail(self.trail) if e["event"] == name]

    def wait_event(self, name: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        wait_until(lambda: len(self.events(name)) >= count, timeout, f"{count} x {name} in the trail")
        return self.events(name)


@pytest.fixture
def bots(sandbox: Sandbox, tmp_path: Path) -> Iterator[Bots]:
    workdir = tmp_path / "bot"
    bots = Bots(sandbox, workdir, [], [])
    yield bots
    for client in bots.clients:
        client.close()
    for proc in bots.procs:
        stop_bot(workdir, proc)
    left = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(workdir) in " ".join(p.info["cmdline"] or ()) and p.pid != os.getpid()
    ]
    assert not left, f"bot processes left behind: {left}"


def parse_trail(path: Path) -> list[dict[str, Any]]:
    """Complete lines only (a live writer may be mid-line)."""
    data = path.read_bytes()
    return [json.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def check_trail(path: Path) -> list[dict[str, Any]]:
    """SPEC section 7: newline-terminated JSON lines, seq 1..n, each prev_sha256 the previous line's."""
    data = path.read_bytes()
    tail = data[data.rfind(b"\n") + 1 :]
    assert not tail, f"torn last line: {tail[:80]!r}"
    prev = "0" * 64
    events = []
    for number, line in enumerate(data[:-1].split(b"\n"), start=1):
        event = json.loads(line)
        assert event["seq"] == number, f"line {number}: seq {event['seq']}"
        assert event["prev_sha256"] == prev, f"line {number}: chain broken"
        assert "+00:00" in event["timestamp"] and event["event"]
        prev = hashlib.sha256(line).hexdigest()
        events.append(event)
    return events


def positions(workdir: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{workdir / 'positions.db'}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT * FROM positions ORDER BY symbol").fetchall()
    conn.close()
    return rows


def trades(sandbox: Sandbox) -> list[tuple[str, float, float]]:
    """(symbol, qty, price) of every fill the paper exchange made, from its engine."""
    return [(f.symbol, float(f.qty), float(f.price)) for f in sandbox.binance.engine.fills]


def exchange_balances(sandbox: Sandbox) -> dict[str, float]:
    """free + locked per asset, from a signed GET /api/v3/account, as the reconciliation drill reads it."""
    query = f"timestamp={int(time.time() * 1000)}"
    query += "&signature=" + sign(sandbox.binance.api_secret, query)
    url = f"{sandbox.env['BINANCE_API_URL']}/api/v3/account?{query}"
    headers = {"X-MBX-APIKEY": sandbox.binance.api_key}
    with httpx.Client(trust_env=False) as http:
        rows = http.get(url, headers=headers).raise_for_status().json()["balances"]
    return {row["asset"]: float(row["free"]) + float(row["locked"]) for row in rows}


def test_fresh_start_writes_its_files_and_stops_cleanly(bots: Bots) -> None:
    proc = bots.start()
    workdir = bots.workdir
    assert (workdir / "bot.pid").read_text() == f"{proc.pid}\n"
    control = json.loads((workdir / "control.json").read_text())
    assert control["pid"] == proc.pid and control["url"].startswith("http://127.0.0.1:")
    health = bots.client().health()
    assert health["ok"] and health["pid"] == proc.pid and not health["kill_switch_active"]
    settings = settings_env(workdir)
    assert settings["READINESS_RISK_MANAGER"] == "readiness.sandbox.riskclient:connect"
    assert all(
        Path(settings[f"READINESS_{name}"]).exists() for name in ("AUDIT_TRAIL", "POSITIONS_DB", "PID_FILE")
    )

    assert tomllib.loads((workdir / "risk.toml").read_text()) == DEFAULT_RISK
    with sqlite3.connect(workdir / "positions.db") as conn:
        columns = [(row[1], row[2]) for row in conn.execute("PRAGMA table_info(positions)")]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    assert columns == [
        ("symbol", "TEXT"),
        ("qty", "REAL"),
        ("avg_price", "REAL"),
        ("status", "TEXT"),
        ("opened_at", ""),
        ("updated_at", ""),
    ]
    # positions come from the opening market orders' fills: 0.1% commission taken in the asset bought
    rows = positions(workdir)
    net = {symbol: float(qty) * 0.999 for symbol, _, qty in OPENING_ORDERS}
    assert [(r[0], r[3]) for r in rows] == [(symbol, "open") for symbol in sorted(net)]
    assert all(math.isclose(r[1], net[r[0]], rel_tol=1e-12) for r in rows), rows
    fills = trades(bots.sandbox)
    assert {symbol: price for symbol, _, price in fills} == {r[0]: pytest.approx(r[2]) for r in rows}
    balances = exchange_balances(bots.sandbox)
    assert {asset: balances[asset] for _, asset, _ in OPENING_ORDERS} == {
        asset: pytest.approx(net[symbol], rel=1e-12) for symbol, asset, _ in OPENING_ORDERS
    }
    assert balances["USDT"] == pytest.approx(float(ACCOUNT["USDT"]) - sum(q * p for _, q, p in fills))

    calls = bots.wait_event("api_call", 3)
    assert all(c["endpoint"] == "/api/v3/ping" and 0 < c["latency_ms"] < 1000 for c in calls)
    assert any(r.path == "/api/v3/ping" for r in bots.sandbox.binance.requests)
    bots.wait_event("heartbeat", 3)

    assert stop_bot(bots.workdir, proc) == 0
    assert not (workdir / "bot.pid").exists() and not (workdir / "control.json").exists()
    events = check_trail(bots.trail)
    assert events[0]["event"] == "bot_started" and events[-1]["event"] == "bot_stopped"
    assert [(e["symbol"], e["qty"]) for e in events if e["event"] == "position_opened"] == [
        (r[0], r[1]) for r in rows
    ]
    log = (workdir / "bot.log").read_text()
    assert " INFO bot: " in log and "CRITICAL" not in log
    assert bots.sandbox.telegram.token not in log


def test_kill_switch_cycle_persists_audits_and_alerts(bots: Bots) -> None:
    bots.start()
    client = bots.client()
    telegram = bots.sandbox.telegram
    assert client.validate_trade("BTCUSDT", "BUY", 100) == (
        True,
        "allowed: BUY 100 USDT of BTCUSDT within limits",
    )

    client.activate_kill_switch("drill <1>")
    assert client.kill_switch_active
    state = json.loads((bots.workdir / "state.json").read_text())
    assert state["active"] is True and state["reason"] == "drill <1>" and state["changed_at"]
    assert bots.events("kill_switch_activated")[0]["reason"] == "drill <1>"
    allowed, reason = client.validate_trade("BTCUSDT", "BUY", 100)
    assert not allowed and reason == "kill switch active: drill <1>"
    assert client.validate_trade("BTCUSDT", "SELL", 100)[0]
    allowed, reason = client.validate_trade("BTCUSDT", "SELL", 1_000_000)
    assert not allowed and reason.startswith("exceeds max_position_usdt")

    message = telegram.wait_for(lambda m: "kill switch activated" in m.plain_text, timeout=5)
    assert message is not None and message.parse_mode == "HTML"
    assert message.text.startswith("<b>CRITICAL</b> kill switch activated: drill &lt;1&gt;")
    (alert,) = bots.wait_event("alert_sent")
    assert alert["trigger"] == "kill_switch_activated" and alert["message_id"] == message.message_id
    assert 0 < alert["latency_ms"] < 5000

    client.activate_kill_switch("again")
    assert len(bots.events("kill_switch_activated")) == 1

    client.deactivate_kill_switch("drill over")
    assert not client.kill_switch_active
    assert client.validate_trade("BTCUSDT", "BUY", 100)[0]
    assert json.loads((bots.workdir / "state.json").read_text())["active"] is False
    assert bots.events("kill_switch_deactivated")[0]["reason"] == "drill over"
    bots.wait_event("alert_sent", 2)

    with pytest.raises(RiskManagerError, match="side must be BUY or SELL"):
        client.validate_trade("BTCUSDT", "HOLD", 1)
    with pytest.raises(RiskManagerError, match="quote_qty must be a positive number"):
        client.validate_trade("BTCUSDT", "BUY", -1)


def test_failed_alert_is_an_error_event_without_the_token(bots: Bots) -> None:
    bots.start()
    bots.sandbox.telegram.set_faults(["telegram_bot_blocked"])
    bots.client().activate_kill_switch("blocked chat")
    wait_until(
        lambda: any(e["source"] == "telegram" for e in bots.events("error")), 5, "telegram error event"
    )
    (error,) = [e for e in bots.events("error") if e["source"] == "telegram"]
    assert "HTTP 403" in error["message"] and not bots.events("alert_sent")
    token = bots.sandbox.telegram.token
    assert token not in (bots.workdir / "bot.log").read_text() and token not in bots.trail.read_text()


def test_sigkill_then_restart_recovers_everything(bots: Bots) -> None:
    proc = bots.start()
    client = bots.client()
    client.activate_kill_switch("before crash")
    bots.wait_event("alert_sent")
    bots.wait_event("heartbeat", 3)
    before = positions(bots.workdir)

    bots.kill(proc)
    assert (bots.workdir / "bot.pid").read_text() == f"{proc.pid}\n"
    killed_at = len(check_trail(bots.trail))

    restarted = bots.start()
    assert (bots.workdir / "bot.pid").read_text() == f"{restarted.pid}\n"
    assert client.kill_switch_active
    assert client.health()["pid"] == restarted.pid
    assert positions(bots.workdir) == before
    bots.wait_event("bot_started", 2)
    bots.wait_event("heartbeat", len(bots.events("heartbeat")) + 2)
    assert stop_bot(bots.workdir) is None and restarted.wait(5) == 0
    events = check_trail(bots.trail)
    assert events[killed_at]["event"] == "bot_started" and events[killed_at]["kill_switch_active"]
    assert [e["event"] for e in events].count("position_opened") == len(OPENING_ORDERS)
    assert len(trades(bots.sandbox)) == len(OPENING_ORDERS), "a restart with positions buys nothing"
    with sqlite3.connect(bots.workdir / "positions.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_an_order_the_exchange_refuses_is_one_error_and_the_fills_before_it_are_kept(bots: Bots) -> None:
    """With USDT for the BTC but not the ETH, the bot holds what filled and says once what did not."""
    bots.sandbox.binance.engine.free["USDT"] = Decimal("30000")  # the account before the bot starts
    bots.start()
    assert [row[0] for row in positions(bots.workdir)] == ["BTCUSDT"]
    (error,) = bots.events("error")
    assert error["source"] == "binance"
    assert error["message"].startswith("market BUY 5 ETHUSDT failed: HTTP 400, code -2010: ")
    bots.wait_event("heartbeat", 3)
    assert len(bots.events("error")) == 1, "tried once per start, not every heartbeat"
    assert [symbol for symbol, _, _ in trades(bots.sandbox)] == ["BTCUSDT"]


def test_without_exchange_keys_it_runs_and_opens_nothing(bots: Bots) -> None:
    for name in ("BINANCE_API_KEY", "BINANCE_API_SECRET"):
        bots.sandbox.env.pop(name)
    bots.start()
    assert positions(bots.workdir) == [] and not trades(bots.sandbox)
    (error,) = bots.events("error")
    assert "no BINANCE_API_KEY and BINANCE_API_SECRET" in error["message"]
    assert bots.client().health()["positions_ready"]


def test_second_instance_and_bad_config_are_refused(bots: Bots) -> None:
    bots.start()
    argv = command(bots.workdir)
    second = subprocess.run(argv, env=bots.sandbox.env, capture_output=True, text=True, timeout=10)
    assert second.returncode == 1 and "another bot" in second.stderr

    other = bots.workdir.parent / "bad"
    other.mkdir()
    (other / "risk.toml").write_text("max_position_usdt = 'lots'\n")
    bad = subprocess.run(command(other), env=bots.sandbox.env, capture_output=True, text=True, timeout=10)
    assert bad.returncode == 1 and "max_position_usdt must be a number" in bad.stderr
    assert not (other / "bot.pid").exists()


def test_unknown_fault_exits_2(tmp_path: Path) -> None:
    argv = command(tmp_path, ["no_such_fault"])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    assert result.returncode == 2 and "unknown fault(s): no_such_fault; valid faults:" in result.stderr


def test_client_reports_an_unreachable_bot(bots: Bots, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("READINESS_SANDBOX_BOT_DIR", raising=False)
    with pytest.raises(BotUnreachable, match="READINESS_SANDBOX_BOT_DIR"):
        connect()
    with pytest.raises(BotUnreachable, match="does not exist"):
        connect(bots.workdir)
    proc = bots.start()
    monkeypatch.setenv("READINESS_SANDBOX_BOT_DIR", str(bots.workdir))
    client = connect()
    bots.clients.append(client)
    bots.kill(proc)
    with pytest.raises(BotUnreachable, match="unreachable"):
        client.validate_trade("BTCUSDT", "BUY", 10)


def test_fault_killswitch_ignores_buys(bots: Bots) -> None:
    bots.start("killswitch_ignores_buys")
    client = bots.client()
    client.activate_kill_switch("drill")
    assert client.kill_switch_active and client.validate_trade("BTCUSDT", "BUY", 100)[0]


def test_fault_forget_killswitch(bots: Bots) -> None:
    proc = bots.start("forget_killswitch")
    client = bots.client()
    client.activate_kill_switch("drill")
    assert client.kill_switch_active and not (bots.workdir / "state.json").exists()
    bots.kill(proc)
    bots.start("forget_killswitch")
    assert not client.kill_switch_active


def test_fault_torn_audit_on_kill(bots: Bots) -> None:
    proc = bots.start("torn_audit_on_kill")
    bots.client().activate_kill_switch("drill")
    assert bots.events("kill_switch_activated"), "events other than heartbeats are written whole"
    assert not bots.trail.read_bytes().endswith(b"\n"), "a half heartbeat follows every event at once"
    bots.kill(proc)
    torn = bots.trail.read_bytes()
    assert not torn.endswith(b"\n")

    restarted = bots.start()
    client = bots.client()
    health = client.health()
    assert not health["audit_ok"] and "torn" in health["audit_problem"]
    wait_until(lambda: client.health()["audit_dropped"] >= 2, 5, "events refused by the torn trail")
    assert bots.trail.read_bytes() == torn
    stop_bot(bots.workdir, restarted)
    assert bots.trail.read_bytes() == torn
    assert " ERROR bot: audit trail left untouched" in (bots.workdir / "bot.log").read_text()


def test_fault_torn_audit_completes_the_line_on_graceful_stop(bots: Bots) -> None:
    proc = bots.start("torn_audit_on_kill")
    wait_until(lambda: not bots.trail.read_bytes().endswith(b"\n"), 5, "a half-written heartbeat")
    stop_bot(bots.workdir, proc)
    assert check_trail(bots.trail)[-1]["event"] == "bot_stopped"


def test_fault_slow_alert(bots: Bots) -> None:
    bots.start("slow_alert", extra_args=("--alert-delay-s", "0.5"))
    bots.client().activate_kill_switch("drill")
    (alert,) = bots.wait_event("alert_sent")
    assert alert["latency_ms"] >= 500


@pytest.mark.parametrize(
    ("fault", "effect"),
    [
        ("circuit_breaker_trips", lambda b: len(b.wait_event("circuit_breaker_open")) >= 5),
        ("ws_reconnects", lambda b: len(b.wait_event("ws_reconnect")) >= 10),
        ("critical_log", lambda b: " CRITICAL bot: " in (b.workdir / "bot.log").read_text()),
        ("secret_in_log", lambda b: b.sandbox.telegram.token in (b.workdir / "bot.log").read_text()),
        ("slow_api", lambda b: all(c["latency_ms"] >= 3000 for c in b.wait_event("api_call", 2))),
        # the gross fill, though the exchange kept 0.1% of it as commission
        ("positions_mismatch", lambda b: positions(b.workdir)[0][:2] == ("BTCUSDT", 0.5)),
    ],
)
def test_fault_marks_the_artifacts(bots: Bots, fault: str, effect: Callable[[Bots], bool]) -> None:
    proc = bots.start(fault)
    assert effect(bots)
    stop_bot(bots.workdir, proc)
    check_trail(bots.trail)


@pytest.mark.parametrize(
    ("fault", "kinds"),
    [
        ("audit_garbage_line", {"json"}),
        ("audit_seq_gap", {"seq_gap"}),
        ("audit_chain_broken", {"chain_mismatch"}),
    ],
)
def test_audit_faults_damage_one_line_in_one_way(bots: Bots, fault: str, kinds: set[str]) -> None:
    from readiness.audit import validate_file

    bots.start(fault)
    wait_until(lambda: len(bots.trail.read_bytes().splitlines()) >= 4, 5, "a few events")
    result = validate_file(bots.trail)
    assert set(result.error_counts) == kinds
    assert result.error_count == 1
    assert result.errors[0].line == 2


def test_fault_silent_deactivation(bots: Bots) -> None:
    bots.start("silent_deactivation")
    client = bots.client()
    client.activate_kill_switch("drill")
    client.deactivate_kill_switch("drill over")
    assert not client.kill_switch_active and client.validate_trade("BTCUSDT", "BUY", 100)[0]
    bots.wait_event("alert_sent")
    assert bots.events("kill_switch_activated") and not bots.events("kill_switch_deactivated")


def test_every_fault_is_tested() -> None:
    source = Path(__file__).read_text()
    assert all(f'"{name}"' in source for name in FAULTS)


def test_main_module_runs_without_heavy_imports() -> None:
    code = "import sys, readiness.sandbox.bot; print('binance' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=10)
    assert result.stdout.strip() == "False"


def test_an_interrupt_while_the_bot_starts_stops_it(bots: Bots) -> None:
    """A Ctrl-C or SIGTERM lands while start_bot waits for /health: the caller never gets the
    process, so start_bot itself must stop it (the fixture then finds no bot in the workdir)."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.05)  # the bot takes longer than this to answer /health
    try:
        with pytest.raises(KeyboardInterrupt):
            start_bot(bots.workdir, bots.sandbox.env)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    started = [
        p for p in psutil.process_iter(["cmdline"]) if str(bots.workdir) in " ".join(p.info["cmdline"] or ())
    ]
    assert [p.pid for p in started if p.pid != os.getpid() and p.status() != psutil.STATUS_ZOMBIE] == []
