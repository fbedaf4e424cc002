"""Deployment layer: the deployed bot is running, quiet in its log, active in its trail, leaking nothing.

Thresholds are module constants (named in each check's title and remediation). Log checks look at
the last 15 minutes by line timestamps, trail checks at the last hour by event timestamps; both
read their files from the end, read-only.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

import pytest

from readiness.context import CheckContext
from readiness.probes import logs, process, trail
from readiness.redact import MIN_SECRET_LENGTH
from readiness.settings import DEFINITIONS
from readiness.state import state_key

#: Log window: CRITICAL and ERROR records of the last 15 minutes.
LOG_LOOKBACK_S = 15 * 60.0
#: ERROR records per minute, averaged over the log window (so at most 15 in 15 minutes).
MAX_ERRORS_PER_MIN = 1.0
#: The trail's newest event may be this old: a live bot records heartbeats or trades more often.
MAX_TRAIL_AGE_S = 5 * 60.0
#: Trail window of the ops.* figures.
OPS_LOOKBACK_S = 60 * 60.0
MAX_WS_RECONNECTS_PER_HOUR = 5
MAX_CIRCUIT_BREAKER_TRIPS = 0
MAX_API_P95_MS = 1000.0
#: RSS above this share of READINESS_MAX_RSS_MB passes with a warning.
RSS_WARN_SHARE = 0.8
#: Line numbers quoted per finding (the most recent ones).
SHOW_LINES = 3


def _lines(path: Path, shown: Iterable[int], total: int) -> str:
    """``path:line`` for each line shown, then how many more the count holds."""
    shown = list(shown)
    text = ", ".join(f"{path}:{n}" for n in shown)
    return text + (f" and {total - len(shown)} more" if total > len(shown) else "")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min"


# -- the process -------------------------------------------------------------------------------


def _process(readiness: CheckContext) -> process.ProcessState:
    """The bot's process, from its PID file or (a profile with a heartbeat line) its log."""
    names = readiness.profile.names
    source = process.locate(readiness.settings, names)
    if source is None:
        readiness.require(*process.settings_to_locate(names))
    assert source is not None
    return process.inspect(source)


@pytest.mark.readiness(
    id="deploy.process_running",
    layer="deployment",
    tier=1,
    title="The bot's process (from its PID file or its heartbeat line) is alive and not a zombie",
    remediation="Start the bot (or find out from its log why it died) and check that READINESS_PID_FILE "
    "is the file it writes its PID to (or, for a bot that logs its PID, that READINESS_LOG_FILE is its log).",
)
def test_process_running(readiness: CheckContext) -> None:
    state = _process(readiness)
    if state.problem:
        readiness.fail(state.problem)
    if state.uptime_s is not None:
        readiness.metric("uptime", round(state.uptime_s, 1), unit="s")


@pytest.mark.readiness(
    id="deploy.process_memory",
    layer="deployment",
    tier=2,
    depends=("deploy.process_running",),
    title="The bot's RSS is within READINESS_MAX_RSS_MB (warns above 80 %)",
    remediation="Find what grows in the bot (caches, order-book history, leaks) and restart it, or raise "
    "READINESS_MAX_RSS_MB if the host has room.",
)
def test_process_memory(readiness: CheckContext) -> None:
    state = _process(readiness)
    if state.problem:
        readiness.fail(state.problem)
    limit = readiness.settings.max_rss_mb
    if state.rss_mb is None:
        readiness.fail(
            f"pid {state.pid}: {state.rss_problem}",
            remediation="Run the harness as the bot's user (or root) so it can read the bot's memory.",
        )
    readiness.metric("rss", round(state.rss_mb, 1), unit="MB", threshold=limit)
    if state.rss_mb > limit:
        readiness.fail(
            f"pid {state.pid} ({state.name}) uses {state.rss_mb:.0f} MB RSS, above "
            f"READINESS_MAX_RSS_MB={limit:g}"
        )
    if state.rss_mb > RSS_WARN_SHARE * limit:
        readiness.warn(f"pid {state.pid} uses {state.rss_mb:.0f} MB RSS, over 80 % of its {limit:g} MB limit")


