"""Every sandbox fault: the run completes, writes both reports, says NO-GO when a tier-1 check is
hit, and puts each failing check's remediation in the terminal, the JSON and the HTML."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from readiness.sandbox.binance import BinanceEmulator
from readiness.sandbox.server import BackgroundServer
from readiness.sandbox.session import FAULTS

from ..helpers import check_entry, report_path, run_catalogue
from .conftest import Tried

CHECK_ID = re.compile(
    r"\b(?:binance|telegram|integration|audit|positions|risk|system|deploy|security|ops|drill|env|release|manual)"
    r"\.[a-z_0-9]+"
)


#: Faults that only show on a testnet target (the sandbox itself wears mainnet's flavour).
TESTNET_ONLY = {"binance_mainnet_flavor"}


def target_of(fault: str, report: dict[str, Any]) -> str:
    """The check a fault is made to fail: the first check id its description names."""
    ids = {check["id"] for check in report["checks"]}
    named = [name for name in CHECK_ID.findall(FAULTS[fault]) if name in ids]
    assert named, f"{fault} names no check of the run: {FAULTS[fault]}"
    return named[0]


def run_fault(tmp_path: Path, fault: str, *extra: str) -> dict[str, Any]:
    """Run the catalogue under one sandbox fault, on the phases that fault is made for."""
    if fault in TESTNET_ONLY:
        emulator = BinanceEmulator(network="testnet", faults=[fault])
        with BackgroundServer(emulator.make_app()) as server:
            env = {
                "BINANCE_API_URL": server.url,
                "BINANCE_TESTNET_API_KEY": emulator.api_key,
                "BINANCE_TESTNET_API_SECRET": emulator.api_secret,
            }
            return run_catalogue(tmp_path, "-m", "preflight", "--target", "testnet", *extra, env=env)
    drill = " drill." in FAULTS[fault]
    selection = ("-m", "drill", "--drill") if drill else ("-m", "preflight or postdeploy")
    return run_catalogue(tmp_path, *selection, "--target", "sandbox", "--sandbox-fault", fault, *extra)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_gives_complete_reports_and_remediation_everywhere(
    tmp_path: Path, tried: Tried, fault: str
) -> None:
    tried("faults", fault)
    report = run_fault(tmp_path, fault)
    stdout = report["_stdout"]
    page = report_path(tmp_path / "reports").with_suffix(".html").read_text("utf-8")

    assert report["_returncode"] == pytest.ExitCode.TESTS_FAILED, stdout[-2000:]
    assert "INTERNALERROR" not in stdout and "Traceback" not in stdout
    assert report["complete"] is True
    assert f"readiness verdict: {report['verdict']}" in stdout
    assert report["verdict"] in page
    target = check_entry(report, target_of(fault, report))
    assert target["outcome"] == "failed" or (target["outcome"] == "blocked" and target["blocked_by"])

    tier_one_hit = [
        check["id"]
        for check in report["checks"]
        if check["tier"] == 1 and check["outcome"] not in ("passed", "warned", "not_applicable")
    ]
    if tier_one_hit:
        assert report["verdict"] == "NO-GO"
        for check_id in tier_one_hit:  # each under the one root cause that names its fix
            (cause, *_) = [cause for cause in report["root_causes"] if check_id in cause["checks"]]
            assert cause["tier1"] and cause["fix"], cause
            assert any(cause["reason"] in reason for reason in report["reasons"]), report["reasons"]

    failed = [check for check in report["checks"] if check["outcome"] == "failed"]
    assert failed
    for check in failed:
        remediation = check["remediation"]
        assert remediation, f"{check['id']} failed with no remediation"
        (cause, *_) = [cause for cause in report["root_causes"] if check["id"] in cause["checks"]]
        if cause["check"] is None:  # settings not set: one line names them all, with its own fix
            assert cause["reason"] in stdout and cause["fix"][1:] in stdout, f"{check['id']}: cause not shown"
        else:
            assert remediation in stdout, f"{check['id']}: remediation not in the terminal"
        assert str(escape(remediation)) in page, f"{check['id']}: remediation not in the HTML"
