"""Reading what a pytester run of the plugin wrote."""

from __future__ import annotations

import json
from typing import Any

import pytest


def read_report(pytester: pytest.Pytester, folder: str = "reports") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pytester.path / folder / "readiness.json").read_text("utf-8"))
    return data


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {check["id"]: check["outcome"] for check in report["checks"]}


def check_entry(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    for check in report["checks"]:
        if check["id"] == check_id:
            entry: dict[str, Any] = check
            return entry
    raise AssertionError(f"{check_id} not in the report: {sorted(outcomes(report))}")