# -- the log -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def log_scan(pytestconfig: pytest.Config) -> logs.LogScan | None:
    """The log's last window, scanned once for both log checks."""
    state = pytestconfig.stash[state_key]
    names = state.profile.names
    if state.settings.log_file is None:
        return None
    return logs.scan_log(
        state.settings.log_file,
        lookback_s=LOG_LOOKBACK_S,
        critical_levels=names.log_critical_levels,
        error_levels=names.log_error_levels,
        critical_messages=names.log_critical_messages,
    )


def _log_scan(readiness: CheckContext, scan: logs.LogScan | None) -> logs.LogScan:
    readiness.require("log_file")
    assert scan is not None
    if scan.problem:
        readiness.fail(
            scan.problem,
            remediation="Point READINESS_LOG_FILE at the bot's plain-text log (the file its logging "
            "handler writes); the harness's user must be able to read it.",
        )
    return scan


@pytest.mark.readiness(
    id="deploy.no_critical_logs",
    layer="deployment",
    tier=1,
    title="No CRITICAL (or FATAL) log records in the last 15 minutes",
    remediation="Read the CRITICAL records at the lines named, fix their cause and restart the bot; "
    "the check passes once none is younger than 15 minutes.",
)
def test_no_critical_logs(readiness: CheckContext, log_scan: logs.LogScan | None) -> None:
    scan = _log_scan(readiness, log_scan)
    readiness.metric("critical_records", scan.critical, threshold=0)
    if scan.critical:
        where = "" if scan.dated else " (no timestamps recognised: the whole log was read)"
        readiness.fail(
            f"{scan.critical} {_critical(readiness)} record(s) in the last "
            f"{_minutes(LOG_LOOKBACK_S)} of the log{where}: "
            + _lines(scan.path, scan.critical_lines[-SHOW_LINES:], scan.critical)
        )
    if not scan.dated and scan.records:
        readiness.warn(f"no line timestamps recognised in {scan.path}: the whole log was read")


@pytest.mark.readiness(
    id="deploy.error_rate",
    layer="deployment",
    tier=2,
    title="At most 1 ERROR log record per minute over the last 15 minutes (CRITICAL not counted)",
    remediation="Read the ERROR records at the lines named and fix the most frequent cause (exchange "
    "or Telegram failures, bad data); more than 15 errors in 15 minutes is a bot in trouble.",
)
def test_error_rate(readiness: CheckContext, log_scan: logs.LogScan | None) -> None:
    scan = _log_scan(readiness, log_scan)
    rate = scan.errors_per_minute
    readiness.metric("error_rate", round(rate, 3), unit="/min", threshold=MAX_ERRORS_PER_MIN)
    readiness.metric("error_records", scan.errors)
    if rate > MAX_ERRORS_PER_MIN:
        readiness.fail(
            f"{scan.errors} ERROR records in the last {_minutes(LOG_LOOKBACK_S)} of the log "
            f"({rate:.1f}/min, limit {MAX_ERRORS_PER_MIN:g}/min), the latest at "
            + _lines(scan.path, scan.error_lines[-SHOW_LINES:], scan.errors)
        )


# -- secrets -----------------------------------------------------------------------------------


def _critical(readiness: CheckContext) -> str:
    """What counts as critical, for the message: the levels, and the profile's fatal messages."""
    names = readiness.profile.names
    levels = "/".join(names.log_critical_levels)
    return f"{levels} or fatal-message" if names.log_critical_messages else levels


def _secret_values(readiness: CheckContext) -> dict[str, str]:
    """{value or its URL-encoded form: the variable it came from}, for each configured secret."""
    values: dict[str, str] = {}
    for definition in DEFINITIONS:
        value = getattr(readiness.settings, definition.name)
        if definition.kind != "secret" or not value or len(value) < MIN_SECRET_LENGTH:
            continue
        for form in (value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)):
            values.setdefault(form, definition.env)
    return values


