"""Drill layer: the disaster-recovery drill, automated. Runs only with ``--drill``.

Each drill leaves the bot as it found it: the kill switch is put back by the ``kill_switch``
fixture's teardown (also when the drill failed), and the crash drill restarts the bot it killed
and leaves the new process running. The bot is driven through its profile's kill switch; what it
recorded is read from its audit trail, or, for a bot that keeps none, from its log.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from readiness.audit import TrailUnreadable, validate_file
from readiness.context import CheckContext
from readiness.probes import drill, logs, process
from readiness.probes.drill import DrillError, KillSwitchGuard

if TYPE_CHECKING:
    from readiness.sandbox.telegram import TelegramEmulator

#: Quote quantity (USDT) of the trades the drills ask ``validate_trade`` about: small enough for
#: any sane risk limit, so only the kill switch can be the reason for a rejection.
TRADE_QUOTE_QTY = 10.0
REENABLE_LIMIT_MIN = drill.REENABLE_LIMIT_S / 60
#: How long a bot without an audit trail may take to log a switch change (it acts in its own loop).
LOGGED_WITHIN_S = 30.0


@pytest.fixture
def kill_switch(readiness: CheckContext) -> Iterator[KillSwitchGuard]:
    """The bot's kill switch; at teardown it is put back as the drill found it.

    Drills that use it hold the bot's drill lock, so they never overlap, even across xdist workers.
    """
    settings, profile = readiness.settings, readiness.profile
    readiness.require(*profile.kill_switch_settings)
    switch = profile.kill_switch(settings, drill=True)
    with drill.exclusive(drill.lock_key(settings)), drill.kill_switch_as_found(switch) as guard:
        yield guard


@pytest.fixture
def telegram_record(request: pytest.FixtureRequest, readiness: CheckContext) -> TelegramEmulator | None:
    """The sandbox's Telegram emulator (extra evidence of the alert from the sandbox's own bot, which
    has the reference bot's shape), or None elsewhere."""
    sandbox_bot = readiness.settings.target == "sandbox" and readiness.profile.name == "reference"
    if not sandbox_bot or hasattr(request.config, "workerinput"):
        return None
    emulator: TelegramEmulator = request.getfixturevalue("sandbox").telegram
    return emulator


