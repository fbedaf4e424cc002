"""Hung and trickling dependencies: every network check ends by its own timeout, the probes wait
together (the run takes about one probe timeout, not one per check), and the reports are written.

``*_hang`` accepts the connection and never answers; ``*_trickle`` answers one byte every 0.5 s,
which no per-read timeout catches. The Binance emulator's request journal shows the hung
requests in flight at once.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from readiness.probes.binance import REQUEST_TIMEOUT_S
from readiness.probes.telegram import send_deadline_s
from readiness.sandbox import bot
from readiness.sandbox.binance import REQUEST_LOG_ENV
from readiness.settings import Settings

from ..helpers import run_catalogue
from .conftest import Tried

#: The longest deadline of any single probe at default settings (sendMessage: twice the 5 s limit);
#: a run with hung dependencies takes at most one of these over a healthy run.
ONE_PROBE_TIMEOUT_S = max(send_deadline_s(Settings(target="sandbox")), REQUEST_TIMEOUT_S)
#: Start-up noise of one subprocess against another on a loaded machine.
SLACK_S = 4.0
WITHIN = re.compile(r"within (\d+(?:\.\d+)?) s")
NETWORK = ("binance.", "telegram.", "integration.alert_path", "integration.filters_agree")

CASES = {
    "binance_hang": ("binance_hang",),
    "binance_trickle": ("binance_trickle",),
    "telegram_hang_all": ("telegram_hang_all",),
    "telegram_trickle_all": ("telegram_trickle_all",),
    "telegram_hang (sendMessage)": ("telegram_hang",),
    "telegram_trickle (sendMessage)": ("telegram_trickle",),
    "everything hangs": ("binance_hang", "telegram_hang_all"),
    "everything trickles": ("binance_trickle", "telegram_trickle_all"),
}


def timed_preflight(tmp_path: Path, *faults: str) -> tuple[dict[str, Any], float, list[dict[str, Any]]]:
    """Run the preflight; return its report, wall seconds and the Binance requests it made.

    The run gets a journal of its own, copied into the suite's afterwards so the whole-suite
    allow-list audit still sees every request.
    """
    journal = tmp_path / "binance-requests.jsonl"
    args = [arg for fault in faults for arg in ("--sandbox-fault", fault)]
    started = time.monotonic()
    report = run_catalogue(
        tmp_path, "-m", "preflight", "--target", "sandbox", *args, env={REQUEST_LOG_ENV: str(journal)}
    )
    wall = time.monotonic() - started
    lines = journal.read_text("utf-8") if journal.exists() else ""
    if os.environ.get(REQUEST_LOG_ENV):
        with open(os.environ[REQUEST_LOG_ENV], "a", encoding="utf-8") as suite_journal:
            suite_journal.write(lines)
    return report, wall, [json.loads(line) for line in lines.splitlines()]


@pytest.fixture(scope="module")
def healthy_wall_s(tmp_path_factory: pytest.TempPathFactory) -> float:
    report, wall, _ = timed_preflight(tmp_path_factory.mktemp("healthy"))
    assert report["verdict"] == "GO"
    return wall


@pytest.mark.parametrize("case", list(CASES))
def test_hung_dependency_fails_its_checks_within_one_probe_timeout(
    tmp_path: Path, tried: Tried, healthy_wall_s: float, case: str
) -> None:
    tried("hangs", case)
    report, wall, requests = timed_preflight(tmp_path, *CASES[case])

    assert (tmp_path / "reports" / "readiness.html").is_file()  # -m preflight: the sign-off's name
    assert report["complete"] is True and report["verdict"] == "NO-GO"
    network = {check["id"]: check for check in report["checks"] if check["id"].startswith(NETWORK)}
    timed_out = {cid for cid, check in network.items() if check["outcome"] == "failed"}
    assert timed_out, "no network check failed"
    timeouts = {}
    for check_id in timed_out:
        check = network[check_id]
        match = WITHIN.search(check["message"])
        assert match, check["message"]
        timeouts[check_id] = float(match.group(1))
        assert check["remediation"]
        assert check["duration_s"] <= timeouts[check_id] + SLACK_S
    for check_id, check in network.items():
        if check_id not in timed_out:
            assert check["outcome"] in ("passed", "blocked", "not_applicable"), check
            if check["outcome"] == "blocked":
                assert check["blocked_by"]
    assert "Traceback" not in report["_stdout"] and "INTERNALERROR" not in report["_stdout"]
    one_timeout = max(timeouts.values())
    assert one_timeout <= ONE_PROBE_TIMEOUT_S
    assert wall <= healthy_wall_s + one_timeout + SLACK_S
    # the probes were already waiting together: checks after the first barely wait at all
    waited = sum(network[cid]["duration_s"] for cid in timed_out)
    assert waited <= one_timeout + 1.5, {cid: network[cid]["duration_s"] for cid in timed_out}

    held = [r for r in requests if r["status"] is None and r["user_agent"] != bot.USER_AGENT]
    if "binance_hang" in CASES[case]:
        # the probes do not wait for one another: every hung request arrived within a second
        assert len({r["path"] for r in held}) >= 3, held
        assert max(r["time"] for r in held) - min(r["time"] for r in held) < 1.0
    failures = ", ".join(f"{cid} ({timeouts[cid]:g} s)" for cid in sorted(timed_out))
    figure = f"{wall:.1f} s wall vs {healthy_wall_s:.1f} s healthy; failed by own timeout: {failures}"
    if held:
        figure += f", {len(held)} Binance requests held at once"
    tried("hangs", case, figure)
