"""Builders for audit trails used by the audit tests (plain functions: hypothesis-friendly)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

ZERO = "0" * 64


def record(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "seq": i,
        "timestamp": f"2025-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}+00:00",
        "event": "api_call",
        "latency_ms": 10 + i,
        **extra,
    }


def chain(records: list[dict[str, Any]], *, chained: bool = True) -> list[bytes]:
    """Serialise records into lines (without newline), filling prev_sha256 when chained."""
    out: list[bytes] = []
    prev = ZERO
    for rec in records:
        if chained:
            rec = {**rec, "prev_sha256": prev}
        line = json.dumps(rec, separators=(",", ":")).encode()
        prev = hashlib.sha256(line).hexdigest()
        out.append(line)
    return out


def trail(n: int, *, chained: bool = True, start: int = 1) -> list[bytes]:
    return chain([record(i) for i in range(start, start + n)], chained=chained)


def join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def sha(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()
