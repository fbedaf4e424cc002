"""``--target sandbox``: the session starts emulators and bot, points every setting at them, and
leaves nothing behind, also on failure, Ctrl-C and under xdist."""

from __future__ import annotations

import contextlib
import inspect
import json
import pathlib
import re
import shlex
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil
import pytest
from dotenv import dotenv_values

from readiness.sandbox import bot
from readiness.sandbox.binance import BinanceEmulator
from readiness.sandbox.session import FAULTS, REHEARSALS, Sandbox
from readiness.sandbox.telegram import TelegramEmulator

from ..helpers import PYTEST, wait_until

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
    assert not pathlib.Path(str(probe["workdir"])).exists()


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
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    # no bot of this run's (children of this process: other workers start bots of their own meanwhile)
    children = {child.pid for child in psutil.Process().children(recursive=True)}
    assert [bot for bot in _bot_processes() if bot.pid in children] == []


def test_every_fault_names_the_check_it_targets() -> None:
    check_id = re.compile(
        r"\b(binance|telegram|integration|audit|positions|risk|system|deploy|security|ops|drill|env|manual|release)\.[a-z_]+"
    )
    untargeted = [name for name, description in FAULTS.items() if not check_id.search(description)]
    assert untargeted == []


def test_fault_descriptions_share_one_format_and_name_no_internal_parameter() -> None:
    """What happens, then ``(fails <check>...)``; nothing a user cannot set (an emulator's or the
    sandbox bot's own parameters)."""
    internal = {
        name
        for function in (TelegramEmulator.__init__, BinanceEmulator.__init__)
        for name in inspect.signature(function).parameters
        if "_" in name
    }
    internal |= set(re.findall(r'"(--[a-z-]+)"', pathlib.Path(bot.__file__).read_text("utf-8")))
    for name, description in {**FAULTS, **REHEARSALS}.items():
        assert not description.endswith("."), name
        assert (
            description[0].islower() or description.split()[0].isupper() or description[0] in "/0123456789"
        ), name
        named = [
            word for word in internal if re.search(rf"(?<![.\w-]){re.escape(word)}(?![\w-])", description)
        ]
        assert not named, (name, description)
        if name in FAULTS:
            assert re.search(r"\(fails [a-z]+\.[a-z_]+[^()]*\)$", description), (name, description)


def test_rehearsal_faults_are_listed_apart_and_reach_the_paper_exchange() -> None:
    """``binance_order_429`` as a bot meets it: each opening order is turned away once, and the bot
    waits out Retry-After and tries again."""
    listed = subprocess.run(
        [sys.executable, "-m", "readiness.cli", "sandbox", "--list-faults"], capture_output=True, text=True
    )
    checks, rehearsals = listed.stdout.split("For rehearsing a bot (no check is made to fail by these):\n")
    assert sorted(line.split()[0] for line in rehearsals.splitlines()) == sorted(REHEARSALS)
    assert not set(REHEARSALS) & {line.split()[0] for line in checks.splitlines() if line}
    with Sandbox(faults=["binance_order_429"]) as sandbox:
        bot_dir = sandbox.workdir / "bot"
        assert bot.wait_for_positions(bot_dir)
        with contextlib.closing(sqlite3.connect(f"file:{bot_dir / bot.DB_FILE}?mode=ro", uri=True)) as db:
            held = [symbol for (symbol,) in db.execute("SELECT symbol FROM positions ORDER BY symbol")]
        log = (bot_dir / bot.LOG_FILE).read_text()
        answers = [r.status for r in sandbox.binance.requests if r.path == "/api/v3/order"]
    assert held == ["BTCUSDT", "ETHUSDT"]
    assert answers == [429, 200, 429, 200]
    assert log.count("rate-limited (HTTP 429, code -1015: Too many new orders") == 2, log
    assert " ERROR " not in log


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


def test_readiness_sandbox_command_refuses_unknown_faults() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "readiness.cli", "sandbox", "--fault", "nope"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith("readiness sandbox: unknown sandbox fault(s) nope; known faults: ")


@dataclass
class SandboxCommand:
    """A ``readiness sandbox`` subprocess, its stdout and stderr in files so every wait has a deadline."""

    process: subprocess.Popen[bytes]
    out: pathlib.Path
    err: pathlib.Path

    def wait_for_line(self, prefix: str) -> None:
        wait_until(lambda: any(line.startswith(prefix) for line in self._lines()), 10, f"a line {prefix!r}")

    def env(self) -> dict[str, str]:
        """The printed NAME=value lines, unquoted as sh would."""
        lines = [line for line in self._lines() if not line.startswith("#")]
        return dict(shlex.split(line)[0].partition("=")[::2] for line in lines)

    def _lines(self) -> list[str]:
        return self.out.read_text().splitlines()


