"""The Prometheus textfile (``--readiness-prometheus``) for node_exporter's textfile collector."""

from __future__ import annotations

import datetime as dt
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from readiness.redact import Redactor
from readiness.report.prometheus import exposition, write_textfile

from .helpers import read_report

SUITE = """
import pytest

@pytest.mark.readiness(id="p.key", layer="component", tier=1, title="Key", remediation="R")
def test_key():
    pass

@pytest.mark.readiness(id="p.balance", layer="component", tier=2, title="Balance", remediation="R")
def test_balance():
    assert False, "balance too low"

@pytest.mark.readiness(id="p.disk", layer="system", tier=3, title="Disk", remediation="R")
def test_disk(readiness):
    readiness.warn("disk 80% full")

@pytest.mark.readiness(id="p.na", layer="system", tier=3, title="NA", remediation="R")
def test_na(readiness):
    readiness.not_applicable("mainnet only")
"""
OUTCOMES = ("passed", "warned", "failed", "error", "blocked", "skipped", "not_applicable")
LAYERS = ("component", "integration", "system", "deployment", "drill")
FAMILIES = {
    "readiness_verdict",
    "readiness_score",
    "readiness_checks",
    "readiness_complete",
    "readiness_partial",
    "readiness_last_run_timestamp_seconds",
}


def _families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(families: dict[str, Any], name: str, **labels: str) -> float:
    found = [s.value for s in families[name].samples if labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, families[name].samples)
    value: float = found[0]
    return value


def test_run_writes_the_textfile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.mkdir("metrics")
    result = pytester.runpytest("--readiness-prometheus=metrics/readiness.prom")
    text = (pytester.path / "metrics" / "readiness.prom").read_text("utf-8")
    families = _families(text)
    assert set(families) == FAMILIES
    assert all(family.type == "gauge" and family.documentation for family in families.values())
    report = read_report(pytester)
    run = {"target": "testnet", "phases": ",".join(report["phases"])}
    verdicts = {s.labels["verdict"]: s.value for s in families["readiness_verdict"].samples}
    assert verdicts == {"GO": 0.0, "CONDITIONAL GO": 0.0, "NO-GO": 1.0} and report["verdict"] == "NO-GO"
    assert all(s.labels.items() >= run.items() for f in families.values() for s in f.samples)
    assert _value(families, "readiness_score") == report["score"] == 61.11
    checks = families["readiness_checks"].samples
    assert len(checks) == len(OUTCOMES) * len(LAYERS) * 3  # every outcome, layer and tier, zeros too
    assert {s.labels["outcome"] for s in checks} == set(OUTCOMES)
    nonzero = {(s.labels["outcome"], s.labels["layer"], s.labels["tier"]): s.value for s in checks if s.value}
    assert nonzero == {
        ("passed", "component", "1"): 1.0,
        ("failed", "component", "2"): 1.0,
        ("warned", "system", "3"): 1.0,
        ("not_applicable", "system", "3"): 1.0,
    }
    assert (_value(families, "readiness_complete"), _value(families, "readiness_partial")) == (1.0, 0.0)
    finished = dt.datetime.fromisoformat(report["finished_at"]).timestamp()
    assert _value(families, "readiness_last_run_timestamp_seconds") == pytest.approx(finished, abs=1e-3)
    assert any(
        line.endswith("readiness.prom") for line in result.stdout.lines if line.startswith("reports: ")
    )


def test_ini_names_the_textfile_relative_to_the_rootdir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = --no-readiness-catalogue\n"
        "readiness_prometheus = metrics/readiness.prom\n"
    )
    pytester.makepyfile(test_suite=SUITE)
    pytester.mkdir("metrics")
    monkeypatch.chdir(pytester.mkdir("elsewhere"))
    pytester.runpytest(str(pytester.path))
    families = _families((pytester.path / "metrics" / "readiness.prom").read_text())
    assert _value(families, "readiness_verdict", verdict="NO-GO") == 1


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--readiness-prometheus=missing/readiness.prom"],
            "",
            "--readiness-prometheus missing/readiness.prom: no such folder *missing",
        ),
        (
            ["--readiness-prometheus=metrics"],
            "",
            "--readiness-prometheus metrics: is a folder; name the file to write in it, e.g. *metrics/readiness.prom",
        ),
        (
            [],
            "readiness_prometheus = missing/readiness.prom\n",
            "ini option readiness_prometheus missing/readiness.prom: no such folder *missing",
        ),
    ],
)
def test_bad_textfile_path_is_a_usage_error_at_start(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = --no-readiness-catalogue\n" + ini
    )
    pytester.makepyfile(test_suite=SUITE)
    pytester.mkdir("metrics")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
    assert not (pytester.path / "reports").exists()  # refused before anything ran


def _document(**extra: Any) -> dict[str, Any]:
    return {
        "verdict": "CONDITIONAL GO",
        "score": 78.26,
        "target": "testnet",
        "phases": ["preflight", "postdeploy"],
        "complete": False,
        "partial": True,
        "finished_at": "2026-11-24T03:40:02.654321+00:00",
        "checks": [{"id": "a.b", "layer": "deployment", "tier": 1, "outcome": "blocked"}],
        **extra,
    }


def test_label_values_are_escaped() -> None:
    target = 'odd "target"\\with\na newline'
    families = _families(exposition(_document(target=target)))
    assert {s.labels["target"] for f in families.values() for s in f.samples} == {target}
    assert _value(families, "readiness_verdict", verdict="CONDITIONAL GO") == 1.0
    assert _value(families, "readiness_checks", outcome="blocked", layer="deployment", tier="1") == 1.0
    drill = {"phases": "preflight,postdeploy", "outcome": "passed", "layer": "drill", "tier": "3"}
    assert _value(families, "readiness_checks", **drill) == 0
    assert (_value(families, "readiness_complete"), _value(families, "readiness_partial")) == (0.0, 1.0)
    assert _value(families, "readiness_last_run_timestamp_seconds") == 1795491602.654321


def test_textfile_is_replaced_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new file is written beside the old one under a name the collector skips, then renamed
    over it: at that moment the old file is still whole."""
    path = tmp_path / "readiness.prom"
    old = exposition(_document(score=10.0))
    path.write_text(old)
    renames: list[tuple[str, str, str]] = []
    real_replace = os.replace

    def replace(src: str, dst: str) -> None:
        renames.append((os.fspath(src), Path(src).read_text(), Path(dst).read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    write_textfile(path, _document(score=20.0), Redactor())
    [(src, new, before)] = renames
    assert Path(src).parent == tmp_path and not src.endswith(".prom") and Path(src).name.startswith(".")
    assert (new, before) == (exposition(_document(score=20.0)), old)
    assert path.read_text() == new
    assert sorted(p.name for p in tmp_path.iterdir()) == ["readiness.prom"]


def test_a_reader_never_sees_a_torn_textfile(tmp_path: Path) -> None:
    path = tmp_path / "readiness.prom"
    versions = [exposition(_document(score=float(score))) for score in range(40)]
    write_textfile(path, _document(score=0.0), Redactor())
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append(path.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for score in range(40):
            write_textfile(path, _document(score=float(score)), Redactor())
    finally:
        done.set()
        reader.join()
    assert seen and all(text in versions for text in seen)
