"""Planted credentials never reach any output: terminal, JSON, HTML, pytest-html, JUnit, logs."""

from __future__ import annotations

from pathlib import Path

import pytest

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
"""


def _outputs(root: Path, result: pytest.RunResult) -> dict[str, str]:
    outputs = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    for path in [*root.glob("reports/*"), root / "junit.xml", root / "pytest-html.html", root / "run.log"]:
        outputs[str(path.relative_to(root))] = path.read_text(encoding="utf-8", errors="replace")
    return outputs


@pytest.mark.parametrize("workers", [None, "2"], ids=["serial", "xdist"])
def test_no_secret_in_any_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, workers: str | None
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_leaky=LEAKY_CHECKS)
    args = [
        "-rA",
        "-v",
        "--junitxml=junit.xml",
        "--html=pytest-html.html",
        "--self-contained-html",
        "--log-file=run.log",
        "--log-file-level=DEBUG",
        "--log-cli-level=DEBUG",
        "--log-level=DEBUG",
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
    outputs = _outputs(pytester.path, result)
    assert set(outputs) >= {
        "reports/readiness.json",
        "reports/readiness.html",
        "reports/history.jsonl",
        "junit.xml",
        "pytest-html.html",
        "run.log",
    }
    leaks = [
        f"{name} in {where}"
        for where, text in outputs.items()
        for name, value in [*SECRETS.items(), ("stray token", STRAY_TOKEN)]
        if value in text
    ]
    assert leaks == []
    # The failures are still there to read, with the secret masked.
    assert "token *** rejected" in outputs["reports/readiness.json"]
    # (xdist workers share run.log and may overwrite each other's lines: read the terminal instead)
    assert "HTTP Request: POST https://api.telegram.org/bot***/sendMessage" in outputs["stdout"]
    assert "leak.assertion" in outputs["pytest-html.html"]
