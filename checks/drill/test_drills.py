"""Drill layer: the disaster-recovery drill, automated. Runs only with ``--drill``.

Each drill leaves the bot as it found it: the kill switch is put back by the ``kill_switch``
fixture's teardown (also when the drill failed), and the crash drill restarts the bot it killed
and leaves the new process running.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from readiness.audit import TrailUnreadable, validate_file
from readiness.context import CheckContext
from readiness.probes import drill
from readiness.probes.drill import DrillError, KillSwitchGuard

if TYPE_CHECKING:
    from readiness.sandbox.telegram import TelegramEmulator

#: Quote quantity (USDT) of the trades the drills ask ``validate_trade`` about: small enough for
#: any sane risk limit, so only the kill switch can be the reason for a rejection.
TRADE_QUOTE_QTY = 10.0
REENABLE_LIMIT_MIN = drill.REENABLE_LIMIT_S / 60


@pytest.fixture
def kill_switch(readiness: CheckContext) -> Iterator[KillSwitchGuard]:
    """The risk manager; at teardown the kill switch is put back as the drill found it.

    Drills that use it hold the bot's drill lock, so they never overlap, even across xdist workers.
    """
    settings = readiness.settings
    readiness.require("risk_manager")
    assert settings.risk_manager is not None
    factory = settings.risk_manager
    with drill.exclusive(drill.lock_key(settings)), drill.kill_switch_as_found(factory) as guard:
        yield guard


@pytest.fixture
def telegram_record(request: pytest.FixtureRequest, readiness: CheckContext) -> TelegramEmulator | None:
    """The sandbox's Telegram emulator (extra evidence of the alert), or None elsewhere."""
    if readiness.settings.target != "sandbox" or hasattr(request.config, "workerinput"):
        return None
    emulator: TelegramEmulator = request.getfixturevalue("sandbox").telegram
    return emulator


def _found(readiness: CheckContext, guard: KillSwitchGuard) -> bool:
    try:
        return guard.remember()
    except Exception as exc:
        readiness.fail(
            f"READINESS_RISK_MANAGER={guard.factory}: {type(exc).__name__}: {exc}",
            remediation="Point READINESS_RISK_MANAGER at the bot's risk-manager factory; start the bot.",
        )


def _require_inactive(readiness: CheckContext, guard: KillSwitchGuard) -> None:
    if _found(readiness, guard):
        pytest.skip(
            "the kill switch is already active: the drill would have to re-enable trading someone "
            "stopped; find out why it is on (system.killswitch_inactive), deactivate it, then drill"
        )


def _mark(readiness: CheckContext) -> drill.AuditMark:
    path = readiness.settings.audit_trail
    assert path is not None
    try:
        return drill.mark_audit(path, readiness.settings.bot)
    except OSError as exc:
        readiness.fail(f"READINESS_AUDIT_TRAIL={path}: {exc.strerror or exc}")


def _switch(readiness: CheckContext, guard: KillSwitchGuard, active: bool, reason: str) -> None:
    verb = "activate_kill_switch" if active else "deactivate_kill_switch"
    try:
        guard.switch(active, reason)
    except Exception as exc:
        readiness.fail(f"{verb}({reason!r}) raised {type(exc).__name__}: {exc}")


def _trade(guard: KillSwitchGuard, symbol: str, side: str) -> tuple[bool | None, str]:
    """validate_trade's answer, or (None, why) when it raised."""
    try:
        allowed, reason = guard.manager.validate_trade(symbol, side, TRADE_QUOTE_QTY)
    except Exception as exc:
        return None, f"raised {type(exc).__name__}: {exc}"
    return bool(allowed), str(reason)


def _report(readiness: CheckContext, checks: list[tuple[str, bool, str, str]], what: str) -> None:
    """One 0/1 metric per criterion; fail listing every failed criterion with its remediation."""
    for name, ok, _, _ in checks:
        readiness.metric(name, 1.0 if ok else 0.0, threshold=1.0)
    failed = [(name, detail, fix) for name, ok, detail, fix in checks if not ok]
    if failed:
        listed = "; ".join(f"{name}: {detail}" for name, detail, _ in failed)
        readiness.fail(
            f"{len(failed)} of {len(checks)} {what} criteria failed: {listed}",
            remediation=" ".join(dict.fromkeys(fix for _, _, fix in failed)),
        )


