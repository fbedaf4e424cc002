"""pytest-html integration: registered only when pytest-html is active (``--html``).

pytest-html knows pytest's outcomes only: its filters, sort order, colours and counts all key on
the word in a row's Result cell, out of a fixed set (Passed, Skipped, Failed...), and its page
hides a row whose word is not one of them. So the Result cell keeps pytest-html's word (a check
not applicable or blocked is a pytest skip, a warned one a pass), a Readiness column says how the
check ended, the row's log gives the reason in place of pytest's raw skip tuple, and the summary
says which readiness outcomes pytest-html counts under which word.
"""

from __future__ import annotations

from html import escape
from typing import Any

import pytest

from .report.document import outcome_counts
from .results import data_of
from .state import RunState

#: How a readiness outcome reads in pytest-html, and the word pytest-html counts it under.
LABELS = {
    "passed": ("Passed", "Passed"),
    "warned": ("Warned", "Passed"),
    "failed": ("Failed", "Failed"),
    "error": ("Error", "Errors"),
    "blocked": ("Blocked", "Skipped"),
    "skipped": ("Skipped", "Skipped"),
    "not_applicable": ("Not applicable", "Skipped"),
}
#: Outcomes pytest-html counts under a word of another outcome.
_RECOUNTED = ("warned", "blocked", "not_applicable")
_COLUMNS = (("readiness-id", "Check"), ("readiness-layer", "Layer"), ("readiness-tier", "Tier"))
READINESS_COLUMN = ("readiness-outcome", "Readiness")


class HtmlHooks:
    """Needs the run's state: the table hooks get a report and no ``config``."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list[str]) -> None:
        document = self.state.document
        if document is None:
            return
        incomplete = "" if document["complete"] else " (incomplete run)"
        prefix.append(
            f'<p class="readiness-verdict"><strong>Readiness verdict: {escape(document["verdict"])}</strong>'
            f" &mdash; score {document['score']:g}, target {escape(document['target'])}{incomplete}</p>"
        )
        prefix.extend(f"<p>{escape(self.state.redact(reason))}</p>" for reason in document["reasons"])
        counts = outcome_counts(document)
        shown = ", ".join(f"{n} {LABELS[o][0].lower()}" for o, n in counts.items() if n)
        moved = [f"{LABELS[o][0].lower()} under {LABELS[o][1]}" for o in _RECOUNTED if counts.get(o)]
        note = f"; pytest-html counts {', '.join(moved)}" if moved else ""
        prefix.append(f'<p class="readiness-counts">Readiness checks: {shown or "none"}{note}.</p>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        for offset, (css, title) in enumerate((*_COLUMNS, READINESS_COLUMN)):
            cells.insert(2 + offset, f'<th class="{css}">{title}</th>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        data = data_of(report)
        outcome = LABELS[self.state.collector.outcome_with(report)][0] if data else ""
        values = (data.get("id", ""), data.get("layer", ""), data.get("tier", ""), outcome)
        for offset, ((css, _), value) in enumerate(zip((*_COLUMNS, READINESS_COLUMN), values, strict=True)):
            cells.insert(2 + offset, f'<td class="{css}">{escape(str(value))}</td>')

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_html(self, report: pytest.TestReport, data: list[str]) -> None:
        """The row's log: why the check was skipped, not applicable or blocked (pytest-html would
        show pytest's ``(path, line, "NotApplicable: ...")`` tuple), what it warned about."""
        readiness: dict[str, Any] = data_of(report)
        redact = self.state.redact
        if report.skipped and readiness and isinstance(report.longrepr, tuple):
            kind = readiness.get("kind")
            if kind in LABELS and readiness.get("reason"):
                why = f"{LABELS[kind][0]}: {readiness['reason']}"
            else:
                why = str(report.longrepr[2])
            raw = escape(report.longreprtext) + "\n"
            data[:] = [escape(redact(why)) + "\n" if chunk == raw else chunk for chunk in data]
        elif report.when == "call" and report.passed and readiness.get("warnings"):
            warned = "".join(escape(redact(f"Warned: {warning}")) + "\n" for warning in readiness["warnings"])
            data[:] = [warned, *(chunk for chunk in data if chunk != "No log output captured.")]
