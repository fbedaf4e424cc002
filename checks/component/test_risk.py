"""The bot's risk config, judged by its profile: every limit present, positive and consistent."""

from __future__ import annotations

import pytest

from readiness.context import CheckContext


@pytest.mark.readiness(
    id="risk.config_valid",
    layer="component",
    tier=1,
    title="The risk config parses and its limits are present, positive and consistent",
    remediation="Fix the risk config named in the message: TOML with max_position_usdt, max_daily_loss_usdt, "
    "max_loss_per_trade_usdt, max_open_positions and cooldown_minutes.",
)
def test_config_valid(readiness: CheckContext) -> None:
    readiness.require("risk_config")
    path = readiness.settings.risk_config
    assert path is not None
    config = readiness.profile.read_risk_limits(path)
    for warning in config.warnings:
        readiness.warn(warning)
    for note in config.notes:
        readiness.note(note)
    if "max_position_usdt" in config.values:
        readiness.metric("max_position_usdt", config.values["max_position_usdt"], unit="USDT")
    if config.problems:
        readiness.fail(config.message, remediation=config.remediation)
