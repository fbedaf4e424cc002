"""SIGTERM ends a run like Ctrl-C, and no signal tears a report while it is written."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest

_sigterm_key = pytest.StashKey[Any]()


def install_sigterm(config: pytest.Config) -> None:
    """Let SIGTERM end the run like Ctrl-C, so the reports are still written (incomplete)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    config.stash[_sigterm_key] = signal.signal(signal.SIGTERM, interrupt)


def restore_sigterm(config: pytest.Config) -> None:
    previous = config.stash.get(_sigterm_key, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def held() -> Generator[list[int], None, None]:
    """Hold Ctrl-C and SIGTERM while the reports are written or the sandbox stops, so an
    impatient second signal cannot tear a report or orphan the bot; yields what arrived."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        arrived.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield arrived
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
