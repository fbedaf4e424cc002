"""The sandbox fault catalogue: a fault for every built-in check, and the faults no other test
file exercises, each failing exactly its check."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from readiness.catalogue import catalogue_specs
from readiness.sandbox.session import FAULTS

from ..helpers import check_entry, outcomes, run_catalogue


def test_every_check_of_the_catalogue_has_a_fault() -> None:
    described = " ".join(FAULTS.values())
    ids = sorted(catalogue_specs())
    assert len(ids) >= 49
    assert [check_id for check_id in ids if check_id not in described] == []


@pytest.mark.parametrize(
    ("fault", "check_id", "message", "remediation"),
    [
        ("env_file_world_readable", "security.env_file_permissions", "*mode 0644*", "chmod 600"),
        ("env_file_committed", "security.env_not_committed", "*tracked by git*", "git rm --cached"),
        (
            "host_disk_full",
            "system.disk_space",
            "* MB free under *, below the * MB minimum",
            "Free disk space",
        ),
        (
            "host_memory_short",
            "system.memory_available",
            "* MB available, less than the bot's * MB RSS limit",
            "Free memory",
        ),
    ],
)
def test_fault_fails_exactly_its_check(
    tmp_path: Path, fault: str, check_id: str, message: str, remediation: str
) -> None:
    report = run_catalogue(tmp_path, "-m", "preflight", "--target", "sandbox", "--sandbox-fault", fault)
    failing = {
        cid: outcome
        for cid, outcome in outcomes(report).items()
        if outcome not in ("passed", "not_applicable")
    }
    assert failing == {check_id: "failed"}
    entry = check_entry(report, check_id)
    assert fnmatch.fnmatch(entry["message"], message), entry["message"]
    assert remediation in entry["remediation"]
    assert remediation in report["_stdout"]


def test_silent_deactivation_fails_only_the_deactivation_drill(tmp_path: Path) -> None:
    report = run_catalogue(
        tmp_path, "-m", "drill", "--drill", "--target", "sandbox", "--sandbox-fault", "silent_deactivation"
    )
    assert outcomes(report) == {
        "drill.killswitch_activation": "passed",
        "drill.killswitch_deactivation": "failed",
        "drill.crash_recovery": "passed",
        "drill.position_reconciliation": "passed",
    }
    assert "kill_switch_deactivated" in check_entry(report, "drill.killswitch_deactivation")["message"]
