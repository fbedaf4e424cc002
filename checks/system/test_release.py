"""Release evidence: what the bot's own pipeline shows about the build being deployed.

Each check reads evidence the bot's repo and CI already produce (git, a JUnit XML, a pip-audit
report, the drill runs the harness recorded) and changes none of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from readiness.context import CheckContext
from readiness.probes import release
from readiness.report import drill_evidence

#: A dependency audit older than this no longer speaks for the advisories published since.
AUDIT_MAX_AGE_DAYS = 7.0
#: How many names a message lists before it says "and N more".
LISTED = 8
T = TypeVar("T")


def _read(readiness: CheckContext, setting: str, read: Callable[[Path], T], remediation: str) -> T:
    """The evidence the setting names, read; skipped until it is set, failed when it is unusable."""
    readiness.require(setting)
    path: Path = getattr(readiness.settings, setting)
    try:
        return read(path)
    except release.EvidenceError as exc:
        readiness.fail(str(exc), remediation=remediation)


def _age(days: float) -> str:
    if days >= 1:
        return f"{days:.1f} days"
    hours = days * 24
    return f"{hours:.1f} hours" if hours >= 1 else f"{max(1, round(hours * 60))} min"


def _listed(names: list[str] | tuple[str, ...]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


@pytest.mark.readiness(
    id="release.bot_repo_clean",
    layer="system",
    tier=2,
    title="The bot's repo has no uncommitted change",
    remediation="Commit (or discard) the changes listed, push, and deploy from that commit, so what runs "
    "is what was reviewed and tested.",
)
def test_bot_repo_clean(readiness: CheckContext) -> None:
    remediation = "Point READINESS_BOT_REPO at the git checkout the bot is deployed from."
    state = _read(readiness, "bot_repo", release.repo_state, remediation)
    repo = state.path
    readiness.metric("uncommitted_changes", len(state.changes), threshold=0)
    readiness.evidence(repo=str(repo), head=state.head)
    if state.changes:
        readiness.fail(f"{repo} has {len(state.changes)} uncommitted change(s): {_listed(state.changes)}")


@pytest.mark.readiness(
    id="release.bot_tests_passed",
    layer="system",
    tier=1,
    title="The bot's tests passed on the commit being deployed",
    remediation="Fix the failing tests, run the bot's test suite again with --junitxml on this commit, and "
    "point READINESS_BOT_TEST_REPORT at the new report.",
)
def test_bot_tests_passed(readiness: CheckContext) -> None:
    remediation = (
        "Point READINESS_BOT_TEST_REPORT at the JUnit XML the bot's tests write "
        "(pytest --junitxml=reports/junit.xml)."
    )
    report = _read(readiness, "bot_test_report", release.read_test_report, remediation)
    settings, path = readiness.settings, report.path
    rate = report.pass_rate
    readiness.metric("pass_rate", round(rate, 2), unit="%", threshold=settings.min_test_pass_rate)
    readiness.metric("tests_run", report.ran)
    readiness.evidence(report=str(path), started_at=report.started_at.isoformat(), tests=report.ran)
    if not report.ran:
        readiness.fail(f"{path}: all {report.total} tests were skipped; nothing was verified")
    if rate < settings.min_test_pass_rate:
        readiness.fail(
            f"{path}: {report.passed} of {report.ran} tests passed ({rate:.1f}%, at least "
            f"{settings.min_test_pass_rate:g}% needed); failed: {_listed(report.failures)}"
        )
    if settings.bot_repo is None:
        readiness.note("the report's age was not compared with the repo: set READINESS_BOT_REPO")
        return
    try:
        head = release.repo_state(settings.bot_repo)
    except release.EvidenceError as exc:
        readiness.fail(f"cannot tell whether {path} is older than the repo's HEAD: {exc}")
    when = "started" if report.stamped else "was written"
    if report.started_at < head.head_time:
        readiness.fail(
            f"{path} is stale: its tests {when} {report.started_at:%Y-%m-%d %H:%M:%S %Z}, before the repo's "
            f"HEAD {head.head[:12]} was committed ({head.head_time:%Y-%m-%d %H:%M:%S %Z}); it does not "
            "speak for the code being deployed",
            remediation="Run the bot's tests again on HEAD (pytest --junitxml=...) and keep that report.",
        )


@pytest.mark.readiness(
    id="release.dependencies_audited",
    layer="system",
    tier=2,
    title="The bot's dependencies were audited this week with no known vulnerability",
    remediation="Upgrade each vulnerable package to a fixed version (or pin around it), then run "
    "`pip-audit -f json -o <file>` in the bot's environment again.",
)
def test_dependencies_audited(readiness: CheckContext) -> None:
    remediation = (
        "Point READINESS_BOT_DEPENDENCY_AUDIT at the report of `pip-audit -f json -o <file>` run in the "
        "bot's environment."
    )
    audit = _read(readiness, "bot_dependency_audit", release.read_dependency_audit, remediation)
    path = audit.path
    age = (dt.datetime.now(dt.UTC) - audit.modified).total_seconds() / 86400
    readiness.metric("audit_age", round(age, 2), unit="days", threshold=AUDIT_MAX_AGE_DAYS)
    readiness.metric("vulnerabilities", len(audit.vulnerabilities), threshold=0)
    readiness.evidence(report=str(path), audited=audit.audited, written=audit.modified.isoformat())
    if found := [v.describe() for v in audit.vulnerabilities]:
        readiness.fail(
            f"{path}: {len(found)} known vulnerabilit{'y' if len(found) == 1 else 'ies'}: {_listed(found)}"
        )
    if age > AUDIT_MAX_AGE_DAYS:
        readiness.fail(
            f"{path} is {_age(age)} old (at most {AUDIT_MAX_AGE_DAYS:g} days): advisories published "
            "since are not in it",
            remediation="Run `pip-audit -f json -o <file>` in the bot's environment again (e.g. in its CI).",
        )
    if audit.not_audited:
        readiness.warn(f"pip-audit could not audit {_listed(audit.not_audited)}")


@pytest.mark.readiness(
    id="release.drill_evidence_fresh",
    layer="system",
    tier=1,
    title="The kill switch and crash recovery were drilled recently, and passed",
    remediation="Run the drills on this target (pytest -m drill --drill --target <target>) with the same "
    "reports folder, fix what fails, and keep the reports folder (history.jsonl and the drill report).",
)
def test_drill_evidence_fresh(readiness: CheckContext) -> None:
    settings, run = readiness.settings, readiness.run
    if run.drills:
        _judge_own_drills(readiness)
        return
    if settings.target == "sandbox" and settings.drill_evidence is None:
        readiness.not_applicable(
            "the sandbox's bot was started for this run and has never been drilled; run with "
            "-m 'preflight or drill' --drill to count this run's own drills"
        )
    location = settings.drill_evidence or run.reports_dir
    try:
        drill_run = drill_evidence.newest_drill_run(location, settings.target)
    except drill_evidence.DrillEvidenceError as exc:
        readiness.fail(str(exc))
    now = dt.datetime.now(dt.UTC)
    age = drill_run.age_days(now)
    readiness.metric("drill_age", round(age, 2), unit="days", threshold=settings.drill_max_age_days)
    readiness.evidence(
        report=str(drill_run.report),
        finished_at=drill_run.finished_at.isoformat(),
        verdict=drill_run.verdict,
        json_sha256=drill_run.json_sha256,
    )
    when = f"{drill_run.finished_at:%Y-%m-%d %H:%M %Z}"
    if problems := drill_run.problems():
        readiness.fail(
            f"the newest drill run ({drill_run.report}, {when}) did not pass: {'; '.join(problems)}"
        )
    if age > settings.drill_max_age_days:
        readiness.fail(
            f"the newest drill run ({drill_run.report}, {when}) is {_age(age)} old, more than "
            f"READINESS_DRILL_MAX_AGE_DAYS={settings.drill_max_age_days:g} allows"
        )
    readiness.note(f"drill run of {when}, {drill_run.verdict}, SHA-256 {drill_run.json_sha256[:12]}…")


def _judge_own_drills(readiness: CheckContext) -> None:
    """A run with ``--drill`` counts its own drills, which ran before this check, in this process."""
    outcomes = readiness.run.outcomes
    readiness.evidence(report="this run")
    unseen = [d for d in readiness.run.drills if d not in outcomes]
    if unseen:
        readiness.fail(
            f"this run's drills {', '.join(unseen)} ran in another process, so this check cannot see them",
            remediation="Run the preflight with its drills serially or with -n N (--dist load), which keeps "
            "the drills and this check on one worker.",
        )
    problems = [
        f"{d} did not run" if d not in outcomes else f"{d} {outcomes[d]}"
        for d in drill_evidence.DRILLS
        if outcomes.get(d) not in drill_evidence.DRILL_PASSED
    ]
    if problems:
        readiness.fail(f"this run's drills did not all pass: {'; '.join(problems)}")
    readiness.note("this run's own drills passed")