@pytest.mark.readiness(
    id="security.secrets_not_in_logs",
    layer="deployment",
    tier=1,
    title="No credential or Telegram token appears in the bot's log or audit trail",
    remediation="Rotate every credential named (Telegram: /revoke with @BotFather; Binance: delete and "
    "recreate the key), make the bot redact secrets before it logs, and purge or lock down the "
    "files at the lines named.",
)
def test_secrets_not_in_logs(readiness: CheckContext) -> None:
    settings = readiness.settings
    files = ((settings.log_file, "log file"), (settings.audit_trail, "audit trail"))
    configured = [(path, what) for path, what in files if path is not None]
    if not configured:
        readiness.require("log_file", "audit_trail")
    secrets = _secret_values(readiness)
    found: list[str] = []
    problems: list[str] = []
    scanned = 0
    for path, what in configured:
        assert path is not None
        scan = logs.scan_secrets(path, secrets, what=what)
        scanned += scan.bytes_scanned
        if scan.problem:
            problems.append(scan.problem)
        found += [f"{f.label} at {_lines(f.path, f.lines[:SHOW_LINES], f.count)}" for f in scan.findings]
    readiness.metric("bytes_scanned", scanned, unit="B")
    readiness.metric("secrets_searched", len(set(secrets.values())))
    if found:
        readiness.fail("secret values found (shown by location only): " + "; ".join(found))
    if problems:
        readiness.fail(
            "could not scan for secrets: " + "; ".join(problems),
            remediation="Point READINESS_LOG_FILE and READINESS_AUDIT_TRAIL at the bot's files; the "
            "harness's user must be able to read them.",
        )


# -- the audit trail ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def trail_figures(pytestconfig: pytest.Config) -> trail.TrailFigures | None:
    """The trail's last hour, read once for the four checks that count in it."""
    state = pytestconfig.stash[state_key]
    if state.settings.audit_trail is None or state.profile.no_audit_trail:
        return None
    return trail.read_trail(state.settings.audit_trail, lookback_s=OPS_LOOKBACK_S, names=state.profile.names)


def _trail(readiness: CheckContext, figures: trail.TrailFigures | None) -> trail.TrailFigures:
    readiness.require_audit_trail()
    assert figures is not None
    if figures.problem:
        readiness.fail(
            figures.problem,
            remediation="Point READINESS_AUDIT_TRAIL at the bot's audit trail; the harness's user must be "
            "able to read it.",
        )
    return figures


@pytest.mark.readiness(
    id="deploy.recent_activity",
    layer="deployment",
    tier=2,
    title="The bot's newest sign of life (audit event, or heartbeat line) is at most 5 minutes old",
    remediation="The bot records nothing: check that it is not hung (stack dump, CPU), that it still "
    "writes to READINESS_AUDIT_TRAIL or READINESS_LOG_FILE (not to a rotated or deleted file), and "
    "restart it.",
)
def test_recent_activity(readiness: CheckContext, trail_figures: trail.TrailFigures | None) -> None:
    heartbeat = readiness.profile.names.log_heartbeat
    if readiness.profile.no_audit_trail and heartbeat is not None:
        readiness.require("log_file")
        assert readiness.settings.log_file is not None
        beat = logs.newest_heartbeat(readiness.settings.log_file, heartbeat)
        if beat.problem or beat.at is None:
            readiness.fail(beat.problem or f"{beat.where()} has no timestamp to date it by")
        age, what, newest = time.time() - beat.at, beat.where(), beat.at
    else:
        figures = _trail(readiness, trail_figures)
        age = figures.age_s()
        if age is None:
            if figures.lines == 0:
                readiness.fail(f"audit trail {figures.path} is empty: the bot has recorded no events")
            readiness.fail(
                f"audit trail {figures.path}: none of its {figures.lines} lines holds a JSON event with a "
                "timestamp (see audit.jsonl_valid)"
            )
        what, newest = f"the newest event in audit trail {figures.path}", figures.newest or 0.0
    readiness.metric("last_event_age", round(max(age, 0.0), 1), unit="s", threshold=MAX_TRAIL_AGE_S)
    if age > MAX_TRAIL_AGE_S:
        stamp = dt.datetime.fromtimestamp(newest, dt.UTC).isoformat(timespec="seconds")
        readiness.fail(f"{what} is {age / 60:.1f} min old ({stamp}); limit {_minutes(MAX_TRAIL_AGE_S)}")
    if age < -60:
        readiness.warn(f"{what} lies {-age:.0f} s in the future: check the clocks")


