"""Bot profiles: ``READINESS_BOT_PROFILE`` resolves to a profile the checks read the bot through;
the freqtrade profile's log rules and process discovery; an operator's own profile (the worked
example in docs/examples) read end to end; and the bot-API allow-list refusing before sending."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from readiness.probes import files, logs, process
from readiness.probes.botapi import BotApi, BotApiRefused
from readiness.profiles.freqtrade import NAMES as FREQTRADE
from readiness.profiles.freqtrade import FreqtradeProfile
from readiness.profiles.loading import load_profile
from readiness.profiles.protocol import BotProfile, ProfileError
from readiness.profiles.reference import ReferenceProfile
from readiness.settings import Settings, load_settings

from .helpers import REPO, check_entry, outcomes, run_catalogue

EXAMPLES = REPO / "docs" / "examples"


def _settings(tmp_path: Path, environ: dict[str, str], config: str = "") -> Settings:
    if config:
        (tmp_path / "readiness.toml").write_text(config)
    settings, _environ = load_settings(
        rootdir=tmp_path,
        invocation_dir=tmp_path,
        environ=environ,
        target_option=None,
        target_ini=None,
        env_file_option=None,
        config_option=None,
    )
    return settings


def test_the_built_in_profiles_and_an_operators_own_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = load_profile(_settings(tmp_path, {}, '[bot]\npositions_table = "trades"\n'))
    assert isinstance(reference, ReferenceProfile) and reference.names.positions_table == "trades"
    assert isinstance(
        load_profile(_settings(tmp_path / "..", {"READINESS_BOT_PROFILE": "freqtrade"})), FreqtradeProfile
    )
    monkeypatch.syspath_prepend(str(EXAMPLES))
    own = load_profile(_settings(tmp_path / "..", {"READINESS_BOT_PROFILE": "gridbot_profile:profile"}))
    assert isinstance(own, BotProfile) and own.name == "gridbot"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no_such_module:make", "READINESS_BOT_PROFILE=no_such_module:make (environment variable "),
        ("json:no_such_thing", "'json' has no attribute 'no_such_thing'"),
        (
            "builtins:repr",
            "builtins:repr(settings) returned str, which lacks the profile protocol (name, names,",
        ),
        ("json:loads", "json:loads(settings) failed: TypeError:"),
    ],
)
def test_a_profile_that_cannot_be_loaded_is_an_error_naming_the_variable(
    tmp_path: Path, value: str, message: str
) -> None:
    with pytest.raises(ProfileError, match=r"^READINESS_BOT_PROFILE=") as caught:
        load_profile(_settings(tmp_path, {"READINESS_BOT_PROFILE": value}))
    assert message in str(caught.value)


def test_a_bot_table_with_another_profile_is_a_usage_error_naming_the_file(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(".toml", readiness='[bot]\npositions_table = "trades"\n')
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    monkeypatch.setenv("READINESS_BOT_PROFILE", "freqtrade")
    result = pytester.runpytest_subprocess("--target", "testnet")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*readiness.toml: the [[]bot] table renames what the reference profile reads, but "
            "READINESS_BOT_PROFILE=freqtrade (environment variable READINESS_BOT_PROFILE) reads the bot by "
            "its own names*"
        ]
    )


# -- freqtrade's log: its fatal ERROR lines, its heartbeat -------------------------------------------


def _line(moment: datetime, name: str, level: str, message: str) -> str:
    """One line of freqtrade's log format."""
    return f"{moment:%Y-%m-%d %H:%M:%S},{moment.microsecond // 1000:03d} - {name} - {level} - {message}\n"


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose PID a heartbeat line can name."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield child
    child.kill()
    child.wait()


def _freqtrade_log(path: Path, pid: int, *, beat_age_s: float = 1.0, extra: list[str] = ()) -> None:
    now = datetime.now()
    lines = [
        _line(now - timedelta(minutes=10), "freqtrade.worker", "INFO", "Changing state to: RUNNING"),
        _line(
            now - timedelta(seconds=beat_age_s),
            "freqtrade.worker",
            "INFO",
            f"Bot heartbeat. PID={pid}, version='2026.9', state='RUNNING'",
        ),
        *extra,
    ]
    path.write_text("".join(lines), "utf-8")


