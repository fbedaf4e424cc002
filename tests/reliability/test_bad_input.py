"""Bad input: each gives a clear failure naming the file and the line or setting, never an
INTERNALERROR or a traceback, and leaves the bot's files byte-identical.

Every case writes its files into a ``bot/`` folder, hashes the folder, runs the real catalogue
in a subprocess and hashes it again. Files the harness reads that a check judges (positions DB,
risk config, audit trail, PID file, log) fail that check; settings the harness itself needs
(``.env``, ``readiness.toml``, typed env vars) stop the run as a one-line usage error (exit 4).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from readiness.audit import validate_file
from readiness.sandbox import bot

from ..helpers import check_entry, make_db, report_path, run_pytest, snapshot
from .conftest import Tried

POSITIONS = "checks/component/test_positions.py"
RISK = "checks/component/test_risk.py"
AUDIT = "checks/component/test_audit.py"
DEPLOYMENT = ("-m", "deployment")


@dataclass(frozen=True)
class BadInput:
    """One bad input: ``prepare(folder)`` writes it and returns the env pointing at it."""

    prepare: Callable[[Path], dict[str, str]]
    select: tuple[str, ...]
    #: check id -> fnmatch pattern of its message; ``{folder}`` is the bot folder.
    failed: dict[str, str] = field(default_factory=dict)
    #: fnmatch pattern of the one stderr line of a usage error (exit 4).
    usage_error: str = ""
    hold: Callable[[Path], AbstractContextManager[object]] = lambda folder: nullcontext()


# --- the positions DB --------------------------------------------------------------------------


def _db(write: Callable[[Path], object]) -> Callable[[Path], dict[str, str]]:
    def prepare(folder: Path) -> dict[str, str]:
        write(folder / "positions.db")
        return {"READINESS_POSITIONS_DB": str(folder / "positions.db")}

    return prepare


def _db_schema(sql: str) -> Callable[[Path], object]:
    def write(db: Path) -> None:
        with closing(sqlite3.connect(db)) as conn:
            conn.execute(sql)

    return write


def _db_mode(mode: int) -> Callable[[Path], object]:
    def write(db: Path) -> None:
        make_db(db)
        db.chmod(mode)

    return write


def _loop(path: Path) -> None:
    other = path.with_name("loop-" + path.name)
    path.symlink_to(other)
    other.symlink_to(path)


@contextmanager
def _exclusive_writer(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on the DB (rollback journal), as a stuck writer would."""
    with closing(sqlite3.connect(folder / "positions.db", isolation_level=None)) as db:
        db.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")


DB = "positions.db_healthy"
CASES: dict[str, BadInput] = {
    "positions DB: garbage": BadInput(
        _db(lambda db: db.write_bytes(b"this is not a database\n" * 50)),
        (POSITIONS,),
        {DB: "positions DB {folder}/positions.db is not an SQLite database (no SQLite header)"},
    ),
    "positions DB: garbage after the header": BadInput(
        _db(lambda db: db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)),
        (POSITIONS,),
        {DB: "positions DB {folder}/positions.db is *"},
    ),
    "positions DB: zero bytes": BadInput(
        _db(lambda db: db.write_bytes(b"")),
        (POSITIONS,),
        {DB: "positions DB {folder}/positions.db is empty (0 bytes): no SQLite database in it"},
    ),
    "positions DB: locked by a writer": BadInput(
        _db(make_db),
        (POSITIONS,),
        {DB: "positions DB {folder}/positions.db is locked by another process (a writer held it over 2 s)"},
        hold=_exclusive_writer,
    ),
    "positions DB: read-only": BadInput(
        _db(_db_mode(0o444)),
        (POSITIONS,),
        {DB: "positions DB {folder}/positions.db is read-only (mode 0444): the bot cannot record positions"},
    ),
    "positions DB: unreadable": BadInput(
        _db(_db_mode(0o000)),
        (POSITIONS,),
        {DB: "positions DB {folder}/positions.db is not readable (mode 0000)"},
    ),
    "positions DB: missing": BadInput(
        _db(lambda db: None), (POSITIONS,), {DB: "positions DB {folder}/positions.db does not exist"}
    ),
    "positions DB: wrong table": BadInput(
        _db(_db_schema("CREATE TABLE trades(id INTEGER)")),
        (POSITIONS,),
        {DB: "positions DB {folder}/positions.db has no table 'positions' (its tables: trades)"},
    ),
    "positions DB: wrong columns": BadInput(
        _db(_db_schema("CREATE TABLE positions(symbol TEXT, quantity REAL, status TEXT)")),
        (POSITIONS,),
        {
            DB: "positions DB {folder}/positions.db: table positions lacks column(s) qty, avg_price, "
            "opened_at, updated_at (it has symbol, quantity, status)"
        },
    ),
    "positions DB: symlink loop": BadInput(
        _db(_loop),
        (POSITIONS,),
        {DB: "positions DB {folder}/positions.db is a symlink loop (too many levels of symbolic links)"},
    ),
}

