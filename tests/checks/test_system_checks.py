"""The system layer against the sandbox: healthy passes; each fault or bad input fails its check."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..helpers import assert_go_but_partial, check_entry, outcomes, run_catalogue

SYSTEM = (
    "system.required_files",
    "system.disk_space",
    "system.memory_available",
    "system.killswitch_inactive",
    # the sandbox attests the manual steps for its rehearsal (its release checks: test_release_checks)
    "manual.runbook_reviewed",
    "manual.rollback_plan_ready",
    "manual.escalation_contacts_current",
)


def _failing(report: dict[str, object]) -> dict[str, str]:
    return {cid: o for cid, o in outcomes(report).items() if o not in ("passed", "not_applicable")}


def test_healthy_sandbox_passes_the_system_layer(tmp_path: Path) -> None:
    report = run_catalogue(tmp_path, "-m", "system", "--target", "sandbox")
    got = outcomes(report)
    assert {cid: got[cid] for cid in SYSTEM} == dict.fromkeys(SYSTEM, "passed")
    assert _failing(report) == {}  # the layer's release and manual checks too
    assert_go_but_partial(report)  # one layer of the preflight
    assert check_entry(report, "system.disk_space")["metrics"][0]["name"] == "disk_free"


@pytest.mark.parametrize(
    ("check_id", "args", "env", "message", "remediation"),
    [
        (
            "system.killswitch_inactive",
            ["--sandbox-fault", "bot_killswitch_active"],
            {},
            "the kill switch is active: the bot would refuse every BUY (READINESS_RISK_MANAGER=*)",
            "deactivate it through the risk manager",
        ),
        (
            "system.required_files",
            ["--sandbox-fault", "bot_pid_file_missing"],
            {},
            "READINESS_PID_FILE=* does not exist",
            "Create the missing files",
        ),
        (
            "system.disk_space",
            [],
            {"READINESS_MIN_DISK_FREE_MB": "1e12"},
            "* MB free under *, below the 1e+12 MB minimum",
            "Free disk space",
        ),
        (
            "system.memory_available",
            [],
            {"READINESS_MAX_RSS_MB": "1e12"},
            "* MB available, less than the bot's 1e+12 MB RSS limit",
            "Free memory",
        ),
    ],
)
def test_each_fault_fails_exactly_its_check(
    tmp_path: Path, check_id: str, args: list[str], env: dict[str, str], message: str, remediation: str
) -> None:
    report = run_catalogue(tmp_path, "-m", "system", "--target", "sandbox", *args, env=env)
    assert set(SYSTEM) <= set(outcomes(report))
    assert _failing(report) == {check_id: "failed"}
    entry = check_entry(report, check_id)
    assert __import__("fnmatch").fnmatch(entry["message"], message), entry["message"]
    assert remediation in entry["remediation"]
    assert remediation in report["_stdout"]


def test_unloadable_risk_manager_names_the_setting(tmp_path: Path) -> None:
    report = run_catalogue(
        tmp_path,
        "-m",
        "system",
        "--target",
        "testnet",
        env={"READINESS_RISK_MANAGER": "no_such_bot.risk:factory"},
    )
    entry = check_entry(report, "system.killswitch_inactive")
    assert entry["outcome"] == "failed"
    assert entry["message"].startswith(
        "READINESS_RISK_MANAGER=no_such_bot.risk:factory: cannot import 'no_such_bot.risk'"
    )


def test_unconfigured_checks_skip_naming_the_variable(tmp_path: Path) -> None:
    report = run_catalogue(tmp_path, "-m", "system", "--target", "testnet")
    assert (
        check_entry(report, "system.killswitch_inactive")["message"]
        == "not configured: set READINESS_RISK_MANAGER"
    )
    assert check_entry(report, "system.required_files")["outcome"] == "skipped"
