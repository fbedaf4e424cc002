"""Planted credentials never reach any output: terminal, JSON, HTML, pytest-html, JUnit, logs.

Two kinds of run, each serial and under ``-n 2``, everything logged at DEBUG (live, captured and
to a file): checks written to leak (printing, logging, asserting, failing, warning, skipping,
erroring, blocked, parametrized with secrets), and the real catalogue against a sandbox whose
faults make checks fail around the credentials while httpx logs every Telegram URL, token in it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..helpers import REPO, report_path, run_pytest
from .conftest import Tried

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRETS = {
    "TELEGRAM_BOT_TOKEN": TOKEN,
    "TELEGRAM_CHAT_ID": "-1009876543210",
    "BINANCE_TESTNET_API_KEY": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    "BINANCE_TESTNET_API_SECRET": "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j",
    "DEPLOY_DB_PASSWORD": "correct-horse-battery",
}
#: Token-shaped but configured nowhere: redacted by shape.
STRAY_TOKEN = "987654321:ZZZdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

LEAKY_CHECKS = f"""
import logging, os, sys
import pytest

log = logging.getLogger("bot.client")
SECRET = os.environ["BINANCE_TESTNET_API_SECRET"]
TOKEN = os.environ["TELEGRAM_BOT_TOKEN"]

def check(check_id, tier=2, **extra):
    return pytest.mark.readiness(id=check_id, layer="component", tier=tier, title=check_id,
                                 remediation="rotate " + check_id, **extra)

@check("leak.assertion")
def test_assertion():
    assert TOKEN == "something else", f"token {{TOKEN}} rejected"

@check("leak.output")
def test_output():
    print("stdout has", SECRET, os.environ["DEPLOY_DB_PASSWORD"])
    print("stderr has", os.environ["TELEGRAM_CHAT_ID"], file=sys.stderr)
    log.warning("HTTP Request: POST https://api.telegram.org/bot%s/sendMessage", TOKEN)
    log.debug("signing with %s", SECRET)
    log.info("stray {STRAY_TOKEN}")
    assert False, "see output"

@check("leak.fail")
def test_fail(readiness):
    readiness.metric("weight for " + SECRET, 1.0)
    readiness.fail("key " + os.environ["BINANCE_TESTNET_API_KEY"] + " rejected",
                   remediation="replace " + SECRET)

@check("leak.warn")
def test_warn(readiness):
    readiness.warn("chat " + os.environ["TELEGRAM_CHAT_ID"] + " is slow")

@check("leak.na")
def test_na(readiness):
    readiness.not_applicable("no " + TOKEN)

@check("leak.skip")
def test_skip():
    pytest.skip("skipped with " + SECRET)

@pytest.fixture
def broken():
    raise RuntimeError("fixture saw " + TOKEN)

@check("leak.error")
def test_error(broken):
    pass

@check("leak.param")
@pytest.mark.parametrize("value", [os.environ["DEPLOY_DB_PASSWORD"]])
def test_param(value):
    assert value == "x"

@check("leak.passes")
def test_passes():
    log.error("all good with %s", SECRET)

@check("leak.blocked", depends=("leak.fail",))
def test_blocked():
    print("never runs", SECRET)
