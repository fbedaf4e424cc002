"""Coverage: which phases a run speaks for, whether it left expected checks out, and where its
reports go (plugin/readiness/coverage.py and reporting.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from readiness import coverage
from readiness.catalogue import catalogue_dir, catalogue_specs
from readiness.report.files import append_history, read_history
from readiness.spec import CheckSpec

from .helpers import assert_go_but_partial, check_entry, outcomes, read_report, report_path

SUITE = """
import pytest

@pytest.mark.readiness(id="cfg.complete", layer="component", tier=1)
def test_config(): pass

@pytest.mark.readiness(id="alert.path", layer="integration", tier=1)
def test_alert(): pass

@pytest.mark.readiness(id="host.disk", layer="system", tier=2)
def test_disk(): pass

@pytest.mark.readiness(id="bot.running", layer="deployment", tier=1)
def test_running(): pass

@pytest.mark.readiness(id="chat.token", layer="component", tier=1, phases=("postdeploy",))
def test_token(): pass

@pytest.mark.readiness(id="crash.recovery", layer="drill", tier=1)
def test_crash(): pass

def test_plain(): pass
"""
PREFLIGHT = {"cfg.complete", "alert.path", "host.disk", "chat.token"}
POSTDEPLOY = {"bot.running", "chat.token"}
#: An ini that lets the built-in catalogue join the run (the autouse one leaves it out).
CATALOGUE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def _reports(pytester: pytest.Pytester) -> Path:
    return pytester.path / "reports"


def _history(pytester: pytest.Pytester) -> list[dict[str, Any]]:
    lines = (_reports(pytester) / "history.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _partial_reasons(report: dict[str, Any]) -> list[str]:
    return [reason for reason in report["reasons"] if reason.startswith("partial run: ")]


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("phases", "stem"),
    [
        ((), "readiness"),
        (("preflight",), "readiness"),
        (("postdeploy",), "readiness-postdeploy"),
        (("drill",), "readiness-drill"),
        (("preflight", "postdeploy"), "readiness-preflight-postdeploy"),
        (("preflight", "drill"), "readiness-preflight-drill"),
        (("preflight", "postdeploy", "drill"), "readiness-preflight-postdeploy-drill"),
    ],
)
def test_report_stem_is_named_after_the_phases(phases: tuple[str, ...], stem: str) -> None:
    assert coverage.report_stem(phases) == stem


def test_phases_come_in_canonical_order() -> None:
    assert coverage.ordered(["drill", "preflight", "postdeploy", "drill"]) == (
        "preflight",
        "postdeploy",
        "drill",
    )


def _spec(check_id: str, layer: str, phases: tuple[str, ...]) -> CheckSpec:
    return CheckSpec(check_id, layer, 2, check_id, "R", 3.0, phases)


def test_assess_coverage_counts_the_catalogue_beside_the_collected_checks() -> None:
    own = _spec("own.check", "component", ("preflight",))
    built_in = _spec("cat.check", "system", ("preflight",))
    deploy = _spec("cat.deploy", "deployment", ("postdeploy",))
    covered = coverage.assess_coverage(
        {"t.py::own": own},
        {"t.py::own": ("preflight",)},
        {"own.check": own},
        {"cat.check": built_in, "cat.deploy": deploy},
    )
    assert covered.phases == ("preflight",)
    assert covered.partial
    assert covered.left_out == ("cat.check",)  # post-deploy is not a phase of this run
    assert covered.reasons() == ["partial run: 1 of 2 preflight checks selected"]
    whole = coverage.assess_coverage(
        {"t.py::own": own}, {"t.py::own": ("preflight",)}, {"own.check": own}, {}
    )
    assert not whole.partial and whole.reasons() == []


def test_read_history_keeps_only_matching_lines(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    entries = [
        {"n": 1, "target": "testnet", "phases": ["preflight"]},
        {"n": 2, "target": "mainnet", "phases": ["preflight"]},
        {"n": 3, "target": "testnet", "phases": ["postdeploy"]},
        {"n": 4, "target": "testnet", "phases": ["preflight"]},
        {"n": 5, "target": "testnet", "phases": ["preflight", "postdeploy"]},
    ]
    for entry in entries:
        append_history(path, entry)
    with path.open("a", encoding="utf-8") as handle:
        handle.write("not json\n")
    assert [e["n"] for e in read_history(path, 30)] == [1, 2, 3, 4, 5]
    assert [e["n"] for e in read_history(path, 30, target="testnet", phases=["preflight"])] == [1, 4]
    assert [e["n"] for e in read_history(path, 1, target="testnet", phases=["preflight"])] == [4]
    assert [e["n"] for e in read_history(path, 30, target="mainnet")] == [2]
    assert read_history(tmp_path / "absent.jsonl", 30, target="testnet") == []


# --------------------------------------------------------------------------- selection -> coverage


@pytest.mark.parametrize(
    ("args", "selected", "phases", "left_out", "reasons", "report"),
    [
        pytest.param(
            [],
            PREFLIGHT | POSTDEPLOY,
            ["preflight", "postdeploy"],
            [],
            [],
            "readiness-preflight-postdeploy.json",
            id="everything-but-drills",
        ),
        pytest.param(["-m", "preflight"], PREFLIGHT, ["preflight"], [], [], "readiness.json", id="preflight"),
        pytest.param(
            ["-m", "preflight", "-k", "disk"],
            {"host.disk"},
            ["preflight"],
            ["alert.path", "cfg.complete", "chat.token"],
            ["partial run: 1 of 4 preflight checks selected"],
            "readiness.json",
            id="preflight-k",
        ),
        pytest.param(
            ["-k", "disk"],
            {"host.disk"},
            ["preflight"],
            ["alert.path", "cfg.complete", "chat.token"],
            ["partial run: 1 of 4 preflight checks selected"],
            "readiness.json",
            id="k-only",
        ),
        pytest.param(
            ["-m", "preflight and not integration"],
            PREFLIGHT - {"alert.path"},
            ["preflight"],
            ["alert.path"],
            ["partial run: 3 of 4 preflight checks selected"],
            "readiness.json",
            id="preflight-not-integration",
        ),
        pytest.param(
            ["-m", "preflight", "--deselect", "test_suite.py::test_alert"],
            PREFLIGHT - {"alert.path"},
            ["preflight"],
            ["alert.path"],
            ["partial run: 3 of 4 preflight checks selected"],
            "readiness.json",
            id="deselect",
        ),
        pytest.param(
            ["-m", "postdeploy"],
            POSTDEPLOY,
            ["postdeploy"],
            [],
            [],
            "readiness-postdeploy.json",
            id="postdeploy-with-live-component",
        ),
        pytest.param(
            ["-m", "deployment"],
            {"bot.running"},
            ["postdeploy"],
            ["chat.token"],
            ["partial run: 1 of 2 postdeploy checks selected"],
            "readiness-postdeploy.json",
            id="deployment-layer",
        ),
        pytest.param(
            ["-m", "component"],
            {"cfg.complete", "chat.token"},
            ["preflight", "postdeploy"],
            ["alert.path", "bot.running", "host.disk"],
            [
                "partial run: 2 of 4 preflight checks selected",
                "partial run: 1 of 2 postdeploy checks selected",
            ],
            "readiness-preflight-postdeploy.json",
            id="component-layer",
        ),
        pytest.param(
            ["-m", "preflight or postdeploy"],
            PREFLIGHT | POSTDEPLOY,
            ["preflight", "postdeploy"],
            [],
            [],
            "readiness-preflight-postdeploy.json",
            id="two-phases",
        ),
        pytest.param(
            ["-m", "drill", "--drill"],
            {"crash.recovery"},
            ["drill"],
            [],
            [],
            "readiness-drill.json",
            id="drill",
        ),
        pytest.param(
            ["--drill"],
            PREFLIGHT | POSTDEPLOY | {"crash.recovery"},
            ["preflight", "postdeploy", "drill"],
            [],
            [],
            "readiness-preflight-postdeploy-drill.json",
            id="everything-with-drills",
        ),
        pytest.param(
            ["test_suite.py::test_config", "test_suite.py::test_running"],
            {"cfg.complete", "bot.running"},
            ["preflight", "postdeploy"],
            ["alert.path", "chat.token", "host.disk"],
            [
                "partial run: 1 of 4 preflight checks selected",
                "partial run: 1 of 2 postdeploy checks selected",
            ],
            "readiness-preflight-postdeploy.json",
            id="node-ids",
        ),
    ],
)
def test_selection_decides_phases_and_partial_coverage(
    pytester: pytest.Pytester,
    args: list[str],
    selected: set[str],
    phases: list[str],
    left_out: list[str],
    reasons: list[str],
    report: str,
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(*args)
    written = sorted(path.name for path in _reports(pytester).glob("readiness*"))
    assert written == sorted([report, report.replace(".json", ".html")])
    data = read_report(pytester)
    assert set(outcomes(data)) == selected
    assert set(outcomes(data).values()) == {"passed"}
    assert data["phases"] == phases
    assert data["left_out"] == left_out
    assert _partial_reasons(data) == reasons
    html = (_reports(pytester) / report.replace(".json", ".html")).read_text("utf-8")
    stdout = result.stdout.str()
    if left_out:
        assert_go_but_partial(data)
        assert "partial run — not a sign-off" in stdout
        assert "Partial run — not a sign-off" in html
        for reason in reasons:
            assert f"  - {reason}" in stdout
    else:
        assert data["partial"] is False
        assert data["verdict"] == "GO", data["reasons"]
        assert "not a sign-off" not in stdout
        assert "Partial run" not in html


def test_checks_of_a_file_not_named_are_not_expected(pytester: pytest.Pytester) -> None:
    """Without the catalogue, only collected checks are expected: a file not named is not counted,
    but the other checks of a named file are."""
    pytester.makepyfile(
        test_one="""
        import pytest

        @pytest.mark.readiness(id="one.a", layer="component", tier=2)
        def test_a(): pass

        @pytest.mark.readiness(id="one.b", layer="component", tier=2)
        def test_b(): pass
        """,
        test_two="""
        import pytest

        @pytest.mark.readiness(id="two.a", layer="system", tier=2)
        def test_a(): pass
        """,
    )
    pytester.runpytest("test_one.py")
    report = read_report(pytester)
    assert set(outcomes(report)) == {"one.a", "one.b"}
    assert report["partial"] is False and report["verdict"] == "GO"

    pytester.runpytest("test_one.py::test_a")
    report = read_report(pytester)
    assert report["left_out"] == ["one.b"]
    assert_go_but_partial(report)


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["-m", "preflight"], pytest.ExitCode.OK),
        (["-m", "preflight", "-k", "disk"], pytest.ExitCode.TESTS_FAILED),
        (["-m", "component"], pytest.ExitCode.TESTS_FAILED),
        (["-m", "postdeploy"], pytest.ExitCode.OK),
    ],
)
def test_go_gate_fails_a_partial_run(pytester: pytest.Pytester, args: list[str], status: int) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--readiness-gate", "go", *args)
    assert result.ret == status
    assert read_report(pytester)["partial"] is (status != pytest.ExitCode.OK)


def test_deselected_dependency_blocks_its_dependant(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_deps="""
        import pytest

        @pytest.mark.readiness(id="a.first", layer="component", tier=2)
        def test_first(): pass

        @pytest.mark.readiness(id="b.second", layer="component", tier=2, depends=("a.first",))
        def test_second(): pass
        """
    )
    result = pytester.runpytest("-k", "second")
    assert result.parseoutcomes().get("deselected") == 1
    assert result.parseoutcomes().get("blocked") == 1
    report = read_report(pytester)
    second = check_entry(report, "b.second")
    assert second["outcome"] == "blocked"
    assert second["blocked_by"] == ["a.first"]
    assert second["message"] == "not verified: depends on a.first, which did not run"
    assert report["left_out"] == ["a.first"]
    result.stdout.fnmatch_lines(
        ["BLOCKED  b.second (tier 2, component): *depends on a.first, which did not run"]
    )


# --------------------------------------------------------------------------- report files and history


def test_each_phase_set_keeps_its_own_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    reports = _reports(pytester)
    pytester.runpytest("-m", "preflight")
    signoff = (reports / "readiness.json").read_bytes()
    signoff_html = (reports / "readiness.html").read_bytes()

    pytester.runpytest("-m", "drill", "--drill")
    pytester.runpytest("-m", "postdeploy")
    pytester.runpytest("-m", "preflight or postdeploy")
    assert (reports / "readiness.json").read_bytes() == signoff  # the drill did not overwrite it
    assert (reports / "readiness.html").read_bytes() == signoff_html
    assert sorted(path.name for path in reports.iterdir()) == [
        "history.jsonl",
        "readiness-drill.html",
        "readiness-drill.json",
        "readiness-postdeploy.html",
        "readiness-postdeploy.json",
        "readiness-preflight-postdeploy.html",
        "readiness-preflight-postdeploy.json",
        "readiness.html",
        "readiness.json",
    ]
    assert json.loads((reports / "readiness-drill.json").read_text("utf-8"))["phases"] == ["drill"]


def test_history_lines_name_target_phases_and_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    runs = [
        (["-m", "preflight"], ["preflight"], False, "readiness.json"),
        (["-m", "drill", "--drill"], ["drill"], False, "readiness-drill.json"),
        (["-m", "postdeploy", "-k", "running"], ["postdeploy"], True, "readiness-postdeploy.json"),
    ]
    for args, _, _, name in runs:
        pytester.runpytest(*args)
        line = _history(pytester)[-1]
        digest = hashlib.sha256((_reports(pytester) / name).read_bytes()).hexdigest()
        assert line["json_sha256"] == digest
    history = _history(pytester)
    assert [(h["target"], h["phases"], h["partial"], h["report"]) for h in history] == [
        ("testnet", phases, partial, name) for _, phases, partial, name in runs
    ]


def test_html_trend_shows_runs_of_the_same_target_and_phases(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    reports = _reports(pytester)
    for args in (["-m", "preflight"], ["-m", "postdeploy"], ["-m", "preflight", "-k", "disk"]):
        pytester.runpytest(*args)
    # a history line of another target, as a mainnet run would have left it
    other = {**_history(pytester)[0], "target": "mainnet"}
    append_history(reports / "history.jsonl", other)
    pytester.runpytest("-m", "preflight")

    preflight = (reports / "readiness.html").read_text("utf-8")
    assert "Readiness score of the last 3 runs" in preflight
    assert "mainnet" not in preflight
    postdeploy = (reports / "readiness-postdeploy.html").read_text("utf-8")
    assert "This is the first run" in postdeploy


# --------------------------------------------------------------------------- runs that write nothing


@pytest.mark.parametrize(
    "args",
    [
        ["--co"],
        ["--collect-only", "-m", "preflight"],
        ["--co", "-q", "--drill"],
        ["--fixtures"],
        ["--fixtures-per-test"],
        ["--markers"],
        ["--help"],
    ],
)
def test_collect_only_and_help_write_nothing_and_start_no_sandbox(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    from readiness.sandbox import session

    def refuse(*_: object, **__: object) -> None:
        raise pytest.UsageError("the sandbox was started")

    monkeypatch.setattr(session.Sandbox, "start", refuse)
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("--target", "sandbox", *args)
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    assert not _reports(pytester).exists()
    assert "readiness verdict" not in result.stdout.str()
    assert "the sandbox was started" not in result.stderr.str()


@pytest.mark.parametrize("args", [[], ["-m", "not slow"], ["-k", "plain"], ["tests"]])
def test_ordinary_test_run_writes_no_readiness_report(pytester: pytest.Pytester, args: list[str]) -> None:
    """An operator's own unit tests, with the built-in catalogue available (not left out)."""
    pytester.makeini(CATALOGUE_INI + "markers =\n    slow: slow tests\n")
    pytester.makepyfile(**{"tests/test_plain": "def test_plain(): pass\n\ndef test_other(): pass\n"})
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.OK
    assert not _reports(pytester).exists()
    stdout = result.stdout.str()
    assert "readiness verdict" not in stdout
    assert "hint:" not in stdout


