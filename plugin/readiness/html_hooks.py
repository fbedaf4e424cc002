"""pytest-html integration: registered only when pytest-html is active (``--html``)."""

from __future__ import annotations

from html import escape
from typing import Any

import pytest

from .state import state_key


def pytest_html_results_summary(
    prefix: list[str], summary: list[str], postfix: list[str], session: pytest.Session
) -> None:
    state = session.config.stash.get(state_key, None)
    if state is None or state.document is None:
        return
    document = state.document
    incomplete = "" if document["complete"] else " (incomplete run)"
    prefix.append(
        f'<p class="readiness-verdict"><strong>Readiness verdict: {escape(document["verdict"])}</strong>'
        f" &mdash; score {document['score']:g}, target {escape(document['target'])}{incomplete}</p>"
    )
    prefix.extend(f"<p>{escape(reason)}</p>" for reason in document["reasons"])


def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(2, '<th class="readiness-id">Check</th>')
    cells.insert(3, '<th class="readiness-layer">Layer</th>')
    cells.insert(4, '<th class="readiness-tier">Tier</th>')


def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    data: dict[str, Any] = getattr(report, "readiness", None) or {}
    cells.insert(2, f'<td class="readiness-id">{escape(str(data.get("id", "")))}</td>')
    cells.insert(3, f'<td class="readiness-layer">{escape(str(data.get("layer", "")))}</td>')
    cells.insert(4, f'<td class="readiness-tier">{escape(str(data.get("tier", "")))}</td>')