@pytest.mark.readiness(
    id="ops.ws_reconnects",
    layer="deployment",
    tier=2,
    title="At most 5 websocket reconnects (ws_reconnect events) in the last hour",
    remediation="Check the network path to the exchange's websocket (packet loss, proxies, idle "
    "timeouts) and that the bot answers pings; more than 5 reconnects an hour means gaps in market data.",
)
def test_ws_reconnects(readiness: CheckContext, trail_figures: trail.TrailFigures | None) -> None:
    figures = _trail(readiness, trail_figures)
    count = figures.count("ws_reconnect")
    readiness.metric("ws_reconnects", count, unit="/h", threshold=MAX_WS_RECONNECTS_PER_HOUR)
    if count > MAX_WS_RECONNECTS_PER_HOUR:
        readiness.fail(
            f"{count} ws_reconnect events in the last {_minutes(OPS_LOOKBACK_S)} of audit trail "
            f"{figures.path} (limit {MAX_WS_RECONNECTS_PER_HOUR})"
        )


@pytest.mark.readiness(
    id="ops.circuit_breaker_trips",
    layer="deployment",
    tier=2,
    title="No circuit breaker opened (circuit_breaker_open events) in the last hour",
    remediation="Find what failed behind the breaker (the error and api_call events before each "
    "circuit_breaker_open, the exchange's status page); while a breaker is open the bot does not trade.",
)
def test_circuit_breaker_trips(readiness: CheckContext, trail_figures: trail.TrailFigures | None) -> None:
    figures = _trail(readiness, trail_figures)
    count = figures.count("circuit_breaker_open")
    readiness.metric("circuit_breaker_trips", count, threshold=MAX_CIRCUIT_BREAKER_TRIPS)
    if count > MAX_CIRCUIT_BREAKER_TRIPS:
        readiness.fail(
            f"{count} circuit_breaker_open events in the last {_minutes(OPS_LOOKBACK_S)} of audit trail "
            f"{figures.path} (limit {MAX_CIRCUIT_BREAKER_TRIPS})"
        )


@pytest.mark.readiness(
    id="ops.api_latency_p95",
    layer="deployment",
    tier=2,
    title="Exchange API latency p95 (api_call latency_ms, last hour) at most 1000 ms",
    remediation="Run the bot closer to the exchange (region, network), check host load and the "
    "exchange's status; a p95 above 1000 ms makes orders miss their prices.",
)
def test_api_latency_p95(readiness: CheckContext, trail_figures: trail.TrailFigures | None) -> None:
    figures = _trail(readiness, trail_figures)
    p95 = figures.latency_p95_ms
    readiness.metric("api_calls", len(figures.latencies_ms))
    if p95 is None:
        pytest.skip(
            f"not verified: no api_call events with latency_ms in the last {_minutes(OPS_LOOKBACK_S)} of "
            f"audit trail {figures.path}"
        )
    readiness.metric("api_latency_p95", round(p95, 1), unit="ms", threshold=MAX_API_P95_MS)
    if p95 > MAX_API_P95_MS:
        readiness.fail(
            f"api_call latency p95 is {p95:.0f} ms over {len(figures.latencies_ms)} calls in the last "
            f"{_minutes(OPS_LOOKBACK_S)} of audit trail {figures.path} (limit {MAX_API_P95_MS:g} ms)"
        )
