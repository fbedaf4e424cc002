"""freqtrade, a real trading bot, runs against the paper exchange with only its config pointed at it.

``freqtrade trade --dry-run`` with its built-in sample strategy, on Binance spot, loads the
emulator's markets, reads its 5m candles and fills a forced entry from its order book; freqtrade's
own REST API shows all three. freqtrade pins its own ccxt, pydantic and telegram libraries, so it
lives in a venv of its own (``.ci/run`` makes it) named by :data:`FREQTRADE_ENV`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import http.server
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import psutil
import pytest

from readiness.probes.logs import newest_heartbeat
from readiness.profiles.freqtrade import NAMES, TRADES_AS_POSITIONS

from ..helpers import check_entry, outcomes, run_catalogue
from .conftest import Served, point_ccxt

FREQTRADE_ENV = "READINESS_TEST_FREQTRADE"
#: Read at import: the suite's autouse fixture clears every ``READINESS_*`` variable before a test.
CONFIGURED_FREQTRADE = os.environ.get(FREQTRADE_ENV, "")
PAIRS = ("BTC/USDT", "ETH/USDT")
TIMEFRAME_MS = 300_000
#: freqtrade imports pandas, TA-Lib and ccxt before it says anything: seconds on a cold cache.
START_S = 90
WAIT_S = 30
STOP_S = 20
#: freqtrade logs "Bot heartbeat. PID=..." this often (its default is 60 s).
HEARTBEAT_S = 5


def _freqtrade() -> str:
    """The variable's executable (a broken one fails the test), else freqtrade on PATH, else skip."""
    if CONFIGURED_FREQTRADE:
        assert os.access(CONFIGURED_FREQTRADE, os.X_OK), (
            f"{FREQTRADE_ENV}={CONFIGURED_FREQTRADE} is not an executable"
        )
        return CONFIGURED_FREQTRADE
    found = shutil.which("freqtrade")
    if found is None:
        pytest.skip(f"freqtrade is not installed: set {FREQTRADE_ENV} to its executable (.ci/run does)")
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(served: Served, user_data: Path, port: int, auth: tuple[str, str]) -> dict[str, Any]:
    """A dry-run spot config whose only tie to the emulator is ccxt's URLs and the emulator's keys."""
    import ccxt.pro as ccxt_pro

    urls = copy.deepcopy(ccxt_pro.binance().urls["api"])
    point_ccxt(urls, served)
    pricing = {"price_side": "other", "use_order_book": True, "order_book_top": 1}
    return {
        "dry_run": True,
        "dry_run_wallet": 1000,
        "trading_mode": "spot",
        "stake_currency": "USDT",
        "stake_amount": 100,
        "max_open_trades": len(PAIRS),
        "stoploss": -0.1,
        "timeframe": "5m",
        "strategy": "SampleStrategy",
        "user_data_dir": str(user_data),
        "db_url": f"sqlite:///{user_data / 'trades.sqlite'}",
        "initial_state": "running",
        "force_entry_enable": True,
        "entry_pricing": pricing,
        "exit_pricing": pricing,
        "exchange": {
            "name": "binance",
            "key": served.emulator.api_key,
            "secret": served.emulator.api_secret,
            "ccxt_config": {"urls": {"api": urls}},
            "pair_whitelist": list(PAIRS),
        },
        "pairlists": [{"method": "StaticPairList"}],
        "telegram": {"enabled": False, "token": "", "chat_id": ""},
        "api_server": {
            "enabled": True,
            "listen_ip_address": "127.0.0.1",
            "listen_port": port,
            "username": auth[0],
            "password": auth[1],
            "jwt_secret_key": secrets.token_hex(32),
        },
        "internals": {"process_throttle_secs": 1, "heartbeat_interval": HEARTBEAT_S},
    }