# --- the risk config ---------------------------------------------------------------------------

GOOD_RISK = bot.render_risk(bot.DEFAULT_RISK)
RISK_CHECK = "risk.config_valid"


def _risk(content: bytes | None, mode: int | None = None) -> Callable[[Path], dict[str, str]]:
    def prepare(folder: Path) -> dict[str, str]:
        path = folder / "risk.toml"
        if content is None:
            _loop(path)
        else:
            path.write_bytes(content)
        if mode is not None:
            path.chmod(mode)
        return {"READINESS_RISK_CONFIG": str(path)}

    return prepare


CASES |= {
    f"risk config: {name}": BadInput(
        prepare, (RISK,), {RISK_CHECK: "risk config {folder}/risk.toml: " + message}
    )
    for name, prepare, message in [
        (
            "malformed TOML",
            _risk(b"max_position_usdt = 30000\nmax_daily_loss_usdt = = 1000\n"),
            "invalid TOML: * (at line 2, column *)",
        ),
        (
            "wrong types",
            _risk(
                GOOD_RISK.replace("max_open_positions = 5", 'max_open_positions = "five"')
                .replace("cooldown_minutes = 15", "cooldown_minutes = true")
                .encode()
            ),
            "max_open_positions must be a number, got str 'five' (line 5); "
            "cooldown_minutes must be a number, got bool True (line 6)",
        ),
        (
            "negative and NaN",
            _risk(GOOD_RISK.replace("30000.0", "-1.0").replace("= 1000.0", "= nan").encode()),
            "max_position_usdt must be positive, got -1.0 (line 2); max_daily_loss_usdt must be finite, got nan (line 3)",
        ),
        (
            "typo in a key",
            _risk(GOOD_RISK.replace("max_open_positions", "max_open_position").encode()),
            "max_open_positions is missing (is 'max_open_position' (line 5) a typo?)",
        ),
        (
            "nested under a table",
            _risk(("[risk]\n" + GOOD_RISK).encode()),
            "max_position_usdt is under ?risk? (line 3); it must be a top-level key; *",
        ),
        (
            "not UTF-8",
            _risk(b"max_position_usdt = 30000 # \xff\xfe\n"),
            "the file is not UTF-8 text (byte 28)",
        ),
        ("zero bytes", _risk(b""), "max_position_usdt is missing; *; cooldown_minutes is missing"),
        ("unreadable", _risk(GOOD_RISK.encode(), 0o000), "the file is not readable (mode 0000)"),
        ("symlink loop", _risk(None), "the file is a symlink loop (too many levels of symbolic links)"),
    ]
}

# --- the audit trail: one trail per error kind the validator knows -----------------------------


def _record(seq: int, **fields: object) -> dict[str, object]:
    return {"timestamp": f"2026-11-24T10:00:{seq:02d}+00:00", "event": "heartbeat", "seq": seq, **fields}


