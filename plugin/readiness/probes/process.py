"""The bot's running process, found through its PID file (psutil): alive, not a zombie, RSS, uptime.

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

from .logs import file_problem

MB: Final = 1024 * 1024
#: psutil's create_time and a file's mtime come from different clocks; a PID is only judged reused
#: when its process started this much later than the PID file was written.
REUSE_TOLERANCE_S: Final = 5.0
#: A PID file is a number and a newline; more than this is not a PID file.
MAX_PID_FILE_BYTES: Final = 4096
PID_MAX: Final = 1 << 22  # Linux's upper limit (/proc/sys/kernel/pid_max)


@dataclass(frozen=True, slots=True)
class ProcessState:
    """What the PID file leads to; ``problem`` says, naming the file, why the bot is not running."""

    pid_file: Path
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


def inspect(pid_file: Path, *, now: float | None = None) -> ProcessState:
    """Follow the PID file to its process and read its state, RSS and uptime."""
    pid, problem = read_pid(pid_file)
    if pid is None:
        return ProcessState(pid_file, problem=problem)
    gone = (
        f"PID file {pid_file} names pid {pid}, but no such process is running: "
        "the bot stopped without removing it (stale PID file)"
    )
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            status = process.status()
            name = process.name()
            created = process.create_time()
    except psutil.NoSuchProcess:
        return ProcessState(pid_file, pid, gone)
    except psutil.AccessDenied:
        return ProcessState(pid_file, pid, f"pid {pid} from PID file {pid_file}: access denied by the OS")
    if status == psutil.STATUS_ZOMBIE:
        return ProcessState(
            pid_file,
            pid,
            f"pid {pid} ({name}) from PID file {pid_file} is a zombie: it exited and its parent has not "
            "reaped it; the bot is not running",
            name=name,
            status=status,
        )
    try:
        written = pid_file.stat().st_mtime
    except OSError:
        written = created
    if created > written + REUSE_TOLERANCE_S:
        return ProcessState(
            pid_file,
            pid,
            f"PID file {pid_file} names pid {pid}, now a different process ({name}) that started "
            f"{created - written:.0f} s after the file was written: the bot died and its PID was reused",
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
        return ProcessState(pid_file, pid, gone)
    return ProcessState(pid_file, pid, None, name, status, uptime, rss_mb, rss_problem)
