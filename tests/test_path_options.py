"""Path options written with a space: they work, or the run stops before anything runs saying how.

pytest picks the project's rootdir and ini file before it knows the plugin's options; a value such
as ``--readiness-dir /elsewhere`` then reads as a test path and the project's configuration would
be lost without a word.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROJECT_INI = """[pytest]
asyncio_default_fixture_loop_scope = function
addopts = --no-readiness-catalogue --strict-markers
testpaths = checks
markers = ours: a marker only this project's configuration declares
"""
CHECK = """
import pytest

@pytest.mark.ours
@pytest.mark.readiness(id="own.check", layer="system", tier=2)
def test_own():
    pass
"""
#: Collected only when the project's ``testpaths`` is lost.
STRAY = "def test_stray():\n    raise AssertionError('collected although testpaths names checks/')\n"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(PROJECT_INI)
    pytester.mkpydir("checks").joinpath("test_own.py").write_text(CHECK)
    pytester.path.joinpath("test_stray.py").write_text(STRAY)
    return pytester


@pytest.mark.parametrize(
    "option",
    [
        "--readiness-dir",
        "--env-file",
        "--readiness-config",
        "--readiness-waivers",
        "--readiness-attestations",
        "--readiness-prometheus",
    ],
)
def test_space_before_an_outside_path_stops_the_run_with_the_equals_spelling(
    project: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory, option: str
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    value = outside
    if option != "--readiness-dir":
        value = outside / "file.toml"
        value.touch()
    before = sorted(outside.iterdir())
    result = project.runpytest(option, str(value))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {option} {value}: write it as {option}={value} *"])
    assert "passed" not in result.stdout.str() and "failed" not in result.stdout.str()
    assert sorted(outside.iterdir()) == before


def test_equals_spelling_keeps_the_project_configuration(
    project: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    result = project.runpytest(f"--readiness-dir={outside}")
    result.assert_outcomes(passed=1)
    report = json.loads((outside / "readiness.json").read_text("utf-8"))
    assert [check["id"] for check in report["checks"]] == ["own.check"]


def test_space_before_a_path_inside_the_project_just_works(project: pytest.Pytester) -> None:
    inside: Path = project.mkdir("reports")
    result = project.runpytest("--readiness-dir", str(inside))
    result.assert_outcomes(passed=1)
    assert (inside / "readiness.json").is_file()


def test_space_before_a_path_that_does_not_exist_yet_just_works(project: pytest.Pytester) -> None:
    later = project.path / "new" / "reports"
    result = project.runpytest("--readiness-dir", str(later))
    result.assert_outcomes(passed=1)
    assert (later / "readiness.json").is_file()
