"""How the checks read a freqtrade deployment as it is: its trades DB, ``config.json``, log and API.

freqtrade keeps no positions table: its open trades are the positions (``pair`` ``BTC/USDT``, or
``BTC/USDT:USDT`` on futures, read as ``BTCUSDT``). Its risk limits are its own: the reference
limits are derived from them where freqtrade has a counterpart, and named where it has none. It
logs its fatal errors at ERROR ("Fatal exception!", "OperationalException. Stopping trader ..."),
so those messages count as critical; its heartbeat line ("Bot heartbeat. PID=...") shows it alive
and names its process. Its kill switch is its REST API: ``/stopentry`` pauses entries (exits go
on), ``/start`` resumes them, ``/show_config`` tells the state.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeGuard

from ..probes import logs
from ..probes.botapi import BotApi, BotApiError
from ..probes.files import MAX_CONFIG_BYTES, RiskConfig, path_problem
from ..settings import Settings
from .names import BotNames

__all__ = [
    "NAMES",
    "NO_COUNTERPART",
    "TRADES_AS_POSITIONS",
    "FreqtradeProfile",
    "FreqtradeSwitch",
    "read_risk_limits",
]

#: freqtrade's trades as positions, read-only from its trades database. An open trade whose entry
#: order has not filled yet has amount 0 (freqtrade creates it so): that is a pending entry, not a
#: position with a bad quantity.
TRADES_AS_POSITIONS: Final = (
    "SELECT replace(substr(pair, 1, instr(pair || ':', ':') - 1), '/', ''), amount, open_rate, "
    "CASE WHEN NOT is_open THEN 'closed' WHEN amount > 0 THEN 'open' ELSE 'pending' END FROM trades"
)
NAMES: Final = BotNames(
    positions_query=TRADES_AS_POSITIONS,
    log_critical_messages=(
        re.compile(r" - ERROR - (Fatal exception!|OperationalException\. Stopping trader)"),
    ),
    log_heartbeat=re.compile(r"Bot heartbeat\. PID=(?P<pid>\d+)"),
    log_kill_switch_on=re.compile(r"Changing state from \w+ to: PAUSED"),
    log_kill_switch_off=re.compile(r"Changing state from \w+ to: RUNNING"),
)
#: Beyond one loop of freqtrade's, how long a switch waits for the loop to have seen it (seconds).
SETTLE_MARGIN_S: Final = 3.0
#: Reference limits freqtrade's config has no key for, and where freqtrade puts the same idea.
NO_COUNTERPART: Final = {
    "max_daily_loss_usdt": "a MaxDrawdown protection in the strategy",
    "cooldown_minutes": "a CooldownPeriod protection in the strategy",
}


def read_risk_limits(path: Path) -> RiskConfig:
    """freqtrade's ``config.json`` judged as risk limits; every problem names the key.

    ``max_open_trades`` caps open positions, ``stake_amount`` (a number) caps one position and,
    with ``stoploss``, the loss per trade; ``tradable_balance_ratio`` must leave a reserve. A
    ``stoploss`` absent from the config is the strategy's, so only a warning.
    """
    fix = f"Fix {path}: set max_open_trades (a whole number >= 1), a numeric stake_amount and stoploss (< 0)."
    problem = path_problem(path)
    if problem:
        return RiskConfig(
            path, {}, [f"the file {problem}"], [], "Point READINESS_RISK_CONFIG at freqtrade's config.json."
        )
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            return RiskConfig(path, {}, ["the file is over 1 MiB: not a freqtrade config"], [], fix)
        config = json.loads(data)
    except OSError as exc:
        return RiskConfig(path, {}, [f"the file cannot be read ({exc.strerror or exc})"], [], fix)
    except (UnicodeDecodeError, ValueError) as exc:
        return RiskConfig(path, {}, [f"not JSON: {exc}"], [], fix)
    if not isinstance(config, dict):
        return RiskConfig(path, {}, [f"not a JSON object but {type(config).__name__}"], [], fix)
    problems: list[str] = []
    warnings: list[str] = []
    notes = [
        f"{limit} has no counterpart in freqtrade's config.json (freqtrade's is {where})"
        for limit, where in NO_COUNTERPART.items()
    ]
    values: dict[str, float] = {}

    trades = config.get("max_open_trades")
    if trades == -1:
        problems.append("max_open_trades is -1 (unlimited): nothing caps the open positions")
    elif not _number(trades) or trades < 1 or not float(trades).is_integer():
        problems.append(f"max_open_trades must be a whole number >= 1, got {trades!r}")
    else:
        values["max_open_positions"] = float(trades)

    stake = config.get("stake_amount")
    if stake == "unlimited":
        warnings.append("stake_amount is 'unlimited': each trade stakes a share of the whole balance")
    elif not _number(stake) or stake <= 0:
        problems.append(f"stake_amount must be a positive number or 'unlimited', got {stake!r}")
    else:
        values["max_position_usdt"] = float(stake)

    stoploss = config.get("stoploss")
    if stoploss is None:
        warnings.append("stoploss is not in the config: the strategy's stoploss applies")
    elif not _number(stoploss) or not -1 < stoploss < 0:
        problems.append(f"stoploss must be a number between -1 and 0 (e.g. -0.1 for 10 %), got {stoploss!r}")
    elif "max_position_usdt" in values:
        values["max_loss_per_trade_usdt"] = values["max_position_usdt"] * -float(stoploss)

    ratio = config.get("tradable_balance_ratio", 0.99)
    if not _number(ratio) or not 0 < ratio <= 1:
        problems.append(f"tradable_balance_ratio must be a number in (0, 1], got {ratio!r}")
    return RiskConfig(path, values, problems, warnings, fix if problems else None, notes)


def _config(settings: Settings) -> dict[str, object]:
    """freqtrade's config.json (READINESS_RISK_CONFIG) as far as it reads; empty when it does not."""
    if settings.risk_config is None:
        return {}
    with contextlib.suppress(OSError, ValueError), open(settings.risk_config, "rb") as f:
        config = json.loads(f.read(MAX_CONFIG_BYTES + 1))
        if isinstance(config, dict):
            return config
    return {}


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class FreqtradeSwitch:
    """freqtrade's entries, paused and resumed through its REST API, as a kill switch.

    freqtrade acts on its state once per loop (``internals.process_throttle_secs``): a pause undone
    before its loop came round never happened for it, and is neither logged nor notified. So each
    switch waits, up to a loop and a margin, until its log shows the loop saw the change.
    """

    def __init__(self, api: BotApi, quote_asset: str, log_file: Path | None, loop_s: float) -> None:
        self.api = api
        self.quote_asset = quote_asset
        self.where = f"freqtrade's API at {api.url}"
        self.log_file = log_file
        self.settle_s = loop_s + SETTLE_MARGIN_S

    def state(self) -> str:
        """``running``, ``paused`` (no entries, exits go on) or ``stopped`` (no trading at all)."""
        return str(self.api.show_config().get("state", "")).lower()

    def is_active(self) -> bool:
        return self.state() != "running"

    def switch(self, active: bool, reason: str) -> None:
        pattern = NAMES.log_kill_switch_on if active else NAMES.log_kill_switch_off
        mark = None
        if self.log_file is not None:
            with contextlib.suppress(OSError):
                mark = logs.end_offset(self.log_file)
        self.api.post("/stopentry" if active else "/start")
        if self.log_file is None or mark is None or pattern is None:
            time.sleep(self.settle_s)
            return
        with contextlib.suppress(OSError):
            logs.wait_for_line(self.log_file, mark, pattern, self.settle_s)

    def trade_allowed(self, symbol: str, side: str, quote_qty: float) -> tuple[bool | None, str]:
        """Judged the way freqtrade enforces it: entries only while running, exits unless stopped.
        A BUY while paused is put to a dry-run freqtrade as a force entry, which it must refuse."""
        state = self.state()
        if side == "SELL":
            if state == "stopped":
                return False, "freqtrade is stopped: it exits no trade either (pause: /stopentry, not /stop)"
            return True, f"freqtrade is {state}: it still exits its open trades"
        if state == "running":
            return True, "freqtrade is running: it enters new trades"
        if not self.api.dry_run:
            return (
                False,
                f"freqtrade is {state}: it enters no trade (judged by its state: a live bot is sent none)",
            )
        pair = f"{symbol.removesuffix(self.quote_asset)}/{self.quote_asset}"
        try:
            trade = self.api.post("/forceenter", {"pair": pair, "side": "long", "stakeamount": quote_qty})
        except BotApiError as exc:
            if "not running" in str(exc):
                return False, f"freqtrade is {state} and refused a dry-run force entry of {pair} ({exc})"
            return (
                False,
                f"freqtrade is {state}: it enters no trade (judged by its state; force entry: {exc})",
            )
        if isinstance(trade, dict) and "trade_id" in trade:
            self.api.post("/forceexit", {"tradeid": str(trade["trade_id"]), "ordertype": "market"})
        return True, f"freqtrade is {state} yet took a dry-run force entry of {pair} (exited again)"

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> FreqtradeSwitch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class FreqtradeProfile:
    names: BotNames = NAMES
    name: str = "freqtrade"
    no_audit_trail: str | None = "freqtrade keeps no audit trail: its trades database and log are its record"
    no_order_validation: str | None = (
        "freqtrade has no pre-trade question to ask: it sizes each entry from stake_amount and caps "
        "entries at max_open_trades inside its own loop (risk.config_valid judges both); a BUY put to "
        "it would be a real entry"
    )
    bot_settings: tuple[str, ...] = (
        "positions_db",
        "risk_config",
        "log_file",
        "bot_api_url",
        "bot_api_username",
        "bot_api_password",
    )
    kill_switch_settings: tuple[str, ...] = ("bot_api_url",)

    def read_risk_limits(self, path: Path) -> RiskConfig:
        return read_risk_limits(path)

    def restart_state(self, settings: Settings) -> tuple[bool, str] | None:
        """freqtrade starts as its config's ``initial_state`` says (by default ``stopped``)."""
        state = str(_config(settings).get("initial_state", "stopped"))
        return state != "running", (
            f"freqtrade keeps no kill switch across a restart: it starts {state}, as initial_state in "
            f"{settings.risk_config or 'its config.json'} says"
        )

    def simulated(self, settings: Settings) -> str | None:
        """Asked of the running bot (``--dry-run`` overrides the file), else of its config.json."""
        if settings.bot_api_url is not None:
            with self.kill_switch(settings, drill=False) as switch:
                dry_run = switch.api.show_config().get("dry_run") is True
        else:
            dry_run = _config(settings).get("dry_run") is True
        return "freqtrade runs in dry-run: its trades and balances are simulated" if dry_run else None

    def kill_switch(self, settings: Settings, *, drill: bool) -> FreqtradeSwitch:
        assert settings.bot_api_url is not None, "checked by the caller (kill_switch_settings)"
        api = BotApi(settings.bot_api_url, settings.bot_api_username, settings.bot_api_password, drill=drill)
        internals = _config(settings).get("internals")
        loop_s = internals.get("process_throttle_secs", 5) if isinstance(internals, dict) else 5
        return FreqtradeSwitch(
            api, settings.quote_asset, settings.log_file, float(loop_s) if _number(loop_s) else 5.0
        )
