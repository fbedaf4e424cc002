"""``--target sandbox``: the session starts emulators and bot, points every setting at them, and
leaves nothing behind, also on failure, Ctrl-C and under xdist."""

from __future__ import annotations

import json
import pathlib
import re
import signal
import subprocess
import sys

import psutil
import pytest

from readiness.sandbox.session import FAULTS, Sandbox

from ..helpers import PYTEST

PROBE = """
import json, os, time
import httpx, pytest

@pytest.mark.readiness(id="sb.probe", layer="component", tier=1, title="T", remediation="R")
def test_probe(readiness):
    s = readiness.settings
    started = time.perf_counter()
    me = httpx.get(f"{s.telegram_api_url}/bot{s.telegram_bot_token}/getMe").json()
    ping = httpx.get(f"{s.binance_api_url}/api/v3/ping").json()
    elapsed = time.perf_counter() - started
    print("PROBE=" + json.dumps({
        "telegram": me["ok"], "ping": ping, "elapsed": elapsed, "pid": int(s.pid_file.read_text()),
        "files": [str(p) for p in (s.audit_trail, s.positions_db, s.risk_config, s.log_file)],
        "workdir": os.environ["READINESS_SANDBOX_BOT_DIR"], "risk_manager": s.risk_manager,
        "bot_command": s.bot_command, "network": s.network, "has_key": bool(s.binance_key),
    }))
"""


def _probe(result: pytest.RunResult) -> dict[str, object]:
    for line in result.stdout.lines:
        if "PROBE=" in line:
            data: dict[str, object] = json.loads(line.split("PROBE=", 1)[1])
            return data
    raise AssertionError(result.stdout.str() + result.stderr.str())


def _bot_processes() -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "readiness.sandbox.bot" in cmdline:
            found.append(process)
    return found


def test_sandbox_run_points_every_setting_and_cleans_up(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.runpytest_subprocess("-s", "--target", "sandbox")
    result.assert_outcomes(passed=1)
    probe = _probe(result)
    assert probe["telegram"] is True
    assert probe["ping"] == {}
    assert probe["network"] == "mainnet" and probe["has_key"] is True
    assert probe["risk_manager"] == "readiness.sandbox.riskclient:connect"
    assert "readiness.sandbox.bot" in str(probe["bot_command"])
    assert all(str(probe["workdir"]) in path for path in probe["files"])  # type: ignore[attr-defined]
    assert not psutil.pid_exists(int(probe["pid"]))  # type: ignore[call-overload]
    assert [p for p in _bot_processes() if str(probe["workdir"]) in " ".join(p.cmdline())] == []
    assert not pytest.importorskip("pathlib").Path(str(probe["workdir"])).exists()


def test_sandbox_latency_applies_to_every_request(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_probe=PROBE)
    probe = _probe(pytester.runpytest_subprocess("-s", "--target", "sandbox", "--sandbox-latency-ms", "300"))
    assert float(probe["elapsed"]) >= 0.6  # type: ignore[arg-type]


def test_sandbox_under_xdist_is_shared_by_the_workers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_probe=PROBE)
    result = pytester.runpytest_subprocess("-s", "--target", "sandbox", "-n", "2")
    result.assert_outcomes(passed=1)
    assert json.loads((pytester.path / "reports" / "readiness.json").read_text())["verdict"] == "GO"


SLOW_CHECK = """
import os, time, pytest
@pytest.mark.readiness(id="sb.slow", layer="component", tier=2, title="T", remediation="R")
def test_slow():
    print("WORKDIR=" + os.environ["READINESS_SANDBOX_BOT_DIR"], flush=True)
    time.sleep(60)
"""


