"""What a run leaves behind: readiness.json, history, the terminal section, pytest-html."""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from readiness.report.files import read_history, write_atomic

from .helpers import read_report

SUITE = """
import pytest

@pytest.mark.readiness(id="a.key", layer="component", tier=1, title="Key valid", remediation="Fix the key.")
def test_key(readiness):
    readiness.metric("latency", 0.25, unit="s", threshold=5)

@pytest.mark.readiness(id="a.balance", layer="component", tier=2, title="Balance",
                       remediation="Top up the account.")
def test_balance():
    assert False, "balance 10 USDT below minimum 100"

@pytest.mark.readiness(id="s.disk", layer="system", tier=3, title="Disk", remediation="Free disk.")
def test_disk(readiness):
    readiness.warn("disk 80% full")
"""
CHECK_FIELDS = {
    "id",
    "nodeid",
    "title",
    "layer",
    "tier",
    "weight",
    "outcome",
    "duration_s",
    "message",
    "remediation",
    "metrics",
    "blocked_by",
    "unset",
    "evidence",
    "waiver",
}


def test_json_document_fields(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--signoff-by", "Jane Doe")
    report = read_report(pytester)
    assert set(report) == {
        "schema",
        "sandbox",
        "target",
        "verdict",
        "score",
        "complete",
        "phases",
        "partial",
        "left_out",
        "thresholds",
        "reasons",
        "root_causes",
        "started_at",
        "finished_at",
        "environment",
        "layers",
        "checks",
        "waivers",
    }
    assert report["schema"] == "readiness-report/1"
    assert (report["target"], report["sandbox"], report["complete"]) == ("testnet", False, True)
    assert report["environment"]["signoff_by"] == "Jane Doe"
    assert {"git_commit", "python", "platform", "config_sha256"} <= set(report["environment"])
    assert report["layers"]["system"] == {
        "score": 50.0,
        "counts": {
            "passed": 0,
            "warned": 1,
            "failed": 0,
            "error": 0,
            "blocked": 0,
            "skipped": 0,
            "not_applicable": 0,
        },
    }
    for check in report["checks"]:
        assert set(check) == CHECK_FIELDS
    key = report["checks"][0]
    assert key["nodeid"] == "test_suite.py::test_key"
    assert (key["title"], key["weight"], key["metrics"]) == (
        "Key valid",
        5.0,
        [{"name": "latency", "value": 0.25, "unit": "s", "threshold": 5.0}],
    )
    text = (pytester.path / "reports" / "readiness.json").read_text()
    assert text.splitlines()[0].startswith('{"schema": "readiness-report/1"')


def test_readiness_dir_history_and_no_temp_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--readiness-dir", "out/signoff")
    pytester.runpytest("--readiness-dir", "out/signoff")
    folder = pytester.path / "out" / "signoff"
    assert sorted(p.name for p in folder.iterdir()) == ["history.jsonl", "readiness.html", "readiness.json"]
    history = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    assert len(history) == 2
    assert set(history[0]) == {
        "finished_at",
        "target",
        "phases",
        "verdict",
        "score",
        "complete",
        "partial",
        "report",
        "json_sha256",
        "git_commit",
        "counts",
    }
    assert history[1]["report"] == "readiness.json"
    assert history[1]["json_sha256"] == hashlib.sha256((folder / "readiness.json").read_bytes()).hexdigest()
    assert history[1]["verdict"] == read_report(pytester, "out/signoff")["verdict"]


def test_terminal_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(
        [
            "*= readiness =*",
            "FAILED   a.balance (tier 2, component): AssertionError: balance 10 USDT below minimum 100",
            "         fix: Top up the account.",
            "WARNED   s.disk (tier 3, system): disk 80% full",
            "         fix: Free disk.",
            "layer component: 62.5 (1 passed, 1 failed)",
            "layer system: 50 (1 warned)",
            "readiness verdict: NO-GO (score 61.11, target testnet)",
            "  - score 61.11 is below the conditional threshold 70",
            "reports: *readiness.json, *readiness.html",
        ]
    )
    assert "a.key (tier" not in result.stdout.str()


def test_quiet_terminal_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-q")
    result.stdout.fnmatch_lines(
        ["readiness verdict: NO-GO (score 61.11, target testnet)", "  - score 61.11*"]
    )
    assert "fix: Top up" not in result.stdout.str()
    assert "layer component" not in result.stdout.str()


def test_no_color_is_respected(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_suite=SUITE)
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.delenv("PY_COLORS")  # pytester sets it to 0; it would win over both below
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in pytester.runpytest_subprocess().stdout.str()
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in pytester.runpytest_subprocess().stdout.str()


def test_sandbox_reports_say_so_on_their_first_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--target", "sandbox")
    text = (pytester.path / "reports" / "readiness.json").read_text()
    assert text.splitlines()[0].startswith('{"notice": "SANDBOX RUN')
    assert json.loads(text)["sandbox"] is True
    html = (pytester.path / "reports" / "readiness.html").read_text()
    assert html.splitlines()[0].startswith("<!DOCTYPE html><!-- SANDBOX RUN")
    section = result.stdout.lines.index(next(line for line in result.stdout.lines if "= readiness =" in line))
    assert result.stdout.lines[section + 1].startswith("SANDBOX RUN")


def test_pytest_html_carries_verdict_and_check_columns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--html=pytest-html.html", "--self-contained-html")
    page = (pytester.path / "pytest-html.html").read_text()
    assert "Readiness verdict: NO-GO" in page
    assert "score 61.11" in page
    assert '<th class="readiness-id">Check</th>' in page
    assert "a.balance" in page
    assert "readiness-tier" in page


HTML_SUITE = """
import pytest

def check(check_id, tier=2, **extra):
    return pytest.mark.readiness(id=check_id, layer=extra.pop("layer", "system"), tier=tier,
                                 title=check_id, remediation="fix " + check_id, **extra)

@check("h.key", tier=1)
def test_key():
    assert False, "key rejected"

@check("h.trade", depends=("h.key",))
def test_trade():
    pass

@check("h.na")
def test_na(readiness):
    readiness.not_applicable("mainnet only")

@check("h.disk", tier=3)
def test_disk(readiness):
    readiness.warn("disk 80% full")

@check("h.config")
def test_config():
    pytest.skip("not configured: set READINESS_PID_FILE")

def test_plain():
    pass
"""


def _pytest_html_rows(page: str) -> dict[str, dict[str, Any]]:
    """pytest-html's own data for each row, by test id, as its page script reads it."""
    blob = re.search(r'data-jsonblob="([^"]*)"', page)
    assert blob is not None
    data = json.loads(html.unescape(blob.group(1)))
    return {row["testId"]: row for rows in data["tests"].values() for row in rows}


def _cell(row: dict[str, Any], css: str) -> str:
    found = [c for c in row["resultsTableRow"] if f'class="{css}"' in c]
    assert len(found) == 1, row["resultsTableRow"]
    return re.sub(r"<[^>]+>", "", found[0])


@pytest.mark.parametrize("workers", [(), ("-n", "2", "--dist", "loadfile")], ids=["serial", "xdist"])
def test_pytest_html_shows_readiness_outcomes_and_reasons(
    pytester: pytest.Pytester, workers: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_suite=HTML_SUITE)
    run = pytester.runpytest_subprocess if workers else pytester.runpytest
    run("--html=pytest-html.html", *workers)
    page = (pytester.path / "pytest-html.html").read_text()
    rows = _pytest_html_rows(page)
    na = rows["test_suite.py::test_na"]
    assert _cell(na, "readiness-outcome") == "Not applicable"
    assert na["log"].startswith("Not applicable: mainnet only\n")
    assert "NotApplicable" not in na["log"] and "context.py" not in na["log"]
    blocked = rows["test_suite.py::test_trade::setup"]
    assert _cell(blocked, "readiness-outcome") == "Blocked"
    assert blocked["log"].startswith("Blocked: not verified: depends on h.key (failed)\n")
    assert "running.py" not in blocked["log"]
    config = rows["test_suite.py::test_config"]
    assert (_cell(config, "readiness-outcome"), config["log"].splitlines()[0]) == (
        "Skipped",
        "Skipped: not configured: set READINESS_PID_FILE",
    )
    disk = rows["test_suite.py::test_disk"]
    assert _cell(disk, "readiness-outcome") == "Warned"
    assert disk["log"].startswith("Warned: disk 80% full\n")
    assert _cell(rows["test_suite.py::test_key"], "readiness-outcome") == "Failed"
    assert _cell(rows["test_suite.py::test_plain"], "readiness-outcome") == ""
    # pytest-html's script shows a row only when its result is one of pytest-html's own words
    results = [row["result"] for row in rows.values()]
    assert set(results) <= {"Passed", "Skipped", "Failed", "Error", "XFailed", "XPassed", "Rerun"}
    report = read_report(pytester)
    counts = {
        o: sum(c["outcome"] == o for c in report["checks"]) for o in ("blocked", "not_applicable", "skipped")
    }
    assert counts == {"blocked": 1, "not_applicable": 1, "skipped": 1}
    assert f"{results.count('Skipped')} Skipped" in page and results.count("Skipped") == sum(counts.values())
    assert f"{results.count('Passed')} Passed" in page and results.count("Passed") == 2  # disk, plain
    assert (
        "Readiness checks: 1 warned, 1 failed, 1 blocked, 1 skipped, 1 not applicable; pytest-html counts "
        "warned under Passed, blocked under Skipped, not applicable under Skipped." in html.unescape(page)
    )


def test_works_without_pytest_html(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "no:html")
    result.assert_outcomes(passed=1, failed=1)
    assert read_report(pytester)["verdict"] == "NO-GO"


def test_write_atomic_leaves_old_file_and_no_temp_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "readiness.json"
    write_atomic(target, b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["readiness.json"]


def test_read_history_skips_garbage_and_keeps_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    lines = [json.dumps({"score": i}) for i in range(50)]
    path.write_text("\n".join([*lines[:25], "not json", "[1]", *lines[25:]]) + "\n")
    assert [e["score"] for e in read_history(path, 5)] == [45, 46, 47, 48, 49]
    assert read_history(tmp_path / "missing.jsonl", 5) == []
