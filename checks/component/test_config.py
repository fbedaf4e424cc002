"""Configuration: every setting the target needs is set, and the secrets file is private and uncommitted."""

from __future__ import annotations

import pytest

from readiness.context import CheckContext
from readiness.probes import files
from readiness.settings import Settings, how_to_set

#: What a deployment needs besides the network's Binance credentials and the bot's own settings.
TELEGRAM = ("telegram_bot_token", "telegram_chat_id")
BINANCE = {
    "testnet": ("binance_testnet_api_key", "binance_testnet_api_secret"),
    "mainnet": ("binance_api_key", "binance_api_secret"),
}


def required_settings(settings: Settings, bot: tuple[str, ...]) -> tuple[str, ...]:
    """The settings the selected target needs (the sandbox emulates mainnet, so it needs mainnet
    keys), then the ones the bot's profile reads it by."""
    return (*TELEGRAM, *BINANCE[settings.network], *bot)


@pytest.mark.readiness(
    id="env.config_complete",
    layer="component",
    tier=1,
    title="Every setting the target needs is set",
    remediation="Set the missing variables: secrets in .env or the environment, the bot's file paths and "
    "the rest there or in readiness.toml.",
)
def test_config_complete(readiness: CheckContext) -> None:
    settings = readiness.settings
    needed = required_settings(settings, readiness.profile.bot_settings)
    missing = [Settings.env_name(name) for name in needed if getattr(settings, name) in (None, "")]
    readiness.metric("settings_missing", len(missing), threshold=0)
    if missing:
        readiness.fail(
            f"{len(missing)} of {len(needed)} settings missing for target {settings.target}: "
            f"{', '.join(missing)}",
            remediation=how_to_set(missing, settings.env_file),
            unset=missing,
        )


@pytest.mark.readiness(
    id="security.env_file_permissions",
    layer="component",
    tier=2,
    title="The secrets file is readable by its owner only",
    remediation="chmod 600 the env file.",
)
def test_env_file_permissions(readiness: CheckContext) -> None:
    path = readiness.settings.env_file
    if path is None:
        readiness.not_applicable("no env file: secrets come from the process environment only")
    try:
        mode = files.file_mode(path)
    except OSError as exc:
        readiness.fail(f"env file {path} cannot be checked ({exc.strerror or exc})")
    if mode & 0o077:
        who = " and ".join(w for w, bits in (("group", 0o070), ("others", 0o007)) if mode & bits)
        readiness.fail(
            f"env file {path} has mode {mode:04o}: {who} can read or change the secrets in it",
            remediation=f"chmod 600 {path}",
        )


@pytest.mark.readiness(
    id="security.env_not_committed",
    layer="component",
    tier=1,
    title="The secrets file is not committed to git",
    remediation="git rm --cached .env, add .env to .gitignore, and rotate every credential in it.",
)
def test_env_not_committed(readiness: CheckContext) -> None:
    path = readiness.settings.env_file
    if path is None:
        readiness.not_applicable("no env file: secrets come from the process environment only")
    status = files.git_status(path)
    if status.state in ("no_git", "not_in_repo"):
        readiness.not_applicable(status.detail)
    if status.state == "unknown":
        readiness.fail(f"cannot tell whether git tracks env file {path}: {status.detail}")
    if status.state == "tracked":
        readiness.fail(
            f"env file {path} is tracked by git ({status.relpath}): its secrets are in the repository",
            remediation=f"git rm --cached {status.relpath}, add {status.relpath} to .gitignore, commit, "
            "and rotate every credential in it: they stay in the git history.",
        )
    if status.state == "untracked":
        readiness.warn(
            f"env file {path} is not git-ignored: one `git add .` commits it; add it to .gitignore"
        )
