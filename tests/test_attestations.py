"""Attested manual steps: the attestation file, where it is found, and the manual.* checks judging it."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import os
import re
from pathlib import Path
from typing import Any

import pytest

from readiness.report.html import render_html

from .helpers import check_entry, outcomes, read_report, run_catalogue

#: The catalogue joins the run (the suite's default ini leaves it out).
CATALOGUE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
MANUAL = ("manual.runbook_reviewed", "manual.rollback_plan_ready", "manual.escalation_contacts_current")
TODAY = dt.date.today()


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


def attestation(
    check_id: str, *, by: str = "Jane Doe", date: str = day(-3), expires: str = day(30), extra: str = ""
) -> str:
    return (
        f'[[attestation]]\nid = "{check_id}"\nattested_by = "{by}"\n'
        f"date = {date}\nexpires = {expires}\n{extra}"
    )


def every_step(**overrides: str) -> str:
    """An attestation of each manual step (``overrides``: id -> its own table), blank-line apart."""
    return "\n".join(overrides.get(check_id, attestation(check_id)) for check_id in MANUAL)


def literal_brackets(pattern: str) -> str:
    """``pattern`` for fnmatch_lines with its ``[`` matched as itself, not as a character class."""
    return pattern.replace("[", "[[]")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def signoff_text(pytester: pytest.Pytester) -> str:
    page = (pytester.path / "reports" / "readiness.html").read_text("utf-8")
    block = page[page.index('id="signoff"') :]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block)))


@pytest.fixture
def folder(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(CATALOGUE_INI)
    return pytester


def run_manual(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run the built-in manual checks only (a partial run: their outcomes still reach the report)."""
    return pytester.runpytest("-p", "no:cacheprovider", "-m", "system", "-k", "manual", *args)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_attested_steps_pass_with_their_evidence(folder: pytest.Pytester, workers: list[str]) -> None:
    content = every_step(
        **{
            "manual.runbook_reviewed": attestation(
                "manual.runbook_reviewed", extra='note = "walked through runbook v3 with on-call"\n'
            ),
            "manual.escalation_contacts_current": attestation(
                "manual.escalation_contacts_current", by="Ops <b>Lead</b>", expires=day(0)
            ),
        }
    )
    folder.path.joinpath("readiness-attestations.toml").write_text(content)
    result = run_manual(folder, *workers)
    assert result.parseoutcomes()["passed"] == 3
    report = read_report(folder)
    assert outcomes(report) == dict.fromkeys(MANUAL, "passed")
    path = str(folder.path / "readiness-attestations.toml")
    assert check_entry(report, "manual.runbook_reviewed")["evidence"] == {
        "file": path,
        "line": 1,
        "attested_by": "Jane Doe",
        "date": day(-3),
        "expires": day(30),
        "note": "walked through runbook v3 with on-call",
    }
    assert check_entry(report, "manual.rollback_plan_ready")["evidence"]["line"] == 8
    # expires today: still in force
    contacts = check_entry(report, "manual.escalation_contacts_current")["evidence"]
    assert (contacts["line"], contacts["expires"], contacts["note"]) == (14, day(0), "")

    signoff = signoff_text(folder)
    assert "Attested steps" in signoff
    assert (
        "The runbook was walked through and matches the deployment manual.runbook_reviewed Jane Doe"
        in signoff
    )
    assert f"{day(-3)} {day(30)} ACTIVE walked through runbook v3 with on-call" in signoff
    assert "Ops <b>Lead</b>" in signoff and "NOT ATTESTED" not in signoff
    assert f"Read from {path}." in signoff
    page = (folder.path / "reports" / "readiness.html").read_text("utf-8")
    assert "<b>Lead" not in page and "Ops &lt;b&gt;Lead&lt;/b&gt;" in page


def test_a_step_without_attestation_skips_naming_the_file_and_the_id(folder: pytest.Pytester) -> None:
    path = folder.path / "readiness-attestations.toml"
    path.write_text(attestation("manual.runbook_reviewed") + "\n" + attestation("manual.rollback_plan_ready"))
    result = run_manual(folder)
    report = read_report(folder)
    assert outcomes(report) == {
        "manual.runbook_reviewed": "passed",
        "manual.rollback_plan_ready": "passed",
        "manual.escalation_contacts_current": "skipped",
    }
    message = check_entry(report, "manual.escalation_contacts_current")["message"]
    assert message == (
        'not attested: add an [[attestation]] with id = "manual.escalation_contacts_current", '
        f"attested_by, date and expires to {path}"
    )
    assert check_entry(report, "manual.escalation_contacts_current")["evidence"] is None
    assert message in result.stdout.str()
    assert "Escalation contacts are current manual.escalation_contacts_current no attestation" in (
        signoff_text(folder)
    )


def test_without_a_file_every_step_says_which_file_to_create(folder: pytest.Pytester) -> None:
    run_manual(folder)
    report = read_report(folder)
    assert outcomes(report) == dict.fromkeys(MANUAL, "skipped")
    path = folder.path / "readiness-attestations.toml"
    for check_id in MANUAL:
        assert check_entry(report, check_id)["message"].endswith(
            f'id = "{check_id}", attested_by, date and expires to {path} (the file does not exist yet)'
        )
    assert signoff_text(folder).count("NOT ATTESTED") == 3
    assert not path.exists()


def test_an_expired_attestation_fails_naming_who_when_and_the_remedy(folder: pytest.Pytester) -> None:
    expired = attestation("manual.rollback_plan_ready", by="Sam Ops", date=day(-40), expires=day(-1))
    path = folder.path / "readiness-attestations.toml"
    path.write_text(every_step(**{"manual.rollback_plan_ready": expired}))
    result = run_manual(folder)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    report = read_report(folder)
    assert outcomes(report) == dict.fromkeys(MANUAL, "passed") | {"manual.rollback_plan_ready": "failed"}
    entry = check_entry(report, "manual.rollback_plan_ready")
    assert entry["message"] == f"attested by Sam Ops on {day(-40)}, expired on {day(-1)} ({path}, line 7)"
    assert entry["remediation"] == (
        f"Have the step checked again and renew its attestation (new date and expires) in {path}, line 7."
    )
    assert entry["evidence"]["expires"] == day(-1)
    assert entry["remediation"] in result.stdout.str()
    signoff = signoff_text(folder)
    assert f"Sam Ops {day(-40)} {day(-1)} EXPIRED" in signoff


def test_an_attestation_dated_after_the_run_is_a_usage_error(folder: pytest.Pytester) -> None:
    ahead = attestation("manual.rollback_plan_ready", date=day(1), expires=day(30))
    folder.path.joinpath("readiness-attestations.toml").write_text(
        every_step(**{"manual.rollback_plan_ready": ahead})
    )
    result = run_manual(folder)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: attestation file {folder.path / 'readiness-attestations.toml'}, line 7 "
            f"(manual.rollback_plan_ready): dated {day(1)}, after this run's date {day(0)}: "
            "an attestation records a check already made"
        ]
    )
    assert not (folder.path / "reports").exists()


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_an_attestation_for_an_unknown_id_is_a_usage_error(
    folder: pytest.Pytester, workers: list[str]
) -> None:
    content = every_step() + "\n" + attestation("manual.runbook_reviewd")
    folder.path.joinpath("readiness-attestations.toml").write_text(content)
    result = run_manual(folder, *workers)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: attestation file *readiness-attestations.toml, line 19: no manual.* check has id "
            "'manual.runbook_reviewd'; attestations are for the manual.* checks: "
            "manual.escalation_contacts_current, manual.rollback_plan_ready, manual.runbook_reviewed"
        ]
    )


