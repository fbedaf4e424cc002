"""The bot's positions DB, opened read-only: intact, the expected schema, sane values."""

from __future__ import annotations

from pathlib import Path

import pytest

from readiness.context import CheckContext
from readiness.probes import files


def _db_path(readiness: CheckContext) -> Path:
    readiness.require("positions_db")
    path = readiness.settings.positions_db
    assert path is not None
    return path


@pytest.mark.readiness(
    id="positions.db_healthy",
    layer="component",
    tier=1,
    title="The positions DB opens, passes an integrity check and has the positions table",
    remediation="Point READINESS_POSITIONS_DB at the bot's SQLite DB; restore a damaged one from backup.",
)
def test_db_healthy(readiness: CheckContext) -> None:
    health = files.db_health(_db_path(readiness), readiness.profile.names)
    if health.rows is not None:
        readiness.metric("rows", health.rows)
    if health.problems:
        readiness.fail("; ".join(health.problems), remediation=health.remediation)


@pytest.mark.readiness(
    id="positions.values_sane",
    layer="component",
    tier=2,
    depends=("positions.db_healthy",),
    title="Open positions have positive quantities and prices, known statuses, one row per symbol",
    remediation="Find what wrote the rows named in the message (bot bug, manual edit), fix them from the "
    "exchange's fills and the audit trail, and fix the writer.",
)
def test_values_sane(readiness: CheckContext) -> None:
    path = _db_path(readiness)
    try:
        rows = files.read_positions(path, readiness.profile.names)
    except files.ProbeError as exc:
        readiness.fail(str(exc), remediation=exc.remediation)
    readiness.metric("open_positions", sum(row.is_open for row in rows))
    problems = files.value_problems(rows, readiness.profile.names)
    if problems:
        readiness.fail(f"positions DB {path}: {len(problems)} problem(s): {files.listed(problems)}")
