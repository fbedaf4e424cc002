"""The ``[bot]`` table: every name the reference profile reads can be renamed, and a bad entry is
an error naming its key; the positions and risk checks then read the bot by its own names."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from readiness.profiles.names import BotNames, BotNamesError, parse_bot_table
from readiness.settings import SettingsError, load_settings

from .helpers import check_entry, outcomes, run_catalogue

RENAMES: list[tuple[str, Any, str, Any]] = [
    ("positions_table", "trades", "positions_table", "trades"),
    ("positions_columns", {"qty": "amount"}, "positions_columns", {"qty": "amount"}),
    ("open_status", "OPEN", "open_status", "OPEN"),
    (
        "audit_fields",
        {"timestamp": "ts", "hash": "prev"},
        "audit_fields",
        {"timestamp": "ts", "hash": "prev"},
    ),
    ("audit_events", {"error": "failure"}, "audit_events", {"error": "failure"}),
    ("risk_keys", {"max_position_usdt": "max_stake"}, "risk_keys", {"max_position_usdt": "max_stake"}),
    ("log_critical_levels", ["fatal", "CRITICAL"], "log_critical_levels", ("FATAL", "CRITICAL")),
    ("log_error_levels", ["ERROR"], "log_error_levels", ("ERROR",)),
    ("log_critical_messages", ["Fatal"], "log_critical_messages", (re.compile("Fatal"),)),
    ("log_heartbeat", r"alive pid=(?P<pid>\d+)", "log_heartbeat", re.compile(r"alive pid=(?P<pid>\d+)")),
    ("log_kill_switch_on", "paused", "log_kill_switch_on", re.compile("paused")),
    ("log_kill_switch_off", "resumed", "log_kill_switch_off", re.compile("resumed")),
]


@pytest.mark.parametrize(("key", "raw", "attribute", "expected"), RENAMES, ids=[r[0] for r in RENAMES])
def test_each_name_can_be_renamed_and_the_rest_keep_their_defaults(
    key: str, raw: Any, attribute: str, expected: Any
) -> None:
    names = parse_bot_table({key: raw}, "readiness.toml")
    value = getattr(names, attribute)
    if isinstance(expected, dict):
        assert {name: value[name] for name in expected} == expected
        assert {n: v for n, v in value.items() if n not in expected} == {
            n: v for n, v in getattr(BotNames(), attribute).items() if n not in expected
        }
    else:
        assert value == expected
    untouched = [f for f in RENAMES if f[2] != attribute]
    assert all(getattr(names, f[2]) == getattr(BotNames(), f[2]) for f in untouched)


def test_the_default_select_reads_the_renamed_table_and_columns() -> None:
    names = parse_bot_table({"positions_table": "trades", "positions_columns": {"symbol": "pair"}}, "f")
    assert names.positions_select() == "SELECT pair, qty, avg_price, status FROM trades"
    query = "SELECT pair, amount, open_rate, 'open' FROM trades WHERE is_open = 1"
    assert parse_bot_table({"positions_query": query}, "f").positions_select() == query


BAD: list[tuple[dict[str, Any], str]] = [
    ({"tables": "x"}, "f: [bot] tables: unknown name; known: audit_events, "),
    ({"positions_table": "trades; DROP TABLE x"}, "f: [bot] positions_table: must be a plain SQL name"),
    ({"positions_table": ""}, "f: [bot] positions_table: must be a non-empty string, got ''"),
    ({"positions_columns": "qty"}, "f: [bot] positions_columns: must be a table such as { symbol = "),
    ({"positions_columns": {"amount": "qty"}}, "f: [bot] positions_columns: unknown amount; known: symbol, "),
    ({"positions_columns": {"qty": "a b"}}, "f: [bot] positions_columns.qty: must be a plain SQL name"),
    (
        {"audit_fields": {"timestamp": 3}},
        "f: [bot] audit_fields.timestamp: must be a non-empty string, got 3",
    ),
    ({"risk_keys": {"max_stake": "x"}}, "f: [bot] risk_keys: unknown max_stake; known: max_position_usdt, "),
    (
        {"audit_events": {"error": "api_call"}},
        "f: [bot] audit_events: 'api_call' would name two things at once",
    ),
    ({"log_error_levels": "ERROR"}, "f: [bot] log_error_levels: must be a non-empty list of level names"),
    ({"log_error_levels": []}, "f: [bot] log_error_levels: must be a non-empty list of level names"),
    ({"positions_query": "DELETE FROM positions"}, "f: [bot] positions_query: must be one SELECT statement"),
    (
        {"log_critical_messages": "Fatal"},
        "f: [bot] log_critical_messages: must be a non-empty list of regular",
    ),
    ({"log_critical_messages": ["ok", "("]}, "f: [bot] log_critical_messages[1]: not a regular expression ("),
    (
        {"log_heartbeat": "beat (?P<id>\\d+)"},
        "f: [bot] log_heartbeat: its only named group may be (?P<pid>...)",
    ),
    ({"log_kill_switch_on": ""}, "f: [bot] log_kill_switch_on: must be a non-empty string, got ''"),
    ({"log_kill_switch_off": "[x"}, "f: [bot] log_kill_switch_off: not a regular expression ("),
    ({"positions_query": "SELECT 1; SELECT 2"}, "f: [bot] positions_query: must be one SELECT statement"),
    (
        {"positions_query": "SELECT 1", "positions_table": "t"},
        "f: [bot] positions_query replaces positions_table and positions_columns; give one",
    ),
]


@pytest.mark.parametrize(
    ("table", "message"), BAD, ids=[next(iter(t)) + str(i) for i, (t, _) in enumerate(BAD)]
)
def test_a_bad_entry_is_an_error_naming_its_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(BotNamesError) as caught:
        parse_bot_table(table, "f")
    assert str(caught.value).startswith(message), str(caught.value)


def _settings(tmp_path: Path, environ: dict[str, str] | None = None) -> Any:
    return load_settings(rootdir=tmp_path, invocation_dir=tmp_path, environ=environ or {})[0]


def test_the_config_file_and_pyproject_carry_the_bot_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.readiness.bot]\npositions_table = "trades"\n')
    assert _settings(tmp_path).bot.positions_table == "trades"
    (tmp_path / "readiness.toml").write_text('[bot]\nrisk_keys = { cooldown_minutes = "cooldown" }\n')
    settings = _settings(tmp_path)
    assert (
        settings.bot.risk_keys["cooldown_minutes"] == "cooldown"
        and settings.bot.positions_table == "positions"
    )
    assert settings.sources["bot"] == str(tmp_path / "readiness.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('bot = "trades"\n', "readiness.toml: 'bot' must be a table ([bot]), got 'trades'"),
        ("[bot]\nopen_status = 1\n", "readiness.toml: [bot] open_status: must be a non-empty string, got 1"),
    ],
)
def test_a_bad_bot_table_is_a_settings_error_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "readiness.toml").write_text(text)
    with pytest.raises(SettingsError) as caught:
        _settings(tmp_path)
    assert str(caught.value) == f"{tmp_path}/{message}"


@pytest.mark.parametrize("profile", ["reference", "freqtrade", "mybot.profile:make"])
def test_the_bot_profile_setting_takes_the_built_in_names_or_a_factory(tmp_path: Path, profile: str) -> None:
    assert _settings(tmp_path, {"READINESS_BOT_PROFILE": profile}).bot_profile == profile


def test_an_unknown_bot_profile_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        _settings(tmp_path, {"READINESS_BOT_PROFILE": "hummingbot"})
    assert str(caught.value) == (
        "environment variable READINESS_BOT_PROFILE: setting 'bot_profile' must be 'reference' or "
        "'freqtrade', or look like 'package.module:callable', got 'hummingbot'"
    )


# -- the checks read the bot by its own names ---------------------------------------------------

POSITION_CHECKS = ("positions.db_healthy", "positions.values_sane", "risk.config_valid")
RISK = {
    "max_stake": 30000,
    "max_daily_loss_usdt": 1000,
    "max_loss_per_trade_usdt": 250,
    "max_open_positions": 5,
    "cooldown_minutes": 15,
}


def _renamed_bot(folder: Path) -> dict[str, str]:
    """A bot whose positions are ``trades(pair, amount, ...)`` with ``OPEN`` rows and whose risk
    config calls the position limit ``max_stake``."""
    db = folder / "trades.db"
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute(
            "CREATE TABLE trades(pair TEXT, amount REAL, avg_price REAL, status TEXT, opened_at, updated_at)"
        )
        conn.execute("INSERT INTO trades VALUES ('BTCUSDT', 0.5, 50000.0, 'OPEN', 'x', 'x')")
    risk = folder / "risk.toml"
    risk.write_text("".join(f"{key} = {value}\n" for key, value in RISK.items()))
    return {"READINESS_POSITIONS_DB": str(db), "READINESS_RISK_CONFIG": str(risk)}


def _run(tmp_path: Path, env: dict[str, str], config: str) -> dict[str, Any]:
    tmp_path.mkdir()
    (tmp_path / "readiness.toml").write_text(config)
    env = {**env, "READINESS_CONFIG": str(tmp_path / "readiness.toml")}
    return run_catalogue(tmp_path, "-k", "db_healthy or values_sane or config_valid", env=env)


RENAMED = """
[bot]
positions_table = "trades"
positions_columns = { symbol = "pair", qty = "amount" }
open_status = "OPEN"
risk_keys = { max_position_usdt = "max_stake" }
"""


def test_renamed_positions_and_risk_keys_pass_and_the_defaults_fail_naming_them(tmp_path: Path) -> None:
    env = _renamed_bot(tmp_path)
    report = _run(tmp_path / "renamed", env, RENAMED)
    assert {cid: outcomes(report)[cid] for cid in POSITION_CHECKS} == dict.fromkeys(POSITION_CHECKS, "passed")
    assert check_entry(report, "positions.values_sane")["metrics"]

    plain = _run(tmp_path / "plain", env, "")
    assert {cid: outcomes(plain)[cid] for cid in POSITION_CHECKS} == {
        "positions.db_healthy": "failed",
        "positions.values_sane": "blocked",
        "risk.config_valid": "failed",
    }
    db_healthy = check_entry(plain, "positions.db_healthy")
    assert "has no table 'positions' (its tables: trades)" in db_healthy["message"]
    assert "[bot] table (positions_table, positions_columns)" in db_healthy["remediation"]
    assert "max_position_usdt is missing" in check_entry(plain, "risk.config_valid")["message"]


def test_a_positions_query_reads_any_shape_and_a_wrong_one_fails_naming_it(tmp_path: Path) -> None:
    env = _renamed_bot(tmp_path)
    query = "SELECT pair, amount, avg_price, lower(status) FROM trades"
    report = _run(tmp_path / "query", env, f'[bot]\npositions_query = "{query}"\n')
    assert outcomes(report)["positions.db_healthy"] == "passed"
    assert outcomes(report)["positions.values_sane"] == "passed"

    wrong = _run(tmp_path / "wrong", env, '[bot]\npositions_query = "SELECT pair, amount FROM trades"\n')
    entry = check_entry(wrong, "positions.db_healthy")
    assert entry["outcome"] == "failed"
    assert (
        "[bot] positions_query gives 2 column(s); it must give symbol, qty, avg_price, status"
        in entry["message"]
    )


def test_renamed_log_levels_decide_what_counts_as_critical(tmp_path: Path) -> None:
    """A bot that logs its fatal errors at ERROR, or at a level of its own, is judged by its names."""
    log = tmp_path / "bot.log"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
    log.write_text(
        f"{stamp} - bot - INFO - heartbeat\n"
        f"{stamp} - bot - ERROR - Fatal exception!\n"
        f"{stamp} - bot - ALERT - exchange unreachable, trading stopped\n"
    )
    env = {"READINESS_LOG_FILE": str(log)}
    selection = ("-k", "no_critical_logs or error_rate")

    def run(name: str, config: str) -> dict[str, Any]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "readiness.toml").write_text(config)
        return run_catalogue(
            folder, *selection, env={**env, "READINESS_CONFIG": str(folder / "readiness.toml")}
        )

    plain = run("plain", "")
    assert outcomes(plain)["deploy.no_critical_logs"] == "passed"
    assert check_entry(plain, "deploy.error_rate")["metrics"]
    fatal_errors = run("errors", '[bot]\nlog_critical_levels = ["ERROR"]\nlog_error_levels = ["WARNING"]\n')
    entry = check_entry(fatal_errors, "deploy.no_critical_logs")
    assert entry["outcome"] == "failed" and entry["message"].startswith(
        "1 ERROR record(s) in the last 15 min"
    )
    assert entry["message"].endswith(f"{log}:2"), entry["message"]
    own_level = run("alert", '[bot]\nlog_critical_levels = ["alert"]\n')
    entry = check_entry(own_level, "deploy.no_critical_logs")
    assert entry["outcome"] == "failed" and entry["message"].startswith(
        "1 ALERT record(s) in the last 15 min"
    )
    assert entry["message"].endswith(f"{log}:3"), entry["message"]


def _chained(records: list[dict[str, Any]], hash_field: str) -> bytes:
    """JSONL whose ``hash_field`` chains each line to the one before, as the audit contract says."""
    out, previous = b"", "0" * 64
    for record in records:
        line = json.dumps({**record, hash_field: previous}).encode()
        out += line + b"\n"
        previous = hashlib.sha256(line).hexdigest()
    return out


def test_renamed_audit_fields_and_events_are_judged_like_the_reference_bot(tmp_path: Path) -> None:
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(
        _chained(
            [
                {"ts": now, "type": "bot_started", "n": 1},
                {"ts": now, "type": "api_request", "n": 2, "latency_ms": 5000.0},
            ],
            "prev",
        )
    )
    env = {"READINESS_AUDIT_TRAIL": str(trail)}
    renamed = """
[bot]
audit_fields = { timestamp = "ts", event = "type", seq = "n", hash = "prev" }
audit_events = { api_call = "api_request" }
"""

    def run(name: str, config: str) -> dict[str, Any]:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "readiness.toml").write_text(config)
        config_env = {**env, "READINESS_CONFIG": str(folder / "readiness.toml")}
        return run_catalogue(folder, "-k", "audit or api_latency", env=config_env)

    report = run("renamed", renamed)
    audit = {cid: o for cid, o in outcomes(report).items() if cid.startswith("audit.")}
    assert audit and set(audit.values()) == {"passed"}, audit
    latency = check_entry(report, "ops.api_latency_p95")
    assert latency["outcome"] == "failed" and "5000" in latency["message"], latency["message"]

    plain = run("plain", "")
    assert outcomes(plain)["audit.jsonl_valid"] == "failed"
    assert outcomes(plain)["ops.api_latency_p95"] != "failed"
