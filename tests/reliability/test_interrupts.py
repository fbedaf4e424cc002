"""SIGINT and SIGTERM at random points of a sandbox run: the run leaves a complete readiness.json
or one with ``complete: false`` and NO-GO, never a torn file or a temp file, and no process.

Each case draws its moment from a seeded generator (``RELIABILITY_SEED`` replays a run; the seed
is in the closing table). "Early" moments fall while pytest starts and the sandbox comes up;
a report is owed once the session has started. "Late" moments fall anywhere after the bot is up,
through the checks and the writing of the reports. SIGINT goes to the whole process group, as
Ctrl-C in a terminal does; SIGTERM to the harness alone, as ``kill`` does.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from ..helpers import PYTEST, REPO
from .conftest import Tried
from .summary import SEED_ENV

SEED = int(os.environ[SEED_ENV])  # drawn once per run by .summary
#: What a run leaves in its reports folder (``.cache`` holds the audit validator's checkpoints).
#: The reports of a "preflight or postdeploy" run are named after those two phases.
STEM = "readiness-preflight-postdeploy"
REPORT_FILES = {f"{STEM}.json", f"{STEM}.html", "history.jsonl", ".cache"}
#: Early moments: from launch through pytest's start-up and the sandbox's (seconds).
EARLY_S = (0.2, 2.5)
#: Late moments: from the bot's start through the checks, the reports and the teardown.
LATE_S = (0.0, 3.0)

CASES = [
    (signal_name, moment, index)
    for signal_name in ("SIGINT", "SIGTERM")
    for moment, count in (("early", 3), ("late", 5))
    for index in range(count)
]


def _family(process: psutil.Process) -> set[psutil.Process]:
    try:
        return {process, *process.children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _is_bot(process: psutil.Process) -> bool:
    return "readiness.sandbox.bot" in " ".join(_cmdline(process))


@pytest.mark.parametrize(("signal_name", "moment", "index"), CASES)
def test_interrupt_leaves_whole_reports_and_no_process(
    tmp_path: Path, tried: Tried, signal_name: str, moment: str, index: int
) -> None:
    case = f"{signal_name} {moment} #{index + 1}"
    tried("interrupts", case)
    delay = random.Random(f"{SEED}-{case}").uniform(*(EARLY_S if moment == "early" else LATE_S))
    reports = tmp_path / "reports"
    process = subprocess.Popen(
        [
            *PYTEST,
            f"--readiness-dir={reports}",
            "-m",
            "preflight or postdeploy",
            "--target",
            "sandbox",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    harness = psutil.Process(process.pid)
    seen: set[psutil.Process] = set()
    started = time.monotonic()
    if moment == "late":  # the clock starts once the sandbox's bot is up
        while not any(_is_bot(p) for p in seen) and time.monotonic() - started < 30:
            seen |= _family(harness)
            time.sleep(0.02)
        started = time.monotonic()
    while time.monotonic() - started < delay and process.poll() is None:
        seen |= _family(harness)
        time.sleep(0.02)
    finished_first = process.poll() is not None
    if not finished_first:
        if signal_name == "SIGINT":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)

    _gone, alive = psutil.wait_procs(seen - {harness}, timeout=10)
    alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"
    workdirs = {arg for p in seen if _is_bot(p) for arg in _cmdline(p) if "readiness-sandbox-" in arg}
    assert not any(Path(w.split("=", 1)[-1]).exists() for w in workdirs), workdirs

    if reports.exists():
        assert set(os.listdir(reports)) <= REPORT_FILES, os.listdir(reports)
        temp = [p for p in reports.rglob("*") if p.name.endswith(".tmp")]
        assert temp == [], f"temp files left: {temp}"
    assert "INTERNALERROR" not in output, output[-6000:]
    path = reports / f"{STEM}.json"
    if not path.exists():
        # owed from the moment the sandbox starts (its bot is up), before the session header
        assert not any(_is_bot(p) for p in seen), "the sandbox was up but no report was written"
        assert "test session starts" not in output
        outcome = "stopped before the sandbox started (no report owed)"
    else:
        report = json.loads(path.read_text("utf-8"))  # a torn file would not parse
        html = (reports / f"{STEM}.html").read_text("utf-8")
        assert html.rstrip().endswith("</html>")
        if report["complete"]:
            outcome = "complete report" if not finished_first else "complete report (run ended first)"
        else:
            assert report["verdict"] == "NO-GO"
            assert any("incomplete" in reason for reason in report["reasons"]), report["reasons"]
            outcome = "complete:false, NO-GO"
    tried("interrupts", case, f"{outcome} [{SEED_ENV}={SEED}]")


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


CHECK = """
import pytest

