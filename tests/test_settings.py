"""Targets and settings (SPEC §4): sources, precedence, and usage errors that name the source."""

from __future__ import annotations

from pathlib import Path

import pytest

from readiness.settings import SettingsError, load_settings

CHECK = """
import json, pytest

@pytest.mark.readiness(id="a.settings", layer="component", tier=2, title="T", remediation="R")
def test_settings(readiness):
    s = readiness.settings
    print("SETTINGS=" + json.dumps({"target": s.target, "symbol": s.symbol, "max_s": s.telegram_max_s,
                                    "url": s.binance_api_url, "audit": str(s.audit_trail)}))
"""


def _settings_seen(result: pytest.RunResult) -> dict[str, object]:
    import json

    for line in result.stdout.lines:
        if "SETTINGS=" in line:
            seen: dict[str, object] = json.loads(line.split("SETTINGS=", 1)[1])
            return seen
    raise AssertionError(result.stdout.str())


def _load(tmp_path: Path, environ: dict[str, str] | None = None, **kwargs: str) -> object:
    return load_settings(rootdir=tmp_path, invocation_dir=tmp_path, environ=environ or {}, **kwargs)[0]


def test_defaults(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    assert settings.target == "testnet"  # type: ignore[attr-defined]
    assert settings.binance_api_url == "https://testnet.binance.vision"  # type: ignore[attr-defined]
    assert settings.telegram_max_s == 5.0  # type: ignore[attr-defined]
    assert _load(tmp_path, target_option="mainnet").binance_api_url == "https://api.binance.com"  # type: ignore[attr-defined]


def test_precedence_file_then_dotenv_then_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_checks=CHECK)
    pytester.path.joinpath("readiness.toml").write_text(
        'symbol = "ETHUSDT"\ntelegram_max_s = 3\naudit_trail = "data/audit.jsonl"\n'
    )
    result = pytester.runpytest("-s")
    assert _settings_seen(result) == {
        "target": "testnet",
        "symbol": "ETHUSDT",
        "max_s": 3.0,
        "url": "https://testnet.binance.vision",
        "audit": str(pytester.path / "data" / "audit.jsonl"),
    }
    pytester.path.joinpath(".env").write_text("READINESS_SYMBOL=BNBUSDT\nREADINESS_TARGET=mainnet\n")
    assert _settings_seen(pytester.runpytest("-s"))["symbol"] == "BNBUSDT"
    monkeypatch.setenv("READINESS_SYMBOL", "SOLUSDT")
    seen = _settings_seen(pytester.runpytest("-s"))
    assert (seen["symbol"], seen["target"]) == ("SOLUSDT", "mainnet")
    assert _settings_seen(pytester.runpytest("-s", "--target", "sandbox"))["target"] == "sandbox"


def test_pyproject_tool_table_and_ini_target(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checks=CHECK)
    pytester.path.joinpath("pyproject.toml").write_text('[tool.readiness]\nsymbol = "XRPUSDT"\n')
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\nreadiness_target = mainnet\n")
    result = pytester.runpytest("-s")
    seen = _settings_seen(result)
    assert (seen["symbol"], seen["target"]) == ("XRPUSDT", "mainnet")
    result.stdout.fnmatch_lines(
        ["readiness: target mainnet (ini option readiness_target), config *pyproject.toml"]
    )


