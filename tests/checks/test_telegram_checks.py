"""The Telegram checks against the sandbox: healthy passes; each fault fails exactly its check.

The four checks form one chain (token -> chat -> plain message -> formatted alert), so a fault
fails the check it targets, the checks before it pass and the ones after it end ``blocked``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from ..helpers import assert_go_but_partial, check_entry, outcomes, run_catalogue

CHAIN = (
    "telegram.token_valid",
    "telegram.chat_reachable",
    "telegram.delivery_latency",
    "integration.alert_path",
)
FILES = ("checks/component/test_telegram.py", "checks/integration/test_alert_path.py")
#: Any Telegram bot token (the sandbox makes a random one of the real shape).
TOKEN_SHAPE = re.compile(r"[0-9]{6,}:[A-Za-z0-9_-]{35}")
#: sendMessage deadline for READINESS_TELEGRAM_MAX_S=1: max(2 x 1, 1 + 2) s.
SEND_DEADLINE_S = 3.0


def run_telegram(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    return run_catalogue(tmp_path, *FILES, "--target", "sandbox", *args, env=env)


def chain_outcomes(failed: str) -> dict[str, str]:
    """Checks before ``failed`` pass, ``failed`` fails, the ones after it are blocked."""
    at = CHAIN.index(failed)
    return {cid: "passed" if i < at else "failed" if i == at else "blocked" for i, cid in enumerate(CHAIN)}


def session_s(report: dict[str, Any]) -> float:
    started, finished = (datetime.fromisoformat(report[k]) for k in ("started_at", "finished_at"))
    return (finished - started).total_seconds()


def assert_no_token(report: dict[str, Any]) -> None:
    assert not TOKEN_SHAPE.search(report["_stdout"])
    assert not TOKEN_SHAPE.search(json.dumps({k: v for k, v in report.items() if k != "_stdout"}))


def test_healthy_sandbox_passes_the_telegram_checks(tmp_path: Path) -> None:
    report = run_telegram(tmp_path)
    assert outcomes(report) == dict.fromkeys(CHAIN, "passed")
    assert_go_but_partial(report)
    [latency] = check_entry(report, "telegram.delivery_latency")["metrics"]
    assert latency["name"] == "sendMessage round trip"
    assert latency["unit"] == "s"
    assert latency["threshold"] == 5.0
    assert 0 < latency["value"] < 5.0
    [alert] = check_entry(report, "integration.alert_path")["metrics"]
    assert alert["name"] == "alert round trip"
    assert alert["threshold"] == 5.0
    assert_no_token(report)


@pytest.mark.parametrize(
    ("fault", "check_id", "message", "remediation"),
    [
        (
            "telegram_token_revoked",
            "telegram.token_valid",
            "getMe answered 401 Unauthorized",
            "token revoked or mistyped: create or copy the token again from @BotFather and set TELEGRAM_BOT_TOKEN",
        ),
        (
            "telegram_down",
            "telegram.token_valid",
            "getMe answered 502 Bad Gateway (not a Bot API answer: text/html)",
            "answered HTTP 502 instead of the Bot API",
        ),
        (
            "telegram_chat_not_found",
            "telegram.chat_reachable",
            "getChat answered 400 Bad Request: chat not found",
            "send /start to the bot from the alert chat, or fix TELEGRAM_CHAT_ID",
        ),
        (
            "telegram_bot_blocked",
            "telegram.delivery_latency",
            "sendMessage answered 403 Forbidden: bot was blocked by the user",
            "unblock the bot",
        ),
        (
            "telegram_rate_limited",
            "telegram.delivery_latency",
            "sendMessage answered 429 Too Many Requests: retry after 17",
            "rate limited: retry after 17 s",
        ),
        (
            "telegram_parse_entities",
            "integration.alert_path",
            "sendMessage answered 400 Bad Request: can't parse entities: *",
            "escape dynamic values (html.escape: <, >, &) and close every tag",
        ),
    ],
)
def test_each_fault_fails_exactly_its_check(
    tmp_path: Path, fault: str, check_id: str, message: str, remediation: str
) -> None:
    report = run_telegram(tmp_path, "--sandbox-fault", fault)
    assert outcomes(report) == chain_outcomes(check_id)
    entry = check_entry(report, check_id)
    assert fnmatch(entry["message"], message), entry["message"]
    assert remediation in entry["remediation"]
    assert remediation in report["_stdout"]
    if check_id != CHAIN[-1]:
        assert check_entry(report, CHAIN[CHAIN.index(check_id) + 1])["blocked_by"] == [check_id]
    assert report["verdict"] == "NO-GO"
    assert_no_token(report)


@pytest.mark.parametrize("fault", ["telegram_slow", "telegram_hang", "telegram_trickle"])
def test_a_slow_or_stuck_telegram_fails_within_one_deadline(tmp_path: Path, fault: str) -> None:
    """Hang and trickle would hold a per-read timeout for ever; the total deadline cuts them off."""
    report = run_telegram(tmp_path, "--sandbox-fault", fault, env={"READINESS_TELEGRAM_MAX_S": "1"})
    assert outcomes(report) == chain_outcomes("telegram.delivery_latency")
    entry = check_entry(report, "telegram.delivery_latency")
    assert entry["message"] == "sendMessage: no answer within 3 s (limit 1 s)"
    assert "Telegram did not answer in time" in entry["remediation"]
    assert "Telegram did not answer in time" in report["_stdout"]
    # Both sendMessage probes hang at once: the run pays one deadline, not one per probe.
    assert entry["duration_s"] < SEND_DEADLINE_S + 1.5
    assert sum(c["duration_s"] for c in report["checks"]) < SEND_DEADLINE_S + 2.0
    assert session_s(report) < 2 * SEND_DEADLINE_S + 2.0


def test_an_answer_over_the_limit_reports_the_round_trip(tmp_path: Path) -> None:
    """telegram_slow answers after 6 s, inside the 10 s deadline of the default 5 s limit."""
    report = run_telegram(tmp_path, "--sandbox-fault", "telegram_slow")
    assert outcomes(report) == chain_outcomes("telegram.delivery_latency")
    entry = check_entry(report, "telegram.delivery_latency")
    assert fnmatch(entry["message"], "sendMessage round trip 6.* s, over the 5 s limit"), entry["message"]
    [metric] = entry["metrics"]
    assert metric["name"] == "sendMessage round trip"
    assert metric["threshold"] == 5.0
    assert 6.0 <= metric["value"] < 8.0
    assert "raise READINESS_TELEGRAM_MAX_S only if slower alerts are acceptable" in report["_stdout"]


def test_the_four_checks_cost_about_one_round_trip(tmp_path: Path) -> None:
    """The probes start together: 300 ms of latency adds about 0.3 s, not 4 x 0.3 s."""
    totals = {}
    for latency in ("0", "300"):
        report = run_telegram(tmp_path / latency, "--sandbox-latency-ms", latency)
        assert outcomes(report) == dict.fromkeys(CHAIN, "passed")
        totals[latency] = sum(c["duration_s"] for c in report["checks"])
    [metric] = check_entry(report, "telegram.delivery_latency")["metrics"]
    assert metric["value"] >= 0.3  # the latency did reach the measured round trip
    added = totals["300"] - totals["0"]
    # One round trip is 0.3 s; checked one after another the four would add >= 1.2 s.
    assert added < 0.75, totals


def test_missing_token_skips_naming_the_variable(tmp_path: Path) -> None:
    report = run_catalogue(
        tmp_path, *FILES, "--target", "testnet", env={"TELEGRAM_BOT_TOKEN": "", "TELEGRAM_CHAT_ID": ""}
    )
    entry = check_entry(report, "telegram.token_valid")
    assert entry["outcome"] == "skipped"
    assert entry["message"] == "not configured: set TELEGRAM_BOT_TOKEN"
    cause = "TELEGRAM_BOT_TOKEN not set: run `readiness init` or set it in .env or the environment"
    assert f"  - {cause} — 4 checks skipped or blocked" in report["_stdout"]
    # One root cause, one entry: the checks behind it wait for the token.
    assert {cid: check_entry(report, cid)["outcome"] for cid in CHAIN[1:]} == dict.fromkeys(
        CHAIN[1:], "blocked"
    )
