"""Running a check: blocked before it starts when a dependency did not pass or did not run,
secrets masked in its report, what it recorded attached to the report for the controller."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from .context import Blocked
from .masking import redact_report
from .scoring import SATISFIED
from .state import runtime_key, spec_key, state_key


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Block a check at once when a dependency already finished without passing, or is not
    part of this run at all."""
    spec = item.stash.get(spec_key, None)
    if spec is None or not spec.depends:
        return
    state = item.config.stash[state_key]
    outcomes = state.collector.outcomes
    running = {s.id for s in state.selected.values()}
    unmet = [
        dep
        for dep in spec.depends
        if dep not in running or (dep in outcomes and outcomes[dep] not in SATISFIED)
    ]
    if unmet:
        runtime = item.stash[runtime_key]
        named = ", ".join(
            f"{dep} ({outcomes[dep]})" if dep in running else f"{dep}, which did not run" for dep in unmet
        )
        runtime.kind, runtime.reason, runtime.blocked_by = (
            "blocked",
            f"not verified: depends on {named}",
            unmet,
        )
        raise Blocked(runtime.reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Mask secrets before any reporter sees the report; attach what the check recorded."""
    report = yield
    state = item.config.stash[state_key]
    redact_report(report, state.redact)
    spec = item.stash.get(spec_key, None)
    if spec is not None:
        report.readiness = {  # type: ignore[attr-defined]
            "id": spec.id,
            "layer": spec.layer,
            "tier": spec.tier,
            **item.stash[runtime_key].to_json(),
        }
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    data = getattr(report, "readiness", None)
    if not isinstance(data, dict):
        return None
    if report.skipped and data.get("kind") == "not_applicable":
        return "not applicable", "n", "NOT APPLICABLE"
    if report.skipped and data.get("kind") == "blocked":
        return "blocked", "b", "BLOCKED"
    if report.when == "call" and report.passed and data.get("warnings"):
        return "warned", "W", "WARNED"
    return None
