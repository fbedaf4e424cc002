"""The bot-profile protocol: everything the checks need to know about one kind of bot.

A profile names where a bot keeps its open positions, its audit fields, its risk keys and which of
its log lines are critical, errors or signs of life (:attr:`BotProfile.names`); it judges its risk
limits, says whether it keeps an audit trail, and gives what drives its kill switch
(:class:`KillSwitch`). The checks read a bot only through its profile; ``READINESS_BOT_PROFILE``
picks one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .names import BotNames

if TYPE_CHECKING:
    from ..probes.files import RiskConfig
    from ..settings import Settings

__all__ = ["BotProfile", "KillSwitch", "ProfileError"]


class ProfileError(Exception):
    """The profile cannot do what a check asks (a setting missing or wrong); the message says which."""


@runtime_checkable
class KillSwitch(Protocol):
    """The bot's kill switch as the checks and drills drive it."""

    @property
    def where(self) -> str:
        """Names the switch in messages."""
        ...

    def is_active(self) -> bool:
        """Whether the bot refuses new entries now."""
        ...

    def switch(self, active: bool, reason: str) -> None:
        """Turn the switch on (no new entries) or off (trading again)."""
        ...

    def trade_allowed(self, symbol: str, side: str, quote_qty: float) -> tuple[bool | None, str]:
        """Would the bot take this trade now: (True/False, why), or (None, why it cannot be told)."""
        ...

    def close(self) -> None:
        """Let go of whatever the switch holds (connections, clients)."""
        ...


@runtime_checkable
class BotProfile(Protocol):
    """How the checks read one kind of bot."""

    @property
    def name(self) -> str:
        """Shown in the report and in messages ("reference", "freqtrade", or the operator's own)."""
        ...

    @property
    def names(self) -> BotNames:
        """The positions table and columns (or a query), audit names, risk keys and log rules."""
        ...

    @property
    def no_audit_trail(self) -> str | None:
        """Why the bot keeps no audit trail (its checks end not applicable, saying so); None if it does."""
        ...

    @property
    def no_order_validation(self) -> str | None:
        """Why the bot cannot be asked whether it would take an order of a given size (the contract
        check ends not applicable, saying so); None when its kill switch answers that."""
        ...

    @property
    def bot_settings(self) -> tuple[str, ...]:
        """The settings that point the checks at this bot (``env.config_complete`` asks for each)."""
        ...

    @property
    def kill_switch_settings(self) -> tuple[str, ...]:
        """The settings :meth:`kill_switch` needs (a check skips naming them when they are not set)."""
        ...

    def read_risk_limits(self, path: Path) -> RiskConfig:
        """The bot's risk config judged: the limits found, and every problem naming its key."""
        ...

    def restart_state(self, settings: Settings) -> tuple[bool, str] | None:
        """None when the bot keeps its kill switch across a restart; else the state it starts in
        (active?) and why, for the crash drill to expect and report."""
        ...

    def simulated(self, settings: Settings) -> str | None:
        """Why the bot's positions are not on the exchange (a dry run), or None when they are."""
        ...

    def kill_switch(self, settings: Settings, *, drill: bool) -> KillSwitch:
        """What drives the kill switch; ``drill`` False gives one that only reads."""
        ...
