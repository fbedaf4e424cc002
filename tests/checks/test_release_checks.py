"""Release evidence against the sandbox: its bot's repo, tests, audit and drill runs pass; each
fault or bad evidence file fails exactly its check, naming the file, and changes nothing."""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values

from readiness.probes import release
from readiness.report import drill_evidence

from ..helpers import check_entry, outcomes, report_path, run_catalogue, run_pytest, wait_until

RELEASE = (
    "release.bot_repo_clean",
    "release.bot_tests_passed",
    "release.dependencies_audited",
    "release.drill_evidence_fresh",
)


def _failing(report: dict[str, Any]) -> dict[str, str]:
    return {cid: o for cid, o in outcomes(report).items() if o not in ("passed", "not_applicable")}


def test_healthy_sandbox_earns_its_release_evidence(tmp_path: Path) -> None:
    report = run_catalogue(tmp_path, "-m", "system", "--target", "sandbox")
    got = outcomes(report)
    assert {cid: got[cid] for cid in RELEASE} == {
        **dict.fromkeys(RELEASE[:3], "passed"),
        "release.drill_evidence_fresh": "not_applicable",
    }
    assert "never been drilled" in check_entry(report, "release.drill_evidence_fresh")["message"]
    tests = check_entry(report, "release.bot_tests_passed")
    assert tests["evidence"]["tests"] == 4  # the bot's own tests really ran
    assert {m["name"]: m["value"] for m in tests["metrics"]}["pass_rate"] == 100.0
    repo = Path(check_entry(report, "release.bot_repo_clean")["evidence"]["repo"])
    assert not repo.exists()  # the sandbox's repo went with the sandbox


@pytest.mark.parametrize(
    ("fault", "check_id", "message", "remediation"),
    [
        (
            "bot_repo_dirty",
            "release.bot_repo_clean",
            "*2 uncommitted change(s): M config/risk.toml, ?? hotfix.py",
            "Commit",
        ),
        (
            "bot_tests_failing",
            "release.bot_tests_passed",
            "*junit.xml: 3 of 4 tests passed (75.0%, at least 100% needed); failed: "
            "tests.test_bot::test_loss_per_trade_within_daily_limit (AssertionError*",
            "Fix the failing tests",
        ),
        (
            "bot_test_report_stale",
            "release.bot_tests_passed",
            "*junit.xml is stale: its tests started *, before the repo's HEAD * was committed*",
            "Run the bot's tests again on HEAD",
        ),
        (
            "dependency_vulnerable",
            "release.dependencies_audited",
            "*pip-audit.json: 1 known vulnerability: httpx *: SANDBOX-2026-0001 (fixed in *)",
            "Upgrade each vulnerable package",
        ),
        (
            "dependency_audit_stale",
            "release.dependencies_audited",
            "*pip-audit.json is 8.0 days old (at most 7 days)*",
            "pip-audit -f json",
        ),
        (
            "drill_evidence_missing",
            "release.drill_evidence_fresh",
            "no drill run is recorded in */reports: it has no history.jsonl; deploying without*",
            "pytest -m drill --drill",
        ),
        (
            "drill_evidence_failed",
            "release.drill_evidence_fresh",
            "the newest drill run (*readiness-drill.json, *) did not pass: drill.killswitch_deactivation failed",
            "pytest -m drill --drill",
        ),
        (
            "drill_evidence_old",
            "release.drill_evidence_fresh",
            "the newest drill run (*) is * min old, more than READINESS_DRILL_MAX_AGE_DAYS=0 allows",
            "pytest -m drill --drill",
        ),
        (
            "drill_evidence_tampered",
            "release.drill_evidence_fresh",
            "*readiness-drill.json no longer hashes to what *history.jsonl recorded *: the report was changed*",
            "pytest -m drill --drill",
        ),
    ],
)
def test_each_fault_fails_exactly_its_release_check(
    tmp_path: Path, fault: str, check_id: str, message: str, remediation: str
) -> None:
    report = run_catalogue(tmp_path, "-m", "preflight", "--target", "sandbox", "--sandbox-fault", fault)
    assert _failing(report) == {check_id: "failed"}
    entry = check_entry(report, check_id)
    assert fnmatch.fnmatch(entry["message"], message), entry["message"]
    assert remediation in entry["remediation"]
    assert remediation in report["_stdout"]


