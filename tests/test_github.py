"""GitHub Actions: the job summary (``GITHUB_STEP_SUMMARY``) and workflow-command annotations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from readiness.redact import Redactor
from readiness.report.github import SUMMARY_LIMIT, escape_data, escape_property, summary, workflow_commands

SECRET = "sk-live-4f9a8b7c6d5e"
SUITE = """
import os
import pytest

def check(check_id, tier=2, **extra):
    remediation = extra.pop("remediation", "fix " + check_id)
    return pytest.mark.readiness(id=check_id, layer=extra.pop("layer", "component"), tier=tier,
                                 title=check_id, remediation=remediation, **extra)

@check("g.key", tier=1, remediation="rotate the key " + os.environ["MY_API_KEY"])
def test_key():
    assert False, "key rejected:\\n100% of requests | refused"

@check("g.trade", tier=1, depends=("g.key",))
def test_trade():
    pass

@check("g.balance")
def test_balance():
    assert False, "balance 10 USDT below minimum 100"

@check("g.disk", tier=3, layer="system")
def test_disk(readiness):
    readiness.warn("disk 80% full")

@check("g.na", layer="system")
def test_na(readiness):
    readiness.not_applicable("mainnet only")

@check("g.ok", tier=3, layer="system")
def test_ok():
    pass
"""


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    monkeypatch.setenv("MY_API_KEY", SECRET)
    return path


def _annotations(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("::") or " annotations not shown" in line]


@pytest.mark.parametrize("workers", [(), ("-n", "2", "--dist", "loadfile")], ids=["serial", "xdist"])
def test_summary_and_annotations_of_a_run(
    pytester: pytest.Pytester, github: Path, workers: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    run = pytester.runpytest_subprocess if workers else pytester.runpytest
    result = run(*workers)
    text = github.read_text("utf-8")
    assert text.count("## Readiness: NO-GO") == 1  # the controller's, no worker's
    assert "Score **" in text and "target **testnet**" in text
    (why,) = [line for line in text.splitlines() if line.startswith("- g.")]  # one root cause
    assert why.startswith("- g.key failed: ") and why.endswith("(1 check blocked)"), why
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [row.split(" | ")[0] for row in rows] == [
        "| `g.key`",
        "| `g.balance`",
        "| `g.trade`",
        "| `g.disk`",
    ]
    assert rows[0] == "| `g.key` | 1 | failed | AssertionError: key rejected: | rotate the key \\*\\*\\* |"
    assert "| `g.trade` | 1 | blocked | not verified: depends on g.key (failed) |  |" in rows
    assert "**4 of 6 checks did not pass**" in text
    assert "g.na" not in text and "g.ok" not in text
    lines = _annotations(result.stdout.str())
    assert lines == [
        "::error title=g.key::AssertionError: key rejected:%0A  100%25 of requests | refused%0Aassert False"
        " — rotate the key ***",
        "::error title=g.trade::not verified: depends on g.key (failed)",
        "::warning title=g.balance::AssertionError: balance 10 USDT below minimum 100%0Aassert False — fix g.balance",
        "::notice title=g.disk::disk 80%25 full — fix g.disk",
    ]
    assert SECRET not in text and SECRET not in result.stdout.str()  # summary, annotations, terminal


def test_nothing_for_github_outside_it(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_KEY", SECRET)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest()
    assert _annotations(result.stdout.str()) == []
    monkeypatch.setenv("GITHUB_ACTIONS", "false")
    assert _annotations(pytester.runpytest().stdout.str()) == []


def test_summary_appends_after_what_the_step_wrote(pytester: pytest.Pytester, github: Path) -> None:
    github.write_text("earlier step output without a newline")
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest()
    pytester.runpytest()
    text = github.read_text("utf-8")
    assert text.startswith("earlier step output without a newline\n## Readiness: NO-GO\n")
    assert text.count("## Readiness: NO-GO") == 2


def _check(i: int, outcome: str = "failed", tier: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"bulk.check_{i:04d}",
        "tier": tier,
        "layer": "system",
        "outcome": outcome,
        "message": f"check {i} failed: " + "x" * 400,
        "remediation": "do the right thing " * 30,
        "waiver": None,
        **extra,
    }


def _document(checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "verdict": "NO-GO",
        "score": 12.5,
        "target": "testnet",
        "phases": ["preflight"],
        "complete": True,
        "partial": False,
        "reasons": ["score 12.5 is below the conditional threshold 70"],
        "checks": checks,
    }


@pytest.mark.parametrize("used", [0, 700 * 1024])
def test_summary_is_cut_to_what_github_accepts(used: int) -> None:
    document = _document([_check(i) for i in range(3000)])
    text = summary(document, ["reports/readiness.json"], Redactor(), SUMMARY_LIMIT - used)
    assert len(text.encode("utf-8")) <= SUMMARY_LIMIT - used
    shown = sum(line.startswith("| `bulk.") for line in text.splitlines())
    more = re.search(r"_(\d+) more not shown: see the reports_", text)
    assert more is not None and int(more.group(1)) == 3000 - shown
    assert shown > 100
    assert text.rstrip().endswith("Reports: `reports/readiness.json`")
    whole = summary(_document([_check(i) for i in range(50)]), [], Redactor(), SUMMARY_LIMIT)
    assert "more not shown" not in whole
    assert sum(line.startswith("| `bulk.") for line in whole.splitlines()) == 50


def test_summary_rows_are_plain_text_in_their_cells() -> None:
    check = _check(1, message="<script>alert(1)</script> | *bold* [link](x) `code`\nsecond line")
    text = summary(_document([check]), [], Redactor(), SUMMARY_LIMIT)
    row = next(line for line in text.splitlines() if line.startswith("| `bulk."))
    assert row.split(" | ")[3] == r"\<script\>alert(1)\</script\> \| \*bold\* \[link\](x) \`code\`"
    assert "second line" not in text


def test_annotations_are_escaped_and_capped_per_level() -> None:
    checks = [
        *(_check(i, tier=1, message=f"tier 1: {i}") for i in range(12)),
        *(_check(100 + i, message=f"tier 2: {i}") for i in range(11)),
        *(_check(200 + i, outcome="warned", message="w") for i in range(3)),
        _check(300, outcome="failed", waiver={"status": "active", "expires": "2026-12-31"}, message="m"),
        _check(301, outcome="not_applicable", message="n/a"),
        _check(302, outcome="passed", message=""),
    ]
    lines = list(workflow_commands(_document(checks), Redactor()))
    levels = [line.split(" ", 1)[0] for line in lines if line.startswith("::")]
    assert levels == ["::error"] * 10 + ["::warning"] * 10 + ["::notice"] * 4
    assert lines[10] == "2 more error annotations not shown"
    assert lines[21] == "1 more warning annotations not shown"
    assert lines[-1].startswith("::notice title=bulk.check_0300::m — do the right thing")
    assert lines[-1].endswith("(waived until 2026-12-31)")
    assert escape_data("100%\r\nok: a, b") == "100%25%0D%0Aok: a, b"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
