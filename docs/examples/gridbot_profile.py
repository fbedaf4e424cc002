"""A bot profile of one's own: how the checks read "gridbot", a bot shaped like neither built-in one.

gridbot keeps its open positions in a ``holdings`` table, its limits in ``limits.json``, logs
"alive pid=1234" every minute, keeps no audit trail, and has a Python risk manager like the
reference bot's. Point the harness at this file's ``profile`` with
``READINESS_BOT_PROFILE=gridbot_profile:profile`` (the module must be importable: on
``PYTHONPATH`` or installed beside the bot).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from readiness.probes.files import RiskConfig
from readiness.profiles.names import BotNames
from readiness.profiles.reference import RiskManagerSwitch
from readiness.settings import Settings

#: Where gridbot keeps what the checks read. The query gives symbol, quantity, average price and
#: status, in that order; "open" marks an open position.
NAMES = BotNames(
    positions_query=(
        "SELECT pair_symbol, size, entry_price, CASE WHEN closed THEN 'closed' ELSE 'open' END FROM holdings"
    ),
    log_heartbeat=re.compile(r"alive pid=(?P<pid>\d+)"),
)
#: gridbot's limit -> the reference limit it stands for.
LIMITS = {"max_exposure_usdt": "max_position_usdt", "max_positions": "max_open_positions"}


@dataclass(frozen=True)
class GridBotProfile:
    name: str = "gridbot"
    names: BotNames = NAMES
    no_audit_trail: str | None = "gridbot keeps no audit trail: its holdings table and log are its record"
    no_order_validation: str | None = None  # its risk manager answers validate_trade
    bot_settings: tuple[str, ...] = ("positions_db", "risk_config", "log_file", "risk_manager")
    kill_switch_settings: tuple[str, ...] = ("risk_manager",)

    def read_risk_limits(self, path: Path) -> RiskConfig:
        """``limits.json``: each limit a positive number; every problem names its key."""
        fix = f"Fix {path}: max_exposure_usdt and max_positions, positive numbers."
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            return RiskConfig(path, {}, [f"cannot be read as JSON ({exc})"], [], fix)
        if not isinstance(data, dict):
            return RiskConfig(path, {}, ["is not a JSON object"], [], fix)
        values: dict[str, float] = {}
        problems: list[str] = []
        for key, limit in LIMITS.items():
            value = data.get(key)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                problems.append(f"{key} must be a positive number, got {value!r}")
            else:
                values[limit] = float(value)
        notes = ["gridbot has no daily loss limit, loss per trade or cooldown"]
        return RiskConfig(path, values, problems, [], fix if problems else None, notes)

    def restart_state(self, settings: Settings) -> tuple[bool, str] | None:
        return None  # gridbot keeps its kill switch across a restart, as the reference bot does

    def simulated(self, settings: Settings) -> str | None:
        return None  # gridbot always trades for real on the exchange it is pointed at

    def kill_switch(self, settings: Settings, *, drill: bool) -> RiskManagerSwitch:
        assert settings.risk_manager is not None
        return RiskManagerSwitch(settings.risk_manager)


def profile(settings: Settings) -> GridBotProfile:
    """What ``READINESS_BOT_PROFILE=gridbot_profile:profile`` calls, with the run's settings."""
    return GridBotProfile()
