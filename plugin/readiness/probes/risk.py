"""The bot's risk manager, loaded from ``READINESS_RISK_MANAGER`` (``module:callable``)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..factories import FactoryError, resolve


@runtime_checkable
class RiskManager(Protocol):
    """The protocol the bot's risk manager implements."""

    @property
    def kill_switch_active(self) -> bool: ...

    def activate_kill_switch(self, reason: str) -> Any: ...

    def deactivate_kill_switch(self, reason: str) -> Any: ...

    def validate_trade(self, symbol: str, side: str, quote_qty: float) -> tuple[bool, str]: ...


class RiskManagerLoadError(Exception):
    """The factory could not be imported or called, or returned something else."""


def load_risk_manager(factory: str) -> RiskManager:
    """Import ``module:callable`` and call it; every failure says which part went wrong."""
    try:
        target = resolve(factory)
    except FactoryError as exc:
        raise RiskManagerLoadError(str(exc)) from None
    try:
        manager = target()
    except Exception as exc:
        raise RiskManagerLoadError(f"{factory}() failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(manager, RiskManager):
        raise RiskManagerLoadError(
            f"{factory}() returned {type(manager).__name__}, which lacks the risk-manager protocol "
            "(activate_kill_switch, deactivate_kill_switch, kill_switch_active, validate_trade)"
        )
    return manager
