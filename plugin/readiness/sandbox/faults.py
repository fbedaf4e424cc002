"""Faults the sandbox session applies from outside once the bot runs: to its files, its
settings or through its own interfaces. (Emulator and bot faults live with the emulators and
the bot.)"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from . import bot, riskclient


@dataclass(frozen=True, slots=True)
class SessionFault:
    description: str
    #: Called with the bot's folder and the environment the run will see (which it may change).
    apply: Callable[[Path, MutableMapping[str, str]], None]


def _activate_kill_switch(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    riskclient.connect(bot_dir).activate_kill_switch("sandbox fault bot_killswitch_active")


def _remove_pid_file(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    (bot_dir / bot.PID_FILE).unlink()


FAULTS: dict[str, SessionFault] = {
    "bot_killswitch_active": SessionFault(
        "kill switch switched on once the bot runs (fails system.killswitch_inactive)", _activate_kill_switch
    ),
    "bot_pid_file_missing": SessionFault(
        "the bot's PID file deleted once the bot runs (fails system.required_files)", _remove_pid_file
    ),
}
