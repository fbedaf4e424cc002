"""Writing init's files: ``.env`` private from its first byte, nothing an operator wrote replaced.

Each file is written whole to a temp file beside it and renamed into place, so no reader (and
no interrupted run) ever sees half of one. Without ``--force`` the rename is a hard link, which
fails if the name was taken meanwhile: an existing file is never replaced, not even by a race.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import attestations
from ..report.files import write_atomic

ENV = ".env"
CONFIG = "readiness.toml"
WAIVERS = "readiness-waivers.toml"
ATTESTATIONS = attestations.DEFAULT_FILE


@dataclass(frozen=True, slots=True)
class Planned:
    path: Path
    text: str
    mode: int


def _write_new(path: Path, data: bytes, mode: int) -> bool:
    """Create ``path`` with ``data`` unless it exists (False then); the temp file never stays."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.init.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return True


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ctrl-C waits until the files are written: they take milliseconds, half of them is worse."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def write(planned: list[Planned], *, force: bool) -> list[tuple[Path, bool]]:
    """Write each file; return (path, written) pairs, False where an existing file was kept."""
    done: list[tuple[Path, bool]] = []
    with _uninterrupted():
        for item in planned:
            data = item.text.encode("utf-8")
            if force:
                write_atomic(item.path, data, mode=item.mode)
                os.chmod(item.path, item.mode)  # as asked, whatever the umask
                done.append((item.path, True))
            else:
                done.append((item.path, _write_new(item.path, data, item.mode)))
    return done
