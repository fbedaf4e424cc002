"""Configuration, positions-DB, risk-config and consistency checks: healthy passes; each sandbox
fault or bad input fails exactly its check, names the file, and leaves the bot's files untouched."""

from __future__ import annotations

import fnmatch
import math
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from readiness.probes import files
from readiness.sandbox import bot

from ..helpers import assert_go_but_partial, check_entry, make_db, outcomes, run_catalogue, snapshot

FILES = (
    "checks/component/test_config.py",
    "checks/component/test_positions.py",
    "checks/component/test_risk.py",
    "checks/integration/test_consistency.py",
    # what the consistency checks depend on (a dependency left out of a run blocks them)
    "checks/component/test_audit.py",
    "checks/system/test_system.py",
)
#: The audit and system checks of FILES pass in every case here.
DEPENDENCIES = dict.fromkeys(
    (
        "audit.present_writable",
        "audit.jsonl_valid",
        "audit.sequence_intact",
        "audit.hash_chain_intact",
        "system.required_files",
        "system.disk_space",
        "system.memory_available",
        "system.killswitch_inactive",
    ),
    "passed",
)
MINE = (
    "env.config_complete",
    "security.env_file_permissions",
    "security.env_not_committed",
    "positions.db_healthy",
    "positions.values_sane",
    "risk.config_valid",
    "integration.tracker_audit_consistent",
    "integration.risk_manager_contract",
)


def assert_clean_summary(report: dict[str, Any]) -> None:
    stdout = report["_stdout"]
    assert "INTERNALERROR" not in stdout
    assert "Traceback" not in stdout
    assert "readiness verdict:" in stdout


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, timeout=30)


