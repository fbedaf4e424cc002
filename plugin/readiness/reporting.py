"""The end of a run: score once, where every report arrives (the only process of a serial
run, the controller under xdist), so the exit status, JSON, HTML and terminal agree.

Reports are named after the phases the run covers: ``readiness.json``/``.html`` for the
preflight sign-off, ``readiness-<phases>.json``/``.html`` for any other phase set, so a drill or
post-deploy run never replaces the preflight sign-off. ``history.jsonl`` records every run; the
Prometheus textfile (``--readiness-prometheus``) and GitHub's job summary get it too.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
from pathlib import Path

import pytest

from . import catalogue, coverage, signals
from .github_actions import append_step_summary
from .masking import redact_metadata
from .report import document as doc
from .report.drill_evidence import HISTORY, phase_evidence, recorded_runs
from .report.files import append_history, write_atomic
from .report.prometheus import write_textfile
from .report.terminal import write_hints, write_summary
from .scoring import (
    Assessment,
    CheckResult,
    Verdict,
    apply_dependencies,
    assess,
    attach_waivers,
    waiver_entries,
)
from .spec import LAYERS, PHASES
from .state import RunState, is_info_run, is_worker, state_key

HISTORY_IN_REPORT = 30


class ReportListener:
    """Receives the reports of this run (these hooks have no ``config`` argument)."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.state.collector.add(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.state.collection_errors += 1

    def pytest_keyboard_interrupt(self) -> None:
        self.state.interrupted = True


def catalogue_in_run(config: pytest.Config, state: RunState) -> bool:
    return not catalogue.excluded(config) and (
        catalogue.selects_phase_or_layer(config) or state.catalogue_collected
    )


def is_readiness_run(config: pytest.Config, state: RunState) -> bool:
    """Readiness checks were collected, or the built-in catalogue was asked for; a run of other
    tests (the operator's own unit tests) writes no readiness report."""
    return not is_info_run(config) and bool(state.collected or catalogue_in_run(config, state))


def _interruption(state: RunState, exitstatus: int) -> str | None:
    if state.collection_errors:
        return f"{state.collection_errors} error(s) during collection"
    if state.collector.crashed:
        return f"a worker crashed while running {', '.join(state.collector.crashed)}"
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted (Ctrl-C or SIGTERM)"
    return None


def _results(state: RunState) -> tuple[list[CheckResult], list[str]]:
    results: list[CheckResult] = []
    missing: list[str] = []
    for nodeid, spec in state.selected.items():
        result = state.collector.result(spec, nodeid)
        if result is None:
            missing.append(spec.id)
        else:
            results.append(result)
    apply_dependencies(results)
    return results, missing


def hints(config: pytest.Config, state: RunState) -> list[str]:
    """What to type next when the selection ran nothing it could have."""
    found: list[str] = []
    expression = config.getoption("markexpr", "") or ""
    if (
        state.drills_held_back
        and not state.drill
        and "drill" in coverage.asked_phases(coverage.compile_expression(config))
    ):
        found.append(
            f"{state.drills_held_back} drill check(s) were left out: drills change the bot's state and "
            "run only with --drill (never on target mainnet): pytest -m drill --drill"
        )
    elif not state.selected and (
        (near := _near_misses(config)) or state.collected or catalogue_in_run(config, state)
    ):
        matched = f" -m {expression!r}" if expression else ""
        guess = f" (did you mean {' or '.join(near)}?)" if near else ""
        found.append(
            f"no readiness check matched{matched}{guess}: select a phase ({', '.join(PHASES)}) "
            f"or a layer ({', '.join(LAYERS)}), e.g. pytest -m preflight"
        )
    return found


def _near_misses(config: pytest.Config) -> list[str]:
    """Phase or layer names a ``-m`` word looks like a misspelling of (``preflite``)."""
    names = [*dict.fromkeys((*PHASES, *LAYERS))]
    words = catalogue.expression_names(config) - set(names)
    return sorted({match for word in words for match in difflib.get_close_matches(word, names, n=1)})