def _chained(records: list[dict[str, object] | bytes], *, chain: bool = True) -> bytes:
    """JSONL of the records (raw bytes kept as they are), each chained to the line before."""
    lines: list[bytes] = []
    previous = "0" * 64
    for record in records:
        if isinstance(record, bytes):
            line = record
        else:
            if chain and "prev_sha256" not in record:
                record = {**record, "prev_sha256": previous}
            line = json.dumps({k: v for k, v in record.items() if v is not None}).encode()
        lines.append(line)
        previous = hashlib.sha256(line.rstrip(b"\r")).hexdigest()
    return b"\n".join(lines) + b"\n"


def _trail(content: bytes) -> Callable[[Path], dict[str, str]]:
    def prepare(folder: Path) -> dict[str, str]:
        (folder / "audit.jsonl").write_bytes(content)
        return {"READINESS_AUDIT_TRAIL": str(folder / "audit.jsonl")}

    return prepare


GOOD = [_record(1), _record(2)]
TRAILS: dict[str, tuple[str, bytes, str]] = {
    # kind: (check, trail, line named)
    "utf8": ("audit.jsonl_valid", _chained([*GOOD, b'{"event": "\xff"}', _record(4)]), "line 3"),
    "json": ("audit.jsonl_valid", _chained([*GOOD, b"{not json", _record(4)]), "line 3"),
    "not_object": ("audit.jsonl_valid", _chained([*GOOD, b"[1, 2]", _record(4)]), "line 3"),
    "field": ("audit.jsonl_valid", _chained([*GOOD, _record(3, event=None), _record(4)]), "line 3"),
    "blank": ("audit.jsonl_valid", _chained([*GOOD, b"", _record(3)]), "line 3"),
    "crlf": ("audit.jsonl_valid", _chained([*GOOD, json.dumps(_record(3)).encode() + b"\r"]), "line 3"),
    "torn": ("audit.jsonl_valid", _chained([*GOOD, _record(3)])[:-20], "line 3"),
    "too_long": (
        "audit.jsonl_valid",
        _chained([*GOOD, _record(3, note="x" * (64 << 20)), _record(4)]),
        "line 3",
    ),
    "seq_gap": ("audit.sequence_intact", _chained([*GOOD, _record(4)]), "line 3"),
    "seq_duplicate": ("audit.sequence_intact", _chained([*GOOD, _record(2)]), "line 3"),
    "seq_order": ("audit.sequence_intact", _chained([_record(2), _record(1)]), "line 2"),
    "seq_missing": ("audit.sequence_intact", _chained([*GOOD, {**_record(3), "seq": None}]), "line 3"),
    "timestamp_order": (
        "audit.sequence_intact",
        _chained([*GOOD, {**_record(3), "timestamp": "2026-11-24T09:00:00+00:00"}]),
        "line 3",
    ),
    "chain_mismatch": (
        "audit.hash_chain_intact",
        _chained([*GOOD, _record(3, prev_sha256="f" * 64)]),
        "line 3",
    ),
    "chain_missing": ("audit.hash_chain_intact", _chained([*GOOD, _record(3, prev_sha256=None)]), "line 3"),
}
CASES |= {
    f"audit trail: {kind}": BadInput(
        _trail(content), (AUDIT,), {check: "{folder}/audit.jsonl: * problem(s): " + f"{line}: *"}
    )
    for kind, (check, content, line) in TRAILS.items()
}


def _trail_folder(folder: Path) -> dict[str, str]:
    (folder / "audit.jsonl").mkdir()
    return {"READINESS_AUDIT_TRAIL": str(folder / "audit.jsonl")}


CASES["audit trail: a folder, not a file"] = BadInput(
    _trail_folder, (AUDIT,), {"audit.present_writable": "READINESS_AUDIT_TRAIL={folder}/audit.jsonl: *"}
)

