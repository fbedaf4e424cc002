"""Integration: the bot's parts agree with each other (position tracker vs audit trail, risk manager vs
risk config). Reads only; the risk manager is asked, never switched."""

from __future__ import annotations

import pytest

from readiness.context import CheckContext
from readiness.probes import drill, files
from readiness.profiles.protocol import KillSwitch

#: A BUY this small must pass any sane limit; capped at half the limit for tiny configs.
SMALL_BUY_USDT = 20.0
#: The over-limit BUY asks for this multiple of max_position_usdt.
OVER_LIMIT_FACTOR = 2.0


@pytest.mark.readiness(
    id="integration.tracker_audit_consistent",
    layer="integration",
    tier=1,
    depends=("positions.db_healthy", "audit.jsonl_valid"),
    title="Open positions in the DB agree with the audit trail's position events",
    remediation="Reconcile the positions DB with the audit trail and the exchange before trading: a "
    "position changed without its position_opened/position_closed event (or the reverse) means a bot "
    "bug or a manual edit.",
)
def test_tracker_audit_consistent(readiness: CheckContext) -> None:
    readiness.require_audit_trail()
    readiness.require("positions_db")
    db, trail = readiness.settings.positions_db, readiness.settings.audit_trail
    assert db is not None and trail is not None
    names = readiness.profile.names
    try:
        db_open = files.open_quantities(files.read_positions(db, names))
        audit = files.audit_positions(trail, names)
    except files.ProbeError as exc:
        readiness.fail(str(exc), remediation=exc.remediation)
    readiness.metric("open_positions", len(db_open))
    readiness.metric("position_events", audit.events)
    mismatches = files.position_mismatches(db_open, audit)
    if mismatches:
        readiness.fail(f"positions DB {db} vs audit trail {trail}: {files.listed(mismatches)}")
    for problem in audit.problems[: files.MAX_LISTED]:
        readiness.warn(f"audit trail {trail}, {problem}")


@pytest.mark.readiness(
    id="integration.risk_manager_contract",
    layer="integration",
    tier=1,
    depends=("risk.config_valid", "system.killswitch_inactive"),
    title="The risk manager loads, allows a small BUY and rejects one above max_position_usdt",
    remediation="Fix the bot's pre-trade rules: validate_trade must reject any order above "
    "max_position_usdt from the risk config.",
)
def test_risk_manager_contract(readiness: CheckContext) -> None:
    profile, settings = readiness.profile, readiness.settings
    if profile.no_order_validation:
        readiness.not_applicable(profile.no_order_validation)
    readiness.require(*profile.kill_switch_settings, "risk_config")
    assert settings.risk_config is not None
    limit = profile.read_risk_limits(settings.risk_config).values.get("max_position_usdt")
    if limit is None:
        readiness.fail(
            f"no valid max_position_usdt in risk config {settings.risk_config} (see risk.config_valid)"
        )
    switch = profile.kill_switch(settings, drill=False)
    try:
        with drill.exclusive(drill.lock_key(settings), shared=True):  # never mid-drill
            _exercise(readiness, switch, settings.symbol, limit)
    finally:
        switch.close()


def _exercise(readiness: CheckContext, switch: KillSwitch, symbol: str, limit: float) -> None:
    """Read the kill switch and ask two questions; never flip the switch."""
    small = min(SMALL_BUY_USDT, limit / 2)
    over = limit * OVER_LIMIT_FACTOR
    try:
        if switch.is_active():
            readiness.fail(
                "the kill switch is active, so no BUY can be validated (see system.killswitch_inactive)"
            )
        (small_ok, small_reason), (over_ok, over_reason) = (
            switch.trade_allowed(symbol, "BUY", qty) for qty in (small, over)
        )
    except Exception as exc:  # readiness.fail raises a BaseException, which passes through
        readiness.fail(
            f"{switch.where}: {type(exc).__name__}: {exc}",
            remediation=f"Point {readiness.variables(*readiness.profile.kill_switch_settings)} at the bot; "
            "start the bot.",
        )
    readiness.metric("max_position_usdt", limit, unit="USDT")
    if not small_ok:
        readiness.fail(
            f"a small BUY of {small:g} USDT {symbol} was rejected: {small_reason}",
            remediation="Check the bot's pre-trade rules and state (limits, open positions, cooldown): "
            "with the kill switch off it must accept a small BUY.",
        )
    if over_ok:
        readiness.fail(
            f"a BUY of {over:g} USDT {symbol}, {OVER_LIMIT_FACTOR:g}x max_position_usdt ({limit:g}), "
            f"was allowed: {over_reason}"
        )
