"""The drill layer against the sandbox: healthy passes fast; each drill fault fails exactly its drill.

Every catalogue run also loads a small observer plugin (written to ``tmp_path``) that records the
bot's PID and kill switch when the session starts and when it ends, before the sandbox stops the
bot: drills must leave the bot running with the switch as they found it. After each run no bot
started by that run may be left (found through an environment marker every bot inherits).
"""

from __future__ import annotations

import fnmatch
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest

from readiness.probes import drill
from readiness.profiles.reference import RiskManagerSwitch

from ..helpers import check_entry, outcomes, run_catalogue

DRILLS = (
    "drill.killswitch_activation",
    "drill.killswitch_deactivation",
    "drill.crash_recovery",
    "drill.position_reconciliation",
)
MARK_ENV = "READINESS_DRILL_TEST_MARK"
FAULT_IDS = (
    "killswitch_ignores_buys",
    "slow_alert",
    "forget_killswitch",
    "torn_audit_on_kill",
    "positions_mismatch",
)
OBSERVER = """
import json, os, pathlib

import psutil

from readiness.sandbox import riskclient


def _observe():
    pid = int(pathlib.Path(os.environ["READINESS_PID_FILE"]).read_text())
    try:
        running = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        running = False
    with riskclient.connect() as manager:
        active = manager.kill_switch_active
    return {"pid": pid, "running": running, "kill_switch_active": active}


def pytest_sessionstart(session):
    session.config.drill_observed_before = _observe()


def pytest_sessionfinish(session):
    observed = {"before": session.config.drill_observed_before, "after": _observe()}
    pathlib.Path(os.environ["DRILL_OBSERVER_OUT"]).write_text(json.dumps(observed))
"""