# --------------------------------------------------------------------------- hints


@pytest.mark.parametrize(
    ("suite", "args", "hint"),
    [
        pytest.param(
            SUITE,
            ["-m", "drill"],
            "hint: 1 drill check(s) were left out: *run only with --drill*: pytest -m drill --drill",
            id="drill-without-flag",
        ),
        pytest.param(
            SUITE,
            ["-m", "slow"],
            "hint: no readiness check matched -m 'slow': select a phase (preflight, postdeploy, drill) "
            "or a layer (component, integration, system, deployment, drill), e.g. pytest -m preflight",
            id="no-match",
        ),
        pytest.param(
            SUITE,
            ["-m", "preflite"],
            "hint: no readiness check matched -m 'preflite' (did you mean preflight?): select a phase*",
            id="near-miss",
        ),
        pytest.param(
            SUITE,
            ["-m", "componnet and not slow"],
            "hint: no readiness check matched *(did you mean component?)*",
            id="near-miss-layer",
        ),
        pytest.param(
            "def test_plain(): pass\n",
            ["-m", "preflite"],
            "hint: no readiness check matched -m 'preflite' (did you mean preflight?)*",
            id="near-miss-without-checks",
        ),
    ],
)
def test_hint_says_what_to_type_next(
    pytester: pytest.Pytester, suite: str, args: list[str], hint: str
) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = --no-readiness-catalogue\n"
        "markers =\n    slow: slow tests\n"
    )
    pytester.makepyfile(test_suite=suite)
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines([hint])
    assert len([line for line in result.outlines if line.startswith("hint:")]) == 1