@dataclass
class Bot:
    """A running freqtrade, its REST API, the command that starts it and the files it writes."""

    process: subprocess.Popen[bytes]
    api: httpx.Client
    log: Path  # its logfile (--logfile)
    output_file: Path  # what it printed (start-up failures before its logging is set up)
    command: list[str]
    config: Path
    user_data: Path
    url: str
    auth: tuple[str, str]

    def output(self) -> str:
        text = self.output_file.read_text("utf-8", errors="replace")
        if self.log.exists():
            text += self.log.read_text("utf-8", errors="replace")
        return text[-6000:]

    def poll(
        self, what: str, probe: Callable[[], Any], seconds: float = WAIT_S, *, first: bool = True
    ) -> Any:
        """``probe()``'s first truthy answer; fails with freqtrade's output if it never answers, or
        if the process this fixture started dies (``first``: it was not replaced by a restart)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert not first or self.process.poll() is None, (
                f"freqtrade exited {self.process.returncode}:\n{self.output()}"
            )
            with contextlib.suppress(httpx.TransportError):
                found = probe()
                if found:
                    return found
            time.sleep(0.2)
        raise AssertionError(f"freqtrade: no {what} within {seconds} s:\n{self.output()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (freqtrade's clean shutdown), then SIGKILL; its whole process group either way."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(STOP_S)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def freqtrade(served: Served, tmp_path: Path) -> Iterator[Bot]:
    """``freqtrade trade --dry-run`` on the emulator, its API answering; stopped afterwards."""
    executable = _freqtrade()
    user_data = tmp_path / "user_data"
    # freqtrade skips its logging setup under pytest (PYTEST_VERSION), as a harness-started one does not
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FREQTRADE__", "PYTEST_"))}
    # create-userdir copies freqtrade's built-in SampleStrategy into user_data/strategies.
    made = subprocess.run(
        [executable, "create-userdir", "--userdir", str(user_data)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=START_S,
    )
    assert made.returncode == 0, (
        f"freqtrade create-userdir exited {made.returncode}:\n{made.stdout}{made.stderr}"
    )
    # Its entry signal is an RSI crossing its buy_rsi; at 1 it never fires in a test's minutes, so the
    # only trades are the tests' forced entries (the signal depends on when the walk is read).
    parameters = {"strategy_name": "SampleStrategy", "params": {"buy": {"buy_rsi": 1}}}
    strategy_file = user_data / "strategies" / "sample_strategy.py"
    strategy_file.with_suffix(".json").write_text(json.dumps(parameters), "utf-8")
    port, auth = _free_port(), ("readiness", secrets.token_urlsafe(12))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(_config(served, user_data, port, auth)), "utf-8")
    log, output = tmp_path / "freqtrade.log", tmp_path / "freqtrade.out"
    command = [
        *(executable, "trade", "--dry-run", "--config", str(config), "--userdir", str(user_data)),
        *("--logfile", str(log)),
    ]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=f"{url}/api/v1", auth=auth, timeout=10) as api:
            bot = Bot(process, api, log, output, command, config, user_data, url, auth)
            bot.poll("REST API", lambda: api.get("/ping").status_code == 200, START_S)
            yield bot
    finally:
        _stop(process)
        _stop_restarted(log, process.pid)


def _stop_restarted(log: Path, first_pid: int) -> None:
    """Stop the freqtrade a crash drill started in place of the first (its PID is in its heartbeat)."""
    if not log.exists():
        return
    beat = newest_heartbeat(log, NAMES.log_heartbeat)  # type: ignore[arg-type]
    if beat.pid is None or beat.pid == first_pid:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(beat.pid, sig)
        with contextlib.suppress(psutil.Error):
            psutil.Process(beat.pid).wait(STOP_S)
            return


def _analysed_candles(bot: Bot, pair: str) -> list[dict[str, Any]]:
    answer = bot.api.post(
        "/pair_candles",
        json={"pair": pair, "timeframe": "5m", "columns": ["open", "high", "low", "close", "volume", "rsi"]},
    )
    if answer.status_code != 200 or not answer.json().get("length"):
        return []
    body = answer.json()
    return [dict(zip(body["columns"], row, strict=True)) for row in body["data"]]


def test_freqtrade_dry_run_trades_on_the_paper_exchange(freqtrade: Bot, served: Served) -> None:
    bot, emulator = freqtrade, served.emulator

    markets = bot.api.get("/markets").json()
    assert markets["exchange_id"] == "binance"
    assert set(markets["markets"]) == {"BTC/USDT", "ETH/USDT", "BNB/USDT", "ETH/BTC"}
    assert all(m["spot"] and m["active"] for m in markets["markets"].values())

    for pair in PAIRS:
        candles = bot.poll(f"{pair} candles", functools.partial(_analysed_candles, bot, pair))
        assert len(candles) >= 200, "the sample strategy starts from 200 candles"
        assert 0 < candles[-1]["rsi"] < 100, "the sample strategy's indicators ran on them"
        path = emulator.venue.lookup(pair.replace("/", "")).path
        now = emulator.server_time_ms()
        for row in candles[-20:]:
            candle = path.candle(TIMEFRAME_MS, row["__date_ts"], now)
            seen = (row["open"], row["high"], row["low"], row["close"], row["volume"])
            wanted = (candle.open, candle.high, candle.low, candle.close, candle.volume)
            assert seen == tuple(float(value) for value in wanted), row
    asked = [parse_qs(r.query) for r in emulator.requests if r.path == "/api/v3/klines"]
    assert {("BTCUSDT", "5m"), ("ETHUSDT", "5m")} <= {(q["symbol"][0], q["interval"][0]) for q in asked}

    entered = bot.api.post("/forceenter", json={"pair": "BTC/USDT", "side": "long", "ordertype": "market"})
    assert entered.status_code == 200, entered.text

    def filled() -> list[dict[str, Any]]:
        trades: list[dict[str, Any]] = bot.api.get("/status").json()
        return [t for t in trades if t["amount"] > 0 and not t["has_open_orders"]]

    (trade,) = bot.poll("filled entry", filled)
    (order,) = trade["orders"]
    assert (trade["pair"], trade["is_open"], trade["enter_tag"]) == ("BTC/USDT", True, "force_entry")
    assert (order["status"], order["filled"]) == ("closed", trade["amount"])
    assert trade["amount"] * trade["open_rate"] == pytest.approx(100, rel=0.01)
    price = emulator.venue.lookup("BTCUSDT").path.price(emulator.server_time_ms())
    assert abs(Decimal(str(trade["open_rate"])) / price - 1) < Decimal("0.01")
    assert (trade["amount_precision"], trade["price_precision"]) == (0.00001, 0.01)

    assert not [r for r in emulator.requests if r.method != "GET"], "a dry run sends the exchange no order"
    assert sorted({(r.path, r.status) for r in emulator.requests if r.status not in (200, 101)}) == []


def test_the_positions_checks_read_freqtrades_trades_by_a_query(freqtrade: Bot, tmp_path: Path) -> None:
    """The ``[bot]`` table's positions_query reads a real bot's own database, read-only."""
    entered = freqtrade.api.post(
        "/forceenter", json={"pair": "ETH/USDT", "side": "long", "ordertype": "market"}
    )
    assert entered.status_code == 200, entered.text
    freqtrade.poll(
        "filled entry", lambda: [t for t in freqtrade.api.get("/status").json() if t["amount"] > 0]
    )
    config = tmp_path / "readiness.toml"
    config.write_text(f'[bot]\npositions_query = "{TRADES_AS_POSITIONS}"\n')
    env = {
        "READINESS_POSITIONS_DB": str(tmp_path / "user_data" / "trades.sqlite"),
        "READINESS_CONFIG": str(config),
    }
    report = run_catalogue(tmp_path, "-k", "db_healthy or values_sane", env=env)
    checks = ("positions.db_healthy", "positions.values_sane")
    assert {cid: outcomes(report)[cid] for cid in checks} == dict.fromkeys(checks, "passed")
    (metric,) = [
        m for m in check_entry(report, "positions.values_sane")["metrics"] if m["name"] == "open_positions"
    ]
    assert metric["value"] == 1


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Forwards each request to freqtrade's API and notes its method and path (a test proxy)."""

    target: ClassVar[str] = ""
    seen: ClassVar[list[tuple[str, str]]] = []

    def _forward(self) -> None:
        self.seen.append((self.command, self.path))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        answer = httpx.request(
            self.command, self.target + self.path, content=body, headers=headers, timeout=30
        )
        self.send_response(answer.status_code)
        self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_DELETE = do_PUT = _forward

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads :attr:`seen`."""


@contextlib.contextmanager
def _recording_proxy(target: str) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("Recorder", (_Recorder,), {"target": target, "seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _profile_env(bot: Bot, api_url: str) -> dict[str, str]:
    """freqtrade as an operator points the harness at it: its files, its API and how to start it."""
    return {
        "READINESS_BOT_PROFILE": "freqtrade",
        "READINESS_POSITIONS_DB": str(bot.user_data / "trades.sqlite"),
        "READINESS_RISK_CONFIG": str(bot.config),
        "READINESS_LOG_FILE": str(bot.log),
        "READINESS_BOT_API_URL": api_url,
        "READINESS_BOT_API_USERNAME": bot.auth[0],
        "READINESS_BOT_API_PASSWORD": bot.auth[1],
        "READINESS_BOT_COMMAND": shlex.join(bot.command),
    }


#: The operator's own test of their freqtrade deployment, kept in its repo beside config and strategy.
STRATEGY_TEST = """\
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def test_the_deployed_config_trades_dry_with_a_stoploss():
    config = json.loads((HERE / "config.json").read_text())
    assert config["dry_run"] and config["stoploss"] < 0 < config["stake_amount"]


