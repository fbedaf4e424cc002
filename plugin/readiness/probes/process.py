"""The bot's running process (psutil): alive, not a zombie, RSS, uptime.

The process is found through its PID file, or, for a bot that writes none but logs its PID in a
heartbeat line (freqtrade), through the newest such line of its log.

Alive means the PID names an existing process that has not exited: a *stopped* process (SIGSTOP,
a debugger) is alive, and its stall shows where it belongs, in ``deploy.recent_activity``. A PID
file older than the process it names is stale (the PID was reused by another program after the
bot died). The PID file is only read, never rewritten or removed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psutil

from ..profiles.names import BotNames
from ..settings import Settings
from .logs import file_problem, newest_heartbeat

MB: Final = 1024 * 1024
#: psutil's create_time and a file's mtime come from different clocks; a PID is only judged reused
#: when its process started this much later than the PID file was written.
REUSE_TOLERANCE_S: Final = 5.0
#: A PID file is a number and a newline; more than this is not a PID file.
MAX_PID_FILE_BYTES: Final = 4096
PID_MAX: Final = 1 << 22  # Linux's upper limit (/proc/sys/kernel/pid_max)


@dataclass(frozen=True, slots=True)
class PidSource:
    """Where the bot's PID was read (``where``, for messages) and when that source was written."""

    where: str
    pid: int | None = None
    written: float | None = None
    problem: str | None = None


def from_pid_file(pid_file: Path) -> PidSource:
    pid, problem = read_pid(pid_file)
    where = f"PID file {pid_file}"
    if pid is None:
        return PidSource(where, problem=problem)
    try:
        written: float | None = pid_file.stat().st_mtime
    except OSError:
        written = None
    return PidSource(where, pid, written)


def locate(settings: Settings, names: BotNames) -> PidSource | None:
    """The PID file when one is set, else the bot's newest heartbeat line; None: neither is set."""
    if settings.pid_file is not None:
        return from_pid_file(settings.pid_file)
    if names.log_heartbeat is None or settings.log_file is None:
        return None
    beat = newest_heartbeat(settings.log_file, names.log_heartbeat)
    if beat.problem:
        return PidSource(f"log file {settings.log_file}", problem=f"{beat.problem}: the bot is not running")
    if beat.pid is None:
        return PidSource(beat.where(), problem=f"{beat.where()} names no PID")
    return PidSource(beat.where(), beat.pid, beat.at)


def settings_to_locate(names: BotNames) -> tuple[str, ...]:
    """What to set so :func:`locate` finds the bot (for a skip naming it)."""
    return ("pid_file",) if names.log_heartbeat is None else ("pid_file", "log_file")


@dataclass(frozen=True, slots=True)
class ProcessState:
    """What the PID source leads to; ``problem`` says, naming the source, why the bot is not running."""

    where: str
    pid: int | None = None
    problem: str | None = None
    name: str = ""
    status: str = ""
    uptime_s: float | None = None
    rss_mb: float | None = None
    rss_problem: str | None = None  # why the RSS could not be read (the process itself is fine)


def read_pid(pid_file: Path) -> tuple[int | None, str | None]:
    """(pid, None) or (None, a message naming the file)."""
    problem = file_problem(pid_file, "PID file")
    if problem:
        return None, f"{problem}: the bot is not running, or writes its PID elsewhere"
    try:
        with open(pid_file, "rb") as f:
            raw = f.read(MAX_PID_FILE_BYTES + 1)
    except OSError as exc:
        return None, f"PID file {pid_file} cannot be read ({exc.strerror or exc})"
    text = raw.strip()
    if not text:
        return None, f"PID file {pid_file} is empty: the bot did not finish writing it, or is not running"
    if len(raw) > MAX_PID_FILE_BYTES or not text.isdigit():
        shown = text[:24].decode("utf-8", "backslashreplace")
        return None, f"PID file {pid_file} does not hold a process id (it starts with {shown!r})"
    pid = int(text)
    if not 0 < pid < PID_MAX:
        return None, f"PID file {pid_file} holds {pid}, which is not a valid process id"
    return pid, None


def inspect(source: PidSource, *, now: float | None = None) -> ProcessState:
    """Follow the PID source to its process and read its state, RSS and uptime."""
    where, pid = source.where, source.pid
    if pid is None:
        return ProcessState(where, problem=source.problem)
    stale = " without removing it (stale PID file)" if where.startswith("PID file") else ""
    gone = f"{where} names pid {pid}, but no such process is running: the bot stopped{stale}"
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            status = process.status()
            name = process.name()
            created = process.create_time()
    except psutil.NoSuchProcess:
        return ProcessState(where, pid, gone)
    except psutil.AccessDenied:
        return ProcessState(where, pid, f"pid {pid} from {where}: access denied by the OS")
    if status == psutil.STATUS_ZOMBIE:
        return ProcessState(
            where,
            pid,
            f"pid {pid} ({name}) from {where} is a zombie: it exited and its parent has not "
            "reaped it; the bot is not running",
            name=name,
            status=status,
        )
    written = created if source.written is None else source.written
    if created > written + REUSE_TOLERANCE_S:
        return ProcessState(
            where,
            pid,
            f"{where} names pid {pid}, now a different process ({name}) that started "
            f"{created - written:.0f} s after it was written: the bot died and its PID was reused",
            name=name,
            status=status,
        )
    uptime = max(0.0, (time.time() if now is None else now) - created)
    try:
        rss_mb: float | None = process.memory_info().rss / MB
        rss_problem = None
    except psutil.AccessDenied:
        rss_mb, rss_problem = None, f"the OS denies reading the memory of pid {pid} ({name})"
    except psutil.NoSuchProcess:
        return ProcessState(where, pid, gone)
    return ProcessState(where, pid, None, name, status, uptime, rss_mb, rss_problem)
