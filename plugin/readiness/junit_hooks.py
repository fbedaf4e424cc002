"""JUnit XML (``--junitxml``): each readiness check's test case says which check it is and how it ended.

pytest writes a test case's ``<properties>`` from ``report.user_properties`` when the case's last
report arrives, under every ``junit_family`` (only the ``record_property`` fixture warns under
xunit2, and it is not used). Registered only where the XML is written (never on an xdist worker),
so the properties are added as that last report arrives, the check's outcome then known. That is
the outcome at that moment: a dependency failing later, on another worker, relabels the check
``blocked`` in the readiness report only.
"""

from __future__ import annotations

import pytest

from .results import data_of
from .state import RunState

#: The property that marks a report as already carrying the check's properties.
ID_PROPERTY = "readiness_id"


class JunitProperties:
    """Needs the run's state: ``pytest_runtest_logreport`` has no ``config`` argument."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Before the junitxml plugin closes the test case: on the teardown report, and on the call
        report a failed teardown makes pytest close a case of its own for."""
        data = data_of(report)
        if report.when != "teardown" or not data:
            return
        collector = self.state.collector
        values = {
            ID_PROPERTY: data["id"],
            "layer": data["layer"],
            "tier": data["tier"],
            "outcome": collector.outcome_with(report),
        }
        properties = [(name, self.state.redact(str(value))) for name, value in values.items()]
        for phase in (*collector.phase_reports(report.nodeid), report):
            if all(name != ID_PROPERTY for name, _ in phase.user_properties):
                phase.user_properties.extend(properties)