@contextlib.contextmanager
def _sandbox_command(folder: pathlib.Path, *args: str, background: bool = False) -> Iterator[SandboxCommand]:
    """Run ``readiness sandbox ARGS`` in ``folder``; as a non-interactive shell's ``&`` job if ``background``
    (SIGINT ignored). Whatever the test did, nothing it started outlives it."""
    ignore_sigint = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if background else None
    out, err = folder / "sandbox.out", folder / "sandbox.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "readiness.cli", "sandbox", *args],
            cwd=folder,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=ignore_sigint,
        )
    run = SandboxCommand(process, out, err)
    try:
        yield run
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        bot_dir = run.env().get("READINESS_SANDBOX_BOT_DIR")
        if bot_dir:  # a SIGKILLed sandbox leaves its bot and temp folder for us
            for bot in _bot_processes():
                if bot_dir in " ".join(bot.cmdline()):
                    bot.kill()
            shutil.rmtree(pathlib.Path(bot_dir).parent, ignore_errors=True)


def _live_bot(env: dict[str, str]) -> psutil.Process:
    return psutil.Process(int(pathlib.Path(env["READINESS_PID_FILE"]).read_text()))


def _assert_left_nothing(run: SandboxCommand, env: dict[str, str], bot: psutil.Process) -> None:
    assert "Traceback" not in run.err.read_text()
    assert not pathlib.Path(env["READINESS_SANDBOX_BOT_DIR"]).parent.exists()
    _gone, alive = psutil.wait_procs([bot], timeout=5)
    assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []


def test_write_env_file_is_private_and_live_once_it_appears(tmp_path: pathlib.Path) -> None:
    """A script waits for the file, then sources it: it must point at emulators that answer."""
    other = tmp_path / "other.txt"
    other.write_text("not the sandbox's\n")
    env_path = tmp_path / "sb.env"
    env_path.symlink_to(other)  # an existing PATH is replaced, a symlink never followed
    with _sandbox_command(tmp_path, "--write-env", "sb.env") as run:
        wait_until(lambda: not env_path.is_symlink() and env_path.exists(), 10, "the env file")
        assert stat.S_IMODE(env_path.lstat().st_mode) == 0o600
        assert other.read_text() == "not the sandbox's\n"
        values = dotenv_values(env_path)
        assert httpx.get(f"{values['BINANCE_API_URL']}/api/v3/ping").json() == {}
        me = httpx.get(f"{values['TELEGRAM_API_URL']}/bot{values['TELEGRAM_BOT_TOKEN']}/getMe").json()
        assert me["ok"] is True
        sourced = subprocess.run(
            ["sh", "-c", 'set -a; . "$1"; set +a; exec env -0', "sh", str(env_path)],
            capture_output=True,
            check=True,
        ).stdout.decode()
        in_sh = dict(item.partition("=")[::2] for item in sourced.split("\0") if item)
        assert {name: in_sh[name] for name in values} == values
        assert " " in str(values["READINESS_BOT_COMMAND"])  # so quoting was needed, and read alike
        run.wait_for_line("# sandbox up")
        assert run.env() == values
        assert values["READINESS_TARGET"] == "sandbox"
        run.process.send_signal(signal.SIGTERM)
        assert run.process.wait(timeout=10) == 0
    assert not env_path.exists() and not env_path.is_symlink()
    assert other.read_text() == "not the sandbox's\n"


@pytest.mark.parametrize("background", [False, True])
def test_sigint_stops_the_sandbox_command_and_leaves_nothing(
    tmp_path: pathlib.Path, background: bool
) -> None:
    with _sandbox_command(tmp_path, background=background) as run:
        run.wait_for_line("# sandbox up")
        env = run.env()
        bot = _live_bot(env)
        run.process.send_signal(signal.SIGINT)
        assert run.process.wait(timeout=10) == 0
        _assert_left_nothing(run, env, bot)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_second_signal_while_stopping_exits_at_once(tmp_path: pathlib.Path, signum: int, status: int) -> None:
    """The bot is SIGSTOPped, so the graceful stop waits out its 5 s SIGTERM timeout; a second signal
    must not wait for it, and must still leave no bot, temp folder or env file behind."""
    env_path = tmp_path / "sb.env"
    with _sandbox_command(tmp_path, "--write-env", "sb.env", background=True) as run:
        run.wait_for_line("# sandbox up")
        env = run.env()
        bot = _live_bot(env)
        bot.suspend()
        run.process.send_signal(signum)
        run.wait_for_line("# stopping")
        second = time.monotonic()
        run.process.send_signal(signum)
        assert run.process.wait(timeout=10) == status
        assert time.monotonic() - second < 2
        assert (
            run.err.read_text()
            == f"readiness sandbox: second {signal.Signals(signum).name}: stopped at once\n"
        )
        _assert_left_nothing(run, env, bot)
        assert not env_path.exists()


@pytest.mark.parametrize(
    ("path", "problem"), [("missing/sb.env", "folder missing does not exist"), (".", "is a folder")]
)
def test_write_env_refuses_a_path_it_cannot_take(tmp_path: pathlib.Path, path: str, problem: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "readiness.cli", "sandbox", "--write-env", path],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"readiness sandbox: --write-env {path}: {problem}\n"
