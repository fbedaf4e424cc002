"""Safety: drills are refused on mainnet however the target is set, and the whole-suite audit
of the Binance emulators' request journal catches any request outside the allow-list."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from readiness.probes.binance import ALLOWED_REQUESTS
from readiness.probes.binance import USER_AGENT as HARNESS_USER_AGENT
from readiness.sandbox.binance import REQUEST_LOG_ENV, BinanceEmulator
from readiness.sandbox.server import BackgroundServer
from readiness.sandbox.trader import USER_AGENT as BOT_USER_AGENT

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
        http.get("/api/v3/ping", headers={"User-Agent": HARNESS_USER_AGENT})
        http.post("/api/v3/order", params={"symbol": "BTCUSDT"}, headers={"User-Agent": HARNESS_USER_AGENT})
        http.post("/api/v3/order", params={"symbol": "ETHUSDT"})
        http.post("/api/v3/order", params={"symbol": "BTCUSDT"}, headers={"User-Agent": BOT_USER_AGENT})
        http.post("/sapi/v1/capital/withdraw/apply", headers={"User-Agent": EMULATOR_TESTS_AGENT})
    lines = (tmp_path / "journal.jsonl").read_text("utf-8").splitlines()
    audit = audit_journal(lines)
    assert [json.loads(line)["harness"] for line in lines] == [True, True, False, False, False]
    assert (len(lines), audit.by_tests, audit.by_bot, audit.by_harness) == (5, 1, 1, 2)
    # the harness's order is caught, and so is one whose sender does not say who it is
    assert [entry.split(" (")[0] for entry in audit.outside] == ["POST /api/v3/order"] * 2


def test_the_harness_names_itself_in_every_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tried: Tried
) -> None:
    """A preflight's requests all reach the journal marked as the harness's (the audit relies on it)."""
    tried("safety", "the harness's requests are marked as its own")
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv(REQUEST_LOG_ENV, str(journal))
    done = run_pytest("-m", "preflight", "--target=sandbox", f"--readiness-dir={tmp_path}", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    entries = [json.loads(line) for line in journal.read_text("utf-8").splitlines()]
    harness = [e for e in entries if e["user_agent"] != BOT_USER_AGENT]
    assert harness and all(e["harness"] for e in harness), harness
    assert {(e["method"], e["path"]) for e in harness} <= ALLOWED_REQUESTS
    bot_orders = [e for e in entries if e["user_agent"] == BOT_USER_AGENT and e["path"] == "/api/v3/order"]
    assert [e["method"] for e in bot_orders] == ["POST", "POST"]
