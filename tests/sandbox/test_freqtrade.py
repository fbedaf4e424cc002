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
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from readiness.profiles.freqtrade import TRADES_AS_POSITIONS

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
        "internals": {"process_throttle_secs": 1, "heartbeat_interval": 0},
    }


@dataclass
class Bot:
    """A running freqtrade, its REST API and the file its output goes to."""

    process: subprocess.Popen[bytes]
    api: httpx.Client
    log: Path

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-6000:]

    def poll(self, what: str, probe: Callable[[], Any], seconds: float = WAIT_S) -> Any:
        """``probe()``'s first truthy answer; fails with freqtrade's output if it dies or never answers."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (
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
    env = {name: value for name, value in os.environ.items() if not name.startswith("FREQTRADE__")}
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
    port, auth = _free_port(), ("readiness", secrets.token_urlsafe(12))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(_config(served, user_data, port, auth)), "utf-8")
    log = tmp_path / "freqtrade.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [executable, "trade", "--dry-run", "--config", str(config), "--userdir", str(user_data)],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", auth=auth, timeout=10) as api:
            bot = Bot(process, api, log)
            bot.poll("REST API", lambda: api.get("/ping").status_code == 200, START_S)
            yield bot
    finally:
        _stop(process)


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