def test_report_header_shows_target_config_and_thresholds_never_secrets(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
    monkeypatch.setenv("BINANCE_TESTNET_API_SECRET", "s3cr3t-value-for-header")
    pytester.makepyfile(test_checks=CHECK)
    pytester.path.joinpath("readiness.toml").write_text('symbol = "ETHUSDT"\n')
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines(
        [
            "readiness: target testnet (default), config *readiness.toml",
            "readiness: GO >= 85, CONDITIONAL GO >= 70",
        ]
    )
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in result.stdout.str()
    assert "s3cr3t-value-for-header" not in result.stdout.str()


@pytest.mark.parametrize(
    ("files", "args", "env", "message"),
    [
        (
            {},
            ["--target", "prod"],
            {},
            "ERROR: --target: unknown target 'prod'; use one of sandbox, testnet, mainnet",
        ),
        (
            {},
            [],
            {"READINESS_TARGET": "staging"},
            "ERROR: environment variable READINESS_TARGET: unknown target*",
        ),
        (
            {"readiness.toml": "telegram_max_s = 'fast'\n"},
            [],
            {},
            "ERROR: *readiness.toml: setting 'telegram_max_s' must be a number, got 'fast'",
        ),
        (
            {},
            [],
            {"READINESS_MAX_CLOCK_SKEW_MS": "1s"},
            "ERROR: environment variable READINESS_MAX_CLOCK_SKEW_MS: setting 'max_clock_skew_ms' must be a number*",
        ),
        (
            {"readiness.toml": "symbol = 5\n"},
            [],
            {},
            "ERROR: *readiness.toml: setting 'symbol' must be a string, got 5",
        ),
        (
            {"readiness.toml": "colour = 'red'\n"},
            [],
            {},
            "ERROR: *readiness.toml: unknown setting 'colour'; known*",
        ),
        (
            {"readiness.toml": "telegram_bot_token = 'x'\n"},
            [],
            {},
            "ERROR: *readiness.toml: 'telegram_bot_token' is a secret; set TELEGRAM_BOT_TOKEN in the environment*",
        ),
        ({"readiness.toml": "symbol = \n"}, [], {}, "ERROR: config file *readiness.toml: invalid TOML*"),
        (
            {},
            ["--readiness-config", "missing.toml"],
            {},
            "ERROR: --readiness-config: config file *missing.toml does not exist",
        ),
        (
            {".env": "GOOD=1\nthis line is wrong\n"},
            [],
            {},
            "ERROR: env file *.env, line 2: cannot parse 'this line is wrong'*",
        ),
        ({}, ["--env-file", "nope.env"], {}, "ERROR: --env-file nope.env: no such file"),
        (
            {},
            [],
            {"TELEGRAM_API_URL": "api.telegram.org"},
            "ERROR: environment variable TELEGRAM_API_URL: setting 'telegram_api_url' must be an http(s) URL*",
        ),
        (
            {},
            [],
            {"READINESS_RISK_MANAGER": "bot.risk"},
            "ERROR: *READINESS_RISK_MANAGER: setting 'risk_manager' must look like 'package.module:callable'*",
        ),
        (
            {},
            [],
            {"READINESS_MIN_BALANCE": "-5"},
            "ERROR: *READINESS_MIN_BALANCE*must be a finite number >= 0*",
        ),
    ],
)
def test_bad_settings_are_one_line_usage_errors(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str],
    args: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    pytester.makepyfile(test_checks=CHECK)
    for name, content in files.items():
        pytester.path.joinpath(name).write_text(content)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert len([line for line in result.stderr.lines if line.strip()]) == 1


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TELEGRAM_CHAT_ID=from-file\nREADINESS_SYMBOL=ETHUSDT\n")
    settings, merged = load_settings(
        rootdir=tmp_path, invocation_dir=tmp_path, environ={"TELEGRAM_CHAT_ID": "from-env"}
    )
    assert settings.telegram_chat_id == "from-env"
    assert settings.symbol == "ETHUSDT"
    assert settings.sources["symbol"] == f"env file {tmp_path / '.env'}"
    assert merged["TELEGRAM_CHAT_ID"] == "from-env"


def test_keys_follow_the_target(tmp_path: Path) -> None:
    env = {"BINANCE_TESTNET_API_KEY": "tk", "BINANCE_API_KEY": "mk"}
    assert _load(tmp_path, env).binance_key == "tk"  # type: ignore[attr-defined]
    assert _load(tmp_path, env, target_option="mainnet").binance_key == "mk"  # type: ignore[attr-defined]


def test_unreadable_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "readiness.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(SettingsError, match=r"config file .*readiness.toml: not UTF-8 text"):
        _load(tmp_path)
