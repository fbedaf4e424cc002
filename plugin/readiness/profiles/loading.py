"""``READINESS_BOT_PROFILE`` resolved to a profile object: a built-in one or the operator's own."""

from __future__ import annotations

from ..factories import FactoryError, resolve
from ..settings import Settings
from .freqtrade import FreqtradeProfile
from .names import BotNames
from .protocol import BotProfile, ProfileError
from .reference import ReferenceProfile

__all__ = ["load_profile"]


def load_profile(settings: Settings) -> BotProfile:
    """``reference`` (with the ``[bot]`` names), ``freqtrade``, or ``module:callable`` called with
    the run's settings. Raises :class:`ProfileError` naming the setting and its source."""
    choice = settings.bot_profile
    where = f"READINESS_BOT_PROFILE={choice} ({settings.sources.get('bot_profile', 'default')})"
    if choice == "reference":
        return ReferenceProfile(settings.bot)
    if settings.bot != BotNames():
        raise ProfileError(
            f"{settings.sources.get('bot', 'the config file')}: the [bot] table renames what the "
            f"reference profile reads, but {where} reads the bot by its own names; remove [bot] or "
            "set READINESS_BOT_PROFILE=reference"
        )
    if choice == "freqtrade":
        return FreqtradeProfile()
    try:
        target = resolve(choice)
    except FactoryError as exc:
        raise ProfileError(f"{where}: {exc}") from None
    try:
        profile = target(settings)
    except Exception as exc:
        raise ProfileError(f"{where}: {choice}(settings) failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(profile, BotProfile):
        raise ProfileError(
            f"{where}: {choice}(settings) returned {type(profile).__name__}, which lacks the profile "
            "protocol (name, names, no_audit_trail, kill_switch_settings, read_risk_limits, kill_switch)"
        )
    if not isinstance(profile.names, BotNames):
        raise ProfileError(f"{where}: its names must be a readiness.profiles.names.BotNames")
    return profile
