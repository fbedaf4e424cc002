"""``readiness init`` driven in a real terminal (pexpect) and from a script, against the emulators.

Every answer is checked against the live API as it is typed, so a wrong one is asked for again;
nothing is written until all of them pass, and no secret reaches the screen.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pytest
from dotenv import dotenv_values

from readiness.attestations import load_attestations
from readiness.sandbox.binance import BinanceEmulator
from readiness.sandbox.server import BackgroundServer
from readiness.sandbox.telegram import TelegramEmulator
from readiness.settings import BINANCE_URLS, DEFINITIONS, load_settings
from readiness.waivers import load_waivers

INIT = (sys.executable, "-m", "readiness.cli", "init")
WRONG_TOKEN = "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@dataclass
class Apis:
    """A Binance network and Telegram, up on loopback, and the credentials they accept."""

    telegram: TelegramEmulator
    binance: BinanceEmulator
    env: dict[str, str]

    @property
    def secrets(self) -> list[str]:
        return [self.telegram.token, self.binance.api_key, self.binance.api_secret]


@pytest.fixture
def apis() -> Iterator[Callable[..., Apis]]:
    servers: list[BackgroundServer] = []

    def start(network: str = "testnet", binance_faults: tuple[str, ...] = ()) -> Apis:
        telegram, binance = TelegramEmulator(), BinanceEmulator(network=network, faults=binance_faults)  # type: ignore[arg-type]
        urls = []
        for app in (telegram.make_app(), binance.make_app()):
            servers.append(BackgroundServer(app))
            urls.append(servers[-1].start())
        # Origins only: init offers them as the default answers, as after `readiness sandbox`.
        return Apis(telegram, binance, {"TELEGRAM_API_URL": urls[0], "BINANCE_API_URL": urls[1]})

    yield start
    for server in servers:
        server.stop()


def answers_env(apis: Apis, prefix: str = "BINANCE_TESTNET_") -> dict[str, str]:
    return {
        **apis.env,
        "TELEGRAM_BOT_TOKEN": apis.telegram.token,
        "TELEGRAM_CHAT_ID": str(apis.telegram.chat_id),
        f"{prefix}API_KEY": apis.binance.api_key,
        f"{prefix}API_SECRET": apis.binance.api_secret,
    }


def run_init(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INIT, "--dir", str(folder), "--non-interactive", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=False,
    )


def spawn(folder: Path, env: dict[str, str], *args: str) -> pexpect.spawn:
    child = pexpect.spawn(
        INIT[0],
        [*INIT[1:], "--dir", str(folder), *args],
        env={**os.environ, **env},
        encoding="utf-8",
        timeout=30,
        dimensions=(40, 200),
    )
    child.logfile_read = transcript = _Transcript()
    child.transcript = transcript  # type: ignore[attr-defined]
    return child


def answer(child: pexpect.spawn, live: Apis, prefix: str) -> None:
    """The Binance questions: the origin (Enter takes the environment's), the key, its secret."""
    child.expect_exact(f"(BINANCE_API_URL) [{live.env['BINANCE_API_URL']}]: ")
    child.sendline("")
    child.expect_exact(f"({prefix}API_KEY): ")
    child.sendline(live.binance.api_key)
    child.expect_exact(f"({prefix}API_SECRET): ")
    child.sendline(live.binance.api_secret)


class _Transcript(list[str]):
    """Everything the terminal showed."""

    def write(self, text: str) -> None:
        self.append(text)

    def flush(self) -> None:
        pass

    def __str__(self) -> str:
        return "".join(self)


def test_answers_from_the_environment_are_checked_and_written(
    tmp_path: Path, apis: Callable[..., Apis]
) -> None:
    live = apis()
    done = run_init(tmp_path, answers_env(live))
    assert done.returncode == 0, done.stderr
    for line in ("token accepted: bot @", "chat found: 'Readiness Alerts'", "test message delivered"):
        assert line in done.stdout
    assert "is testnet" in done.stdout and "key accepted" in done.stdout
    assert not any(secret in done.stdout + done.stderr for secret in live.secrets)
    assert len(live.telegram.delivered()) == 1  # the test message arrived

    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    written = dotenv_values(env_file)
    assert written["TELEGRAM_BOT_TOKEN"] == live.telegram.token
    assert written["BINANCE_TESTNET_API_SECRET"] == live.binance.api_secret
    assert written["READINESS_TARGET"] == "testnet"
    # What was written is what the harness reads.
    settings, _ = load_settings(rootdir=tmp_path, invocation_dir=tmp_path, environ={})
    assert settings.telegram_bot_token == live.telegram.token
    assert settings.binance_api_url == live.env["BINANCE_API_URL"]
    assert settings.config_file == tmp_path / "readiness.toml"


def test_templates_name_every_setting_and_parse_once_uncommented(
    tmp_path: Path, apis: Callable[..., Apis]
) -> None:
    assert run_init(tmp_path, answers_env(apis())).returncode == 0
    config = (tmp_path / "readiness.toml").read_text("utf-8")
    for definition in DEFINITIONS:
        named = f"# {definition.name} = " in config
        assert named is (definition.kind != "secret"), definition.name  # secrets only in .env
        assert definition.env in config or definition.kind == "secret"
    # Uncommented as they are, the lines that carry a default give the defaults back.
    defaults = "\n".join(
        line.removeprefix("# ").split("  # ")[0]
        for line in config.splitlines()
        if line.startswith("# ")
        and " = " in line
        and "<" not in line
        and "..." not in line
        and "package.module" not in line
    )
    tomllib.loads(defaults)
    (tmp_path / "readiness.toml").write_text(defaults, "utf-8")
    (tmp_path / ".env").unlink()
    uncommented, _ = load_settings(rootdir=tmp_path, invocation_dir=tmp_path, environ={})
    plain, _ = load_settings(rootdir=tmp_path / "nowhere", invocation_dir=tmp_path, environ={})
    assert uncommented.config_file == tmp_path / "readiness.toml"
    for definition in DEFINITIONS:
        assert getattr(uncommented, definition.name) == getattr(plain, definition.name), definition.name
    assert uncommented.binance_api_url == BINANCE_URLS["testnet"]

    # Each example, uncommented, is an entry the loaders accept.
    for name, load in (
        ("readiness-waivers.toml", load_waivers),
        ("readiness-attestations.toml", load_attestations),
    ):
        path = tmp_path / name
        assert load(path) == []
        _, examples = path.read_text("utf-8").split("# [[", 1)  # the examples follow the prose
        path.write_text(
            "".join(line.removeprefix("# ") for line in f"# [[{examples}".splitlines(True)), "utf-8"
        )
        assert load(path), name
    ids = {attestation.id for attestation in load_attestations(tmp_path / "readiness-attestations.toml")}
    assert ids == {
        "manual.runbook_reviewed",
        "manual.rollback_plan_ready",
        "manual.escalation_contacts_current",
    }


def test_a_person_is_asked_again_for_a_wrong_token_and_a_chat_not_found(
    tmp_path: Path, apis: Callable[..., Apis]
) -> None:
    live = apis()
    child = spawn(tmp_path, live.env)
    child.expect_exact(f"(TELEGRAM_API_URL) [{live.env['TELEGRAM_API_URL']}]: ")
    child.sendline("")
    child.expect_exact("(TELEGRAM_BOT_TOKEN): ")
    child.sendline(WRONG_TOKEN)
    child.expect_exact("problem: Telegram rejected the token (401 Unauthorized)")
    child.expect_exact("(TELEGRAM_BOT_TOKEN): ")
    child.sendline(live.telegram.token)
    child.expect_exact("token accepted: bot @readiness_sandbox_bot")
    child.expect_exact("(TELEGRAM_CHAT_ID): ")
    child.sendline("-1009999999999")
    child.expect_exact("chat not found")
    child.expect_exact("(TELEGRAM_CHAT_ID): ")
    child.sendline(str(live.telegram.chat_id))
    child.expect_exact("test message delivered")
    answer(child, live, "BINANCE_TESTNET_")
    child.expect_exact("key accepted")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, str(child.transcript)  # type: ignore[attr-defined]
    shown = str(child.transcript)  # type: ignore[attr-defined]
    assert not any(secret in shown for secret in (*live.secrets, WRONG_TOKEN)), "a secret was echoed"
    assert dotenv_values(tmp_path / ".env")["TELEGRAM_CHAT_ID"] == str(live.telegram.chat_id)


def test_a_key_that_can_withdraw_is_refused_and_ctrl_c_writes_nothing(
    tmp_path: Path, apis: Callable[..., Apis]
) -> None:
    live = apis("mainnet", ("binance_withdrawals_enabled",))
    child = spawn(tmp_path, live.env, "--target", "mainnet")
    child.expect_exact("(TELEGRAM_API_URL) [")  # the origins default to the environment's
    child.sendline("")
    child.expect_exact("(TELEGRAM_BOT_TOKEN): ")
    child.sendline(live.telegram.token)
    child.expect_exact("(TELEGRAM_CHAT_ID): ")
    child.sendline(str(live.telegram.chat_id))
    answer(child, live, "BINANCE_")
    child.expect_exact("problem: the key may withdraw")
    child.expect_exact("disable 'Enable Withdrawals'")
    child.expect_exact("(BINANCE_API_KEY): ")  # asked again: a person fixes the key, or stops
    child.kill(signal.SIGINT)
    child.expect_exact("interrupted; nothing written")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert list(tmp_path.iterdir()) == []


def test_answers_that_fail_their_check_write_nothing(tmp_path: Path, apis: Callable[..., Apis]) -> None:
    live = apis()
    env = answers_env(live) | {"TELEGRAM_CHAT_ID": "-1009999999999"}
    done = run_init(tmp_path, env)
    assert done.returncode == 1
    assert "Telegram rejected the chat (400 Bad Request: chat not found)" in done.stderr
    assert "nothing written" in done.stderr
    assert list(tmp_path.iterdir()) == []

    done = run_init(
        tmp_path, {k: v for k, v in answers_env(live).items() if k != "BINANCE_TESTNET_API_SECRET"}
    )
    assert done.returncode == 1
    assert "BINANCE_TESTNET_API_SECRET is not set" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_env_file_is_kept_unless_forced(tmp_path: Path, apis: Callable[..., Apis]) -> None:
    live = apis()
    env_file, config = tmp_path / ".env", tmp_path / "readiness.toml"
    env_file.write_bytes(b"TELEGRAM_BOT_TOKEN=keep-me\n")
    config.write_bytes(b'symbol = "ETHUSDT"\n')
    done = run_init(tmp_path, answers_env(live))
    assert done.returncode == 2
    assert f"{env_file} exists; not replacing it (use --force to replace it)" in done.stderr
    assert env_file.read_bytes() == b"TELEGRAM_BOT_TOKEN=keep-me\n"

    done = run_init(tmp_path, answers_env(live), "--force")
    assert done.returncode == 0, done.stderr
    assert dotenv_values(env_file)["TELEGRAM_BOT_TOKEN"] == live.telegram.token
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "readiness.toml: written" in done.stdout  # --force replaces the templates too

    env_file.unlink()
    config.write_bytes(b'symbol = "ETHUSDT"\n')
    done = run_init(tmp_path, answers_env(live))
    assert done.returncode == 0, done.stderr
    assert f"{config}: exists, kept" in done.stdout
    assert config.read_bytes() == b'symbol = "ETHUSDT"\n'