def test_a_drill_evidence_fault_names_the_drill_run_it_judged(tmp_path: Path) -> None:
    report = run_catalogue(
        tmp_path, "-m", "system", "--target", "sandbox", "--sandbox-fault", "drill_evidence_failed"
    )
    evidence = check_entry(report, "release.drill_evidence_fresh")["evidence"]
    assert evidence["verdict"] == "NO-GO"
    assert len(evidence["json_sha256"]) == 64
    page = report_path(tmp_path / "reports").with_suffix(".html").read_text("utf-8")
    assert evidence["json_sha256"] in page and "Drill run" in page


@pytest.mark.parametrize("workers", ["0", "2"])
def test_a_preflight_with_drills_counts_its_own(tmp_path: Path, workers: str) -> None:
    select = ("-m", "preflight or drill", "--drill", "--target", "sandbox", "-n", workers)
    report = run_catalogue(tmp_path / "healthy", *select)
    entry = check_entry(report, "release.drill_evidence_fresh")
    assert (entry["outcome"], entry["evidence"], entry["message"]) == (
        "passed",
        {"report": "this run"},
        "this run's own drills passed",
    )
    assert report["verdict"] == "GO"

    failed = run_catalogue(tmp_path / "failed", *select, "--sandbox-fault", "silent_deactivation")
    assert _failing(failed) == {
        "drill.killswitch_deactivation": "failed",
        "release.drill_evidence_fresh": "failed",
    }
    message = check_entry(failed, "release.drill_evidence_fresh")["message"]
    assert message == "this run's drills did not all pass: drill.killswitch_deactivation failed"


# --- bad evidence ---------------------------------------------------------------------------------