def _start_slow_sandbox_run(pytester: pytest.Pytester) -> tuple[subprocess.Popen[str], list[psutil.Process]]:
    """A sandbox run held inside a check, and its bot, for tests that stop the run from outside."""
    pytester.makepyfile(test_slow=SLOW_CHECK)
    process = subprocess.Popen(
        [*PYTEST, "-s", "--target", "sandbox"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # the check prints once the sandbox and bot are up
        if "WORKDIR=" in line:
            break
    bots = [
        c
        for c in psutil.Process(process.pid).children(recursive=True)
        if "readiness.sandbox.bot" in c.cmdline()
    ]
    assert bots, "the sandbox bot did not start"
    return process, bots


def test_interrupted_sandbox_run_leaves_no_process(pytester: pytest.Pytester) -> None:
    process, bots = _start_slow_sandbox_run(pytester)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    report = json.loads((pytester.path / "reports" / "readiness.json").read_text())
    assert report["complete"] is False
    assert report["verdict"] == "NO-GO"
    assert not any(bot.is_running() and bot.status() != psutil.STATUS_ZOMBIE for bot in bots)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--target", "sandbox", "--sandbox-fault", "no_such_fault"],
            "ERROR: --sandbox-fault: unknown sandbox fault(s) no_such_fault; known faults: *",
        ),
        (
            ["--target", "testnet", "--sandbox-fault", "binance_down"],
            "ERROR: --sandbox-latency-ms and --sandbox-fault need --target sandbox",
        ),
        (
            ["--target", "sandbox", "--sandbox-latency-ms", "-5"],
            "ERROR: --sandbox-latency-ms: must be >= 0, got -5",
        ),
    ],
)
def test_bad_sandbox_options(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    pytester.makepyfile(test_probe=PROBE)
    before = {p.pid for p in _bot_processes()}
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert {p.pid for p in _bot_processes()} <= before


def test_every_fault_names_the_check_it_targets() -> None:
    check_id = re.compile(
        r"\b(binance|telegram|integration|audit|positions|risk|system|deploy|security|ops|drill|env)\.[a-z_]+"
    )
    untargeted = [name for name, description in FAULTS.items() if not check_id.search(description)]
    assert untargeted == []


def test_sandbox_starts_quickly_and_stops_cleanly() -> None:
    with Sandbox() as sandbox:
        assert sandbox.startup_s < 10  # the 1.5 s target is measured by benchmarks/sandbox_startup.py
        pid = int((sandbox.workdir / "bot" / "bot.pid").read_text())
        assert psutil.pid_exists(pid)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_harness_killed_outright_leaves_no_bot(pytester: pytest.Pytester) -> None:
    """SIGKILL skips every cleanup hook; the bot notices its harness is gone and stops."""
    process, bots = _start_slow_sandbox_run(pytester)
    process.kill()
    process.communicate(timeout=30)
    _gone, alive = psutil.wait_procs(bots, timeout=10)
    assert alive == []


def test_readiness_sandbox_command_serves_until_interrupted() -> None:
    import httpx

    process = subprocess.Popen(
        [sys.executable, "-m", "readiness.cli", "sandbox"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    env: dict[str, str] = {}
    for line in process.stdout:
        if line.startswith("# sandbox up"):
            break
        name, _, value = line.rstrip("\n").partition("=")
        env[name] = value
    assert env["READINESS_TARGET"] == "sandbox"
    me = httpx.get(f"{env['TELEGRAM_API_URL']}/bot{env['TELEGRAM_BOT_TOKEN']}/getMe").json()
    assert me["ok"] is True
    assert httpx.get(f"{env['BINANCE_API_URL']}/api/v3/ping").json() == {}
    bot = psutil.Process(int(pathlib.Path(env["READINESS_PID_FILE"]).read_text()))
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    process.stdout.close()
    psutil.wait_procs([bot], timeout=10)
    assert not bot.is_running() or bot.status() == psutil.STATUS_ZOMBIE


def test_readiness_sandbox_command_refuses_unknown_faults() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "readiness.cli", "sandbox", "--fault", "nope"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith("readiness sandbox: unknown sandbox fault(s) nope; known faults: ")
