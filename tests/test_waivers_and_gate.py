"""Waivers, the exit gate and thresholds, as SPEC §3 fixes them."""

from __future__ import annotations

import datetime as dt

import pytest

from .helpers import check_entry, read_report

SUITE = """
import pytest

@pytest.mark.readiness(id="a.key", layer="component", tier=1, title="T", remediation="R")
def test_key(): pass

@pytest.mark.readiness(id="a.balance", layer="component", tier=2, title="T", remediation="R")
def test_balance():
    assert False, "balance too low"

@pytest.mark.readiness(id="a.headroom", layer="component", tier=3, title="T", remediation="R")
def test_headroom(): pass
"""
FUTURE = (dt.date.today() + dt.timedelta(days=30)).isoformat()
PAST = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def _waiver(check_id: str, expires: str) -> str:
    return (
        f'[[waiver]]\nid = "{check_id}"\njustification = "top-up scheduled"\n'
        f'approved_by = "Release Manager"\nexpires = {expires}\n'
    )


def test_without_waiver_the_failure_counts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest()
    report = read_report(pytester)
    assert report["score"] == round(100 * 6 / 9, 2)
    assert report["verdict"] == "NO-GO"
    assert report["waivers"] == []


def test_active_waiver_leaves_the_score_and_keeps_the_outcome(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.path.joinpath("readiness-waivers.toml").write_text(_waiver("a.balance", FUTURE))
    result = pytester.runpytest()
    report = read_report(pytester)
    balance = check_entry(report, "a.balance")
    assert balance["outcome"] == "failed"
    assert balance["waiver"] == {
        "id": "a.balance",
        "justification": "top-up scheduled",
        "approved_by": "Release Manager",
        "expires": FUTURE,
        "status": "active",
    }
    assert report["score"] == 100
    assert report["verdict"] == "GO"
    assert report["waivers"][0]["status"] == "active"
    assert (
        f"FAILED   a.balance (tier 2, component) [waived until {FUTURE}]: AssertionError"
        in result.stdout.str()
    )


def test_expired_waiver_is_ignored_and_listed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    # binance.rate_limit_headroom is a built-in check, not part of this run: its waiver is unused
    waivers = _waiver("a.balance", PAST) + _waiver("binance.rate_limit_headroom", FUTURE)
    pytester.path.joinpath("custom.toml").write_text(waivers)
    result = pytester.runpytest("--readiness-waivers", "custom.toml")
    result.stdout.fnmatch_lines(["waiver for a.balance expired on * and no longer counts*"])
    report = read_report(pytester)
    assert report["score"] == round(100 * 6 / 9, 2)
    assert check_entry(report, "a.balance")["waiver"]["status"] == "expired"
    assert [(w["id"], w["status"]) for w in report["waivers"]] == [
        ("a.balance", "expired"),
        ("binance.rate_limit_headroom", "unused"),
    ]


def test_tier_one_waiver_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.path.joinpath("readiness-waivers.toml").write_text(_waiver("a.key", FUTURE))
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: waiver for a.key: tier-1 checks cannot be waived (test_suite.py::test_key)"]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[[waiver]\n", "*invalid TOML*"),
        (
            '[[waiver]]\nid = "a.balance"\njustification = "x"\napproved_by = "y"\n',
            "*lacks required field(s) expires*",
        ),
        (_waiver("a.balance", '"2030-01-01"'), "*'expires' must be a TOML date*"),
        (_waiver("a.balance", FUTURE) + 'colour = "red"\n', "*unknown field(s) colour*"),
        (_waiver("a.balance", FUTURE) * 2, "*check 'a.balance' is waived twice*"),
        (_waiver("Not An Id", FUTURE), "*malformed check id*"),
        ('waiver = "all"\n', "*'waiver' must be an array of tables*"),
    ],
)
def test_malformed_waiver_file(pytester: pytest.Pytester, content: str, message: str) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.path.joinpath("readiness-waivers.toml").write_text(content)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: waiver file *readiness-waivers.toml*{message}"])


def test_missing_waiver_file_given_explicitly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--readiness-waivers", "nope.toml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --readiness-waivers nope.toml: no such file"])


@pytest.mark.parametrize(
    ("body", "gate", "status"),
    [
        ("pass", "go", 0),
        ("pass", "conditional", 0),
        ("assert 0", "go", 1),
        ("assert 0", "conditional", 0),
    ],
)
def test_gate_exit_status_follows_the_verdict(
    pytester: pytest.Pytester, body: str, gate: str, status: int
) -> None:
    # One tier-1 pass (5), four tier-2 passes (12), one tier-2 check under test (3): 17/20 = 85 when it fails.
    checks = ["import pytest"]
    for i in range(4):
        checks.append(
            f'@pytest.mark.readiness(id="a.p{i}", layer="system", tier=2, title="T", remediation="R")\n'
            f"def test_p{i}(): pass\n"
        )
    checks.append(
        '@pytest.mark.readiness(id="a.key", layer="system", tier=1, title="T", remediation="R")\n'
        "def test_key(): pass\n"
    )
    checks.append(
        '@pytest.mark.readiness(id="a.x", layer="system", tier=2, title="T", remediation="R")\n'
        f"def test_x():\n    {body}\n"
    )
    pytester.makepyfile(test_suite="\n".join(checks))
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nreadiness_go = 90\n")
    result = pytester.runpytest("--readiness-gate", gate)
    assert result.ret == status
    report = read_report(pytester)
    assert report["thresholds"] == {"go": 90.0, "conditional": 70.0}


def test_gate_passes_even_when_a_tier3_check_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_suite="""
        import pytest
        @pytest.mark.readiness(id="a.key", layer="system", tier=1, title="T", remediation="R")
        def test_key(): pass
        @pytest.mark.readiness(id="a.minor", layer="system", tier=3, title="T", remediation="R")
        def test_minor():
            assert False
        """
    )
    assert pytester.runpytest().ret == pytest.ExitCode.TESTS_FAILED
    assert pytester.runpytest("--readiness-gate", "conditional").ret == pytest.ExitCode.OK
    assert read_report(pytester)["verdict"] == "CONDITIONAL GO"


def test_gate_fails_an_all_green_pytest_run_with_a_no_go(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_suite="""
        import pytest
        @pytest.mark.readiness(id="a.key", layer="system", tier=1, title="T", remediation="R")
        def test_key():
            pytest.skip("not configured")
        """
    )
    assert pytester.runpytest().ret == pytest.ExitCode.OK
    assert pytester.runpytest("--readiness-gate", "conditional").ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--readiness-gate", "maybe"],
            "",
            "ERROR: --readiness-gate: unknown gate 'maybe'; use go or conditional",
        ),
        ([], "readiness_gate = always", "ERROR: ini option readiness_gate: unknown gate 'always'*"),
        (
            [],
            "readiness_go = high",
            "ERROR: ini option readiness_go: must be a number from 0 to 100, got 'high'",
        ),
        ([], "readiness_conditional = 120", "ERROR: ini option readiness_conditional: must be a number*"),
        (
            [],
            "readiness_go = 60",
            "ERROR: ini options readiness_conditional (70) must not exceed readiness_go (60)",
        ),
    ],
)
def test_bad_gate_and_thresholds_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeini(f"[pytest]\nasyncio_default_fixture_loop_scope = function\n{ini}\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()
