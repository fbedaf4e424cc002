"""Data types shared by the audit-trail validator, its checkpoint and the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

import msgspec

ZERO_HASH: Final = "0" * 64

ErrorKind = Literal[
    "utf8",
    "json",
    "not_object",
    "field",
    "blank",
    "crlf",
    "too_long",
    "torn",
    "seq_gap",
    "seq_duplicate",
    "seq_order",
    "seq_missing",
    "timestamp_order",
    "chain_mismatch",
    "chain_missing",
]

#: Kinds that make a line unreadable as a JSONL record (``audit.jsonl_valid``).
FORMAT_KINDS: Final[frozenset[str]] = frozenset(
    {"utf8", "json", "not_object", "field", "blank", "crlf", "too_long", "torn"}
)
#: Kinds about the ``seq`` field (``audit.sequence_intact``).
SEQUENCE_KINDS: Final[frozenset[str]] = frozenset({"seq_gap", "seq_duplicate", "seq_order", "seq_missing"})
#: Kinds about time order.
TIMESTAMP_KINDS: Final[frozenset[str]] = frozenset({"timestamp_order"})
#: Kinds about the ``prev_sha256`` chain (``audit.hash_chain_intact``).
CHAIN_KINDS: Final[frozenset[str]] = frozenset({"chain_mismatch", "chain_missing"})

# Order of errors on the same line, so that every code path (serial, parallel, incremental)
# yields the same list: line ending, then the line's own format, then its links to the
# previous line (seq, time, chain).
RANK: Final[Mapping[str, int]] = {
    "crlf": 0,
    "utf8": 1,
    "json": 1,
    "not_object": 1,
    "field": 1,
    "blank": 1,
    "too_long": 1,
    "torn": 1,
    "seq_gap": 2,
    "seq_duplicate": 2,
    "seq_order": 2,
    "seq_missing": 2,
    "timestamp_order": 3,
    "chain_mismatch": 4,
    "chain_missing": 4,
}


class AuditError(msgspec.Struct, frozen=True):
    """One problem: 1-based physical line number, a machine-readable kind, a short reason."""

    line: int
    kind: str
    reason: str

    def key(self) -> tuple[int, int]:
        return (self.line, RANK[self.kind])

    def shifted(self, by: int) -> AuditError:
        return self if by == 0 else AuditError(self.line + by, self.kind, self.reason)


class Tail(msgspec.Struct, frozen=True):
    """What the next line is compared with: the last non-blank, complete line seen.

    ``start`` means no line yet (the next line is the file's first, whose ``prev_sha256``
    must be 64 zeros). ``seq``/``ts`` are None when the line had none or could not be read;
    the next line then is not compared on that field (the check resynchronises).
    """

    start: bool
    hash: str
    seq: int | None
    ts: float | None
    chained: bool


START: Final = Tail(start=True, hash=ZERO_HASH, seq=None, ts=None, chained=False)


class LineInfo(msgspec.Struct, frozen=True):
    """The fields of one line that take part in the comparisons with its predecessor."""

    line: int
    ok: bool
    seq: int | None
    ts: float | None
    prev: str | None


@dataclasses.dataclass(frozen=True)
class AuditConfig:
    """Field names and limits. Every name is configurable.

    ``max_line_bytes`` bounds memory: a longer line is reported (``too_long``), hashed in
    pieces so the chain still links, and not parsed. ``block_size`` is the read size.
    ``workers`` None picks ``min(2, cpu_count)``; files below ``parallel_min_bytes`` are
    checked in-process because starting workers costs more than it saves there.
    """

    timestamp_field: str = "timestamp"
    event_field: str = "event"
    seq_field: str = "seq"
    hash_field: str = "prev_sha256"
    max_errors: int = 100
    max_errors_per_kind: int = 10
    max_line_bytes: int = 64 << 20
    block_size: int = 512 << 10
    workers: int | None = None
    parallel_min_bytes: int = 64 << 20

    def fingerprint(self) -> str:
        """Digest of the settings that change the verdict (a checkpoint is only reused on a match)."""
        key = (
            f"{self.timestamp_field}\0{self.event_field}\0{self.seq_field}\0{self.hash_field}"
            f"\0{self.max_errors}\0{self.max_errors_per_kind}\0{self.max_line_bytes}"
        )
        return hashlib.sha256(key.encode()).hexdigest()


@dataclasses.dataclass(frozen=True)
class AuditResult:
    """Outcome of validating one trail.

    ``errors`` holds the first ``max_errors`` problems in file order; ``error_count`` and
    ``error_counts`` (per kind) are exact. ``errors_by_kind`` keeps the first few of every
    kind, so a check about one aspect (say the chain) can name its first bad lines even when
    other kinds filled ``errors``. ``chained`` is False when no line carries ``prev_sha256``
    (the chain check is then not applicable); ``sequenced`` likewise for ``seq``.
    ``bytes_parsed`` is what this run actually read and parsed (less than ``bytes`` when a
    checkpoint covered the prefix).
    """

    path: str
    lines: int
    bytes: int
    errors: tuple[AuditError, ...]
    error_count: int
    error_counts: Mapping[str, int]
    errors_by_kind: Mapping[str, tuple[AuditError, ...]]
    torn_last_line: bool
    chained: bool
    sequenced: bool
    bytes_parsed: int
    incremental: bool
    checkpoint: str
    seconds: float

    @property
    def valid(self) -> bool:
        return self.error_count == 0

    def count_of(self, kinds: Iterable[str]) -> int:
        """Exact number of errors of the given kinds."""
        return sum(self.error_counts.get(k, 0) for k in kinds)

    def first_of(self, kinds: Iterable[str], limit: int = 5) -> list[AuditError]:
        """The first ``limit`` errors of the given kinds, in file order."""
        found = [e for k in kinds for e in self.errors_by_kind.get(k, ())]
        return sorted(found, key=AuditError.key)[:limit]

    def describe(self, kinds: Iterable[str] | None = None, limit: int = 3) -> str:
        """One line for a check's message: the file, the count and the first bad lines."""
        chosen = list(self.error_counts) if kinds is None else list(kinds)
        count = self.count_of(chosen)
        if count == 0:
            return f"{self.path}: no problems in {self.lines} lines"
        first = "; ".join(f"line {e.line}: {e.reason}" for e in self.first_of(chosen, limit))
        more = f" (+{count - limit} more)" if count > limit else ""
        return f"{self.path}: {count} problem(s): {first}{more}"

    def to_json(self) -> dict[str, Any]:
        """The ``readiness audit --json`` object (``path``, ``lines``, ``bytes``, ``valid``, ``errors``,
        ``seconds``) plus the extra fields below it."""
        return {
            "path": self.path,
            "lines": self.lines,
            "bytes": self.bytes,
            "valid": self.valid,
            "errors": [{"line": e.line, "reason": e.reason, "kind": e.kind} for e in self.errors],
            "seconds": round(self.seconds, 6),
            "error_count": self.error_count,
            "error_counts": dict(sorted(self.error_counts.items())),
            "torn_last_line": self.torn_last_line,
            "chained": self.chained,
            "sequenced": self.sequenced,
            "incremental": self.incremental,
            "bytes_parsed": self.bytes_parsed,
            "checkpoint": self.checkpoint,
        }
