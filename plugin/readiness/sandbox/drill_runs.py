"""Drill evidence for the sandbox, earned: the drills really run, on a sandbox of their own.

A sandbox's bot is new, so by itself it has no drill history and ``release.drill_evidence_fresh``
ends not applicable. These faults make it apply: each runs ``pytest -m drill --drill --target
sandbox`` for real into a reports folder of the sandbox's and points the run at it
(``READINESS_DRILL_EVIDENCE``); what then goes wrong is what the fault names.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Collection, MutableMapping
from pathlib import Path
from typing import Final

from .botrepo import child_env

FAULTS: Final[dict[str, str]] = {
    "drill_evidence_missing": "the reports folder records no drill run on target sandbox "
    "(fails release.drill_evidence_fresh)",
    "drill_evidence_failed": "the newest drill run, run for real with bot fault silent_deactivation, "
    "failed its kill-switch deactivation drill (fails release.drill_evidence_fresh)",
    "drill_evidence_old": "a drill run that passed, judged with READINESS_DRILL_MAX_AGE_DAYS=0: older "
    "than allowed (fails release.drill_evidence_fresh)",
    "drill_evidence_tampered": "the newest drill run failed, and its report was then edited to read "
    "passed (fails release.drill_evidence_fresh)",
}
#: The bot fault the failed and tampered drill runs rehearse (its drill fails fast).
FAILING_DRILL: Final = "silent_deactivation"
RUN_TIMEOUT_S: Final = 180.0


class DrillRunError(Exception):
    """The drills the fault needs did not run to a report."""


def apply(faults: Collection[str], folder: Path, env: MutableMapping[str, str]) -> None:
    """Earn the drill evidence the faults in ``faults`` ask for into ``folder`` and point ``env`` at it."""
    chosen = sorted(set(faults) & set(FAULTS))
    if not chosen:
        return
    fault = chosen[0]
    reports = folder / "reports"
    reports.mkdir(parents=True)
    env["READINESS_DRILL_EVIDENCE"] = str(reports)
    if fault == "drill_evidence_missing":
        return
    report = run_drills(folder, reports, bot_fault=None if fault == "drill_evidence_old" else FAILING_DRILL)
    if fault == "drill_evidence_old":
        env["READINESS_DRILL_MAX_AGE_DAYS"] = "0"
    if fault == "drill_evidence_tampered":
        document = json.loads(report.read_bytes())
        for check in document["checks"]:
            check["outcome"], check["message"] = "passed", ""
        document["verdict"], document["reasons"] = "GO", []
        report.write_text(json.dumps(document, indent=2), encoding="utf-8")


def run_drills(folder: Path, reports: Path, *, bot_fault: str | None) -> Path:
    """``pytest -m drill --drill --target sandbox`` in an empty project of its own; its report."""
    project = folder / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "drill", "--drill"]
    argv += ["--target", "sandbox", f"--readiness-dir={reports}"]
    argv += ["--sandbox-fault", bot_fault] if bot_fault else []
    try:
        done = subprocess.run(
            argv,
            cwd=project,
            env=dict(child_env()),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DrillRunError(f"the drill run for the drill evidence took over {RUN_TIMEOUT_S:g} s") from None
    report = reports / "readiness-drill.json"
    if not report.is_file():
        tail = done.stdout.decode("utf-8", "replace")[-1500:]
        raise DrillRunError(
            f"the drill run for the evidence wrote no report (exit {done.returncode}): {tail}"
        )
    return report
