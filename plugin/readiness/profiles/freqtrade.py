"""How the checks read a freqtrade deployment as it is: its trades DB and its ``config.json``.

freqtrade keeps no positions table: its open trades are the positions (``pair`` ``BTC/USDT``, or
``BTC/USDT:USDT`` on futures, read as ``BTCUSDT``). Its risk limits are its own: the reference
limits are derived from them where freqtrade has a counterpart, and named where it has none.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Final, TypeGuard

from ..probes.files import MAX_CONFIG_BYTES, RiskConfig, path_problem
from .names import BotNames

__all__ = ["NAMES", "NO_COUNTERPART", "TRADES_AS_POSITIONS", "read_risk_limits"]

#: freqtrade's open trades as positions, read-only from its trades database.
TRADES_AS_POSITIONS: Final = (
    "SELECT replace(substr(pair, 1, instr(pair || ':', ':') - 1), '/', ''), amount, open_rate, "
    "CASE WHEN is_open THEN 'open' ELSE 'closed' END FROM trades"
)
NAMES: Final = BotNames(positions_query=TRADES_AS_POSITIONS)
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
    warnings = [
        f"{limit} has no counterpart in freqtrade's config (use {where})"
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
    return RiskConfig(path, values, problems, warnings, fix if problems else None)


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
