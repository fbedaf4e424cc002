"""GitHub Actions: the verdict in the job summary (``GITHUB_STEP_SUMMARY``) and the checks that did
not pass as annotations (``GITHUB_ACTIONS=true``), on the process that writes the reports only.

The annotations are printed last in the terminal summary, where workflow commands on stdout reach
the runner; the hook is registered only when running under GitHub Actions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pytest

from .redact import Redactor
from .report.github import SUMMARY_LIMIT, summary, workflow_commands
from .state import state_key

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def append_step_summary(document: dict[str, Any], paths: Sequence[str], redact: Redactor) -> None:
    """Append the run to the step's summary file, leaving it within GitHub's 1 MiB."""
    target = os.environ.get(SUMMARY_ENV)
    if not target:
        return
    try:
        used = os.path.getsize(target)
    except OSError:
        used = 0
    gap = "\n" if used else ""  # what an earlier command wrote may not end its last line
    text = summary(document, paths, redact, SUMMARY_LIMIT - used - len(gap))
    if text:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(gap + text)


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    if state is None or state.document is None:
        return
    for line in workflow_commands(state.document, state.redact):
        terminalreporter.write_line(line)
