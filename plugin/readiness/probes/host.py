"""The machine the bot runs on: disk, memory, and the bot's files (psutil and the filesystem)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileState:
    path: Path
    problem: str | None  # None when it exists and can be read


def disk_free_mb(path: Path) -> float:
    """Free space of the filesystem holding ``path`` (its nearest existing ancestor)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free / MB
    return shutil.disk_usage(Path.cwd()).free / MB


def memory_available_mb() -> float:
    return float(psutil.virtual_memory().available) / MB


def file_state(path: Path) -> FileState:
    """Whether the file exists and this process may read it, without opening it for writing."""
    try:
        if not path.exists():
            return FileState(path, "does not exist")
        if path.is_dir():
            return FileState(path, "is a folder, not a file")
        if not os.access(path, os.R_OK):
            return FileState(path, "is not readable by this user")
    except OSError as exc:  # e.g. a symlink loop
        return FileState(path, f"cannot be checked ({exc.strerror or exc})")
    return FileState(path, None)


def file_states(paths: Iterable[Path]) -> list[FileState]:
    return [file_state(path) for path in paths]