def make_env_repo(tmp_path: Path, *, ignored: bool = True, tracked: bool = False, mode: int = 0o600) -> Path:
    """A git work tree holding a ``.env``; returns the env file's path."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    if ignored:
        (repo / ".gitignore").write_text(".env\n")
    env_file = repo / ".env"
    env_file.write_text("# secrets for this run come from the sandbox\nREADINESS_QUOTE_ASSET=USDT\n")
    env_file.chmod(mode)
    if tracked:
        git(repo, "add", "-f", ".env")
    return env_file


# --- the sandbox -------------------------------------------------------------------------------


def test_healthy_sandbox_passes_all_eight(tmp_path: Path) -> None:
    env_file = make_env_repo(tmp_path)
    before = snapshot(env_file.parent)
    report = run_catalogue(tmp_path, *FILES, "--target", "sandbox", f"--env-file={env_file}")
    assert outcomes(report) == dict.fromkeys(MINE, "passed") | DEPENDENCIES
    assert_go_but_partial(report)  # these files alone
    assert_clean_summary(report)
    assert snapshot(env_file.parent) == before
    metrics = {
        m["name"]: m["value"] for m in check_entry(report, "integration.tracker_audit_consistent")["metrics"]
    }
    assert metrics == {"open_positions": 2, "position_events": 2}
    assert check_entry(report, "integration.risk_manager_contract")["metrics"][0]["value"] == 30000


@pytest.mark.parametrize(
    ("fault", "changed", "message", "remediation"),
    [
        (
            "env_incomplete",
            {"env.config_complete": "failed"},
            "1 of 10 settings missing for target sandbox: TELEGRAM_CHAT_ID",
            ".env or the environment",
        ),
        (
            "positions_db_corrupt",
            {
                "positions.db_healthy": "failed",
                "positions.values_sane": "blocked",
                "integration.tracker_audit_consistent": "blocked",
            },
            "positions DB */bot/positions.db is not an SQLite database (no SQLite header)",
            "restore the DB from backup",
        ),
        (
            "positions_negative_price",
            {"positions.values_sane": "failed"},
            "positions DB */bot/positions.db: 1 problem(s): BTCUSDT avg_price -* is not positive",
            "fix them from the exchange's fills",
        ),
        (
            "tracker_audit_mismatch",
            {"integration.tracker_audit_consistent": "failed"},
            "positions DB */positions.db vs audit trail */audit.jsonl: "
            "ETHUSDT is open per the audit trail (line *, qty 4.995) but not in the DB",
            "Reconcile the positions DB with the audit trail",
        ),
        (
            "risk_config_invalid",
            {"risk.config_valid": "failed", "integration.risk_manager_contract": "blocked"},
            "risk config */bot/risk.toml: max_loss_per_trade_usdt = 2500 (line 4) exceeds max_daily_loss_usdt = 1000 (line 3)",
            "set max_position_usdt, max_daily_loss_usdt, max_loss_per_trade_usdt",
        ),
        (
            "risk_manager_broken",
            {"integration.risk_manager_contract": "failed"},
            "a BUY of 60000 USDT BTCUSDT, 2x max_position_usdt (30000), was allowed: *",
            "validate_trade must reject any order above max_position_usdt",
        ),
    ],
)
def test_each_fault_fails_exactly_its_check(
    tmp_path: Path, fault: str, changed: dict[str, str], message: str, remediation: str
) -> None:
    report = run_catalogue(tmp_path, *FILES, "--target", "sandbox", "--sandbox-fault", fault)
    expected = dict.fromkeys(MINE, "passed") | {
        "security.env_not_committed": "not_applicable",  # the sandbox's .env is in no git repository
        **changed,
    }
    assert outcomes(report) == DEPENDENCIES | expected
    failed = next(check_id for check_id, outcome in changed.items() if outcome == "failed")
    entry = check_entry(report, failed)
    assert fnmatch.fnmatch(entry["message"], message), entry["message"]
    assert remediation in entry["remediation"]
    assert remediation in report["_stdout"]
    assert_clean_summary(report)
    # Every fault here hits a tier-1 check, except the tier-2 values check (the score still drops).
    assert report["verdict"] == "NO-GO"  # these files alone are a partial run in any case
    tier1 = [cause for cause in report["root_causes"] if cause["tier1"]]
    assert (tier1 == []) is (fault == "positions_negative_price"), report["reasons"]
    assert report["score"] < 100
    if fault == "env_incomplete":  # the sandbox's own .env lives outside any git work tree
        assert check_entry(report, "security.env_not_committed")["message"].endswith(
            "is not in a git work tree"
        )


# --- the env file ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repo", "expected", "message", "remediation"),
    [
        (
            {"mode": 0o644},
            {"security.env_file_permissions": "failed", "security.env_not_committed": "passed"},
            "env file */repo/.env has mode 0644: group and others can read or change the secrets in it",
            "chmod 600 {env_file}",
        ),
        (
            {"tracked": True, "ignored": False},
            {"security.env_file_permissions": "passed", "security.env_not_committed": "failed"},
            "env file */repo/.env is tracked by git (.env): its secrets are in the repository",
            "git rm --cached .env, add .env to .gitignore",
        ),
        (
            {"ignored": False},
            {"security.env_file_permissions": "passed", "security.env_not_committed": "warned"},
            "env file */repo/.env is not git-ignored: *",
            None,
        ),
    ],
)
def test_env_file_bad_input(
    tmp_path: Path, repo: dict[str, Any], expected: dict[str, str], message: str, remediation: str | None
) -> None:
    env_file = make_env_repo(tmp_path, **repo)
    before = snapshot(env_file.parent)
    report = run_catalogue(tmp_path, FILES[0], "--target", "testnet", f"--env-file={env_file}")
    got = outcomes(report)
    assert {check_id: got[check_id] for check_id in expected} == expected
    entry = next(check_entry(report, c) for c, outcome in expected.items() if outcome != "passed")
    assert fnmatch.fnmatch(entry["message"], message), entry["message"]
    if remediation is not None:
        assert remediation.format(env_file=env_file) in entry["remediation"]
        assert remediation.format(env_file=env_file) in report["_stdout"]
    assert_clean_summary(report)
    assert snapshot(env_file.parent) == before


def test_env_file_outside_git_is_not_applicable(tmp_path: Path) -> None:
    env_file = tmp_path / "bot.env"
    env_file.write_text("READINESS_QUOTE_ASSET=USDT\n")
    env_file.chmod(0o600)
    report = run_catalogue(tmp_path, FILES[0], "--target", "testnet", f"--env-file={env_file}")
    entry = check_entry(report, "security.env_not_committed")
    assert entry["outcome"] == "not_applicable"
    assert entry["message"].endswith("is not in a git work tree")
    assert check_entry(report, "security.env_file_permissions")["outcome"] == "passed"
    # Nothing configured on testnet: the completeness check lists every variable a deployment needs.
    missing = check_entry(report, "env.config_complete")
    assert missing["outcome"] == "failed"
    assert missing["message"].startswith(
        "10 of 10 settings missing for target testnet: TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID, "
        "BINANCE_TESTNET_API_KEY, BINANCE_TESTNET_API_SECRET, READINESS_AUDIT_TRAIL"
    )


# --- the positions DB --------------------------------------------------------------------------


BAD_ROWS = [
    ("BTCUSDT", -0.5, 50000.0, "open"),
    ("ETHUSDT", math.nan, 2500.0, "open"),
    ("SOLUSDT", "lots", 150.0, "open"),
    ("XRPUSDT", 0.5, 1.0, "OPEN"),
    ("XRPUSDT", 0.1, 1.0, "open"),
    ("ADAUSDT", 1.0, 0.5, "opne"),
    ("DOTUSDT", -1.0, -1.0, "closed"),  # closed rows keep whatever history they have
]


def test_bad_position_values(tmp_path: Path) -> None:
    folder = tmp_path / "bot"
    folder.mkdir()
    db = folder / "positions.db"
    make_db(db, BAD_ROWS, wal=True)
    before = snapshot(folder)
    report = run_catalogue(tmp_path, FILES[1], "--target", "testnet", env={"READINESS_POSITIONS_DB": str(db)})
    assert outcomes(report) == {"positions.db_healthy": "passed", "positions.values_sane": "failed"}
    entry = check_entry(report, "positions.values_sane")
    assert entry["message"] == (
        f"positions DB {db}: 5 problem(s): BTCUSDT qty -0.5 is not positive; "
        "ETHUSDT qty is NULL (SQLite stores NaN as NULL); SOLUSDT qty is not a number (str 'lots'); "
        "XRPUSDT is open in 2 rows; "
        "1 row(s) with unknown status 'opne' (known: cancelled, closed, closing, open, pending)"
    )
    assert "fix them from the exchange's fills" in report["_stdout"]
    assert_clean_summary(report)
    assert snapshot(folder) == before  # the WAL database was read with no -wal/-shm created


def test_wal_without_shm_is_read_from_a_copy(tmp_path: Path) -> None:
    """A WAL with committed rows but no -shm (copied off a host): read, and nothing created beside it."""
    live, copy = tmp_path / "live", tmp_path / "copy"
    live.mkdir()
    copy.mkdir()
    make_db(live / "positions.db", [], wal=True)
    with closing(sqlite3.connect(live / "positions.db", isolation_level=None)) as writer:
        writer.execute("INSERT INTO positions VALUES ('ETHUSDT', 5.0, 2500.0, 'open', 'x', 'x')")
        for name in ("positions.db", "positions.db-wal"):
            (copy / name).write_bytes((live / name).read_bytes())
    before = snapshot(copy)
    rows = files.read_positions(copy / "positions.db")
    assert files.open_quantities(rows) == {"ETHUSDT": 5.0}
    assert files.db_health(copy / "positions.db").problems == []
    assert snapshot(copy) == before


# --- the risk config ---------------------------------------------------------------------------

GOOD_RISK = bot.render_risk(bot.DEFAULT_RISK)


def test_risk_config_unknown_key_warns(tmp_path: Path) -> None:
    path = tmp_path / "risk.toml"
    path.write_text(GOOD_RISK + "max_leverage = 3\n")
    config = files.read_risk_config(path)
    assert config.problems == []
    assert config.warnings == [f"risk config {path}: unknown key 'max_leverage' (line 7) is ignored"]


# --- the probes in-process ---------------------------------------------------------------------


def test_audit_position_replay(tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"
    trail.write_text(
        "\n".join(
            [
                '{"event":"position_opened","symbol":"BTCUSDT","qty":0.5}',
                '{"event":"position_opened","symbol":"ETHUSDT","qty":5}',
                "not json, position_opened",
                '{"event":"position_closed","symbol":"ETHUSDT","qty":2}',
                '{"event":"position_opened","symbol":"SOLUSDT","qty":1}',
                '{"event":"position_closed","symbol":"SOLUSDT"}',
                '{"event":"position_opened","qty":1}',
            ]
        )
        + "\n"
    )
    audit = files.audit_positions(trail)
    assert audit.open == {"BTCUSDT": 0.5, "ETHUSDT": 3.0}
    assert audit.events == 6
    assert audit.problems == ["line 7: position_opened without a symbol"]
    assert files.position_mismatches({"BTCUSDT": 0.5, "ETHUSDT": 3.0}, audit) == []
    assert files.position_mismatches({"BTCUSDT": 0.4, "XRPUSDT": 1.0}, audit) == [
        "BTCUSDT qty 0.4 in the DB, 0.5 per the audit trail (line 1)",
        "ETHUSDT is open per the audit trail (line 4, qty 3) but not in the DB",
        "XRPUSDT is open in the DB (qty 1) but not per the audit trail (no position event)",
    ]


def test_git_status_reads_only(tmp_path: Path) -> None:
    env_file = make_env_repo(tmp_path, tracked=True, ignored=False)
    index = (env_file.parent / ".git" / "index").read_bytes()
    status = files.git_status(env_file)
    assert (status.state, status.relpath) == ("tracked", ".env")
    assert (env_file.parent / ".git" / "index").read_bytes() == index
    assert files.git_status(env_file, timeout=1e-6).state == "unknown"