def test_the_strategy_is_in_the_repo():
    assert "class SampleStrategy" in (HERE / "strategies" / "sample_strategy.py").read_text()
"""


def _release_evidence(bot: Bot, repo: Path) -> dict[str, str]:
    """The operator's repo of this deployment (config and strategy, committed) and its test run's
    JUnit report, made as their CI makes them: real git, real pytest."""
    (repo / "strategies").mkdir(parents=True)
    (repo / "tests").mkdir()
    shutil.copy(bot.config, repo / "config.json")
    shutil.copy(bot.user_data / "strategies" / "sample_strategy.py", repo / "strategies")
    (repo / "tests" / "test_deployment.py").write_text(STRATEGY_TEST, "utf-8")
    (repo / "pytest.ini").write_text("[pytest]\n", "utf-8")
    (repo / ".gitignore").write_text("reports/\n__pycache__/\n", "utf-8")
    git = ["git", "-c", "user.name=ops", "-c", "user.email=ops@example.invalid", "-c", "commit.gpgsign=false"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "deploy gridbot"]):
        subprocess.run([*git, *args], cwd=repo, env=env, check=True, capture_output=True)
    junit = repo / "reports" / "junit.xml"
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"],
        cwd=repo,
        env={**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout
    return {"READINESS_BOT_REPO": str(repo), "READINESS_BOT_TEST_REPORT": str(junit)}


def _run(folder: Path, *args: str, env: dict[str, str]) -> dict[str, Any]:
    folder.mkdir()
    return run_catalogue(folder, "--target", "sandbox", *args, env=env)


AUDIT = ("audit.present_writable", "audit.jsonl_valid", "audit.sequence_intact", "audit.hash_chain_intact")
OPS = ("ops.ws_reconnects", "ops.circuit_breaker_trips", "ops.api_latency_p95")
READ_ONLY = {"GET"}


def test_the_freqtrade_profile_checks_freqtrade_as_it_is(freqtrade: Bot, tmp_path: Path) -> None:
    """freqtrade with an open trade is GO under its profile; its drills go through its API within
    the allow-list and leave it running; stopped, it is NO-GO on deploy.process_running."""
    bot = freqtrade
    entered = bot.api.post("/forceenter", json={"pair": "BTC/USDT", "side": "long", "ordertype": "market"})
    assert entered.status_code == 200, entered.text
    bot.poll("filled entry", lambda: [t for t in bot.api.get("/status").json() if not t["has_open_orders"]])
    bot.poll(
        "heartbeat line", lambda: bot.log.exists() and "Bot heartbeat. PID=" in bot.log.read_text("utf-8")
    )

    with _recording_proxy(bot.url) as (api_url, seen):
        env = {**_profile_env(bot, api_url), **_release_evidence(bot, tmp_path / "repo")}
        report = _run(tmp_path / "preflight", "-m", "preflight or postdeploy", env=env)
        got = outcomes(report)
        release = {c: got[c] for c in got if c.startswith("release.")}
        assert release == {
            "release.bot_repo_clean": "passed",
            "release.bot_tests_passed": "passed",
            "release.dependencies_audited": "skipped",  # no pip-audit report given: it says which setting
            "release.drill_evidence_fresh": "not_applicable",
        }
        passing = [c for c in got if c.startswith(("positions.", "deploy.")) or c == "risk.config_valid"]
        assert {c: got[c] for c in passing} == dict.fromkeys(passing, "passed"), report["_stdout"][-4000:]
        assert len(passing) == 8
        for check_id in (*AUDIT, *OPS, "integration.tracker_audit_consistent"):
            assert got[check_id] == "not_applicable", check_id
            assert "freqtrade keeps no audit trail" in check_entry(report, check_id)["message"]
        contract = check_entry(report, "integration.risk_manager_contract")
        assert contract["outcome"] == "not_applicable" and "a real entry" in contract["message"]
        assert "no counterpart" in check_entry(report, "risk.config_valid")["message"]
        assert report["verdict"] == "GO", report["reasons"]
        assert seen and {method for method, _ in seen} == READ_ONLY, seen

        seen.clear()
        drills = _run(tmp_path / "drill", "-m", "drill", "--drill", env=env)
        assert outcomes(drills) == {
            "drill.killswitch_activation": "passed",
            "drill.killswitch_deactivation": "passed",
            "drill.crash_recovery": "passed",
            "drill.position_reconciliation": "not_applicable",
        }, [(c["id"], c["outcome"], c["message"][-1500:]) for c in drills["checks"]]
        activation = check_entry(drills, "drill.killswitch_activation")
        assert {m["name"] for m in activation["metrics"]} >= {"buy_rejected", "sell_allowed", "change_logged"}
        crash = check_entry(drills, "drill.crash_recovery")
        assert "it starts running, as initial_state" in crash["message"]
        assert "dry-run" in check_entry(drills, "drill.position_reconciliation")["message"]
        posts = [(method, path) for method, path in seen if method != "GET"]
        assert {path.removeprefix("/api/v1") for _, path in posts} == {"/stopentry", "/start", "/forceenter"}
        first_entry = seen.index(next(s for s in seen if s[1].endswith("/forceenter")))
        assert any(path.endswith("/show_config") for _, path in seen[:first_entry])

    # left as found: running, its open trade kept, in a process the crash drill started
    running = bot.poll(
        "running state", lambda: bot.api.get("/show_config").json()["state"] == "running", first=False
    )
    assert running
    assert [t["pair"] for t in bot.api.get("/status").json()] == ["BTC/USDT"]
    beat = newest_heartbeat(bot.log, NAMES.log_heartbeat)  # type: ignore[arg-type]
    assert beat.pid is not None and beat.pid != bot.process.pid and psutil.pid_exists(beat.pid)

    # paused by someone, or asked with the wrong password: system.killswitch_inactive fails, naming why
    assert bot.api.post("/stopentry").status_code == 200
    paused = _run(tmp_path / "paused", "-k", "killswitch_inactive", env=_profile_env(bot, bot.url))
    entry = check_entry(paused, "system.killswitch_inactive")
    assert (entry["outcome"], entry["message"]) == (
        "failed",
        f"the kill switch is active: the bot would refuse every BUY (freqtrade's API at {bot.url})",
    )
    assert bot.api.post("/start").status_code == 200
    wrong = {**_profile_env(bot, bot.url), "READINESS_BOT_API_PASSWORD": "not-the-password"}
    refused = check_entry(
        _run(tmp_path / "refused", "-k", "killswitch_inactive", env=wrong), "system.killswitch_inactive"
    )
    assert refused["outcome"] == "failed" and "refused the credentials (401)" in refused["message"]
    assert refused["remediation"].startswith("Point READINESS_BOT_API_URL at the bot")

    os.kill(beat.pid, signal.SIGTERM)
    psutil.Process(beat.pid).wait(STOP_S)
    stopped = _run(tmp_path / "stopped", "-m", "postdeploy", env=_profile_env(bot, bot.url))
    entry = check_entry(stopped, "deploy.process_running")
    assert entry["outcome"] == "failed" and f"names pid {beat.pid}, but no such process" in entry["message"]
    assert stopped["verdict"] == "NO-GO"
