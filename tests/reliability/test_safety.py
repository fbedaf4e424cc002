"""Safety: drills are refused on mainnet however the target is set, and the whole-suite audit
of the Binance emulators' request journal catches any request outside the allow-list."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from readiness.sandbox.binance import REQUEST_LOG_ENV, BinanceEmulator
from readiness.sandbox.server import BackgroundServer

from ..helpers import EMULATOR_TESTS_AGENT, run_pytest
from .conftest import Tried
from .summary import audit_journal


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--target", "mainnet"], {}), ([], {"READINESS_TARGET": "mainnet"})],
    ids=["--target", "READINESS_TARGET"],
)
def test_drill_on_mainnet_is_refused(tried: Tried, args: list[str], env: dict[str, str]) -> None:
    tried("safety", f"drill on mainnet via {'--target' if args else 'READINESS_TARGET'}")
    done = run_pytest("-m", "drill", "--drill", *args, env=env, timeout=60)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "--drill is refused on target mainnet" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_the_journal_audit_catches_a_request_outside_the_allow_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tried: Tried
) -> None:
    """What the closing audit does to every journal line, on a journal of this test's own."""
    tried("safety", "a live order in the journal is caught")
    monkeypatch.setenv(REQUEST_LOG_ENV, str(tmp_path / "journal.jsonl"))
    emulator = BinanceEmulator(network="mainnet")
    with BackgroundServer(emulator.make_app()) as server, httpx.Client(base_url=server.url) as http:
        http.get("/api/v3/ping")
        http.post("/api/v3/order", params={"symbol": "BTCUSDT"})
        http.post("/sapi/v1/capital/withdraw/apply", headers={"User-Agent": EMULATOR_TESTS_AGENT})
    lines = (tmp_path / "journal.jsonl").read_text("utf-8").splitlines()
    by_tests, outside = audit_journal(lines)
    assert len(lines) == 3 and by_tests == 1
    assert [entry.split(" (")[0] for entry in outside] == ["POST /api/v3/order"]
