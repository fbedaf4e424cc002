"""System layer: the host and the bot's files, before deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from readiness.context import CheckContext
from readiness.probes import drill, host

BOT_FILES = ("audit_trail", "positions_db", "risk_config", "log_file", "pid_file")


@pytest.mark.readiness(
    id="system.required_files",
    layer="system",
    tier=2,
    title="The bot's files exist and are readable",
    remediation="Create the missing files or fix their READINESS_* paths; the bot must have started once.",
)
def test_required_files(readiness: CheckContext) -> None:
    settings = readiness.settings
    configured = {name: getattr(settings, name) for name in BOT_FILES if getattr(settings, name) is not None}
    if not configured:
        readiness.require(*BOT_FILES)
    problems = [
        f"{settings.env_name(name)}={state.path} {state.problem}"
        for name, state in zip(configured, host.file_states(configured.values()), strict=True)
        if state.problem
    ]
    readiness.metric("files_checked", len(configured))
    if problems:
        readiness.fail("; ".join(problems))


@pytest.mark.readiness(
    id="system.disk_space",
    layer="system",
    tier=1,
    title="Enough free disk for logs, audit trail and database",
    remediation="Free disk space (rotate logs, prune old data) or lower READINESS_MIN_DISK_FREE_MB.",
)
def test_disk_space(readiness: CheckContext) -> None:
    settings = readiness.settings
    where = settings.audit_trail.parent if settings.audit_trail else Path.cwd()
    free = host.disk_free_mb(where)
    readiness.metric("disk_free", round(free, 1), unit="MB", threshold=settings.min_disk_free_mb)
    if free < settings.min_disk_free_mb:
        readiness.fail(
            f"{free:.0f} MB free under {where}, below the {settings.min_disk_free_mb:g} MB minimum"
        )


@pytest.mark.readiness(
    id="system.memory_available",
    layer="system",
    tier=2,
    title="Enough memory for the bot to grow to its RSS limit",
    remediation="Free memory on the host or lower READINESS_MAX_RSS_MB to what the bot really needs.",
)
def test_memory_available(readiness: CheckContext) -> None:
    available = host.memory_available_mb()
    needed = readiness.settings.max_rss_mb
    readiness.metric("memory_available", round(available, 1), unit="MB", threshold=needed)
    if available < needed:
        readiness.fail(f"{available:.0f} MB available, less than the bot's {needed:g} MB RSS limit")


@pytest.mark.readiness(
    id="system.killswitch_inactive",
    layer="system",
    tier=1,
    title="The kill switch is off before deployment",
    remediation="Find out why the kill switch is on (the audit trail's kill_switch_activated, or the bot's "
    "log), fix it, then deactivate it through the risk manager (freqtrade: /start).",
)
def test_killswitch_inactive(readiness: CheckContext) -> None:
    profile = readiness.profile
    readiness.require(*profile.kill_switch_settings)
    switch = profile.kill_switch(readiness.settings, drill=False)
    try:
        with drill.exclusive(drill.lock_key(readiness.settings), shared=True):  # not mid-drill
            active = switch.is_active()
    except Exception as exc:
        readiness.fail(
            f"{switch.where}: {exc}",
            remediation=f"Point {readiness.variables(*profile.kill_switch_settings)} at the bot (start it if "
            "it is down), then run the check again.",
        )
    finally:
        switch.close()
    if active:
        readiness.fail(f"the kill switch is active: the bot would refuse every BUY ({switch.where})")