# --- the deployment layer's files --------------------------------------------------------------


def _deployed(pid: bytes | None = None, log: bytes | None = None) -> Callable[[Path], dict[str, str]]:
    """A PID file and a log; ``log=b"loop"`` makes the log a symlink loop."""

    def prepare(folder: Path) -> dict[str, str]:
        env = {"READINESS_PID_FILE": str(folder / "bot.pid"), "READINESS_LOG_FILE": str(folder / "bot.log")}
        (folder / "bot.pid").write_bytes(pid if pid is not None else b"%d\n" % os.getpid())
        if log == b"loop":
            _loop(folder / "bot.log")
        else:
            (folder / "bot.log").write_bytes(log or b"2026-11-24 10:00:00 INFO bot: ok\n")
        return env

    return prepare


def _dead_pid() -> bytes:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return b"%d\n" % child.pid


CASES |= {
    "PID file: garbage": BadInput(
        _deployed(pid=b"not-a-pid\x00\n"),
        DEPLOYMENT,
        {
            "deploy.process_running": "PID file {folder}/bot.pid does not hold a process id "
            "(it starts with 'not-a-pid\\x00')"
        },
    ),
    "PID file: dead PID": BadInput(
        _deployed(pid=_dead_pid()),
        DEPLOYMENT,
        {
            "deploy.process_running": "PID file {folder}/bot.pid names pid *, but no such process is running: *"
        },
    ),
    "log file: binary": BadInput(
        _deployed(log=bytes(range(256)) * 64 + b"\n" + b"\x00\xff\xfe" * 500),
        DEPLOYMENT,
        {
            "deploy.no_critical_logs": "log file {folder}/bot.log is not a text log: *",
            "deploy.error_rate": "log file {folder}/bot.log is not a text log: *",
        },
    ),
    "log file: symlink loop": BadInput(
        _deployed(log=b"loop"),
        DEPLOYMENT,
        {
            "deploy.no_critical_logs": "log file {folder}/bot.log *symbolic links*",
            "deploy.error_rate": "log file {folder}/bot.log *symbolic links*",
        },
    ),
}

# --- settings the harness needs: one-line usage errors -----------------------------------------


def _env_file(content: bytes) -> Callable[[Path], dict[str, str]]:
    def prepare(folder: Path) -> dict[str, str]:
        path = folder / ".env"
        if content == b"loop":
            _loop(path)
        elif content == b"folder":
            path.mkdir()
        else:
            path.write_bytes(content)
        return {"--env-file": str(path)}

    return prepare


def _config(content: bytes | None) -> Callable[[Path], dict[str, str]]:
    def prepare(folder: Path) -> dict[str, str]:
        if content is None:
            _loop(folder / "readiness.toml")
        else:
            (folder / "readiness.toml").write_bytes(content)
        return {"READINESS_CONFIG": str(folder / "readiness.toml")}

    return prepare


def _environ(**env: str) -> Callable[[Path], dict[str, str]]:
    return lambda folder: env


