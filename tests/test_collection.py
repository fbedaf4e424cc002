"""The readiness marker: validation at collection, layer and phase markers, drill gating."""

from __future__ import annotations

import pytest

from .helpers import outcomes, read_report

CHECKS = """
import pytest

@pytest.mark.readiness(id="env.config_complete", layer="component", tier=1,
                       title="Config complete", remediation="Fill in .env.")
def test_component(): pass

@pytest.mark.readiness(id="integration.alert_path", layer="integration", tier=1,
                       title="Alert path", remediation="Fix the alert path.")
def test_integration(): pass

@pytest.mark.readiness(id="system.disk_space", layer="system", tier=1,
                       title="Disk", remediation="Free disk space.")
def test_system(): pass

@pytest.mark.readiness(id="deploy.process_running", layer="deployment", tier=1,
                       title="Process", remediation="Start the bot.")
def test_deployment(): pass

@pytest.mark.readiness(id="telegram.token_valid", layer="component", tier=1, phases=("postdeploy",),
                       title="Token", remediation="Fix the token.")
def test_live_component(): pass

@pytest.mark.readiness(id="drill.crash_recovery", layer="drill", tier=1,
                       title="Crash", remediation="Fix recovery.")
def test_drill(): pass

def test_plain(): pass
"""


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        ('id="Bad.Id", layer="component", tier=1', "malformed id 'Bad.Id'"),
        ('id="nodots", layer="component", tier=1', "malformed id 'nodots'"),
        ('id="x.y", layer="network", tier=1', "unknown layer 'network'"),
        ('id="x.y", layer="component", tier=4', "tier must be 1, 2 or 3, got 4"),
        ('id="x.y", layer="component", tier=True', "tier must be 1, 2 or 3, got True"),
        ('id="x.y", layer="component", tier=2, weight=-1', "weight must be a positive number"),
        ('id="x.y", layer="component", tier=2, phases=("later",)', "unknown phase 'later'"),
        ('id="x.y", layer="component", tier=2, depends=("Nope",)', "malformed id 'Nope'"),
        ('id="x.y", layer="component", tier=2, colour="red"', "unknown argument(s) colour"),
    ],
)
def test_bad_marker_is_a_collection_error_naming_test_and_id(
    pytester: pytest.Pytester, marker: str, problem: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        @pytest.mark.readiness({marker}, title="T", remediation="R")
        def test_it(): pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*ERROR collecting test_bad.py*", f"*test_bad.py::test_it: readiness id*{problem}*"]
    )


def test_empty_title_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
        import pytest

        @pytest.mark.readiness(id="x.y", layer="component", tier=1, title=" ", remediation="R")
        def test_it(): pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_it: readiness id 'x.y': title= must be a non-empty string when given*"]
    )


def test_duplicate_id_names_both_tests(pytester: pytest.Pytester) -> None:
    marker = '@pytest.mark.readiness(id="x.y", layer="component", tier=1, title="T", remediation="R")'
    pytester.makepyfile(test_one=f"import pytest\n{marker}\ndef test_a(): pass\n")
    pytester.makepyfile(test_two=f"import pytest\n{marker}\ndef test_b(): pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*test_two.py::test_b: readiness id 'x.y' is already used by test_one.py::test_a*"]
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "preflight",
            {"env.config_complete", "integration.alert_path", "system.disk_space", "telegram.token_valid"},
        ),
        ("component", {"env.config_complete", "telegram.token_valid"}),
        (
            "preflight and not integration",
            {"env.config_complete", "system.disk_space", "telegram.token_valid"},
        ),
        ("postdeploy", {"deploy.process_running", "telegram.token_valid"}),
        ("deployment", {"deploy.process_running"}),
    ],
)
def test_layer_and_phase_markers_select(
    pytester: pytest.Pytester, expression: str, expected: set[str]
) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--strict-markers", "-m", expression)
    result.assert_outcomes(passed=len(expected))
    report = read_report(pytester)
    assert set(outcomes(report)) == expected
    # a phase selected whole signs off; a layer, or a phase without one of its layers, does not
    assert report["partial"] is (expression not in ("preflight", "postdeploy"))


def test_drill_checks_need_the_drill_flag(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--target", "sandbox")
    result.assert_outcomes(passed=6, deselected=1)
    assert "drill.crash_recovery" not in outcomes(read_report(pytester))

    result = pytester.runpytest("--target", "sandbox", "--drill", "-m", "drill")
    result.assert_outcomes(passed=1, deselected=6)
    assert outcomes(read_report(pytester)) == {"drill.crash_recovery": "passed"}


def test_drill_on_mainnet_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--target", "mainnet", "--drill")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --drill is refused on target mainnet*"])
    assert not (pytester.path / "reports").exists()


def test_checks_run_after_their_dependencies(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_order="""
        import pytest

        @pytest.mark.readiness(id="b.second", layer="component", tier=2, depends=("a.first",),
                               title="T", remediation="R")
        def test_second(): pass

        @pytest.mark.readiness(id="a.first", layer="component", tier=2, title="T", remediation="R")
        def test_first(): pass
        """
    )
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(["*test_first PASSED*", "*test_second PASSED*"])


def test_runs_without_checks_write_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain(): pass")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()
    assert "readiness verdict" not in result.stdout.str()


def test_dependency_cycle_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_cycle="""
        import pytest

        @pytest.mark.readiness(id="a.one", layer="component", tier=2, depends=("a.two",), title="T", remediation="R")
        def test_one(): pass

        @pytest.mark.readiness(id="a.two", layer="component", tier=2, depends=("a.one",), title="T", remediation="R")
        def test_two(): pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: readiness depends= forms a cycle: a.one -> a.two -> a.one"])


def test_selecting_a_check_by_node_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("test_checks.py::test_component", "test_checks.py::test_system")
    result.assert_outcomes(passed=2)
    assert set(outcomes(read_report(pytester))) == {"env.config_complete", "system.disk_space"}
