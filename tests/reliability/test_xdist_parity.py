"""Every sandbox fault gives the same outcomes, verdict and score under ``-n 2`` as serially:
a check must not pass on a worker because the worker cannot see what the controller set up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from readiness.sandbox.session import FAULTS

from ..helpers import outcomes
from .conftest import Tried
from .test_faults import run_fault


def _verdict(report: dict[str, Any]) -> tuple[dict[str, str], str, float]:
    return outcomes(report), report["verdict"], report["score"]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_outcomes_match_under_xdist(tmp_path: Path, tried: Tried, fault: str) -> None:
    tried("xdist parity", fault)
    serial = run_fault(tmp_path / "serial", fault)
    parallel = run_fault(tmp_path / "parallel", fault, "-n", "2")
    assert "-n 2" not in serial["_stdout"] and "2 workers" in parallel["_stdout"]
    assert _verdict(parallel) == _verdict(serial)