def _tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` with its bytes' SHA-256 (or what it is), symlinks unfollowed."""
    state = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            state[name] = "-> " + os.readlink(path)
        elif path.is_file():
            state[name] = hashlib.sha256(path.read_bytes()).hexdigest() + f" {path.stat().st_mtime_ns}"
        else:
            state[name] = oct(path.lstat().st_mode)
    return state


def _bad(folder: Path, kind: str, text: bytes = b"") -> Path:
    path = folder / f"evidence-{kind}"
    if kind == "missing":
        pass
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "loop":
        path.symlink_to(path.name)
    elif kind == "huge":
        with path.open("wb") as handle:
            handle.truncate(release.MAX_EVIDENCE_BYTES + 1)  # sparse: costs no disk
    else:
        path.write_bytes(text)
    return path


BAD_FILES = [
    ("missing", b"", "*evidence-missing does not exist"),
    ("empty", b"  \n", "*evidence-empty is empty, not a *"),
    ("folder", b"", "*evidence-folder is a folder, not a *"),
    ("fifo", b"", "*evidence-fifo is not a regular file, so not a *"),
    ("loop", b"", "*evidence-loop: cannot open it (Too many levels of symbolic links)"),
    ("huge", b"", "*evidence-huge is 64 MB, too large for a * (at most 64 MB)"),
]


@pytest.mark.parametrize(("kind", "text", "message"), BAD_FILES)
@pytest.mark.parametrize("reader", [release.read_test_report, release.read_dependency_audit])
def test_bad_evidence_files_are_refused_and_left_as_they_are(
    tmp_path: Path, reader: Any, kind: str, text: bytes, message: str
) -> None:
    path = _bad(tmp_path, kind, text)
    before = _tree(tmp_path)
    with pytest.raises(release.EvidenceError) as refused:
        reader(path)
    assert fnmatch.fnmatch(str(refused.value), message), refused.value
    assert _tree(tmp_path) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<testsuites><testsuite>", "*junit.xml is not XML (no element found: line 1, column 23)"),
        (b'{"tests": 3}', "*junit.xml is not XML (not well-formed (invalid token): line 1, column 0)"),
        (b"<html><body/></html>", "*junit.xml is not a JUnit report: its root element is <html>"),
        (b'<testsuite tests="0"/>', "*junit.xml holds no test case: the test run recorded nothing"),
        (
            b'<!DOCTYPE t [<!ENTITY a "aaaa">]><testsuite><testcase name="&a;"/></testsuite>',
            "*junit.xml declares XML entities; a test report has none",
        ),
    ],
)
def test_a_file_that_is_no_junit_report_says_what_it_is(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "junit.xml"
    path.write_bytes(content)
    with pytest.raises(release.EvidenceError) as refused:
        release.read_test_report(path)
    assert fnmatch.fnmatch(str(refused.value), message), refused.value


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<xml/>", "*audit.json is not JSON (line 1, column 1: Expecting value)"),
        (b"\xff\xfe{}", "*audit.json is not UTF-8 text, so not a pip-audit JSON report"),
        (b'{"vulns": []}', "*audit.json is not a pip-audit JSON report: it has no 'dependencies' list"),
        (
            b'{"dependencies": [{"version": "1"}]}',
            "*audit.json: dependency #1 has no name; not a pip-audit report",
        ),
        (
            b'{"dependencies": [{"name": "x", "vulns": [1]}]}',
            "*audit.json: dependency 'x' has a malformed 'vulns' list",
        ),
    ],
)
def test_a_file_that_is_no_pip_audit_report_says_what_it_is(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "audit.json"
    path.write_bytes(content)
    with pytest.raises(release.EvidenceError) as refused:
        release.read_dependency_audit(path)
    assert fnmatch.fnmatch(str(refused.value), message), refused.value


def test_pip_audit_reports_old_and_new_are_read(tmp_path: Path) -> None:
    vulnerable = {
        "name": "jinja2",
        "version": "3.1.2",
        "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}],
    }
    skipped = {"name": "mybot", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    for document in ({"dependencies": [vulnerable, skipped], "fixes": []}, [vulnerable, skipped]):
        path = tmp_path / "audit.json"
        path.write_text(json.dumps(document))
        audit = release.read_dependency_audit(path)
        assert [v.describe() for v in audit.vulnerabilities] == [
            "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)"
        ]
        assert (audit.audited, audit.not_audited) == (1, (f"mybot ({skipped['skip_reason']})",))


def test_a_naive_junit_timestamp_is_local_time(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text('<testsuite timestamp="2026-12-01T10:00:00.5"><testcase name="t"/></testsuite>')
    report = release.read_test_report(path)
    assert (
        report.stamped
        and report.started_at == release.dt.datetime(2026, 12, 1, 10, 0, 0, 500000).astimezone()
    )


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def test_bad_evidence_fails_each_check_by_name_and_changes_no_file(tmp_path: Path) -> None:
    """On a real target (no sandbox): a repo with no commit, a JUnit that is not XML, an audit
    behind a symlink loop; each check fails naming its file, and every byte stays as it was."""
    bot = tmp_path / "bot"
    bot.mkdir()
    _git(bot, "init", "-q")
    (bot / "junit.xml").write_text("<testsuites><testsuite>", encoding="utf-8")
    (bot / "audit.json").symlink_to("audit.json")
    env = {
        "READINESS_BOT_REPO": str(bot),
        "READINESS_BOT_TEST_REPORT": str(bot / "junit.xml"),
        "READINESS_BOT_DEPENDENCY_AUDIT": str(bot / "audit.json"),
    }
    before = _tree(bot)
    report = run_catalogue(
        tmp_path, "-m", "system", "-k", "release and not drill", "--target", "testnet", env=env
    )
    assert _tree(bot) == before
    messages = {cid: check_entry(report, cid)["message"] for cid in RELEASE[:3]}
    assert outcomes(report) == dict.fromkeys(RELEASE[:3], "failed")
    assert messages == {
        "release.bot_repo_clean": f"{bot}: the repository has no commit yet",
        "release.bot_tests_passed": f"{bot}/junit.xml is not XML (no element found: line 1, column 23)",
        "release.dependencies_audited": f"{bot}/audit.json: cannot open it (Too many levels of symbolic links)",
    }
    assert (
        "Point READINESS_BOT_TEST_REPORT at the JUnit XML"
        in check_entry(report, "release.bot_tests_passed")["remediation"]
    )


def test_git_status_leaves_the_bot_repo_untouched(tmp_path: Path) -> None:
    """``git status`` refreshes a stale index unless told not to: that would be a write."""
    repo = tmp_path / "bot"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "bot.py").write_text("print('v1')\n")
    _git(repo, "add", "bot.py")
    _git(repo, "commit", "-qm", "v1")
    os.utime(repo / "bot.py", (1, 1))  # the index's stat data is now stale
    before = _tree(repo)
    state = release.repo_state(repo)
    assert state.changes == () and len(state.head) == 40
    assert _tree(repo) == before


def test_missing_settings_skip_naming_the_variable_and_a_bad_rate_is_a_usage_error(tmp_path: Path) -> None:
    report = run_catalogue(
        tmp_path / "bare", "-m", "system", "-k", "release and not drill", "--target", "testnet"
    )
    assert outcomes(report) == dict.fromkeys(RELEASE[:3], "skipped")
    assert (
        check_entry(report, "release.bot_tests_passed")["message"]
        == "not configured: set READINESS_BOT_TEST_REPORT"
    )

    done = run_pytest("-m", "system", "--target", "testnet", env={"READINESS_MIN_TEST_PASS_RATE": "150"})
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert (
        "environment variable READINESS_MIN_TEST_PASS_RATE: setting 'min_test_pass_rate' is a percentage"
        in done.stderr
    )


def test_the_pass_rate_is_judged_against_the_setting(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    cases = "".join(f'<testcase classname="t" name="ok{i}"/>' for i in range(3))
    junit.write_text(
        f'<testsuite>{cases}<testcase classname="t" name="bad"><failure message="boom"/></testcase></testsuite>'
    )
    env = {"READINESS_BOT_TEST_REPORT": str(junit)}
    select = ("-m", "system", "-k", "bot_tests_passed", "--target", "testnet")
    strict = check_entry(run_catalogue(tmp_path / "strict", *select, env=env), "release.bot_tests_passed")
    assert strict["outcome"] == "failed" and strict["message"].endswith("failed: t::bad (boom)")
    lenient = run_catalogue(tmp_path / "lenient", *select, env={**env, "READINESS_MIN_TEST_PASS_RATE": "70"})
    entry = check_entry(lenient, "release.bot_tests_passed")
    assert entry["outcome"] == "passed"
    assert entry["message"] == "the report's age was not compared with the repo: set READINESS_BOT_REPO"
    assert {m["name"]: (m["value"], m["threshold"]) for m in entry["metrics"]}["pass_rate"] == (75.0, 70.0)


# --- drill evidence -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drilled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reports folder holding one real drill run on target sandbox."""
    reports = tmp_path_factory.mktemp("drilled") / "reports"
    done = run_pytest("-m", "drill", "--drill", "--target", "sandbox", f"--readiness-dir={reports}")
    assert done.returncode == 0, done.stdout[-2000:]
    return reports


def _copy(drilled: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(drilled, tmp_path / "reports"))


def test_the_newest_drill_run_is_read_back_and_hashed(drilled: Path, tmp_path: Path) -> None:
    reports = _copy(drilled, tmp_path)
    run = drill_evidence.newest_drill_run(reports, "sandbox")
    assert run.json_sha256 == hashlib.sha256((reports / "readiness-drill.json").read_bytes()).hexdigest()
    assert (run.verdict, run.problems()) == ("GO", [])
    assert drill_evidence.newest_drill_run(reports / "readiness-drill.json", "sandbox") == run
    with pytest.raises(
        drill_evidence.DrillEvidenceError,
        match=r"no drill run on target testnet is recorded in .*history\.jsonl",
    ):
        drill_evidence.newest_drill_run(reports, "testnet")


def test_a_drill_report_gone_or_cut_short_is_no_evidence(drilled: Path, tmp_path: Path) -> None:
    reports = _copy(drilled, tmp_path)
    report = reports / "readiness-drill.json"
    document = json.loads(report.read_bytes())
    document["complete"], document["partial"] = False, True
    document["checks"] = [c for c in document["checks"] if c["id"] != "drill.crash_recovery"]
    report.write_text(json.dumps(document))
    history = reports / "history.jsonl"
    entry = json.loads(history.read_text())
    entry["json_sha256"] = hashlib.sha256(report.read_bytes()).hexdigest()  # as if the run had written it
    history.write_text(json.dumps(entry) + "\n")
    assert drill_evidence.newest_drill_run(reports, "sandbox").problems() == [
        "it did not finish (interrupted or crashed)",
        "it ran only part of the drills",
        "drill.crash_recovery did not run",
    ]
    report.unlink()
    with pytest.raises(
        drill_evidence.DrillEvidenceError, match=r"the drill report history\.jsonl names is not readable"
    ):
        drill_evidence.newest_drill_run(reports, "sandbox")


@contextlib.contextmanager
def _standalone_sandbox(folder: Path) -> Iterator[dict[str, str]]:
    """``readiness sandbox --write-env`` in the background, as an operator leaves it running."""
    env_file = folder / "sandbox.env"
    process = subprocess.Popen(
        [sys.executable, "-m", "readiness.cli", "sandbox", "--write-env", str(env_file)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(env_file.exists, 30, "the sandbox's env file")
        yield {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_preflight_needs_a_drill_run_on_its_target_and_names_it(tmp_path: Path) -> None:
    """Target testnet pointed at a standalone sandbox, one reports folder: NO-GO for want of a drill;
    after ``pytest -m drill --drill`` on that target the next preflight passes the check and names
    that drill run's SHA-256 in its JSON and its sign-off."""
    reports = tmp_path / "reports"
    project = tmp_path / "project"
    project.mkdir()
    with _standalone_sandbox(tmp_path) as lines:
        env = {
            **lines,
            "READINESS_TARGET": "testnet",
            "BINANCE_TESTNET_API_KEY": lines["BINANCE_API_KEY"],
            "BINANCE_TESTNET_API_SECRET": lines["BINANCE_API_SECRET"],
        }
        preflight = ("-m", "preflight", f"--readiness-dir={reports}")
        first = run_pytest(*preflight, env=env, cwd=project)
        before = json.loads((reports / "readiness.json").read_text("utf-8"))
        assert before["verdict"] == "NO-GO", first.stdout[-2000:]
        entry = check_entry(before, "release.drill_evidence_fresh")
        assert entry["outcome"] == "failed" and "no drill run is recorded in" in entry["message"]
        assert any("release.drill_evidence_fresh" in reason for reason in before["reasons"])

        drills = run_pytest("-m", "drill", "--drill", f"--readiness-dir={reports}", env=env, cwd=project)
        assert drills.returncode == 0, drills.stdout[-3000:]
        sha256 = hashlib.sha256((reports / "readiness-drill.json").read_bytes()).hexdigest()

        run_pytest(*preflight, env=env, cwd=project)
    after = json.loads((reports / "readiness.json").read_text("utf-8"))
    entry = check_entry(after, "release.drill_evidence_fresh")
    assert entry["outcome"] == "passed", entry["message"]
    assert entry["evidence"]["json_sha256"] == sha256
    assert entry["evidence"]["report"] == str(reports / "readiness-drill.json")
    page = (reports / "readiness.html").read_text("utf-8")
    assert f"SHA-256 {sha256}" in page
    # The evidence panel: this preflight, the drill run it rests on, no post-deploy run yet.
    panel = re.search(r'<section id="evidence".*?</section>', page, re.S)[0]  # type: ignore[index]
    rows = re.findall(r"<tr.*?</tr>", panel, re.S)[1:]
    assert [re.search(r"<th scope=\"row\">(.*?)</th>", row)[1] for row in rows] == [  # type: ignore[index]
        "Preflight",
        "Drill",
        "Post-deploy",
    ]
    assert (
        "(this run)" in rows[0]
        and hashlib.sha256((reports / "readiness.json").read_bytes()).hexdigest() in rows[0]
    )
    assert sha256 in rows[1] and "GO" in rows[1] and "the report still hashes to it" in rows[1]
    assert "none recorded" in rows[2]
