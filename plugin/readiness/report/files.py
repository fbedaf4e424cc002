"""Writing report files so that a reader never sees a torn one."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

HISTORY_TAIL_BYTES = 256 * 1024


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` whole: a reader, a crash or a SIGKILL sees the old file or the
    new one, never a torn one (temp file beside it, fsync, rename, fsync of the folder). The temp
    file is created with ``mode`` (less the umask), so a private file is never readable by others;
    the rename replaces a symlink at ``path`` itself, never its target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def append_history(path: Path, entry: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n")


def read_history(path: Path, limit: int, **match: Any) -> list[dict[str, Any]]:
    """The last ``limit`` well-formed entries whose fields equal ``match`` (e.g. the same target
    and phases), reading only the file's tail."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - HISTORY_TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return []
    lines = tail.splitlines()
    if size > HISTORY_TAIL_BYTES:
        lines = lines[1:]  # the first line is probably cut
    entries = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and all(entry.get(k) == v for k, v in match.items()):
            entries.append(entry)
    return entries[-limit:]