def finish(config: pytest.Config, exitstatus: int) -> Assessment:
    state = config.stash[state_key]
    results, missing = _results(state)
    today = state.today  # waivers expire by the run's clock, as attestations do
    attach_waivers(results, state.waivers, today)
    covered = coverage.assess_coverage(
        state.selected,
        state.selected_as,
        state.collected_specs,
        catalogue.catalogue_specs() if catalogue_in_run(config, state) else {},
    )
    assessment = assess(
        results,
        thresholds=state.thresholds,
        missing=missing,
        interrupted=_interruption(state, exitstatus),
        partial=covered.reasons(),
        unconfigured=state.settings.unconfigured,
        env_file=state.settings.env_file,
    )
    phases = covered.phases or coverage.asked_phases(coverage.compile_expression(config))
    workers = getattr(config.option, "numprocesses", None)
    document = doc.build(
        target=state.settings.target,
        assessment=assessment,
        thresholds=state.thresholds,
        results=results,
        waivers=waiver_entries(state.waivers, results, today),
        phases=phases,
        left_out=covered.left_out,
        started_at=state.started_at,
        finished_at=dt.datetime.now(dt.UTC),
        env=doc.environment(
            rootdir=Path(config.rootpath),
            settings=state.settings,
            signoff_by=state.signoff_by,
            workers=workers if isinstance(workers, int) else 0,
        ),
    )
    stem = coverage.report_stem(phases)
    json_bytes = state.redact(doc.dumps(document)).encode("utf-8")
    json_sha256 = hashlib.sha256(json_bytes).hexdigest()
    json_path = state.out_dir / f"{stem}.json"
    write_atomic(json_path, json_bytes)
    history_path = state.out_dir / HISTORY
    append_history(history_path, doc.history_entry(document, report=json_path.name, json_sha256=json_sha256))
    from .report.html import render_html  # Jinja2 is imported only by the process that writes

    runs = recorded_runs(state.out_dir, document["target"])  # one read for the trend and the evidence
    history = [run for run in runs if run.get("phases") == document["phases"]][-HISTORY_IN_REPORT:]
    html = render_html(
        document, history=history, json_sha256=json_sha256, evidence=phase_evidence(state.out_dir, runs)
    )
    html_path = state.out_dir / f"{stem}.html"
    write_atomic(html_path, state.redact(html).encode("utf-8"))
    state.document = document
    state.written = [str(json_path), str(html_path)]
    if state.prometheus is not None:
        write_textfile(state.prometheus, document, state.redact)
        state.written.append(str(state.prometheus))
    append_step_summary(document, state.written, state.redact)
    return assessment


def finish_interrupted(config: pytest.Config) -> None:
    """Ctrl-C or SIGTERM before the session began still leaves an incomplete NO-GO report."""
    state = config.stash.get(state_key, None)
    if (
        state is not None
        and state.interrupted
        and not state.written
        and not is_worker(config)
        and (state.collected or config.getoption("readiness_target"))
        and not is_info_run(config)
    ):
        finish(config, pytest.ExitCode.INTERRUPTED)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(state_key, None)
    if state is None or is_worker(config) or exitstatus == pytest.ExitCode.USAGE_ERROR:
        return
    redact_metadata(config, state.redact)
    if not is_readiness_run(config, state):
        if state.gate is not None and not is_info_run(config):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # nothing was checked: no gate passes
        return
    with signals.held() as arrived:
        assessment = finish(config, exitstatus)
    if state.gate is not None:
        needed = (Verdict.GO,) if state.gate == "go" else (Verdict.GO, Verdict.CONDITIONAL)
        session.exitstatus = (
            pytest.ExitCode.OK if assessment.verdict in needed else pytest.ExitCode.TESTS_FAILED
        )
    if arrived:  # the reports are whole; the signal still ends the run as interrupted
        session.exitstatus = pytest.ExitCode.INTERRUPTED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    if state is None or is_info_run(config):
        return
    found = hints(config, state)
    if state.document is not None:
        write_summary(terminalreporter, state.document, state.written, state.redact)
    elif state.gate is not None:
        terminalreporter.write_sep("=", "readiness")
        terminalreporter.write_line(
            "readiness verdict: NO-GO (no readiness check was collected, so the gate fails)", red=True
        )
    write_hints(terminalreporter, found)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[state_key]
    settings = state.settings
    config_file = settings.config_file or "none (defaults and environment)"
    lines = [
        f"readiness: target {settings.target} ({settings.sources['target']}), config {config_file}",
        f"readiness: GO >= {state.thresholds.go:g}, CONDITIONAL GO >= {state.thresholds.conditional:g}"
        + (f", gate {state.gate}" if state.gate else "")
        + (f", {len(state.waivers)} waiver(s)" if state.waivers else ""),
    ]
    return [state.redact(line) for line in lines]
