"""Every outcome, the score and every verdict reason, through real pytest runs."""

from __future__ import annotations

import pytest

from .helpers import check_entry, outcomes, read_report

ALL_OUTCOMES = """
import pytest

def check(check_id, tier=2, **extra):
    return pytest.mark.readiness(id=check_id, layer="component", tier=tier, title=check_id,
                                 remediation=f"fix {check_id}", **extra)

@check("o.passed")
def test_passed(readiness):
    readiness.metric("latency", 12.5, unit="ms", threshold=100)

@check("o.warned")
def test_warned(readiness):
    readiness.warn("balance below the recommended 1000 USDT")

@check("o.failed")
def test_failed(readiness):
    readiness.fail("Binance said -2015", remediation="Whitelist this machine's IP on the key.")

@check("o.asserted")
def test_asserted():
    assert 1 + 1 == 3, "arithmetic is broken"

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

@check("o.error")
def test_error(broken): pass

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown exploded")

@check("o.teardown_error")
def test_teardown_error(bad_teardown): pass

@check("o.blocked", depends=("o.failed",))
def test_blocked(): pass

@check("o.skipped")
def test_skipped(readiness):
    readiness.require("telegram_bot_token")

@check("o.not_applicable")
def test_not_applicable(readiness):
    readiness.not_applicable("testnet has no /sapi")

@check("o.xfail")
@pytest.mark.xfail(reason="known broken")
def test_xfail():
    assert False
"""


@pytest.fixture
def report(pytester: pytest.Pytester) -> dict:
    pytester.makepyfile(test_checks=ALL_OUTCOMES)
    result = pytester.runpytest("-rA")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1 warned, 1 blocked, 1 not applicable in*"])
    return read_report(pytester)


def test_every_outcome(report: dict) -> None:
    assert outcomes(report) == {
        "o.passed": "passed",
        "o.warned": "warned",
        "o.failed": "failed",
        "o.asserted": "failed",
        "o.error": "error",
        "o.teardown_error": "error",
        "o.blocked": "blocked",
        "o.skipped": "skipped",
        "o.not_applicable": "not_applicable",
        "o.xfail": "failed",
    }


def test_messages_metrics_and_remediations(report: dict) -> None:
    assert check_entry(report, "o.passed")["metrics"] == [
        {"name": "latency", "value": 12.5, "unit": "ms", "threshold": 100.0}
    ]
    assert check_entry(report, "o.warned")["message"] == "balance below the recommended 1000 USDT"
    failed = check_entry(report, "o.failed")
    assert failed["message"] == "Binance said -2015"
    assert failed["remediation"] == "Whitelist this machine's IP on the key."
    assert "arithmetic is broken" in check_entry(report, "o.asserted")["message"]
    assert check_entry(report, "o.asserted")["remediation"] == "fix o.asserted"
    assert "fixture exploded" in check_entry(report, "o.error")["message"]
    assert "teardown exploded" in check_entry(report, "o.teardown_error")["message"]
    blocked = check_entry(report, "o.blocked")
    assert blocked["blocked_by"] == ["o.failed"]
    assert blocked["message"] == "not verified: depends on o.failed (failed)"
    assert check_entry(report, "o.skipped")["message"] == "not configured: set TELEGRAM_BOT_TOKEN"
    assert check_entry(report, "o.not_applicable")["message"] == "testnet has no /sapi"
    assert all(c["duration_s"] >= 0 for c in report["checks"])


def test_score_counts_warned_half_and_skips_nothing(report: dict) -> None:
    # Ten tier-2 checks (weight 3); N/A leaves the score: 9 counted, passed 3 + warned 1.5.
    assert report["score"] == round(100 * 4.5 / 27, 2)
    assert report["layers"]["component"]["counts"] == {
        "passed": 1,
        "warned": 1,
        "failed": 3,
        "error": 2,
        "blocked": 1,
        "skipped": 1,
        "not_applicable": 1,
    }


