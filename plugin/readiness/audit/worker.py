"""Worker process: ``python -m readiness.audit.worker`` scans byte ranges of a trail.

A plain subprocess rather than multiprocessing: it needs no importable ``__main__`` (stdin,
REPL, console scripts all work), inherits no threads or locks from the parent (fork-safety),
and never makes the parent re-import anything. Request and reply are msgpack on stdin/stdout.
"""

from __future__ import annotations

import sys

import msgspec

from .model import AuditConfig
from .scan import Part, scan_file_range


class Request(msgspec.Struct):
    path: str
    spans: list[tuple[int, int]]
    config: AuditConfig
    digest: bool


def main() -> int:
    req = msgspec.msgpack.decode(sys.stdin.buffer.read(), type=Request)
    parts: list[Part] = [scan_file_range(req.path, a, b, req.config, req.digest) for a, b in req.spans]
    sys.stdout.buffer.write(msgspec.msgpack.encode(parts))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