def _bots_of(marker: str) -> list[int]:
    """Live sandbox bots whose environment carries ``marker`` (started by one catalogue run)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "readiness.sandbox.bot" not in " ".join(process.info["cmdline"] or ()):
                continue
            if process.status() != psutil.STATUS_ZOMBIE and process.environ().get(MARK_ENV) == marker:
                found.append(process.pid)
        except psutil.Error:
            continue
    return found


def run_drills(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``-m drill --drill --target sandbox``; check the bot was left as found and then cleaned up.

    Returns readiness.json with ``_seconds`` (wall time) and ``_observed`` (before/after) added.
    """
    (tmp_path / "drill_observer.py").write_text(OBSERVER)
    marker = uuid.uuid4().hex
    pythonpath = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    run_env = {
        "PYTHONPATH": pythonpath,
        "DRILL_OBSERVER_OUT": str(tmp_path / "observed.json"),
        MARK_ENV: marker,
        **(env or {}),
    }
    started = time.monotonic()
    report = run_catalogue(
        tmp_path, "-m", "drill", "--drill", "--target", "sandbox", "-p", "drill_observer", *args, env=run_env
    )
    report["_seconds"] = time.monotonic() - started
    deadline = time.monotonic() + 5.0
    while (left := _bots_of(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"bot process(es) {left} left behind by the run"
    observed: dict[str, Any] = json.loads((tmp_path / "observed.json").read_text())
    before, after = observed["before"], observed["after"]
    assert after["running"], f"the run ended with the bot not running: {observed}"
    assert after["kill_switch_active"] == before["kill_switch_active"], (
        f"kill switch not restored: {observed}"
    )
    report["_observed"] = observed
    return report


def _metrics(entry: dict[str, Any]) -> dict[str, float]:
    return {m["name"]: m["value"] for m in entry["metrics"]}


def test_healthy_sandbox_passes_every_drill_fast(tmp_path: Path) -> None:
    report = run_drills(tmp_path)
    assert outcomes(report) == dict.fromkeys(DRILLS, "passed")
    assert report["verdict"] == "GO"
    assert report["_seconds"] < 30, f"the drill run took {report['_seconds']:.1f} s"
    assert (tmp_path / "reports" / "readiness-drill.html").is_file()  # beside, never over, the preflight's
    activation = _metrics(check_entry(report, "drill.killswitch_activation"))
    assert {"switch_active", "alert_within_limit", "buy_rejected", "sell_allowed", "audit_event"} <= set(
        activation
    )
    assert 0 <= activation["alert_latency"] <= 5
    assert 0 <= activation["alert_latency_telegram"] <= 5
    alert = next(
        m
        for m in check_entry(report, "drill.killswitch_activation")["metrics"]
        if m["name"] == "alert_latency"
    )
    assert alert["threshold"] == 5.0
    assert _metrics(check_entry(report, "drill.killswitch_deactivation"))["reenable_time"] < 300
    crash = check_entry(report, "drill.crash_recovery")
    assert 0 < _metrics(crash)["recovery_time"] < 30
    # The crash drill restarted the bot: the run ended with a new process, still running.
    assert report["_observed"]["after"]["pid"] != report["_observed"]["before"]["pid"]
    assert _metrics(check_entry(report, "drill.position_reconciliation"))["discrepancies"] == 0


@pytest.mark.parametrize(
    ("fault", "env", "check_id", "message", "remediation"),
    [
        pytest.param(
            "killswitch_ignores_buys",
            {},
            "drill.killswitch_activation",
            "1 of 5 activation criteria failed: buy_rejected: a BUY of 10 USDT BTCUSDT was allowed while "
            "the switch was active *",
            "must reject every BUY",
            id="killswitch_ignores_buys",
        ),
        pytest.param(
            "slow_alert",
            {"READINESS_TELEGRAM_MAX_S": "1"},
            "drill.killswitch_activation",
            "1 of 5 activation criteria failed: alert_within_limit: no alert_sent after kill_switch_activated "
            "within 3 s (limit 1 s)*",
            "READINESS_TELEGRAM_MAX_S",
            id="slow_alert",
        ),
        pytest.param(
            "forget_killswitch",
            {},
            "drill.crash_recovery",
            "1 of 4 crash-recovery criteria failed: kill_switch_recovered: kill switch state lost: active "
            "before the SIGKILL, inactive after the restart",
            "Persist the kill switch",
            id="forget_killswitch",
        ),
        pytest.param(
            "torn_audit_on_kill",
            {},
            "drill.crash_recovery",
            "1 of 4 crash-recovery criteria failed: audit_intact: *torn last line*",
            "one append of the whole line",
            id="torn_audit_on_kill",
        ),
        pytest.param(
            "positions_mismatch",
            {},
            "drill.position_reconciliation",
            # the bot recorded its gross fills; the exchange kept 0.1% of each as commission
            "2 of 2 asset(s) differ beyond tolerance 1e-08: "
            "BTC: DB 0.5 (BTCUSDT) vs exchange 0.4995; ETH: DB 5 (ETHUSDT) vs exchange 4.995",
            "READINESS_RECONCILE_TOLERANCE",
            id="positions_mismatch",
        ),
    ],
)
def test_each_drill_fault_fails_exactly_its_drill(
    tmp_path: Path, fault: str, env: dict[str, str], check_id: str, message: str, remediation: str
) -> None:
    report = run_drills(tmp_path, "--sandbox-fault", fault, env=env)
    assert outcomes(report) == dict.fromkeys(DRILLS, "passed") | {check_id: "failed"}
    entry = check_entry(report, check_id)
    assert fnmatch.fnmatch(entry["message"], message), entry["message"]
    assert remediation in entry["remediation"]
    assert report["verdict"] == "NO-GO"


def test_an_active_switch_is_not_drilled_and_stays_active(tmp_path: Path) -> None:
    report = run_drills(tmp_path, "--sandbox-fault", "bot_killswitch_active")
    assert outcomes(report) == {
        "drill.killswitch_activation": "skipped",
        "drill.killswitch_deactivation": "skipped",
        "drill.crash_recovery": "passed",
        "drill.position_reconciliation": "passed",
    }
    assert "already active" in check_entry(report, "drill.killswitch_activation")["message"]
    assert report["_observed"]["after"]["kill_switch_active"] is True


# -- the probes on their own ------------------------------------------------------------------


def test_audit_mark_skips_a_torn_tail_and_reads_only_later_events(tmp_path: Path) -> None:
    trail = tmp_path / "audit.jsonl"
    trail.write_bytes(b'{"event":"a","seq":1}\n{"event":"b","seq":2}\n{"event":"half')
    mark = drill.mark_audit(trail)
    assert (mark.seq, mark.offset) == (2, trail.read_bytes().rindex(b"\n") + 1)
    with open(trail, "ab") as f:
        f.write(b'","seq":3}\n{"event":"c","seq":4}\n{"event":"d"')
    assert [r["event"] for r in drill.events_since(mark)] == ["half", "c"]
    assert drill.mark_audit(tmp_path / "audit.jsonl").seq == 4
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert (drill.mark_audit(empty).offset, drill.mark_audit(empty).seq) == (0, None)


def test_alert_latency_falls_back_to_timestamps() -> None:
    trigger = {"event": "kill_switch_activated", "timestamp": "2025-01-01T00:00:00.000+00:00"}
    alert = {"event": "alert_sent", "timestamp": "2025-01-01T00:00:01.500+00:00"}
    assert drill.alert_latency_s({**alert, "latency_ms": 250}, trigger) == 0.25
    assert drill.alert_latency_s(alert, trigger) == 1.5
    assert drill.alert_latency_s({"event": "alert_sent"}, trigger) is None


def test_reconcile_lists_every_asset_beyond_tolerance() -> None:
    balances = {"BTC": drill.Balance(0.3, 0.2), "ETH": drill.Balance(4.0, 0.0)}
    bases = {"BTCUSDT": "BTC", "BTCFDUSD": "BTC", "ETHUSDT": "ETH", "SOLUSDT": "SOL"}
    open_qty = {"BTCUSDT": 0.25, "BTCFDUSD": 0.25, "ETHUSDT": 5.0, "SOLUSDT": 1.0}
    per_asset, found = drill.reconcile(open_qty, bases, balances, 1e-8)
    assert per_asset == {"BTC": 0.5, "ETH": 5.0, "SOL": 1.0}
    assert [d.describe() for d in found] == [
        "ETH: DB 5 (ETHUSDT) vs exchange 4",
        "SOL: DB 1 (SOLUSDT) vs exchange 0",
    ]
    assert drill.reconcile({"ETHUSDT": 4.1}, bases, balances, 0.05)[1] == []


@pytest.mark.parametrize(("raw", "expected"), [("", 1e-8), ("0.001", 0.001), ("0", 0.0)])
def test_tolerance_setting(raw: str, expected: float) -> None:
    assert drill.tolerance({drill.TOLERANCE_ENV: raw}) == expected


@pytest.mark.parametrize("raw", ["abc", "-1", "nan"])
def test_bad_tolerance_names_the_variable(raw: str) -> None:
    with pytest.raises(drill.DrillError, match=drill.TOLERANCE_ENV):
        drill.tolerance({drill.TOLERANCE_ENV: raw})


class FakeManager:
    """A risk manager in memory, for the restore-on-exit guard."""

    active = False

    @property
    def kill_switch_active(self) -> bool:
        return FakeManager.active

    def activate_kill_switch(self, reason: str) -> None:
        FakeManager.active = True

    def deactivate_kill_switch(self, reason: str) -> None:
        FakeManager.active = False

    def validate_trade(self, symbol: str, side: str, quote_qty: float) -> tuple[bool, str]:
        return True, "ok"


@pytest.mark.parametrize("found", [False, True])
def test_the_switch_is_put_back_even_when_the_drill_fails(found: bool) -> None:
    FakeManager.active = found
    with (
        pytest.raises(RuntimeError, match="drill failed midway"),
        drill.kill_switch_as_found(RiskManagerSwitch(f"{__name__}:FakeManager")) as guard,
    ):
        assert guard.remember() is found
        guard.switch(not found, "drill")
        raise RuntimeError("drill failed midway")
    assert FakeManager.active is found


def test_drills_on_one_bot_never_overlap(tmp_path: Path) -> None:
    key = str(tmp_path / "bot.pid")
    with drill.exclusive(key):
        for shared in (False, True):
            with (
                pytest.raises(drill.DrillError, match="another drill"),
                drill.exclusive(key, shared=shared, timeout=0.1),
            ):
                pass
    with drill.exclusive(key, shared=True), drill.exclusive(key, shared=True, timeout=0.1):
        pass