@pytest.mark.parametrize("args", [["-m", "preflight"], ["-m", "drill", "--drill"], []])
def test_no_hint_when_the_selection_ran_checks(pytester: pytest.Pytester, args: list[str]) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest(*args)
    assert "hint:" not in result.stdout.str()


# --------------------------------------------------------------------------- the built-in catalogue


OWN_CHECK = """
import pytest

@pytest.mark.readiness(id="own.check", layer="component", tier=2)
def test_own():
    \"\"\"The operator's own check.\"\"\"
"""


def _run_folder(pytester: pytest.Pytester, *args: str) -> dict[str, Any]:
    """A subprocess run (the catalogue imports python-binance and its deprecation warnings)."""
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=240)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), result.stdout.str()[-3000:]
    return read_report(pytester)


def test_built_in_catalogue_joins_an_operator_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINANCE_API_URL", "http://127.0.0.1:9")  # nothing listens: no network
    pytester.makeini(CATALOGUE_INI)
    pytester.makepyfile(test_own=OWN_CHECK)
    built_in = {i for i, spec in catalogue_specs().items() if "preflight" in spec.phases}
    assert built_in, "the catalogue has no preflight check"

    report = _run_folder(pytester, "-m", "preflight", "--target", "testnet")
    assert set(outcomes(report)) == built_in | {"own.check"}
    assert report_path(pytester.path / "reports").name == "readiness.json"
    assert report["phases"] == ["preflight"]
    assert report["partial"] is False
    assert check_entry(report, "own.check")["title"] == "The operator's own check."

    report = _run_folder(pytester, "-m", "preflight", "--target", "testnet", "--no-readiness-catalogue")
    assert set(outcomes(report)) == {"own.check"}
    assert report["partial"] is False


def test_naming_one_catalogue_file_is_a_partial_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BINANCE_API_URL", "http://127.0.0.1:9")
    pytester.makeini(CATALOGUE_INI)
    folder = catalogue_dir()
    assert folder is not None
    system = folder / "system" / "test_system.py"
    # the system layer's manual steps and release evidence live in files of their own
    expected = {
        i
        for i, spec in catalogue_specs().items()
        if spec.layer == "system" and not i.startswith(("manual.", "release."))
    }
    # a path outside the folder: pytest finds its rootdir from the path, so name the reports folder
    out = f"--readiness-dir={pytester.path / 'reports'}"
    report = _run_folder(
        pytester,
        str(system),
        out,
        "-c",
        str(pytester.path / "tox.ini"),
        "-m",
        "preflight",
        "--target",
        "testnet",
    )
    assert set(outcomes(report)) == expected
    assert report["partial"] is True
    preflight = {i for i, spec in catalogue_specs().items() if "preflight" in spec.phases}
    assert report["left_out"] == sorted(preflight - expected)
    assert f"partial run: {len(expected)} of {len(preflight)} preflight checks selected" in report["reasons"]