def _reason(action: str) -> str:
    return f"readiness drill {uuid.uuid4().hex[:8]}: {action}"


@pytest.mark.readiness(
    id="drill.killswitch_activation",
    layer="drill",
    tier=1,
    title="Kill switch activates: BUYs stop, SELLs go, audited, alert within the limit",
    remediation="Fix the failed criteria named in the message in the bot's risk manager; the drill "
    "restores the switch afterwards.",
)
def test_killswitch_activation(
    readiness: CheckContext, kill_switch: KillSwitchGuard, telegram_record: TelegramEmulator | None
) -> None:
    readiness.require("audit_trail")
    settings = readiness.settings
    _require_inactive(readiness, kill_switch)
    mark = _mark(readiness)
    reason = _reason("kill-switch activation")
    started = time.monotonic()
    _switch(readiness, kill_switch, True, reason)
    active = kill_switch.wait_state(True)
    readiness.metric("activation_time", round(time.monotonic() - started, 3), "s", drill.SWITCH_TIMEOUT_S)
    buy, buy_reason = _trade(kill_switch, settings.symbol, "BUY")
    sell, sell_reason = _trade(kill_switch, settings.symbol, "SELL")

    limit = settings.telegram_max_s
    wait_s = limit + min(max(2.0, limit), 10.0)  # long enough to measure a slow alert, still bounded

    def ours(record: dict[str, Any]) -> bool:
        return record.get("event") == "kill_switch_activated" and record.get("reason", reason) == reason

    event, alert = drill.wait_for_alert(mark, ours, "kill_switch_activated", wait_s)
    latency = drill.alert_latency_s(alert, event) if alert is not None else None
    if latency is not None:
        readiness.metric("alert_latency", round(latency, 3), "s", limit)
    alert_ok = latency is not None and latency <= limit
    if alert is None:
        alert_detail = f"no alert_sent after kill_switch_activated within {wait_s:g} s (limit {limit:g} s)"
    elif latency is None:
        alert_detail = "alert_sent has neither latency_ms nor timestamps to measure it by"
    else:
        alert_detail = f"alert_sent after {latency:.2f} s, over the {limit:g} s limit"
    if telegram_record is not None:
        remaining = max(0.0, wait_s - (time.monotonic() - started))
        message = telegram_record.wait_for(lambda m: reason in m.text, remaining, since=started)
        if message is None:
            alert_ok = False
            alert_detail += "; the Telegram emulator received no alert naming the reason"
        else:
            delivered = message.received_monotonic - started
            readiness.metric("alert_latency_telegram", round(delivered, 3), "s", limit)
            if delivered > limit:
                alert_ok = False
                alert_detail = f"alert reached Telegram after {delivered:.2f} s, over the {limit:g} s limit"

    _report(
        readiness,
        [
            (
                "switch_active",
                active,
                f"kill_switch_active still false {drill.SWITCH_TIMEOUT_S:g} s after activate_kill_switch",
                "activate_kill_switch must set kill_switch_active at once.",
            ),
            (
                "alert_within_limit",
                alert_ok,
                alert_detail,
                "Send the kill-switch alert at once and record alert_sent (latency_ms) in the audit trail; "
                "check the Telegram path (integration.alert_path) and READINESS_TELEGRAM_MAX_S.",
            ),
            (
                "buy_rejected",
                buy is False,
                f"validate_trade({settings.symbol!r}, 'BUY', {TRADE_QUOTE_QTY:g}) "
                + (buy_reason if buy is None else f"was allowed while the switch was active ({buy_reason})"),
                "validate_trade must reject every BUY while the kill switch is active.",
            ),
            (
                "sell_allowed",
                sell is True,
                f"validate_trade({settings.symbol!r}, 'SELL', {TRADE_QUOTE_QTY:g}) "
                + (sell_reason if sell is None else f"was rejected ({sell_reason})"),
                "validate_trade must allow SELLs (they reduce exposure) while the kill switch is active.",
            ),
            (
                "audit_event",
                event is not None,
                f"no kill_switch_activated event with the drill's reason in {mark.path}",
                "Write a kill_switch_activated event (with its reason) to the audit trail on activation.",
            ),
        ],
        "activation",
    )


