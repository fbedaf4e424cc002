"""Under pytest-xdist the score, verdict and check list equal a serial run's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from .helpers import check_entry, read_report

pytest.importorskip("xdist")

SUITE = """
import time
import pytest

def check(check_id, tier=2, **extra):
    return pytest.mark.readiness(id=check_id, layer=extra.pop("layer", "component"), tier=tier,
                                 title=check_id, remediation="fix " + check_id, **extra)

@check("x.key", tier=1)
def test_key():
    time.sleep(0.2)
    assert False, "key rejected"

@check("x.trade", tier=1, depends=("x.key",))
def test_trade():
    pass

@check("x.balance", depends=("x.trade",))
def test_balance(readiness):
    readiness.metric("free", 50, unit="USDT", threshold=100)
    readiness.warn("below recommended")

@check("x.latency", tier=3, layer="integration")
def test_latency(readiness):
    readiness.metric("p95", 120.0, unit="ms", threshold=500)

@check("x.na", layer="system")
def test_na(readiness):
    readiness.not_applicable("mainnet only")

@check("x.skip", layer="system")
def test_skip():
    pytest.skip("not configured: set READINESS_PID_FILE")

@check("x.waived", tier=3, layer="system")
def test_waived():
    assert False

@pytest.mark.parametrize("n", range(6))
def test_plain(n):
    pass
"""
WAIVERS = f"""
[[waiver]]
id = "x.waived"
justification = "tracked in OPS-1"
approved_by = "RM"
expires = {(dt.date.today() + dt.timedelta(days=7)).isoformat()}
"""


def _comparable(report: dict[str, Any]) -> dict[str, Any]:
    report = dict(report)
    for volatile in ("started_at", "finished_at", "environment"):
        report.pop(volatile)
    report["checks"] = [{k: v for k, v in c.items() if k != "duration_s"} for c in report["checks"]]
    return report


def test_distributed_run_equals_serial_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.path.joinpath("readiness-waivers.toml").write_text(WAIVERS)
    serial = pytester.runpytest_subprocess("-p", "no:randomly")
    serial_report = read_report(pytester)
    distributed = pytester.runpytest_subprocess("-n", "2", "-p", "no:randomly")
    distributed_report = read_report(pytester)
    assert _comparable(distributed_report) == _comparable(serial_report)
    assert serial_report["verdict"] == "NO-GO"
    assert check_entry(serial_report, "x.balance")["outcome"] == "blocked"
    assert distributed_report["environment"]["workers"] == 2
    for result in (serial, distributed):
        result.stdout.fnmatch_lines(["*readiness verdict: NO-GO (score *, target testnet)*"])


def test_gate_applies_on_the_controller(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_suite="""
        import pytest
        @pytest.mark.readiness(id="a.key", layer="system", tier=1, title="T", remediation="R")
        def test_key(): pass
        @pytest.mark.readiness(id="a.minor", layer="system", tier=3, title="T", remediation="R")
        def test_minor():
            assert False
        """
    )
    assert pytester.runpytest_subprocess("-n", "2", "--readiness-gate", "conditional").ret == 0
    assert pytester.runpytest_subprocess("-n", "2", "--readiness-gate", "go").ret == 1


def test_crashed_worker_makes_the_run_incomplete(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_suite="""
        import os
        import pytest
        @pytest.mark.readiness(id="c.fine", layer="system", tier=2, title="T", remediation="R")
        def test_fine(): pass
        @pytest.mark.readiness(id="c.crash", layer="system", tier=2, title="T", remediation="R")
        def test_crash():
            os._exit(3)
        """
    )
    pytester.runpytest_subprocess("-n", "2")
    report = read_report(pytester)
    assert report["complete"] is False
    assert report["verdict"] == "NO-GO"
    crashed = check_entry(report, "c.crash")
    assert crashed["outcome"] == "error"
    assert "worker running this check crashed" in crashed["message"]
    assert any(
        reason.startswith("run incomplete: a worker crashed while running") for reason in report["reasons"]
    )


def test_tier_one_waiver_refused_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.path.joinpath("readiness-waivers.toml").write_text(WAIVERS.replace("x.waived", "x.key"))
    result = pytester.runpytest_subprocess("-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*waiver for x.key: tier-1 checks cannot be waived*"])


def test_drills_run_on_one_worker_in_order(pytester: pytest.Pytester) -> None:
    """Each drill starts from what the one before left on the bot, so ``-n 2`` keeps their order."""
    pytester.makepyfile(
        test_suite="""
        import os, pathlib, time
        import pytest

        def ran(name):
            with pathlib.Path("ran.txt").open("a") as f:
                f.write(f"{name} {os.environ['PYTEST_XDIST_WORKER']}\\n")
            time.sleep(0.3)

        def drill(n):
            @pytest.mark.readiness(id=f"d.drill{n}", layer="drill", tier=2, title="T", remediation="R")
            def test():
                ran(f"drill{n}")
            return test

        test_drill0, test_drill1, test_drill2, test_drill3 = (drill(n) for n in range(4))

        @pytest.mark.parametrize("n", range(4))
        def test_plain(n):
            ran(f"plain{n}")
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "--drill", "-p", "no:randomly")
    result.assert_outcomes(passed=8)
    ran = [line.split() for line in pytester.path.joinpath("ran.txt").read_text().splitlines()]
    drills = [(name, worker) for name, worker in ran if name.startswith("drill")]
    assert [name for name, _ in drills] == ["drill0", "drill1", "drill2", "drill3"]
    assert len({worker for _, worker in drills}) == 1
    assert len({worker for _, worker in ran}) == 2