def _suite(*checks: tuple[str, int, str]) -> str:
    lines = ["import pytest"]
    for check_id, tier, body in checks:
        name = check_id.replace(".", "_")
        lines.append(
            f'@pytest.mark.readiness(id="{check_id}", layer="system", tier={tier}, title="T", remediation="R")\n'
            f"def test_{name}():\n    {body}\n"
        )
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("checks", "verdict", "reasons"),
    [
        ([("a.one", 1, "pass"), ("a.two", 2, "pass")], "GO", []),
        (
            # weights 5 + 3 + 3 + 3: 11 of 14 earned = 78.57
            [("a.one", 1, "pass"), ("a.two", 2, "pass"), ("a.three", 2, "assert 0"), ("a.four", 2, "pass")],
            "CONDITIONAL GO",
            ["score 78.57 is below the GO threshold 85"],
        ),
        (
            [("a.one", 1, "assert 0"), ("a.two", 3, "pass")],
            "NO-GO",
            ["a.one failed: assert 0 — fix: R", "score 16.67 is below the conditional threshold 70"],
        ),
        (
            [("a.one", 1, "pytest.skip('not configured')"), *[(f"a.n{i}", 2, "pass") for i in range(20)]],
            "NO-GO",
            ["a.one skipped: not configured — fix: R"],
        ),
        (
            [("a.one", 2, "assert 0"), ("a.two", 2, "assert 0"), ("a.three", 1, "pass")],
            "NO-GO",
            ["score 45.45 is below the conditional threshold 70"],
        ),
    ],
)
def test_verdicts_and_their_reasons(
    pytester: pytest.Pytester, checks: list[tuple[str, int, str]], verdict: str, reasons: list[str]
) -> None:
    pytester.makepyfile(test_suite=_suite(*checks))
    pytester.runpytest()
    report = read_report(pytester)
    assert report["verdict"] == verdict
    assert report["reasons"] == reasons
    assert report["complete"] is True


def test_no_check_ran_is_no_go(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=_suite(("a.one", 1, "pass")))
    result = pytester.runpytest("-m", "deployment")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    report = read_report(pytester)
    assert report["verdict"] == "NO-GO"
    assert report["checks"] == []
    assert "no check ran" in report["reasons"]


def test_all_not_applicable_is_no_go(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_suite="""
        import pytest
        @pytest.mark.readiness(id="a.one", layer="system", tier=2, title="T", remediation="R")
        def test_one(readiness):
            readiness.not_applicable("not on this target")
        """
    )
    pytester.runpytest()
    report = read_report(pytester)
    assert report["verdict"] == "NO-GO"
    assert report["reasons"] == [
        "no check counts toward the score (all not applicable or waived)",
        "score 0 is below the conditional threshold 70",
    ]


def test_stopping_early_makes_the_run_incomplete(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_suite=_suite(("a.one", 2, "assert 0"), ("a.two", 2, "pass"), ("a.three", 2, "pass"))
    )
    result = pytester.runpytest("-x")
    result.assert_outcomes(failed=1)
    report = read_report(pytester)
    assert report["complete"] is False
    assert report["verdict"] == "NO-GO"
    assert "run incomplete: 2 collected check(s) have no result: a.two, a.three" in report["reasons"]
    result.stdout.fnmatch_lines(["*readiness verdict: NO-GO (score 0, target testnet, INCOMPLETE)*"])


def test_interrupt_writes_an_incomplete_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_suite=_suite(
            ("a.one", 2, "pass"), ("a.two", 2, "raise KeyboardInterrupt"), ("a.three", 2, "pass")
        )
    )
    result = pytester.runpytest(no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = read_report(pytester)
    assert report["complete"] is False
    assert report["verdict"] == "NO-GO"
    assert "run incomplete: interrupted (Ctrl-C or SIGTERM)" in report["reasons"]
    assert outcomes(report) == {"a.one": "passed"}
    assert sorted(p.name for p in (pytester.path / "reports").iterdir()) == [
        "history.jsonl",
        "readiness.html",
        "readiness.json",
    ]


def test_collection_error_writes_a_no_go_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_good=_suite(("a.one", 2, "pass")), test_broken="import nonexistent_module")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = read_report(pytester)
    assert report["verdict"] == "NO-GO"
    assert "run incomplete: 1 error(s) during collection" in report["reasons"]


