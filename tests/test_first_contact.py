"""A new user's first run: ``pytest -m preflight`` on testnet in their own folder, nothing set up.

The live APIs are emulators on loopback (the user's network reaches the real ones); the summary
must lead with what to do, not with two dozen consequences of one missing ``.env``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from readiness.sandbox.binance import BinanceEmulator
from readiness.sandbox.server import BackgroundServer
from readiness.sandbox.telegram import TelegramEmulator

from .helpers import run_pytest

#: The readiness summary of a first run fits on one screen.
MAX_SUMMARY_LINES = 25


@pytest.fixture
def live_apis() -> Iterator[dict[str, str]]:
    """Testnet and Telegram as a first run meets them: up, and knowing nothing of this user."""
    binance = BackgroundServer(BinanceEmulator(network="testnet").make_app())
    telegram = BackgroundServer(TelegramEmulator().make_app())
    try:
        yield {"BINANCE_API_URL": binance.start(), "TELEGRAM_API_URL": telegram.start()}
    finally:
        binance.stop()
        telegram.stop()


def test_the_first_run_leads_with_the_settings_to_set(tmp_path: Path, live_apis: dict[str, str]) -> None:
    done = run_pytest("-m", "preflight", cwd=tmp_path, env=live_apis)
    summary = done.stdout.split("= readiness =", 1)[1].split("short test summary info")[0]
    lines = summary.strip("=\n ").splitlines()
    assert len(lines) <= MAX_SUMMARY_LINES, summary

    report = json.loads((tmp_path / "reports" / "readiness.json").read_text("utf-8"))
    assert report["verdict"] == "NO-GO"
    (settings,) = [cause for cause in report["root_causes"] if cause["check"] is None]
    for variable in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "BINANCE_TESTNET_API_KEY"):
        assert variable in settings["reason"]
    assert {"telegram.token_valid", "telegram.chat_reachable", "binance.api_key_valid"} <= set(
        settings["checks"]
    )
    reasons = report["reasons"]
    assert reasons[0].startswith(settings["reason"] + ": run `readiness init`"), reasons
    assert any("--target sandbox" in reason for reason in reasons), reasons
    assert sum("not set" in reason for reason in reasons) == 1, reasons
    # The advice for a check skipped this way is about its setting, not about what it would judge.
    killswitch = next(c for c in report["checks"] if c["id"] == "system.killswitch_inactive")
    assert killswitch["outcome"] == "skipped"
    assert "READINESS_RISK_MANAGER" in killswitch["remediation"]
    assert "kill switch is on" not in summary
    assert "telegram.chat_reachable" not in summary  # blocked: counted under its cause
