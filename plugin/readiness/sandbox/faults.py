"""Faults the sandbox session applies from outside once the bot runs: to its files, its
settings or through its own interfaces. (Emulator and bot faults live with the emulators and
the bot.)"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from ..probes import host
from ..report.files import write_atomic
from . import bot, riskclient

#: The credentials file the sandbox writes beside the bot's folder, as a deployment would have.
ENV_FILE = ".env"


@dataclass(frozen=True, slots=True)
class SessionFault:
    description: str
    #: Called with the bot's folder and the environment the run will see (which it may change).
    apply: Callable[[Path, MutableMapping[str, str]], None]


def _activate_kill_switch(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    riskclient.connect(bot_dir).activate_kill_switch("sandbox fault bot_killswitch_active")


def _remove_pid_file(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    (bot_dir / bot.PID_FILE).unlink()


def _remove_chat_id(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    env.pop("TELEGRAM_CHAT_ID", None)
    env_file = bot_dir.parent / ENV_FILE
    lines = env_file.read_text(encoding="utf-8").splitlines(keepends=True)
    env_file.write_text("".join(x for x in lines if not x.startswith("TELEGRAM_CHAT_ID=")), encoding="utf-8")


def _write_db(bot_dir: Path, sql: str) -> None:
    """Change the sandbox bot's own DB through a second writer, as a buggy bot or a manual edit would,
    once the bot has recorded the positions it opened."""
    bot.wait_for_positions(bot_dir)
    with contextlib.closing(sqlite3.connect(bot_dir / bot.DB_FILE, timeout=5.0, isolation_level=None)) as db:
        db.execute(sql)


def _corrupt_positions_db(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    # Replaced, not overwritten in place: the running bot keeps its open (now unlinked) file.
    write_atomic(bot_dir / bot.DB_FILE, b"\x00garbage, not an SQLite database\n" * 64)


def _negative_price(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    _write_db(bot_dir, "UPDATE positions SET avg_price = -avg_price WHERE symbol = 'BTCUSDT'")


def _close_without_audit(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    _write_db(bot_dir, "UPDATE positions SET status = 'closed' WHERE symbol = 'ETHUSDT'")


#: What fault ``risk_config_invalid`` writes: a config the bot would accept, with a loss limit per
#: trade above the daily one.
INVALID_RISK = {**bot.DEFAULT_RISK, "max_loss_per_trade_usdt": 2500.0}


def _invalid_risk_config(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    write_atomic(bot_dir / bot.RISK_FILE, bot.render_risk(INVALID_RISK).encode())


class LenientRiskManager:
    """Fault ``risk_manager_broken``: the bot's risk manager asked every order as if it were 1 USDT,
    so nothing ever exceeds max_position_usdt. The kill switch is the bot's own."""

    def __init__(self, inner: riskclient.RiskManagerClient) -> None:
        self._inner = inner

    @property
    def kill_switch_active(self) -> bool:
        return self._inner.kill_switch_active

    def activate_kill_switch(self, reason: str) -> None:
        self._inner.activate_kill_switch(reason)

    def deactivate_kill_switch(self, reason: str) -> None:
        self._inner.deactivate_kill_switch(reason)

    def validate_trade(self, symbol: str, side: str, quote_qty: float) -> tuple[bool, str]:
        return self._inner.validate_trade(symbol, side, min(float(quote_qty), 1.0))

    def close(self) -> None:
        self._inner.close()


def lenient_risk_manager() -> LenientRiskManager:
    """The ``READINESS_RISK_MANAGER`` factory fault ``risk_manager_broken`` points the run at."""
    return LenientRiskManager(riskclient.connect())


def _broken_risk_manager(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    env["READINESS_RISK_MANAGER"] = f"{__name__}:lenient_risk_manager"


def _world_readable_env_file(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    (bot_dir.parent / ENV_FILE).chmod(0o644)


def _commit_env_file(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    """Make the sandbox folder a git repository with its .env committed, as a careless deploy would."""
    folder = bot_dir.parent
    identity = ["-c", "user.name=sandbox", "-c", "user.email=sandbox@localhost", "-c", "commit.gpgsign=false"]
    for command in (["init", "-q"], ["add", ENV_FILE], [*identity, "commit", "-q", "-m", "deploy config"]):
        subprocess.run(["git", *command], cwd=folder, check=True, capture_output=True, timeout=10)


def _disk_nearly_full(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    """The host's disk cannot be filled safely; ask for more free space than there is instead."""
    env["READINESS_MIN_DISK_FREE_MB"] = str(int(host.disk_free_mb(bot_dir) * 2) + 1)


def _memory_short(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    """Likewise for memory: let the bot's RSS limit exceed what the host has available."""
    env["READINESS_MAX_RSS_MB"] = str(int(host.memory_available_mb() * 2) + 1)


FAULTS: dict[str, SessionFault] = {
    "env_file_world_readable": SessionFault(
        "the run's .env is readable by everyone, mode 644 (fails security.env_file_permissions)",
        _world_readable_env_file,
    ),
    "env_file_committed": SessionFault(
        "the sandbox folder is a git repository with .env committed (fails security.env_not_committed)",
        _commit_env_file,
    ),
    "host_disk_full": SessionFault(
        "READINESS_MIN_DISK_FREE_MB raised above the free space, as on a full disk (fails system.disk_space)",
        _disk_nearly_full,
    ),
    "host_memory_short": SessionFault(
        "READINESS_MAX_RSS_MB raised above the available memory (fails system.memory_available)",
        _memory_short,
    ),
    "bot_killswitch_active": SessionFault(
        "kill switch switched on once the bot runs (fails system.killswitch_inactive)", _activate_kill_switch
    ),
    "bot_pid_file_missing": SessionFault(
        "the bot's PID file deleted once the bot runs (fails system.required_files)", _remove_pid_file
    ),
    "env_incomplete": SessionFault(
        "TELEGRAM_CHAT_ID left out of the run's settings (fails env.config_complete; the checks that "
        "need the chat end skipped)",
        _remove_chat_id,
    ),
    "positions_db_corrupt": SessionFault(
        "the bot's positions.db replaced by garbage once the bot runs (fails positions.db_healthy; "
        "the checks reading the DB end blocked)",
        _corrupt_positions_db,
    ),
    "positions_negative_price": SessionFault(
        "the open BTCUSDT position's avg_price made negative in positions.db (fails positions.values_sane)",
        _negative_price,
    ),
    "tracker_audit_mismatch": SessionFault(
        "ETHUSDT marked closed in positions.db with no position_closed event in the audit trail "
        "(fails integration.tracker_audit_consistent)",
        _close_without_audit,
    ),
    "risk_config_invalid": SessionFault(
        "risk.toml rewritten once the bot runs with max_loss_per_trade_usdt above max_daily_loss_usdt "
        "(fails risk.config_valid; integration.risk_manager_contract ends blocked)",
        _invalid_risk_config,
    ),
    "risk_manager_broken": SessionFault(
        "READINESS_RISK_MANAGER points at a risk manager that allows a BUY above max_position_usdt "
        "(fails integration.risk_manager_contract)",
        _broken_risk_manager,
    ),
}