def test_freqtrades_fatal_error_lines_count_as_critical_and_not_as_errors(tmp_path: Path) -> None:
    log = tmp_path / "freqtrade.log"
    now = datetime.now()
    log.write_text(
        _line(now, "freqtrade", "ERROR", "Fatal exception!")
        + 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: ERROR\n'
        + _line(now, "freqtrade.worker", "ERROR", "OperationalException. Stopping trader ...")
        + _line(now, "freqtrade.exchange", "ERROR", "Could not fetch ticker data")
        + _line(now, "freqtrade.worker", "INFO", "Fatal exception! quoted in an INFO line"),
        "utf-8",
    )
    scan = logs.scan_log(
        log,
        lookback_s=900,
        critical_levels=FREQTRADE.log_critical_levels,
        error_levels=FREQTRADE.log_error_levels,
        critical_messages=FREQTRADE.log_critical_messages,
    )
    assert (scan.critical, scan.critical_lines, scan.errors, scan.error_lines) == (2, (1, 5), 1, (6,))


def test_the_process_is_the_newest_heartbeat_lines_pid(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    log = tmp_path / "freqtrade.log"
    _freqtrade_log(
        log,
        1,
        extra=[
            _line(
                datetime.now(),
                "freqtrade.worker",
                "INFO",
                f"Bot heartbeat. PID={sleeper.pid}, version='2026.9', state='RUNNING'",
            )
        ],
    )
    settings = Settings(log_file=log)
    source = process.locate(settings, FREQTRADE)
    assert source is not None and (source.pid, source.where) == (sleeper.pid, f"heartbeat line {log}:3")
    assert process.inspect(source).problem is None
    pid_file = tmp_path / "bot.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    given = process.locate(Settings(log_file=log, pid_file=pid_file), FREQTRADE)
    assert given is not None and given.pid == os.getpid(), "READINESS_PID_FILE, when set, comes first"


FREQTRADE_DEPLOY = (
    "deploy.process_running",
    "deploy.process_memory",
    "deploy.no_critical_logs",
    "deploy.error_rate",
    "deploy.recent_activity",
)


def _deploy(tmp_path: Path, log: Path, **env: str) -> dict[str, str]:
    report = run_catalogue(
        tmp_path,
        "-m",
        "postdeploy",
        "--target",
        "testnet",
        env={"READINESS_BOT_PROFILE": "freqtrade", "READINESS_LOG_FILE": str(log), **env},
    )
    return {cid: outcome for cid, outcome in outcomes(report).items() if cid in FREQTRADE_DEPLOY} | {
        "_report": json.dumps(report["checks"])
    }


def test_a_freqtrade_log_passes_the_deployment_checks(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    log = tmp_path / "freqtrade.log"
    _freqtrade_log(log, sleeper.pid)
    got = _deploy(tmp_path, log)
    assert {cid: got[cid] for cid in FREQTRADE_DEPLOY} == dict.fromkeys(FREQTRADE_DEPLOY, "passed"), got[
        "_report"
    ]


@pytest.mark.parametrize(
    ("case", "check_id", "message"),
    [
        (
            "dead pid",
            "deploy.process_running",
            "heartbeat line */freqtrade.log:2 names pid *, but no such process is running: the bot stopped",
        ),
        (
            "fatal",
            "deploy.no_critical_logs",
            "1 CRITICAL/FATAL or fatal-message record(s) in the last 15 min *:3",
        ),
        (
            "errors",
            "deploy.error_rate",
            "20 ERROR records in the last 15 min of the log (1.3/min, limit 1/min)*",
        ),
        (
            "old heartbeat",
            "deploy.recent_activity",
            "heartbeat line */freqtrade.log:2 is 10.* min old (*); limit 5 min",
        ),
        ("rss limit", "deploy.process_memory", "pid * uses * MB RSS, above READINESS_MAX_RSS_MB=1"),
    ],
)
def test_each_freqtrade_fault_fails_exactly_its_deployment_check(
    tmp_path: Path, sleeper: subprocess.Popen[bytes], case: str, check_id: str, message: str
) -> None:
    import fnmatch

    log, now, env = tmp_path / "freqtrade.log", datetime.now(), {}
    if case == "dead pid":
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        _freqtrade_log(log, dead.pid)
    elif case == "fatal":
        _freqtrade_log(log, sleeper.pid, extra=[_line(now, "freqtrade", "ERROR", "Fatal exception!")])
    elif case == "errors":
        _freqtrade_log(log, sleeper.pid, extra=[_line(now, "freqtrade.exchange", "ERROR", "timeout")] * 20)
    elif case == "old heartbeat":  # a hung bot: its process (here init, up since boot) still runs
        _freqtrade_log(log, 1, beat_age_s=600)
    else:
        _freqtrade_log(log, sleeper.pid)
        env = {"READINESS_MAX_RSS_MB": "1"}
    got = _deploy(tmp_path, log, **env)
    failed = {cid for cid in FREQTRADE_DEPLOY if got[cid] == "failed"}
    blocked = {"deploy.process_memory"} if check_id == "deploy.process_running" else set()
    assert failed == {check_id}, got["_report"]
    assert {cid for cid in FREQTRADE_DEPLOY if got[cid] == "blocked"} == blocked
    entry = next(c for c in json.loads(got["_report"]) if c["id"] == check_id)
    assert fnmatch.fnmatch(entry["message"], message), entry["message"]
    assert entry["remediation"]


def test_a_log_without_heartbeat_fails_the_process_and_activity_checks(tmp_path: Path) -> None:
    log = tmp_path / "freqtrade.log"
    log.write_text(_line(datetime.now(), "freqtrade", "INFO", "Starting freqtrade"), "utf-8")
    got = _deploy(tmp_path, log)
    failed = {cid for cid in FREQTRADE_DEPLOY if got[cid] == "failed"}
    assert failed == {"deploy.process_running", "deploy.recent_activity"}
    entry = next(c for c in json.loads(got["_report"]) if c["id"] == "deploy.process_running")
    assert entry["message"].startswith(f"log file {log} has no heartbeat line (pattern 'Bot heartbeat")
    assert entry["message"].endswith("): the bot is not running")


@pytest.mark.parametrize(
    ("check_id", "setting", "content", "message"),
    [
        (
            "positions.db_healthy",
            "READINESS_POSITIONS_DB",
            "db without trades",
            "*no such table: trades*",
        ),
        (
            "risk.config_valid",
            "READINESS_RISK_CONFIG",
            '{"max_open_trades": -1, "stake_amount": 100, "stoploss": -0.1}',
            "risk config */config.json: max_open_trades is -1 (unlimited): nothing caps the open positions",
        ),
    ],
)
def test_freqtrades_files_that_are_not_sound_fail_their_checks(
    tmp_path: Path, check_id: str, setting: str, content: str, message: str
) -> None:
    import fnmatch

    if setting == "READINESS_POSITIONS_DB":
        path = tmp_path / "tradesv3.sqlite"
        with closing(sqlite3.connect(path)) as conn, conn:
            conn.execute("CREATE TABLE positions(symbol TEXT)")
    else:
        path = tmp_path / "config.json"
        path.write_text(content)
    report = run_catalogue(
        tmp_path,
        "-k",
        "db_healthy or config_valid",
        "--target",
        "testnet",
        env={"READINESS_BOT_PROFILE": "freqtrade", setting: str(path)},
    )
    entry = check_entry(report, check_id)
    assert entry["outcome"] == "failed" and fnmatch.fnmatch(entry["message"], message), entry["message"]
    assert entry["remediation"]


# -- an operator's own profile: the worked example --------------------------------------------------


def _gridbot(tmp_path: Path, pid: int, limits: dict[str, object]) -> dict[str, str]:
    db = tmp_path / "gridbot.sqlite"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE holdings(pair_symbol TEXT, size REAL, entry_price REAL, closed INTEGER)")
        conn.executemany(
            "INSERT INTO holdings VALUES (?, ?, ?, ?)",
            [("BTCUSDT", 0.01, 50000.0, 0), ("ETHUSDT", 1.0, 3000.0, 1)],
        )
    (tmp_path / "limits.json").write_text(json.dumps(limits))
    log = tmp_path / "gridbot.log"
    log.write_text(f"{datetime.now():%Y-%m-%d %H:%M:%S} INFO alive pid={pid}\n")
    return {
        "READINESS_BOT_PROFILE": "gridbot_profile:profile",
        "PYTHONPATH": os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")]),
        "READINESS_POSITIONS_DB": str(db),
        "READINESS_RISK_CONFIG": str(tmp_path / "limits.json"),
        "READINESS_LOG_FILE": str(log),
    }


def test_an_operators_own_profile_reads_its_bot_through_every_check(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    env = _gridbot(tmp_path, sleeper.pid, {"max_exposure_usdt": 500, "max_positions": 3})
    report = run_catalogue(tmp_path, "-m", "preflight or postdeploy", "--target", "testnet", env=env)
    got = outcomes(report)
    read = (
        "positions.db_healthy",
        "positions.values_sane",
        "risk.config_valid",
        "deploy.process_running",
        "deploy.recent_activity",
        "deploy.no_critical_logs",
    )
    assert {cid: got[cid] for cid in read} == dict.fromkeys(read, "passed"), report["_stdout"][-3000:]
    assert [
        m["value"]
        for m in check_entry(report, "positions.values_sane")["metrics"]
        if m["name"] == "open_positions"
    ] == [1]
    assert (
        check_entry(report, "risk.config_valid")["message"]
        == "gridbot has no daily loss limit, loss per trade or cooldown"
    )
    for check_id in ("audit.present_writable", "audit.hash_chain_intact", "ops.ws_reconnects"):
        assert (got[check_id], check_entry(report, check_id)["message"]) == (
            "not_applicable",
            "gridbot keeps no audit trail: its holdings table and log are its record",
        )
    assert "READINESS_RISK_MANAGER" in check_entry(report, "system.killswitch_inactive")["message"]

    (tmp_path / "bad").mkdir()
    bad = _gridbot(tmp_path / "bad", sleeper.pid, {"max_exposure_usdt": -5, "max_positions": 3})
    failed = run_catalogue(tmp_path / "bad", "-k", "config_valid", "--target", "testnet", env=bad)
    entry = check_entry(failed, "risk.config_valid")
    assert entry["outcome"] == "failed"
    assert entry["message"].endswith("limits.json: max_exposure_usdt must be a positive number, got -5")
    assert (
        entry["remediation"].startswith("Fix ")
        and "max_exposure_usdt and max_positions" in entry["remediation"]
    )


# -- the bot-API allow-list -------------------------------------------------------------------------


def test_the_bot_api_refuses_before_sending_what_the_run_may_not_send() -> None:
    """Port 9 (discard) has no server: a request that got past the guard would fail to connect."""
    with BotApi("http://127.0.0.1:9", "u", "p", drill=False) as api:
        for path in ("/stopentry", "/start", "/forceenter", "/forceexit", "/stop", "/reload_config"):
            with pytest.raises(
                BotApiRefused, match=f"POST {path} is not sent to a bot's API outside a drill"
            ):
                api.post(path)
    with BotApi("http://127.0.0.1:9", "u", "p", drill=True) as api:
        with pytest.raises(BotApiRefused, match="POST /stop is not sent"):
            api.post("/stop")
        with pytest.raises(BotApiRefused, match="only to a bot whose /show_config says dry-run"):
            api.post("/forceenter", {"pair": "BTC/USDT"})
        api.dry_run = False
        with pytest.raises(BotApiRefused, match="only to a bot whose /show_config says dry-run"):
            api.post("/forceexit", {"tradeid": "1"})


def test_under_another_profile_the_sandbox_hosts_no_bot_and_refuses_its_faults(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_one="def test_one():\n    pass\n")
    monkeypatch.setenv("READINESS_BOT_PROFILE", "freqtrade")
    result = pytester.runpytest_subprocess("--target", "sandbox", "--sandbox-fault", "bot_killswitch_active")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--sandbox-fault: bot_killswitch_active act on the sandbox's own bot, which it hosts only for "
            "READINESS_BOT_PROFILE=reference*"
        ]
    )


def test_freqtrades_unfilled_entry_is_a_pending_position_not_a_bad_quantity(tmp_path: Path) -> None:
    """freqtrade creates an open trade with amount 0 before its entry order fills."""
    db = tmp_path / "trades.sqlite"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE trades(pair TEXT, amount REAL, open_rate REAL, is_open BOOLEAN)")
        conn.executemany(
            "INSERT INTO trades VALUES (?, ?, ?, ?)",
            [("BTC/USDT", 0.0, 60000.0, 1), ("ETH/USDT", 0.03, 3000.0, 1), ("BNB/USDT", 0.2, 500.0, 0)],
        )
    rows = files.read_positions(db, FREQTRADE)
    assert [(row.symbol, row.status) for row in rows] == [
        ("BTCUSDT", "pending"),
        ("ETHUSDT", "open"),
        ("BNBUSDT", "closed"),
    ]
    assert files.value_problems(rows, FREQTRADE) == []
    assert files.open_quantities(rows) == {"ETHUSDT": 0.03}
