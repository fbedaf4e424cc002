"""Turn pytest's per-phase reports into one :class:`CheckResult` per check.

Runs wherever reports arrive: in a serial run, and on the xdist controller (where reports
come from workers with the check's recorded data attached as plain JSON).
"""

from __future__ import annotations

from typing import Any

import pytest

from .scoring import CheckResult, Metric, Outcome
from .spec import CheckSpec

MAX_MESSAGE = 2000
CRASHED = "???"  # pytest-xdist's `when` for the report of a check whose worker died


def _message(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message).removeprefix("Failed: ")
    text = str(longrepr).strip()
    error_lines = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return "\n".join(error_lines) if error_lines else text


def _trim(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def data_of(report: pytest.TestReport) -> dict[str, Any]:
    """The readiness data a report carries (empty for reports of non-readiness tests)."""
    data = getattr(report, "readiness", None)
    return data if isinstance(data, dict) else {}


class ResultCollector:
    """Gathers the phase reports of each check until the check has finished."""

    def __init__(self) -> None:
        self._phases: dict[str, dict[str, pytest.TestReport]] = {}
        self.outcomes: dict[str, Outcome] = {}  # check id -> outcome, as checks finish
        self.crashed: list[str] = []  # nodeids whose xdist worker died under them

    def add(self, report: pytest.TestReport) -> None:
        data = data_of(report)
        if not data and report.when != CRASHED:
            return
        self._phases.setdefault(report.nodeid, {})[report.when or ""] = report
        if report.when == CRASHED:
            self.crashed.append(report.nodeid)
        if data and report.when == "teardown":
            self.outcomes[data["id"]] = self._outcome(self._phases[report.nodeid])[0]

    def phase_reports(self, nodeid: str) -> list[pytest.TestReport]:
        """The reports of a check seen so far (setup, call, teardown)."""
        return list(self._phases.get(nodeid, {}).values())

    def outcome_with(self, report: pytest.TestReport) -> Outcome:
        """The check's outcome once ``report`` is counted in, for reporters that write a check as
        its last report arrives (JUnit XML, pytest-html), whether or not :meth:`add` has seen it."""
        phases = {**self._phases.get(report.nodeid, {}), report.when or "": report}
        return self._outcome(phases)[0]

    def result(self, spec: CheckSpec, nodeid: str) -> CheckResult | None:
        """The check's result, or None when it never finished (interrupt, ``-x``)."""
        phases = self._phases.get(nodeid)
        if phases is None or not ("teardown" in phases or CRASHED in phases):
            return None
        outcome, message = self._outcome(phases)
        data: dict[str, Any] = {}
        for report in phases.values():
            data = data_of(report) or data
        return CheckResult(
            spec=spec,
            nodeid=nodeid,
            outcome=outcome,
            duration_s=sum(r.duration for r in phases.values()),
            message=_trim(message),
            remediation=data.get("remediation") or spec.remediation,
            metrics=[Metric(**m) for m in data.get("metrics", [])],
            blocked_by=list(data.get("blocked_by", [])),
            unset=tuple(data.get("unset", ())) if outcome in (Outcome.SKIPPED, Outcome.FAILED) else (),
            evidence=data.get("evidence"),
        )

    @staticmethod
    def _outcome(phases: dict[str, pytest.TestReport]) -> tuple[Outcome, str]:
        crashed = phases.get(CRASHED)
        if crashed is not None:
            return Outcome.ERROR, f"the worker running this check crashed: {_message(crashed)}"
        setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
        decisive = call if setup is not None and setup.passed and call is not None else setup
        outcome, message = Outcome.ERROR, "the check did not run"
        if decisive is not None:
            data = data_of(decisive)
            if decisive.failed:
                if decisive is setup:
                    outcome, message = Outcome.ERROR, f"setup failed: {_message(decisive)}"
                else:
                    outcome, message = Outcome.FAILED, _message(decisive)
            elif decisive.skipped:
                if hasattr(decisive, "wasxfail"):
                    outcome, message = (
                        Outcome.FAILED,
                        f"expected to fail (xfail): {decisive.wasxfail}",
                    )
                elif data.get("kind") == "not_applicable":
                    outcome, message = Outcome.NOT_APPLICABLE, data["reason"]
                elif data.get("kind") == "blocked":
                    outcome, message = Outcome.BLOCKED, data["reason"]
                else:
                    outcome, message = Outcome.SKIPPED, _message(decisive)
            elif data.get("warnings"):
                outcome, message = Outcome.WARNED, "; ".join(data["warnings"])
            else:
                outcome, message = Outcome.PASSED, "; ".join(data.get("notes", []))
        if teardown is not None and teardown.failed:
            problem = f"teardown failed: {_message(teardown)}"
            if outcome in (Outcome.PASSED, Outcome.WARNED, Outcome.NOT_APPLICABLE, Outcome.SKIPPED):
                outcome, message = Outcome.ERROR, problem
            else:
                message = f"{message}\n{problem}"
        return outcome, message