@pytest.mark.readiness(
    id="drill.killswitch_deactivation",
    layer="drill",
    tier=1,
    title=f"Kill switch deactivates: trading re-enabled within {REENABLE_LIMIT_MIN:g} minutes, audited",
    remediation="Fix the failed criteria named in the message in the bot's risk manager; the drill "
    "restores the switch afterwards.",
)
@pytest.mark.timeout(drill.REENABLE_LIMIT_S + 60)
def test_killswitch_deactivation(readiness: CheckContext, kill_switch: KillSwitchGuard) -> None:
    readiness.require("audit_trail")
    symbol = readiness.settings.symbol
    _require_inactive(readiness, kill_switch)
    _switch(readiness, kill_switch, True, _reason("kill switch on, to drill its deactivation"))
    if not kill_switch.wait_state(True):
        readiness.fail(
            f"the kill switch did not activate within {drill.SWITCH_TIMEOUT_S:g} s, so its deactivation "
            "could not be drilled (see drill.killswitch_activation)"
        )
    mark = _mark(readiness)
    reason = _reason("kill-switch deactivation")
    started = time.monotonic()
    _switch(readiness, kill_switch, False, reason)
    deadline = started + drill.REENABLE_LIMIT_S
    inactive, buy, buy_reason = False, None, ""
    while True:
        try:
            inactive = not kill_switch.manager.kill_switch_active
        except Exception as exc:
            readiness.fail(f"kill_switch_active raised {type(exc).__name__}: {exc}")
        buy, buy_reason = _trade(kill_switch, symbol, "BUY")
        if (inactive and buy is True) or time.monotonic() >= deadline:
            break
        time.sleep(drill.POLL_S)
    elapsed = time.monotonic() - started
    readiness.metric("reenable_time", round(elapsed, 3), "s", drill.REENABLE_LIMIT_S)

    def ours(record: dict[str, Any]) -> bool:
        return record.get("event") == "kill_switch_deactivated" and record.get("reason", reason) == reason

    event = drill.wait_for_event(mark, ours, drill.SWITCH_TIMEOUT_S)
    after = f"{drill.REENABLE_LIMIT_S:g} s after deactivate_kill_switch"
    _report(
        readiness,
        [
            (
                "switch_inactive",
                inactive,
                f"kill_switch_active still true {after}",
                "deactivate_kill_switch must clear kill_switch_active.",
            ),
            (
                "buy_allowed",
                buy is True,
                f"validate_trade({symbol!r}, 'BUY', {TRADE_QUOTE_QTY:g}) "
                + (buy_reason if buy is None else f"still rejected {after} ({buy_reason})"),
                "After deactivation validate_trade must allow a small BUY again.",
            ),
            (
                "audit_event",
                event is not None,
                f"no kill_switch_deactivated event with the drill's reason in {mark.path}",
                "Write a kill_switch_deactivated event (with its reason) to the audit trail.",
            ),
        ],
        "deactivation",
    )