def _found(readiness: CheckContext, guard: KillSwitchGuard) -> bool:
    try:
        return guard.remember()
    except Exception as exc:
        variables = readiness.variables(*readiness.profile.kill_switch_settings)
        readiness.fail(
            f"{guard.where}: {type(exc).__name__}: {exc}",
            remediation=f"Point {variables} at the bot; start the bot.",
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
        return drill.mark_audit(path, readiness.profile.names)
    except OSError as exc:
        readiness.fail(f"READINESS_AUDIT_TRAIL={path}: {exc.strerror or exc}")


def _switch(readiness: CheckContext, guard: KillSwitchGuard, active: bool, reason: str) -> None:
    verb = "activate_kill_switch" if active else "deactivate_kill_switch"
    try:
        guard.switch(active, reason)
    except Exception as exc:
        readiness.fail(f"{verb}({reason!r}) on {guard.where} raised {type(exc).__name__}: {exc}")


def _trade(guard: KillSwitchGuard, symbol: str, side: str) -> tuple[bool | None, str]:
    """The switch's answer to a small trade, or (None, why) when it raised."""
    try:
        return guard.kill_switch.trade_allowed(symbol, side, TRADE_QUOTE_QTY)
    except Exception as exc:
        return None, f"raised {type(exc).__name__}: {exc}"


def _log_line(readiness: CheckContext, pattern: re.Pattern[str] | None) -> tuple[int, re.Pattern[str]] | None:
    """For a bot without an audit trail: the log's end and the line its switch change writes, or
    None when its profile names no such line (the criterion is then left out, saying why)."""
    if pattern is None:
        readiness.note(
            f"{readiness.profile.no_audit_trail}, and its profile names no kill-switch log line: "
            "whether the change was recorded and alerted is not judged"
        )
        return None
    readiness.require("log_file")
    path = readiness.settings.log_file
    assert path is not None
    try:
        return logs.end_offset(path), pattern
    except OSError as exc:
        readiness.fail(f"READINESS_LOG_FILE={path}: {exc.strerror or exc}")


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
    settings, profile = readiness.settings, readiness.profile
    logged = _log_line(readiness, profile.names.log_kill_switch_on) if profile.no_audit_trail else None
    if not profile.no_audit_trail:
        readiness.require("audit_trail")
    _require_inactive(readiness, kill_switch)
    mark = None if profile.no_audit_trail else _mark(readiness)
    reason = _reason("kill-switch activation")
    started, started_wall = time.monotonic(), time.time()
    _switch(readiness, kill_switch, True, reason)
    active = kill_switch.wait_state(True)
    readiness.metric("activation_time", round(time.monotonic() - started, 3), "s", drill.SWITCH_TIMEOUT_S)
    buy, buy_reason = _trade(kill_switch, settings.symbol, "BUY")
    sell, sell_reason = _trade(kill_switch, settings.symbol, "SELL")

    limit = settings.telegram_max_s
    wait_s = limit + min(max(2.0, limit), 10.0)  # long enough to measure a slow alert, still bounded
    criteria = [
        (
            "switch_active",
            active,
            f"the kill switch ({kill_switch.where}) still off {drill.SWITCH_TIMEOUT_S:g} s after it was set",
            "Switching the kill switch on must take effect at once.",
        ),
        (
            "buy_rejected",
            buy is False,
            f"a BUY of {TRADE_QUOTE_QTY:g} {settings.quote_asset} {settings.symbol} "
            + (buy_reason if buy is None else f"was allowed while the switch was active ({buy_reason})"),
            "The bot must reject every BUY while the kill switch is active.",
        ),
        (
            "sell_allowed",
            sell is True,
            f"a SELL of {TRADE_QUOTE_QTY:g} {settings.quote_asset} {settings.symbol} "
            + (sell_reason if sell is None else f"was rejected ({sell_reason})"),
            "The bot must allow SELLs (they reduce exposure) while the kill switch is active.",
        ),
    ]
    if mark is not None:
        criteria += _audited_activation(readiness, mark, reason, wait_s, started, telegram_record)
    elif logged is not None:
        criteria += _logged(readiness, logged, started_wall, wait_s, "on")
    _report(readiness, criteria, "activation")


def _audited_activation(
    readiness: CheckContext,
    mark: drill.AuditMark,
    reason: str,
    wait_s: float,
    started: float,
    telegram_record: TelegramEmulator | None,
) -> list[tuple[str, bool, str, str]]:
    """The reference bot's record of the activation: its audit event, and its alert in time."""
    limit = readiness.settings.telegram_max_s

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
    return [
        (
            "alert_within_limit",
            alert_ok,
            alert_detail,
            "Send the kill-switch alert at once and record alert_sent (latency_ms) in the audit trail; "
            "check the Telegram path (integration.alert_path) and READINESS_TELEGRAM_MAX_S.",
        ),
        (
            "audit_event",
            event is not None,
            f"no kill_switch_activated event with the drill's reason in {mark.path}",
            "Write a kill_switch_activated event (with its reason) to the audit trail on activation.",
        ),
    ]


def _logged(
    readiness: CheckContext,
    logged: tuple[int, re.Pattern[str]],
    started_wall: float,
    wait_s: float,
    turned: str,
) -> list[tuple[str, bool, str, str]]:
    """A bot without an audit trail: the log line its switch change writes, and when. Such a bot
    (freqtrade) sends its notification as it logs the change, so that moment is the alert's."""
    path, limit = readiness.settings.log_file, readiness.settings.telegram_max_s
    assert path is not None
    mark, pattern = logged
    line = logs.wait_for_line(path, mark, pattern, wait_s)
    latency = None if line is None or line.at is None else max(0.0, line.at - started_wall)
    if latency is not None:
        readiness.metric("alert_latency", round(latency, 3), "s", limit)
    if line is None:
        alert_detail = f"no line matching {pattern.pattern!r} in {path} within {wait_s:g} s"
    elif latency is None:
        alert_detail = f"the line {line.text[:80]!r} has no timestamp to measure the alert by"
    else:
        alert_detail = (
            f"the change was logged (and notified) {latency:.2f} s later, over the {limit:g} s limit"
        )
    criteria = [
        (
            "change_logged",
            line is not None,
            f"no line matching {pattern.pattern!r} in {path} after the kill switch went {turned}",
            "Check READINESS_LOG_FILE is the file the bot logs to (freqtrade: --logfile).",
        )
    ]
    if turned == "on":
        criteria.append(
            (
                "alert_within_limit",
                latency is not None and latency <= limit,
                alert_detail,
                "The bot must notify the change at once; check its notification settings (freqtrade: "
                "telegram or webhook in config.json), integration.alert_path and READINESS_TELEGRAM_MAX_S.",
            )
        )
    return criteria


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
    settings, profile = readiness.settings, readiness.profile
    symbol = settings.symbol
    logged = _log_line(readiness, profile.names.log_kill_switch_off) if profile.no_audit_trail else None
    if not profile.no_audit_trail:
        readiness.require("audit_trail")
    _require_inactive(readiness, kill_switch)
    _switch(readiness, kill_switch, True, _reason("kill switch on, to drill its deactivation"))
    if not kill_switch.wait_state(True):
        readiness.fail(
            f"the kill switch did not activate within {drill.SWITCH_TIMEOUT_S:g} s, so its deactivation "
            "could not be drilled (see drill.killswitch_activation)"
        )
    mark = None if profile.no_audit_trail else _mark(readiness)
    if logged is not None and settings.log_file is not None:
        logged = (logs.end_offset(settings.log_file), logged[1])
    reason = _reason("kill-switch deactivation")
    started, started_wall = time.monotonic(), time.time()
    _switch(readiness, kill_switch, False, reason)
    deadline = started + drill.REENABLE_LIMIT_S
    inactive, buy, buy_reason = False, None, ""
    while True:
        try:
            inactive = not kill_switch.kill_switch.is_active()
        except Exception as exc:
            readiness.fail(f"the kill switch ({kill_switch.where}) raised {type(exc).__name__}: {exc}")
        buy, buy_reason = _trade(kill_switch, symbol, "BUY")
        if (inactive and buy is True) or time.monotonic() >= deadline:
            break
        time.sleep(drill.POLL_S)
    elapsed = time.monotonic() - started
    readiness.metric("reenable_time", round(elapsed, 3), "s", drill.REENABLE_LIMIT_S)
    after = f"{drill.REENABLE_LIMIT_S:g} s after switching it off"
    criteria = [
        (
            "switch_inactive",
            inactive,
            f"the kill switch ({kill_switch.where}) still on {after}",
            "Switching the kill switch off must clear it.",
        ),
        (
            "buy_allowed",
            buy is True,
            f"a BUY of {TRADE_QUOTE_QTY:g} {settings.quote_asset} {symbol} "
            + (buy_reason if buy is None else f"still rejected {after} ({buy_reason})"),
            "After deactivation the bot must allow a small BUY again.",
        ),
    ]
    if mark is not None:

        def ours(record: dict[str, Any]) -> bool:
            return record.get("event") == "kill_switch_deactivated" and record.get("reason", reason) == reason

        event = drill.wait_for_event(mark, ours, drill.SWITCH_TIMEOUT_S)
        criteria.append(
            (
                "audit_event",
                event is not None,
                f"no kill_switch_deactivated event with the drill's reason in {mark.path}",
                "Write a kill_switch_deactivated event (with its reason) to the audit trail.",
            )
        )
    elif logged is not None:
        criteria += _logged(readiness, logged, started_wall, LOGGED_WITHIN_S, "off")
    _report(readiness, criteria, "deactivation")


@pytest.mark.readiness(
    id="drill.crash_recovery",
    layer="drill",
    tier=1,
    title="After SIGKILL and restart: positions, kill switch, audit trail (if kept) and DB intact",
    remediation="Persist positions and the kill switch durably (write, fsync, rename), write each audit "
    "line in one append, and resume seq and chain from the last line on start.",
)
def test_crash_recovery(readiness: CheckContext, kill_switch: KillSwitchGuard) -> None:
    settings, profile = readiness.settings, readiness.profile
    names, audited = profile.names, not profile.no_audit_trail
    readiness.require("bot_command", "positions_db", *(("audit_trail",) if audited else ()))
    if process.locate(settings, names) is None:
        readiness.require(*process.settings_to_locate(names))
    trail, db = settings.audit_trail if audited else None, settings.positions_db
    assert db is not None and settings.bot_command

    def locate() -> process.PidSource:
        return process.locate(settings, names) or process.PidSource("the bot", problem="no PID source")

    # The switch is switched on before the kill (if off) so that a bot that forgets it shows.
    if not _found(readiness, kill_switch):
        _switch(readiness, kill_switch, True, _reason("kill switch on, so the crash drill can see it kept"))
        if not kill_switch.wait_state(True):
            readiness.fail(f"the kill switch did not activate within {drill.SWITCH_TIMEOUT_S:g} s")
    restart = profile.restart_state(settings)
    expected = True if restart is None else restart[0]
    try:
        before = drill.positions(db, names)
        recovery = drill.crash_and_restart(
            locate, settings.bot_command, [drill.answers(kill_switch)], audit_trail=trail
        )
    except DrillError as exc:
        readiness.fail(str(exc))
    if recovery.recovery_s is not None:
        readiness.metric("recovery_time", round(recovery.recovery_s, 3), "s", drill.RESTART_TIMEOUT_S)
    if recovery.problem is not None:
        readiness.fail(
            f"killed pid {recovery.old_pid}, then: {recovery.problem}",
            remediation="Check READINESS_BOT_COMMAND starts the bot (run it by hand) and that the bot "
            "writes its PID (PID file or heartbeat line) and answers its kill switch once up.",
        )

    try:
        after: list[drill.Position] | str = drill.positions(db, names)
    except DrillError as exc:
        after = str(exc)
    state: bool | str = f"the kill switch did not answer within {drill.SWITCH_TIMEOUT_S:g} s"
    deadline = time.monotonic() + drill.SWITCH_TIMEOUT_S
    while time.monotonic() < deadline:
        kill_switch.kill_switch.close()
        try:
            state = kill_switch.kill_switch.is_active()
            break
        except Exception as exc:
            state = f"the kill switch ({kill_switch.where}) raised {type(exc).__name__}: {exc}"
            time.sleep(drill.POLL_S)
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
    if restart is not None:
        readiness.note(restart[1])
    if isinstance(state, str):
        state_detail = state
    elif restart is None:
        state_detail = (
            f"kill switch state lost: {_on(expected)} before the SIGKILL, {_on(state)} after the restart"
        )
    else:
        state_detail = f"kill switch {_on(state)} after the restart, where {restart[1]}"
    readiness.metric("positions", len(before))
    criteria = [
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
            "db_integrity",
            integrity == ["ok"],
            f"PRAGMA integrity_check on {db}: {'; '.join(integrity[:3])}",
            "Run SQLite with journal_mode=WAL and synchronous=FULL; restore the DB from backup.",
        ),
    ]
    if trail is not None:
        criteria.insert(2, _audit_intact(readiness, trail))
    _report(readiness, criteria, "crash-recovery")


def _audit_intact(readiness: CheckContext, trail: Path) -> tuple[str, bool, str, str]:
    try:
        audit = validate_file(trail, readiness.profile.names.audit_config())
        audit_ok = audit.valid and not audit.torn_last_line
        audit_detail = audit.describe()
        if audit.torn_last_line:
            audit_detail += " (a torn last line: the SIGKILL interrupted a write of the audit trail)"
    except TrailUnreadable as exc:
        audit_ok, audit_detail = False, str(exc)
    return (
        "audit_intact",
        audit_ok,
        audit_detail,
        "Write each audit line with one append of the whole line; on start resume seq and chain "
        "from the last complete line.",
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
        simulated = readiness.profile.simulated(settings)
    except Exception as exc:
        readiness.fail(f"could not tell whether the bot trades for real: {type(exc).__name__}: {exc}")
    if simulated:
        readiness.not_applicable(f"{simulated}: there is nothing on the exchange to reconcile them with")
    try:
        tol = drill.tolerance()
        open_qty = drill.open_quantities(settings.positions_db, readiness.profile.names)
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