def test_only_manual_checks_take_attestations(pytester: pytest.Pytester) -> None:
    """Without the catalogue in the run its manual steps are still known; other checks take none."""
    pytester.makepyfile(
        test_own="""
        import pytest

        @pytest.mark.readiness(id="own.check", layer="system", tier=2)
        def test_own():
            pass
        """
    )
    path = pytester.path / "readiness-attestations.toml"
    path.write_text(attestation("manual.runbook_reviewed"))
    assert pytester.runpytest().ret == pytest.ExitCode.OK
    path.write_text(attestation("own.check"))
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: attestation file *, line 1: no manual.* check has id 'own.check'*"])


BAD_FILES = [
    pytest.param("[[attestation]\n", "invalid TOML: * (at line 1, column *)", id="invalid-toml"),
    pytest.param(
        every_step() + "colour = 'red'\n",
        "line 13 (attestation #3): unknown field(s) colour; an attestation has id, attested_by, date, "
        "expires, note",
        id="unknown-field",
    ),
    pytest.param(
        "signed = true\n\n" + every_step(),
        "unknown key(s) signed; use [[attestation]] tables",
        id="unknown-key",
    ),
    pytest.param('attestation = "all"\n', "'attestation' must be an array of tables*", id="not-tables"),
    pytest.param(
        attestation("manual.runbook_reviewed").replace("date = ", "# no date\nwhen = ", 1),
        "line 1 (attestation #1): lacks required field(s) date",
        id="missing-field",
    ),
    pytest.param(
        every_step(
            **{
                "manual.rollback_plan_ready": attestation(
                    "manual.rollback_plan_ready", expires='"2026-12-31"'
                )
            }
        ),
        "line 7 (attestation #2): 'expires' must be a TOML date like 2026-12-31, got '2026-12-31'",
        id="expires-a-string",
    ),
    pytest.param(
        attestation("manual.runbook_reviewed", date=f"{day(-1)}T09:30:00"),
        f"line 1 (attestation #1): 'date' must be a TOML date like 2026-12-31, got the date and time "
        f"{day(-1)}T09:30:00; leave the time out",
        id="date-a-datetime",
    ),
    pytest.param(
        attestation("manual.runbook_reviewed", by=" "),
        "line 1 (attestation #1): 'attested_by' must be a non-empty string, got ' '",
        id="empty-name",
    ),
    pytest.param(
        attestation("manual.runbook_reviewed").replace('"Jane Doe"', "42"),
        "line 1 (attestation #1): 'attested_by' must be a non-empty string, got 42",
        id="name-not-a-string",
    ),
    pytest.param(
        attestation("manual.runbook_reviewed", extra='note = ""\n'),
        "line 1 (attestation #1): 'note' must be a non-empty string, got ''",
        id="empty-note",
    ),
    pytest.param(
        attestation("Manual Runbook"),
        "line 1 (attestation #1): malformed check id 'Manual Runbook'*",
        id="malformed-id",
    ),
    pytest.param(
        every_step() + "\n" + attestation("manual.runbook_reviewed"),
        "line 19 (attestation #4): check 'manual.runbook_reviewed' is attested twice (first on line 1)",
        id="twice",
    ),
    pytest.param(
        "\n\n" + attestation("manual.runbook_reviewed", date=day(-3), expires=day(-4)),
        f"line 3 (attestation #1): 'expires' {day(-4)} is before 'date' {day(-3)}",
        id="expires-before-date",
    ),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_a_bad_file_is_a_usage_error_naming_it_and_left_as_it_was(
    folder: pytest.Pytester, content: str, message: str
) -> None:
    path = folder.path / "readiness-attestations.toml"
    path.write_text(content)
    before = sha256(path)
    result = run_manual(folder)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([literal_brackets(f"ERROR: attestation file {path}*{message}")])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert sha256(path) == before
    assert not (folder.path / "reports").exists()


def test_a_file_that_is_not_utf8_is_a_usage_error(folder: pytest.Pytester) -> None:
    path = folder.path / "readiness-attestations.toml"
    path.write_bytes(attestation("manual.runbook_reviewed", by="Jos\xe9").encode("latin-1"))
    before = sha256(path)
    result = run_manual(folder)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: attestation file {path}: not UTF-8 text"])
    assert sha256(path) == before


def test_a_folder_or_a_symlink_loop_is_a_usage_error(folder: pytest.Pytester) -> None:
    path = folder.path / "readiness-attestations.toml"
    path.mkdir()
    result = run_manual(folder)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: attestation file {path}: is a folder, not a file"])
    assert list(path.iterdir()) == []
    path.rmdir()

    path.symlink_to("readiness-attestations.toml")
    result = run_manual(folder)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: attestation file {path}: cannot read it (*symbolic links*)"])
    assert os.readlink(path) == "readiness-attestations.toml"
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize("content", ["", "# the steps are attested here before each deployment\n"])
def test_an_empty_file_attests_nothing(folder: pytest.Pytester, content: str) -> None:
    path = folder.path / "readiness-attestations.toml"
    path.write_text(content)
    before = sha256(path)
    run_manual(folder)
    report = read_report(folder)
    assert outcomes(report) == dict.fromkeys(MANUAL, "skipped")
    message = check_entry(report, "manual.runbook_reviewed")["message"]
    assert message.endswith(f"expires to {path}")  # the file exists: no "does not exist yet"
    assert sha256(path) == before


def test_the_option_names_a_file_relative_to_the_invocation_folder(
    folder: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the rootdir's own file (all expired) is not read when the option names another
    expired = every_step(**{c: attestation(c, date=day(-9), expires=day(-2)) for c in MANUAL})
    folder.path.joinpath("readiness-attestations.toml").write_text(expired)
    ops = folder.mkdir("ops")
    ops.joinpath("signed.toml").write_text(every_step())
    monkeypatch.chdir(ops)
    run_manual(folder, "--readiness-attestations", "signed.toml")
    report = read_report(folder)  # the reports folder stays in the rootdir
    assert outcomes(report) == dict.fromkeys(MANUAL, "passed")
    assert check_entry(report, "manual.runbook_reviewed")["evidence"]["file"] == str(ops / "signed.toml")


def test_the_setting_names_the_file_from_the_environment_or_readiness_toml(
    folder: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder.mkdir("ops").joinpath("signed.toml").write_text(every_step())
    folder.mkdir("conf").joinpath("other.toml").write_text(
        every_step(**{"manual.runbook_reviewed": attestation("manual.runbook_reviewed", expires=day(-1))})
    )
    # readiness.toml: relative to the config file's folder
    folder.path.joinpath("readiness.toml").write_text('attestations = "conf/other.toml"\n')
    run_manual(folder)
    report = read_report(folder)
    assert outcomes(report)["manual.runbook_reviewed"] == "failed"
    assert check_entry(report, "manual.runbook_reviewed")["evidence"]["file"] == str(
        folder.path / "conf" / "other.toml"
    )
    # the environment wins over readiness.toml; relative to the invocation folder
    monkeypatch.setenv("READINESS_ATTESTATIONS", "ops/signed.toml")
    run_manual(folder)
    report = read_report(folder)
    assert outcomes(report) == dict.fromkeys(MANUAL, "passed")
    assert check_entry(report, "manual.rollback_plan_ready")["evidence"]["file"] == str(
        folder.path / "ops" / "signed.toml"
    )
    # and the option wins over both
    run_manual(folder, "--readiness-attestations", "conf/other.toml")
    assert outcomes(read_report(folder))["manual.runbook_reviewed"] == "failed"


@pytest.mark.parametrize(
    ("args", "env", "config", "message"),
    [
        (
            ["--readiness-attestations", "nope.toml"],
            {},
            "",
            "ERROR: --readiness-attestations nope.toml: no such file",
        ),
        (
            [],
            {"READINESS_ATTESTATIONS": "nope.toml"},
            "",
            "ERROR: environment variable READINESS_ATTESTATIONS: setting 'attestations': "
            "attestation file */nope.toml does not exist",
        ),
        (
            [],
            {},
            'attestations = "ops/nope.toml"\n',
            "ERROR: */readiness.toml: setting 'attestations': attestation file */ops/nope.toml does not exist",
        ),
    ],
)
def test_a_named_file_that_does_not_exist_is_a_usage_error(
    folder: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env: dict[str, str],
    config: str,
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if config:
        folder.path.joinpath("readiness.toml").write_text(config)
    result = run_manual(folder, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_sandbox_attests_its_rehearsal(tmp_path: Path, workers: list[str]) -> None:
    """``--target sandbox`` points READINESS_ATTESTATIONS at the sandbox's own file once the run
    has begun (xdist workers read it too); a fault lets one step's attestation expire."""
    fault = ("--sandbox-fault", "escalation_attestation_expired")
    report = run_catalogue(tmp_path, "-m", "system", "-k", "manual", "--target", "sandbox", *workers, *fault)
    assert ("2 workers" in report["_stdout"]) is bool(workers)
    assert outcomes(report) == dict.fromkeys(MANUAL, "passed") | {
        "manual.escalation_contacts_current": "failed"
    }
    evidence = check_entry(report, "manual.runbook_reviewed")["evidence"]
    assert evidence["attested_by"] == "readiness sandbox (rehearsal, no person)"
    assert Path(evidence["file"]).name == "readiness-attestations.toml"
    assert "expired on" in check_entry(report, "manual.escalation_contacts_current")["message"]


def _report_with(checks: list[dict[str, Any]]) -> dict[str, Any]:
    base = {"layer": "system", "tier": 2, "weight": 3, "message": "", "remediation": "R", "metrics": []}
    return {"verdict": "GO", "score": 100, "checks": [base | check for check in checks]}


def test_the_signoff_lists_only_manual_checks_and_escapes_them() -> None:
    evidence = {
        "file": "/x/a.toml",
        "line": 1,
        "attested_by": "<script>x</script>",
        "date": "2026-12-01",
        "expires": "2026-12-31",
        "note": "a & b",
    }
    page = render_html(
        _report_with(
            [
                {
                    "id": "manual.runbook_reviewed",
                    "title": "Runbook",
                    "outcome": "passed",
                    "evidence": evidence,
                },
                {
                    "id": "manual.rollback_plan_ready",
                    "title": "Rollback",
                    "outcome": "skipped",
                    "evidence": None,
                },
                {"id": "release.drill", "title": "Drill evidence", "outcome": "passed", "evidence": {"x": 1}},
            ]
        ),
        history=[],
        json_sha256="0" * 64,
    )
    block = page[page.index('id="signoff"') :]
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in block
    assert "a &amp; b" in block and "Drill evidence" not in block
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block)))
    assert "Runbook manual.runbook_reviewed <script>x</script> 2026-12-01 2026-12-31 ACTIVE a & b" in text
    assert "Rollback manual.rollback_plan_ready no attestation for this step NOT ATTESTED" in text
    assert "Read from /x/a.toml." in text

    without = render_html(_report_with([]), history=[], json_sha256="0" * 64)
    assert "No manual step was part of this run." in without
