"""The deployment layer: healthy sandbox passes; each fault fails exactly its check; bad files fail clearly.

Catalogue runs go through the real check catalogue in a subprocess; the probes' reading rules
(backward reading, windows, block seams, zombies) are tested directly, where they are cheap.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readiness.probes import logs, process, trail

from ..helpers import check_entry, outcomes, report_path, run_catalogue

DEPLOYMENT = (
    "deploy.process_running",
    "deploy.process_memory",
    "deploy.no_critical_logs",
    "deploy.error_rate",
    "deploy.recent_activity",
    "security.secrets_not_in_logs",
    "ops.ws_reconnects",
    "ops.circuit_breaker_trips",
    "ops.api_latency_p95",
)
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ"


def _sha256(*paths: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.exists()}


def _layer(report: dict[str, object]) -> dict[str, str]:
    return {k: v for k, v in outcomes(report).items() if k in DEPLOYMENT}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


# -- the catalogue against the sandbox ----------------------------------------------------------


def test_healthy_sandbox_passes_the_deployment_layer(tmp_path: Path) -> None:
    report = run_catalogue(tmp_path, "-m", "postdeploy", "--target", "sandbox")
    assert _layer(report) == dict.fromkeys(DEPLOYMENT, "passed")
    metrics = {m["name"]: m for c in report["checks"] for m in c["metrics"]}
    assert metrics["rss"]["threshold"] == 1024
    assert metrics["last_event_age"]["threshold"] == 300
    assert metrics["api_latency_p95"]["threshold"] == 1000
    assert metrics["ws_reconnects"]["threshold"] == 5
    assert metrics["error_rate"]["threshold"] == 1


FAULT_CASES = [
    (
        "bot_not_running",
        "deploy.process_running",
        "PID file */bot.pid names pid *, but no such process is running: * (stale PID file)",
        "Start the bot",
    ),
    (
        "bot_memory_limit",
        "deploy.process_memory",
        "pid * (python*) uses * MB RSS, above READINESS_MAX_RSS_MB=*",
        "Find what grows in the bot",
    ),
    (
        "critical_log",
        "deploy.no_critical_logs",
        "1 CRITICAL/FATAL record(s) in the last 15 min of the log: */bot.log:*",
        "Read the CRITICAL records",
    ),
    (
        "bot_error_burst",
        "deploy.error_rate",
        "40 ERROR records in the last 15 min of the log (2.7/min, limit 1/min), the latest at */bot.log:*",
        "fix the most frequent cause",
    ),
    (
        "bot_stale_trail",
        "deploy.recent_activity",
        "the newest event in audit trail */audit.jsonl is 10.? min old (*); limit 5 min",
        "check that it is not hung",
    ),
    (
        "secret_in_log",
        "security.secrets_not_in_logs",
        "secret values found (shown by location only): TELEGRAM_BOT_TOKEN at */bot.log:*",
        "Rotate every credential named",
    ),
    (
        "ws_reconnects",
        "ops.ws_reconnects",
        "12 ws_reconnect events in the last 60 min of audit trail */audit.jsonl (limit 5)",
        "websocket",
    ),
    (
        "circuit_breaker_trips",
        "ops.circuit_breaker_trips",
        "6 circuit_breaker_open events in the last 60 min of audit trail */audit.jsonl (limit 0)",
        "Find what failed behind the breaker",
    ),
    (
        "slow_api",
        "ops.api_latency_p95",
        "api_call latency p95 is * ms over * calls in the last 60 min of audit trail */audit.jsonl "
        "(limit 1000 ms)",
        "Run the bot closer to the exchange",
    ),
]


@pytest.mark.parametrize(
    ("fault", "check_id", "message", "remediation"), FAULT_CASES, ids=[case[0] for case in FAULT_CASES]
)
def test_each_fault_fails_exactly_its_check(
    tmp_path: Path, fault: str, check_id: str, message: str, remediation: str
) -> None:
    report = run_catalogue(tmp_path, "-m", "deployment", "--target", "sandbox", "--sandbox-fault", fault)
    expected = dict.fromkeys(DEPLOYMENT, "passed") | {check_id: "failed"}
    if fault == "bot_not_running":
        expected["deploy.process_memory"] = "blocked"
    assert _layer(report) == expected
    entry = check_entry(report, check_id)
    assert fnmatch.fnmatch(entry["message"], message), entry["message"]
    assert remediation in entry["remediation"]
    assert remediation in report["_stdout"]
    assert "Traceback" not in report["_stdout"]
    assert "***" not in entry["message"]  # the secrets check names where, never what


# -- bad inputs: clear failures naming the file, files untouched ---------------------------------


def _bot_files(tmp_path: Path, **content: bytes) -> dict[str, str]:
    """Write the given bot files and return the settings env pointing at them (unwritten: missing)."""
    env = {"READINESS_TARGET": "testnet"}
    names = {"pid": "READINESS_PID_FILE", "log": "READINESS_LOG_FILE", "trail": "READINESS_AUDIT_TRAIL"}
    for key, variable in names.items():
        path = tmp_path / "bot" / f"bot.{key}"
        path.parent.mkdir(exist_ok=True)
        if key in content:
            path.write_bytes(content[key])
        env[variable] = str(path)
    return env


def test_garbage_pid_binary_log_and_empty_trail_fail_naming_the_file(tmp_path: Path) -> None:
    binary = bytes(range(256)) * 64 + b"\n" + b"\x00\xff\xfe" * 500
    env = _bot_files(tmp_path, pid=b"not-a-pid\x00\n", log=binary, trail=b"")
    files = [Path(env[v]) for v in ("READINESS_PID_FILE", "READINESS_LOG_FILE", "READINESS_AUDIT_TRAIL")]
    before = _sha256(*files)
    report = run_catalogue(tmp_path, "-m", "deployment", env=env)
    assert _sha256(*files) == before
    pid_file, log_file, trail_file = files
    assert _layer(report) == {
        "deploy.process_running": "failed",
        "deploy.process_memory": "blocked",
        "deploy.no_critical_logs": "failed",
        "deploy.error_rate": "failed",
        "deploy.recent_activity": "failed",
        "security.secrets_not_in_logs": "passed",
        "ops.ws_reconnects": "passed",
        "ops.circuit_breaker_trips": "passed",
        "ops.api_latency_p95": "skipped",
    }
    assert check_entry(report, "deploy.process_running")["message"] == (
        f"PID file {pid_file} does not hold a process id (it starts with 'not-a-pid\\x00')"
    )
    for check_id in ("deploy.no_critical_logs", "deploy.error_rate"):
        entry = check_entry(report, check_id)
        assert entry["message"].startswith(f"log file {log_file} is not a text log: ")
        assert "READINESS_LOG_FILE" in entry["remediation"]
    assert check_entry(report, "deploy.recent_activity")["message"] == (
        f"audit trail {trail_file} is empty: the bot has recorded no events"
    )
    assert "not verified: no api_call events" in check_entry(report, "ops.api_latency_p95")["message"]
    assert "Traceback" not in report["_stdout"]


def test_dead_pid_and_missing_log_fail_naming_the_file(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    now = time.time()
    trail_lines = b"".join(
        b'{"timestamp":"%s","event":"api_call","latency_ms":12.5}\n' % _iso(now - 5).encode()
        for _ in range(3)
    )
    env = _bot_files(tmp_path, pid=f"{child.pid}\n".encode(), trail=trail_lines)
    pid_file, log_file = Path(env["READINESS_PID_FILE"]), Path(env["READINESS_LOG_FILE"])
    before = _sha256(pid_file, Path(env["READINESS_AUDIT_TRAIL"]))
    report = run_catalogue(tmp_path, "-m", "deployment", env=env)
    assert _sha256(pid_file, Path(env["READINESS_AUDIT_TRAIL"])) == before
    assert not log_file.exists()
    assert check_entry(report, "deploy.process_running")["message"] == (
        f"PID file {pid_file} names pid {child.pid}, but no such process is running: "
        "the bot stopped without removing it (stale PID file)"
    )
    for check_id in ("deploy.no_critical_logs", "deploy.error_rate"):
        assert check_entry(report, check_id)["message"] == f"log file {log_file} does not exist"
    assert check_entry(report, "security.secrets_not_in_logs")["message"] == (
        f"could not scan for secrets: log file {log_file} does not exist"
    )
    assert check_entry(report, "ops.api_latency_p95")["outcome"] == "passed"
    assert check_entry(report, "deploy.recent_activity")["outcome"] == "passed"
    assert "Traceback" not in report["_stdout"]


def test_unconfigured_files_skip_naming_the_variable(tmp_path: Path) -> None:
    report = run_catalogue(tmp_path, "-m", "deployment", env={"READINESS_TARGET": "testnet"})
    assert (
        check_entry(report, "deploy.process_running")["message"] == "not configured: set READINESS_PID_FILE"
    )
    assert check_entry(report, "deploy.error_rate")["message"] == "not configured: set READINESS_LOG_FILE"
    assert check_entry(report, "ops.ws_reconnects")["message"] == "not configured: set READINESS_AUDIT_TRAIL"
    assert check_entry(report, "security.secrets_not_in_logs")["message"] == (
        "not configured: set READINESS_LOG_FILE, READINESS_AUDIT_TRAIL"
    )


def test_secrets_check_names_file_and_line_never_the_secret(tmp_path: Path) -> None:
    secret = "s3cr3t-Binance-API-secret-value"
    log = b"2026-01-01 00:00:00,000 INFO bot: start\n" + b"x\n" * 3 + f"key {secret} here\n".encode()
    trail_lines = b'{"timestamp":1,"event":"x"}\n{"timestamp":2,"event":"y","note":"%s"}\n' % TOKEN.encode()
    env = _bot_files(tmp_path, log=log, trail=trail_lines)
    env |= {"BINANCE_TESTNET_API_SECRET": secret}
    report = run_catalogue(tmp_path, "-m", "deployment", env=env)
    entry = check_entry(report, "security.secrets_not_in_logs")
    assert entry["outcome"] == "failed"
    assert entry["message"] == (
        "secret values found (shown by location only): "
        f"BINANCE_TESTNET_API_SECRET at {env['READINESS_LOG_FILE']}:5; "
        f"a Telegram-token-shaped string at {env['READINESS_AUDIT_TRAIL']}:2"
    )
    out = report["_stdout"] + report_path(tmp_path / "reports").read_text("utf-8")
    assert secret not in out
    assert TOKEN not in out
    assert "***" not in entry["message"]


# -- the probes' reading rules ------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300).map(lambda b: b.replace(b"\x01", b"\n")), block=st.integers(1, 17))
def test_lines_backward_yields_every_line_in_reverse(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, block: int
) -> None:
    path = tmp_path_factory.mktemp("lb") / "f"
    path.write_bytes(data)
    with open(path, "rb") as f:
        got = list(logs.lines_backward(f, block=block))
    expected = data.split(b"\n")
    if data.endswith(b"\n"):
        expected.pop()
    if not data:
        expected = []
    assert [line.data for line in reversed(got)] == expected
    offsets = [0] if expected else []
    for part in expected[:-1]:
        offsets.append(offsets[-1] + len(part) + 1)
    assert [line.offset for line in reversed(got)] == offsets
    assert all(line.terminated for line in got[1:])
    if got:
        assert got[0].terminated == data.endswith(b"\n")
    with open(path, "rb") as f:
        numbers = logs.line_numbers(f, offsets, block=block)
    assert [numbers[o] for o in offsets] == list(range(1, len(offsets) + 1))


def test_lines_backward_bounds_a_huge_line(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"head" + b"x" * 5000 + b"\nlast\n")
    with open(path, "rb") as f:
        got = list(logs.lines_backward(f, block=64, max_line=100))
    assert [(g.data[:4], len(g.data), g.truncated) for g in got] == [
        (b"last", 4, False),
        (b"head", 100, True),
    ]


@settings(max_examples=100, deadline=None)
@given(prefix=st.integers(0, 300), block=st.integers(8, 64))
def test_secret_scan_finds_a_secret_across_block_seams(
    tmp_path_factory: pytest.TempPathFactory, prefix: int, block: int
) -> None:
    secret = "a-long-secret-value-0123456789"
    path = tmp_path_factory.mktemp("s") / "log"
    path.write_bytes(b"ab\n" * (prefix // 3) + b"." * (prefix % 3) + secret.encode() + b"\n" + TOKEN.encode())
    scan = logs.scan_secrets(path, {secret: "MY_SECRET"}, block=block)
    found = {f.label: (f.count, f.lines) for f in scan.findings}
    assert found == {"MY_SECRET": (1, (prefix // 3 + 1,)), logs.TOKEN_LABEL: (1, (prefix // 3 + 2,))}


def test_log_window_counts_records_not_continuation_lines(tmp_path: Path) -> None:
    now = time.time()

    def stamp(age: float) -> str:
        return datetime.fromtimestamp(now - age).strftime("%Y-%m-%d %H:%M:%S,000")

    path = tmp_path / "bot.log"
    path.write_text(
        f"{stamp(3600)} ERROR bot: old, outside the window\n"
        f"{stamp(3600)} CRITICAL bot: old, outside the window\n"
        f"{stamp(60)} ERROR bot: failed\n"
        "Traceback (most recent call last):\n"
        "  ERROR in a frame: not a record\n"
        f"{stamp(30)} CRITICAL bot: halted\n"
        f"{stamp(20)} INFO bot: an ERROR word in the message does not count\n"
        f"{_iso(now - 10)} ERROR iso with offset\n",
        "utf-8",
    )
    scan = logs.scan_log(path, lookback_s=900, now=now)
    assert (scan.problem, scan.dated, scan.records) == (None, True, 4)
    assert (scan.critical, scan.critical_lines) == (1, (6,))
    assert (scan.errors, scan.error_lines) == (2, (3, 8))


def test_log_without_timestamps_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "bot.log"
    path.write_text("INFO start\nCRITICAL boom\nERROR x\n", "utf-8")
    scan = logs.scan_log(path, lookback_s=900)
    assert (scan.dated, scan.critical, scan.critical_lines, scan.errors) == (False, 1, (2,), 1)


def test_trail_is_read_from_the_end_and_stops_at_the_window(tmp_path: Path) -> None:
    now = time.time()
    old = b'{"timestamp":"%s","event":"ws_reconnect"}\n' % _iso(now - 3 * 86400).encode()
    recent = [
        b'{"timestamp":"%s","event":"api_call","latency_ms":%d}\n' % (_iso(now - 100 + i).encode(), i)
        for i in range(1, 101)
    ]
    path = tmp_path / "audit.jsonl"
    path.write_bytes(old * 50_000 + b"".join(recent) + b'{"timestamp":"%s","ev' % _iso(now).encode())
    figures = trail.read_trail(path, lookback_s=3600, now=now)
    assert figures.lines == 101  # the window, and the first line before it: not the 50,000 old ones
    assert (figures.count("api_call"), figures.count("ws_reconnect"), figures.torn_tail) == (100, 0, True)
    assert figures.latency_p95_ms == 95
    assert figures.age_s(now) == pytest.approx(0, abs=0.01)


def test_trail_epoch_timestamps_and_unreadable_lines(tmp_path: Path) -> None:
    now = time.time()
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'{"timestamp":%f,"event":"circuit_breaker_open"}\nnot json\n[1]\n' % (now - 5))
    figures = trail.read_trail(path, lookback_s=3600, now=now)
    assert (figures.count("circuit_breaker_open"), figures.unreadable) == (1, 2)


def test_zombie_and_reused_pid_are_not_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "bot.pid"
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        pid_file.write_text(f"{zombie.pid}\n")
        state = process.inspect(process.from_pid_file(pid_file))
        assert state.problem is not None
        assert state.problem.startswith(f"pid {zombie.pid} (")
        assert f"from PID file {pid_file} is a zombie" in state.problem
    finally:
        zombie.wait()
    pid_file.write_text(f"{os.getpid()}\n")
    os.utime(pid_file, (time.time(), psutil.Process().create_time() - 60))
    state = process.inspect(process.from_pid_file(pid_file))
    assert state.problem is not None and "the bot died and its PID was reused" in state.problem
    os.utime(pid_file)
    state = process.inspect(process.from_pid_file(pid_file))
    assert state.problem is None and state.rss_mb is not None and state.rss_mb > 0
