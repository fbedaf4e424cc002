"""The machine the bot runs on: disk, memory, and the bot's files (psutil and the filesystem)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from .files import path_problem

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
    return FileState(path, path_problem(path))


def file_states(paths: Iterable[Path]) -> list[FileState]:
    return [file_state(path) for path in paths]