@pytest.mark.readiness(id="t.one", layer="component", tier=1, title="T", remediation="R")
def test_one():
    pass
"""

#: Ctrl-C at the two moments a random signal rarely hits: while another plugin configures (before
#: the session), and while the reports are being written.
INTERRUPTING_CONFTEST = {
    "configure": """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    raise KeyboardInterrupt
""",
    "report writing": """
import os, signal
import readiness.report.html as html

render = html.render_html

def interrupted_render(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    return render(*args, **kwargs)

html.render_html = interrupted_render
""",
    # pluggy warns when an old-style hookwrapper's teardown raises (pytest-asyncio, pytest-timeout
    # and pytest-html have them); with warnings as errors that warning replaced the Ctrl-C
    "a plugin's hookwrapper teardown": """
import pytest

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield
    raise KeyboardInterrupt
""",
}


@pytest.mark.parametrize("moment", list(INTERRUPTING_CONFTEST))
def test_ctrl_c_at_a_fixed_moment(pytester: pytest.Pytester, tried: Tried, moment: str) -> None:
    tried("interrupts", f"Ctrl-C during {moment}")
    pytester.makeconftest(INTERRUPTING_CONFTEST[moment])
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nfilterwarnings =\n    error\n")
    pytester.makepyfile(test_checks=CHECK)
    result = pytester.runpytest_subprocess("--target", "testnet")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()[-3000:]
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    reports = pytester.path / "reports"
    report = json.loads((reports / "readiness.json").read_text("utf-8"))
    assert (reports / "readiness.html").read_text("utf-8").rstrip().endswith("</html>")
    assert [p.name for p in reports.iterdir() if p.name.endswith(".tmp")] == []
    if moment != "report writing":
        assert report["complete"] is False and report["verdict"] == "NO-GO"
        assert "run incomplete: interrupted (Ctrl-C or SIGTERM)" in report["reasons"]
        tried("interrupts", f"Ctrl-C during {moment}", "complete:false, NO-GO")
    else:  # the signal waited for the reports, which are whole and say what ran
        assert report["complete"] is True
        assert [c["outcome"] for c in report["checks"]] == ["passed"]
        tried("interrupts", f"Ctrl-C during {moment}", "complete report")


TWO_PHASES = """
import pytest

@pytest.mark.readiness(id="t.before", layer="component", tier=1, title="T", remediation="R")
def test_before():
    pass

@pytest.mark.readiness(id="t.after", layer="deployment", tier=1, title="T", remediation="R")
def test_after():
    pass
"""

SELECTION_INTERRUPTED = """
import os, signal
import readiness.coverage as coverage

selected_as = coverage.selected_as

def interrupted(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    return selected_as(*args, **kwargs)

coverage.selected_as = interrupted
"""


def test_ctrl_c_while_the_selection_is_noted_keeps_the_asked_phases(
    pytester: pytest.Pytester, tried: Tried
) -> None:
    """A Ctrl-C after the first check was noted must not rename the report after that check's
    phase alone: the files stay the ones the ``-m`` expression asked for."""
    tried("interrupts", "Ctrl-C while the selection is noted")
    pytester.makeconftest(SELECTION_INTERRUPTED)
    pytester.makepyfile(test_checks=TWO_PHASES)
    result = pytester.runpytest_subprocess("--target", "testnet", "-m", "preflight or postdeploy")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()[-3000:]
    reports = pytester.path / "reports"
    assert sorted(p.name for p in reports.iterdir()) == sorted(REPORT_FILES - {".cache"})
    report = json.loads((reports / f"{STEM}.json").read_text("utf-8"))
    assert report["complete"] is False and report["verdict"] == "NO-GO"
    assert report["phases"] == ["preflight", "postdeploy"]
    tried("interrupts", "Ctrl-C while the selection is noted", "complete:false, NO-GO")
