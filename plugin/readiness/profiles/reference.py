"""The reference profile: a bot shaped like the reference bot, its names renameable in ``[bot]``.

Its positions are a SQLite table, its risk limits a TOML file, its audit trail JSONL, and its kill
switch a Python risk manager the harness loads from ``READINESS_RISK_MANAGER`` (``module:callable``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from ..probes.files import RiskConfig, read_risk_config
from ..probes.risk import RiskManager, load_risk_manager
from ..settings import Settings
from .names import BotNames

__all__ = ["ReferenceProfile", "RiskManagerSwitch"]


class RiskManagerSwitch:
    """The bot's risk manager as a kill switch; loaded on first use, and again after :meth:`close`
    (a manager bound to a process the crash drill killed may be useless)."""

    def __init__(self, factory: str) -> None:
        self.factory = factory
        self.where = f"READINESS_RISK_MANAGER={factory}"
        self._manager: RiskManager | None = None

    @property
    def manager(self) -> RiskManager:
        if self._manager is None:
            self._manager = load_risk_manager(self.factory)
        return self._manager

    def is_active(self) -> bool:
        return bool(self.manager.kill_switch_active)

    def switch(self, active: bool, reason: str) -> None:
        if active:
            self.manager.activate_kill_switch(reason)
        else:
            self.manager.deactivate_kill_switch(reason)

    def trade_allowed(self, symbol: str, side: str, quote_qty: float) -> tuple[bool | None, str]:
        answer: object = self.manager.validate_trade(symbol, side, quote_qty)
        if not (isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], bool)):
            raise TypeError(f"validate_trade returned {answer!r:.80}, not (allowed: bool, reason: str)")
        return answer[0], str(answer[1])

    def close(self) -> None:
        manager, self._manager = self._manager, None
        close = getattr(manager, "close", None)  # the protocol does not require one
        if callable(close):
            with contextlib.suppress(Exception):
                close()


@dataclass(frozen=True, slots=True)
class ReferenceProfile:
    names: BotNames = field(default_factory=BotNames)
    name: str = "reference"
    no_audit_trail: str | None = None
    no_order_validation: str | None = None
    bot_settings: tuple[str, ...] = (
        "audit_trail",
        "positions_db",
        "risk_config",
        "log_file",
        "pid_file",
        "risk_manager",
    )
    kill_switch_settings: tuple[str, ...] = ("risk_manager",)

    def read_risk_limits(self, path: Path) -> RiskConfig:
        return read_risk_config(path, self.names)

    def restart_state(self, settings: Settings) -> tuple[bool, str] | None:
        return None

    def simulated(self, settings: Settings) -> str | None:
        return None

    def kill_switch(self, settings: Settings, *, drill: bool) -> RiskManagerSwitch:
        assert settings.risk_manager is not None, "checked by the caller (kill_switch_settings)"
        return RiskManagerSwitch(settings.risk_manager)