def test_dependency_that_ran_later_still_blocks(pytester: pytest.Pytester) -> None:
    """The final relabelling does not depend on run order (what xdist changes)."""
    pytester.makepyfile(
        test_suite="""
        import pytest
        @pytest.mark.readiness(id="a.key", layer="component", tier=1, title="T", remediation="R")
        def test_key():
            assert False, "key rejected"

        @pytest.mark.readiness(id="a.trade", layer="component", tier=1, title="T", remediation="R",
                               depends=("a.key",))
        def test_trade():
            assert False, "cascade"

        @pytest.mark.readiness(id="a.order", layer="component", tier=2, title="T", remediation="R",
                               depends=("a.trade",))
        def test_order():
            pass
        """
    )
    pytester.runpytest("-p", "no:randomly")
    report = read_report(pytester)
    assert outcomes(report) == {"a.key": "failed", "a.trade": "blocked", "a.order": "blocked"}
    assert check_entry(report, "a.order")["blocked_by"] == ["a.trade"]
    assert report["reasons"][0] == "a.key failed: AssertionError: key rejected — fix: R (2 checks blocked)"


ROOT_CAUSES = """
import pytest

def check(check_id, tier=1, **extra):
    return pytest.mark.readiness(id=check_id, layer="component", tier=tier, title=check_id,
                                 remediation=f"the advice of {check_id}", **extra)

@check("r.token")
def test_token(readiness):
    readiness.require("telegram_bot_token")

@check("r.chat", depends=("r.token",))
def test_chat(): pass

@check("r.db", tier=2)
def test_db(readiness):
    readiness.require("positions_db", "telegram_chat_id")

@check("r.ping")
def test_ping(readiness):
    readiness.fail("cannot reach the exchange", remediation="check DNS")

@check("r.key", depends=("r.ping", "r.token"))
def test_key(): pass

@check("r.disk", tier=2)
def test_disk():
    assert False, "disk full"
"""


def test_reasons_name_each_root_cause_once_with_its_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings not set are one cause, a failed check another; what they skipped or blocked is
    folded under them, a check blocked by both under each; the summary lists neither again."""
    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", "k" * 64)  # something is configured
    pytester.makepyfile(test_suite=ROOT_CAUSES)
    result = pytester.runpytest("-p", "no:randomly")
    report = read_report(pytester)
    fix = "Run `readiness init` or set them in .env or the environment"
    assert report["root_causes"] == [
        {
            "reason": "TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID, READINESS_POSITIONS_DB not set",
            "fix": fix + " (settings that are not secrets may also go in readiness.toml)",
            "check": None,
            "checks": ["r.token", "r.chat", "r.db", "r.key"],
            "tier1": True,
        },
        {
            "reason": "r.ping failed: cannot reach the exchange",
            "fix": "check DNS",
            "check": "r.ping",
            "checks": ["r.ping", "r.key"],
            "tier1": True,
        },
        {
            "reason": "r.disk failed: AssertionError: disk full",
            "fix": "the advice of r.disk",
            "check": "r.disk",
            "checks": ["r.disk"],
            "tier1": False,
        },
    ]
    assert report["reasons"][:2] == [
        "TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID, READINESS_POSITIONS_DB not set: run `readiness init` or "
        "set them in .env or the environment (settings that are not secrets may also go in "
        "readiness.toml) — 4 checks skipped or blocked",
        "r.ping failed: cannot reach the exchange — fix: check DNS (1 check blocked)",
    ]
    assert check_entry(report, "r.db")["unset"] == ["READINESS_POSITIONS_DB", "TELEGRAM_CHAT_ID"]
    assert check_entry(report, "r.token")["remediation"] == (
        "Run `readiness init` or set TELEGRAM_BOT_TOKEN in .env or the environment"
    )
    summary = result.stdout.str().split("= readiness =")[1].split("readiness verdict:")[0]
    listed = [
        line.split()[1] for line in summary.splitlines() if line.startswith(("FAILED", "SKIPPED", "BLOCKED"))
    ]
    assert listed == ["r.disk"]


def test_a_first_run_with_nothing_configured_points_at_the_sandbox(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_suite=ROOT_CAUSES)
    pytester.runpytest("-p", "no:randomly")
    assert read_report(pytester)["reasons"][2] == (
        "nothing is configured for this target yet: `pytest -m preflight --target sandbox` "
        "shows a healthy run against a local sandbox"
    )
    monkeypatch.setenv("BINANCE_TESTNET_API_KEY", "k" * 64)
    pytester.runpytest("-p", "no:randomly")
    assert not [r for r in read_report(pytester)["reasons"] if r.startswith("nothing is configured")]