"""


OUTPUTS = [
    "reports/readiness.json",
    "reports/readiness.html",
    "reports/history.jsonl",
    "junit.xml",
    "pytest-html.html",
    "run.log",
]
#: Every output a run can write, everything logged at DEBUG.
OUTPUT_ARGS = [
    "-rA",
    "-v",
    "--junitxml=junit.xml",
    "--html=pytest-html.html",
    "--self-contained-html",
    "--log-file=run.log",
    "--log-file-level=DEBUG",
    "--log-cli-level=DEBUG",
    "--log-level=DEBUG",
]


def _outputs(root: Path, stdout: str, stderr: str) -> dict[str, str]:
    """Every output by name; the run's readiness JSON/HTML (named after its phases) as
    ``reports/readiness.json`` / ``.html``."""
    outputs = {"stdout": stdout, "stderr": stderr}
    written = report_path(root / "reports")
    files = {"reports/readiness.json": written, "reports/readiness.html": written.with_suffix(".html")}
    for name in OUTPUTS:
        outputs[name] = files.get(name, root / name).read_text(encoding="utf-8", errors="replace")
    return outputs


def _leaks(outputs: dict[str, str], secrets: dict[str, str]) -> list[str]:
    return [
        f"{name} in {where}"
        for where, text in outputs.items()
        for name, value in secrets.items()
        if value in text
    ]


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist"])
def test_no_secret_in_any_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tried: Tried, workers: str | None
) -> None:
    tried("leak probes", f"checks written to leak, {'-n 2' if workers else 'serial'}")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_leaky=LEAKY_CHECKS)
    args = [
        *OUTPUT_ARGS,
        "--metadata",
        "RELEASE_TOKEN",
        SECRETS["DEPLOY_DB_PASSWORD"],
        "--metadata",
        "Note",
        "uses " + SECRETS["BINANCE_TESTNET_API_SECRET"],
    ]
    if workers:
        args += ["-n", workers]
    result = pytester.runpytest_subprocess(*args, timeout=120)
    outputs = _outputs(pytester.path, result.stdout.str(), result.stderr.str())
    assert _leaks(outputs, {**SECRETS, "stray token": STRAY_TOKEN}) == []
    report = json.loads(outputs["reports/readiness.json"])
    assert {c["outcome"] for c in report["checks"]} == {
        "passed",
        "failed",
        "warned",
        "skipped",
        "not_applicable",
        "error",
        "blocked",
    }
    # The failures are still there to read, with the secret masked.
    assert "token *** rejected" in outputs["reports/readiness.json"]
    # (xdist workers share run.log and may overwrite each other's lines: read the terminal instead)
    assert "HTTP Request: POST https://api.telegram.org/bot***/sendMessage" in outputs["stdout"]
    assert "leak.assertion" in outputs["pytest-html.html"]


#: Loaded into the sandbox run (``-p``): writes down the credentials the sandbox made up.
RECORDER = """
import json, os
from readiness.state import sandbox_key

def pytest_sessionfinish(session):
    sandbox = session.config.stash.get(sandbox_key, None)
    if sandbox is not None:
        with open(os.environ["SANDBOX_SECRETS"], "w") as out:
            json.dump(sandbox.env, out)
"""
SECRET_NAMES = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "BINANCE_API_KEY", "BINANCE_API_SECRET")
#: Faults that make checks fail around the credentials: the token written into the bot's log,
#: a rejected key, an unknown chat.
LEAKY_FAULTS = ("secret_in_log", "binance_key_rejected", "telegram_chat_not_found")


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist"])
def test_no_sandbox_credential_in_any_output(tmp_path: Path, tried: Tried, workers: str | None) -> None:
    tried("leak probes", f"sandbox catalogue at DEBUG, {'-n 2' if workers else 'serial'}")
    (tmp_path / "sandbox_secrets.py").write_text(RECORDER, encoding="utf-8")
    recorded = tmp_path / "secrets.json"
    faults = [arg for fault in LEAKY_FAULTS for arg in ("--sandbox-fault", fault)]
    done = run_pytest(
        "-p",
        "sandbox_secrets",
        f"--rootdir={REPO}",
        f"--readiness-dir={tmp_path / 'reports'}",
        "-m",
        "preflight or postdeploy",
        "--target",
        "sandbox",
        *faults,
        *OUTPUT_ARGS,
        *(["-n", workers] if workers else []),
        str(REPO / "checks"),
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "SANDBOX_SECRETS": str(recorded)},
    )
    outputs = _outputs(tmp_path, done.stdout, done.stderr)
    env = json.loads(recorded.read_text("utf-8"))
    secrets = {name: env[name] for name in SECRET_NAMES}
    assert all(len(value) >= 8 for value in secrets.values()), secrets.keys()
    assert _leaks(outputs, secrets) == []
    report = json.loads(outputs["reports/readiness.json"])
    failed = {c["id"] for c in report["checks"] if c["outcome"] == "failed"}
    assert {"security.secrets_not_in_logs", "binance.api_key_valid", "telegram.chat_reachable"} <= failed
    # httpx logged the Telegram URLs at DEBUG, token masked
    assert "/bot***/getMe" in outputs["run.log"] + outputs["stdout"]