CASES |= {
    name: BadInput(prepare, (RISK,), usage_error=message)
    for name, prepare, message in [
        (
            ".env: a line that is not NAME=value",
            _env_file(b"READINESS_SYMBOL=BTCUSDT\nthis line is wrong\n"),
            "ERROR: env file {folder}/.env, line 2: cannot parse 'this line is wrong'*",
        ),
        (
            ".env: an unterminated quote",
            _env_file(b'READINESS_SYMBOL=BTCUSDT\nTELEGRAM_CHAT_ID="-100123\n'),
            "ERROR: env file {folder}/.env, line 2: *",
        ),
        (".env: not UTF-8", _env_file(b"READINESS_SYMBOL=BTC\xffUSDT\n"), "ERROR: *{folder}/.env*UTF-8*"),
        (
            ".env: a folder",
            _env_file(b"folder"),
            "ERROR: env file {folder}/.env: cannot read it (Is a directory)",
        ),
        (
            ".env: symlink loop",
            _env_file(b"loop"),
            "ERROR: env file {folder}/.env: cannot read it (Too many levels of symbolic links)",
        ),
        (
            "readiness.toml: a string for a number",
            _config(b"telegram_max_s = 'fast'\n"),
            "ERROR: *{folder}/readiness.toml: setting 'telegram_max_s' must be a number, got 'fast'",
        ),
        (
            "readiness.toml: a number for a string",
            _config(b"symbol = 5\n"),
            "ERROR: *{folder}/readiness.toml: setting 'symbol' must be a string, got 5",
        ),
        (
            "readiness.toml: malformed TOML",
            _config(b"symbol = 'BTCUSDT'\nmin_balance = \n"),
            "ERROR: config file {folder}/readiness.toml: invalid TOML*line 2*",
        ),
        ("readiness.toml: symlink loop", _config(None), "ERROR: *{folder}/readiness.toml*symbolic links*"),
        (
            "env var: not a number",
            _environ(READINESS_MAX_CLOCK_SKEW_MS="1s"),
            "ERROR: environment variable READINESS_MAX_CLOCK_SKEW_MS: setting 'max_clock_skew_ms' must be a number*",
        ),
        (
            "env var: negative balance",
            _environ(READINESS_MIN_BALANCE="-5"),
            "ERROR: *READINESS_MIN_BALANCE*must be a finite number >= 0*",
        ),
        (
            "env var: not a URL",
            _environ(TELEGRAM_API_URL="api.telegram.org"),
            "ERROR: environment variable TELEGRAM_API_URL: setting 'telegram_api_url' must be an http(s) URL*",
        ),
        (
            "env var: unknown target",
            _environ(READINESS_TARGET="staging"),
            "ERROR: environment variable READINESS_TARGET: unknown target*",
        ),
    ]
}


def _run(folder: Path, case: BadInput, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = [f"{name}={value}" for name, value in settings.items() if name.startswith("--")]
    env = {name: value for name, value in settings.items() if not name.startswith("--")}
    with case.hold(folder):
        return run_pytest(
            *args,
            *case.select,
            f"--readiness-dir={folder.parent / 'reports'}",
            env={"READINESS_TARGET": "testnet", **env},
        )


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_fails_clearly_and_changes_nothing(tmp_path: Path, tried: Tried, name: str) -> None:
    tried("bad input", name)
    case = CASES[name]
    folder = tmp_path / "bot"
    folder.mkdir()
    settings = case.prepare(folder)
    before = snapshot(folder)
    done = _run(folder, case, settings)
    assert snapshot(folder) == before, "the bot's files changed"
    output = done.stdout + done.stderr
    assert "INTERNALERROR" not in output and "Traceback" not in output, output[-3000:]

    if case.usage_error:
        assert done.returncode == pytest.ExitCode.USAGE_ERROR, output[-3000:]
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert fnmatch.fnmatch(lines[0], case.usage_error.format(folder=folder)), lines[0]
        return
    report = json.loads(report_path(tmp_path / "reports").read_text("utf-8"))
    assert report["verdict"] == "NO-GO"
    for check_id, pattern in case.failed.items():
        entry = check_entry(report, check_id)
        assert entry["outcome"] == "failed", entry
        assert fnmatch.fnmatch(entry["message"], pattern.format(folder=folder)), entry["message"]
        assert entry["remediation"]
        assert entry["message"] in done.stdout  # the terminal names the file too


def _validator_kinds(content: bytes, tmp_path: Path) -> set[str]:
    path = tmp_path / "trail.jsonl"
    path.write_bytes(content)
    return {error.kind for error in validate_file(path).errors}


@pytest.mark.parametrize("kind", list(TRAILS))
def test_each_trail_carries_its_error_kind(tmp_path: Path, kind: str) -> None:
    assert kind in _validator_kinds(TRAILS[kind][1], tmp_path)
