"""The request journal: every request an emulator received, across processes, readable after a run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from ...probes.binance import USER_AGENT as HARNESS_USER_AGENT

#: When set, every emulator appends each request it receives to this file as one JSON line
#: (``method``, ``path``, ``status``, ``user_agent``, ``harness``, ``pid``, ``tag``), across
#: processes: an audit of everything a harness or bot sent, readable after the run.
REQUEST_LOG_ENV = "READINESS_SANDBOX_REQUEST_LOG"


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it; ``status`` is None when it never answered."""

    method: str
    path: str
    query: str
    body: str
    time: float
    status: int | None
    user_agent: str = ""
    #: Who the emulator serves, when its owner said (a test serving its own emulator says so).
    tag: str = ""

    @property
    def harness(self) -> bool:
        """Whether the harness sent it: its requests name it in their User-Agent, a bot's do not."""
        return self.user_agent == HARNESS_USER_AGENT

    def journal_line(self) -> bytes:
        """The record as one line of the :data:`REQUEST_LOG_ENV` journal (query and body left out)."""
        entry = {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "time": self.time,
            "user_agent": self.user_agent,
            "harness": self.harness,
            "pid": os.getpid(),
            "tag": self.tag,
        }
        return json.dumps(entry).encode() + b"\n"


def append(path: str, line: bytes) -> None:
    """One ``O_APPEND`` write per line, so emulators in several processes can share one journal."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