@pytest.mark.readiness(
    id="drill.crash_recovery",
    layer="drill",
    tier=1,
    title="After SIGKILL and restart: positions, kill switch, audit trail and DB intact",
    remediation="Persist positions and the kill switch durably (write, fsync, rename), write each audit "
    "line in one append, and resume seq and chain from the last line on start.",
)
def test_crash_recovery(readiness: CheckContext, kill_switch: KillSwitchGuard) -> None:
    readiness.require("pid_file", "bot_command", "audit_trail", "positions_db")
    settings = readiness.settings
    pid_file, trail, db = settings.pid_file, settings.audit_trail, settings.positions_db
    assert pid_file is not None and trail is not None and db is not None and settings.bot_command
    # The switch is switched on before the kill (if off) so that a bot that forgets it shows.
    expected = True
    if not _found(readiness, kill_switch):
        _switch(readiness, kill_switch, True, _reason("kill switch on, so the crash drill can see it kept"))
        if not kill_switch.wait_state(True):
            readiness.fail(f"the kill switch did not activate within {drill.SWITCH_TIMEOUT_S:g} s")
    try:
        before = drill.positions(db, readiness.settings.bot)
        recovery = drill.crash_and_restart(
            pid_file, settings.bot_command, [drill.answers(kill_switch)], audit_trail=trail
        )
    except DrillError as exc:
        readiness.fail(str(exc))
    if recovery.recovery_s is not None:
        readiness.metric("recovery_time", round(recovery.recovery_s, 3), "s", drill.RESTART_TIMEOUT_S)
    if recovery.problem is not None:
        readiness.fail(
            f"killed pid {recovery.old_pid}, then: {recovery.problem}",
            remediation="Check READINESS_BOT_COMMAND starts the bot (run it by hand) and that the bot "
            "writes its PID file and answers its risk manager once up.",
        )

    try:
        after: list[drill.Position] | str = drill.positions(db, readiness.settings.bot)
    except DrillError as exc:
        after = str(exc)
    state: bool | str = f"kill_switch_active did not answer within {drill.SWITCH_TIMEOUT_S:g} s"
    deadline = time.monotonic() + drill.SWITCH_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            state = bool(kill_switch.reconnect().kill_switch_active)
            break
        except Exception as exc:
            state = f"kill_switch_active raised {type(exc).__name__}: {exc}"
            time.sleep(drill.POLL_S)
    try:
        audit = validate_file(trail, settings.bot.audit_config())
        audit_ok = audit.valid and not audit.torn_last_line
        audit_detail = audit.describe()
        if audit.torn_last_line:
            audit_detail += " (a torn last line: the SIGKILL interrupted a write of the audit trail)"
    except TrailUnreadable as exc:
        audit_ok, audit_detail = False, str(exc)
    try:
        integrity = drill.integrity_check(db)
    except DrillError as exc:
        integrity = [str(exc)]

    if isinstance(after, str):
        positions_detail = after
    else:
        lost = [p for p in before if p not in after]
        gained = [p for p in after if p not in before]
        positions_detail = f"before the crash {_rows(lost)} not after; after the restart {_rows(gained)} new"
    state_detail = (
        state
        if isinstance(state, str)
        else f"kill switch state lost: {_on(expected)} before the SIGKILL, {_on(state)} after the restart"
    )
    readiness.metric("positions", len(before))
    _report(
        readiness,
        [
            (
                "positions_identical",
                after == before,
                positions_detail,
                "Commit every position change in one transaction before acting on it.",
            ),
            (
                "kill_switch_recovered",
                state is expected,
                state_detail,
                "Persist the kill switch (write, fsync, rename) and read it back on start, before trading.",
            ),
            (
                "audit_intact",
                audit_ok,
                audit_detail,
                "Write each audit line with one append of the whole line; on start resume seq and chain "
                "from the last complete line.",
            ),
            (
                "db_integrity",
                integrity == ["ok"],
                f"PRAGMA integrity_check on {db}: {'; '.join(integrity[:3])}",
                "Run SQLite with journal_mode=WAL and synchronous=FULL; restore the DB from backup.",
            ),
        ],
        "crash-recovery",
    )


def _rows(found: list[drill.Position]) -> str:
    return ", ".join(f"{p.symbol} {p.qty:g} @ {p.avg_price} ({p.status})" for p in found) or "nothing"


def _on(active: bool) -> str:
    return "active" if active else "inactive"


@pytest.mark.readiness(
    id="drill.position_reconciliation",
    layer="drill",
    tier=1,
    title="Open positions in the DB match the exchange balances of their base assets",
    remediation="Find why the DB and the exchange disagree (missed fills, manual trades) and correct the "
    f"DB from the exchange's trade history; READINESS_RECONCILE_TOLERANCE (default "
    f"{drill.DEFAULT_TOLERANCE:g}, relative and absolute) only absorbs rounding.",
)
def test_position_reconciliation(readiness: CheckContext) -> None:
    settings = readiness.settings
    key = "binance_api_key" if settings.network == "mainnet" else "binance_testnet_api_key"
    secret = "binance_api_secret" if settings.network == "mainnet" else "binance_testnet_api_secret"
    readiness.require("positions_db", key, secret)
    assert settings.positions_db is not None
    try:
        tol = drill.tolerance()
        open_qty = drill.open_quantities(settings.positions_db, settings.bot)
        if not open_qty:
            readiness.metric("assets_reconciled", 0)
            return
        bases, balances = drill.exchange_holdings(settings, sorted(open_qty))
    except DrillError as exc:
        readiness.fail(str(exc))
    per_asset, discrepancies = drill.reconcile(open_qty, bases, balances, tol)
    readiness.metric("assets_reconciled", len(per_asset))
    readiness.metric("discrepancies", len(discrepancies), threshold=0)
    if discrepancies:
        listed = "; ".join(d.describe() for d in discrepancies)
        readiness.fail(
            f"{len(discrepancies)} of {len(per_asset)} asset(s) differ beyond tolerance {tol:g}: {listed}"
        )
