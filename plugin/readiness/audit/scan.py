"""Line checks, the per-range scanner and the seam stitching.

A trail is cut into byte ranges at newline boundaries. Each range is scanned on its own,
without knowing the line before it: its first non-blank line (the *head*) is left unlinked and
the range reports the state of its last line (the *tail*). :func:`stitch` then links every head
to the preceding tail with the same :func:`link` function the scanner uses inside a range, so a
serial run (one range), a parallel run (many) and an incremental run (a checkpointed prefix plus
one range) produce identical results whatever the seam positions.

Inside a range, data is read in blocks of ``block_size`` bytes cut at the last newline. A block
first tries the fast path: the whole block decoded at once by msgspec into a typed struct and
checked with list-level comparisons (C loops). Any irregularity sends the block through the
per-line slow path, which is the reference behaviour and produces the precise errors.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from typing import Annotated, Any, BinaryIO, Final

import msgspec

from .model import RANK, START, ZERO_HASH, AuditConfig, AuditError, LineInfo, Tail

#: Bytes per prefix digest in a checkpoint (a segment also ends where a range ends).
SEGMENT_BYTES: Final = 32 << 20

_sha256 = hashlib.sha256
_TzDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
_generic = msgspec.json.Decoder()
_FIRST = operator.itemgetter(0)
_LAST = operator.itemgetter(-1)
_BYTE_AT = re.compile(r"\(byte (\d+)\)")


class Segment(msgspec.Struct, frozen=True, array_like=True):
    """SHA-256 of the file bytes ``[start, end)``; the prefix digest of a checkpoint."""

    start: int
    end: int
    sha256: str


class Part(msgspec.Struct):
    """What scanning one range yields. Line numbers are relative: 1 is the range's first line."""

    lines: int
    complete_bytes: int
    torn: bool
    head: LineInfo | None
    tail: Tail | None
    errors: list[AuditError]
    by_kind: dict[str, list[AuditError]]
    counts: dict[str, int]
    chained: bool
    sequenced: bool
    segments: list[Segment]


class ErrorSink:
    """Counts every error exactly and keeps the first few overall and per kind."""

    __slots__ = ("by_kind", "counts", "errors", "kind_cap", "total_cap")

    def __init__(self, total_cap: int, kind_cap: int) -> None:
        self.total_cap = total_cap
        self.kind_cap = kind_cap
        self.errors: list[AuditError] = []
        self.by_kind: dict[str, list[AuditError]] = {}
        self.counts: dict[str, int] = {}

    def add(self, line: int, kind: str, reason: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        kept = self.by_kind.setdefault(kind, [])
        if len(self.errors) < self.total_cap or len(kept) < self.kind_cap:
            err = AuditError(line, kind, reason)
            if len(self.errors) < self.total_cap:
                self.errors.append(err)
            if len(kept) < self.kind_cap:
                kept.append(err)

    def merge(
        self,
        errors: Iterable[AuditError],
        by_kind: dict[str, list[AuditError]],
        counts: dict[str, int],
        shift: int,
        extra: Sequence[AuditError] = (),
    ) -> None:
        """Append a later part's errors (shifted to absolute lines) plus its seam errors."""
        for kind, n in counts.items():
            self.counts[kind] = self.counts.get(kind, 0) + n
        for e in extra:
            self.counts[e.kind] = self.counts.get(e.kind, 0) + 1
        if len(self.errors) < self.total_cap:
            merged = sorted([e.shifted(shift) for e in errors] + list(extra), key=AuditError.key)
            self.errors.extend(merged[: self.total_cap - len(self.errors)])
        kinds = set(by_kind) | {e.kind for e in extra}
        for kind in sorted(kinds):
            kept = self.by_kind.setdefault(kind, [])
            if len(kept) >= self.kind_cap:
                continue
            more = [e.shifted(shift) for e in by_kind.get(kind, ())]
            more += [e for e in extra if e.kind == kind]
            more.sort(key=AuditError.key)
            kept.extend(more[: self.kind_cap - len(kept)])


def _fmt_ts(ts: float) -> str:
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return repr(ts)


def link(prev: Tail, cur: LineInfo) -> list[AuditError]:
    """Compare a readable line with the last non-blank line before it (seq, time, chain)."""
    out: list[AuditError] = []
    if not cur.ok:
        return out
    ln = cur.line
    if cur.seq is not None:
        if prev.seq is not None and cur.seq != prev.seq + 1:
            expected = prev.seq + 1
            if cur.seq > expected:
                reason = f"seq gap: expected {expected}, got {cur.seq} ({cur.seq - expected} missing)"
                out.append(AuditError(ln, "seq_gap", reason))
            elif cur.seq == prev.seq:
                out.append(AuditError(ln, "seq_duplicate", f"seq duplicate: {cur.seq} repeated"))
            else:
                reason = f"seq out of order: expected {expected}, got {cur.seq}"
                out.append(AuditError(ln, "seq_order", reason))
    elif prev.seq is not None:
        reason = f"seq missing (previous line has seq {prev.seq})"
        out.append(AuditError(ln, "seq_missing", reason))
    if cur.ts is not None and prev.ts is not None and cur.ts < prev.ts:
        reason = f"timestamp goes backwards: {_fmt_ts(cur.ts)} < previous {_fmt_ts(prev.ts)}"
        out.append(AuditError(ln, "timestamp_order", reason))
    if cur.prev is not None:
        if prev.start:
            if cur.prev != ZERO_HASH:
                reason = "prev_sha256 of the first line must be 64 zeros"
                out.append(AuditError(ln, "chain_mismatch", reason))
        elif cur.prev != prev.hash:
            reason = "prev_sha256 does not match the SHA-256 of the previous line"
            out.append(AuditError(ln, "chain_mismatch", reason))
    elif prev.chained:
        reason = "prev_sha256 missing (the previous line is chained)"
        out.append(AuditError(ln, "chain_missing", reason))
    return out


@lru_cache(maxsize=16)
def _decoder(ts: str, event: str, seq: str, prev: str) -> msgspec.json.Decoder[Any]:
    """A typed decoder for the configured field names; unknown fields are skipped unparsed."""
    record = msgspec.defstruct(
        "AuditRecord",
        [
            ("ts", _TzDatetime | float),
            ("event", str),
            ("seq", int | None, None),
            ("prev", str | None, None),
        ],
        rename={"ts": ts, "event": event, "seq": seq, "prev": prev},
        gc=False,
    )
    return msgspec.json.Decoder(record)


def _as_float(ts: datetime | float) -> float:
    return ts.timestamp() if isinstance(ts, datetime) else ts


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class _LineError(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class Scanner:
    """Scans one range, block by block. See the module docstring for the fast/slow split."""

    def __init__(self, cfg: AuditConfig, digest: bool) -> None:
        self.cfg = cfg
        self.decoder = _decoder(cfg.timestamp_field, cfg.event_field, cfg.seq_field, cfg.hash_field)
        self.sink = ErrorSink(cfg.max_errors, cfg.max_errors_per_kind)
        self.line = 0
        self.prev: Tail | None = None
        self.head: LineInfo | None = None
        self.chained = False
        self.sequenced = False
        self.torn = False
        self.complete_bytes = 0
        self.digest = digest
        self.segments: list[Segment] = []
        self._seg_start = 0
        self._seg_hash = _sha256()

    # -- byte accounting and prefix digests -------------------------------------------------
    def _consumed(self, data: bytes) -> None:
        if self.digest:
            self._seg_hash.update(data)
        self.complete_bytes += len(data)

    def close_segment(self, base: int) -> None:
        if self.digest and self.complete_bytes > self._seg_start:
            self.segments.append(
                Segment(base + self._seg_start, base + self.complete_bytes, self._seg_hash.hexdigest())
            )
            self._seg_start = self.complete_bytes
            self._seg_hash = _sha256()

    def maybe_close_segment(self, base: int) -> None:
        if self.complete_bytes - self._seg_start >= SEGMENT_BYTES:
            self.close_segment(base)

    # -- state ----------------------------------------------------------------------------
    def _advance(self, info: LineInfo, line_hash: str) -> None:
        if self.prev is None:
            if self.head is None:
                self.head = info
        else:
            for e in link(self.prev, info):
                self.sink.add(e.line, e.kind, e.reason)
        self.prev = Tail(
            start=False,
            hash=line_hash,
            seq=info.seq,
            ts=info.ts,
            chained=info.prev is not None,
        )
        if info.seq is not None:
            self.sequenced = True
        if info.prev is not None:
            self.chained = True

    # -- slow path: the reference behaviour -----------------------------------------------
    def _fields(self, raw: bytes) -> tuple[int | None, float, str | None]:
        if not raw.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _LineError("utf8", f"invalid UTF-8 at byte {exc.start + 1}") from None
        try:
            rec = self.decoder.decode(raw)
        except msgspec.DecodeError:
            return self._diagnose(raw)
        return rec.seq, _as_float(rec.ts), rec.prev

    def _diagnose(self, raw: bytes) -> tuple[int | None, float, str | None]:
        """Explain why the typed decode failed, accepting ISO-8601 forms msgspec does not."""
        cfg = self.cfg
        try:
            obj = _generic.decode(raw)
        except msgspec.DecodeError as exc:
            msg = str(exc).removeprefix("JSON is malformed: ")
            msg = _BYTE_AT.sub(lambda m: f"(column {int(m[1]) + 1})", msg)
            raise _LineError("json", f"invalid JSON: {msg}") from None
        if not isinstance(obj, dict):
            raise _LineError("not_object", f"expected a JSON object, got {type(obj).__name__}")
        missing = [f for f in (cfg.timestamp_field, cfg.event_field) if f not in obj]
        if missing:
            raise _LineError("field", f"missing required field '{missing[0]}'")
        ts = self._timestamp(obj[cfg.timestamp_field])
        if not isinstance(obj[cfg.event_field], str):
            raise _LineError("field", f"field '{cfg.event_field}' must be a string")
        seq = obj.get(cfg.seq_field)
        if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool)):
            raise _LineError("field", f"field '{cfg.seq_field}' must be an integer")
        prev = obj.get(cfg.hash_field)
        if prev is not None and not isinstance(prev, str):
            raise _LineError("field", f"field '{cfg.hash_field}' must be a string")
        return seq, ts, prev

    def _timestamp(self, value: object) -> float:
        name = self.cfg.timestamp_field
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:
                pass
        elif isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise _LineError("field", f"field '{name}' is not ISO-8601: {_short(value)}") from None
            if parsed.utcoffset() is None:
                raise _LineError("field", f"field '{name}' has no UTC offset: {_short(value)}")
            return parsed.timestamp()
        raise _LineError(
            "field", f"field '{name}' must be an ISO-8601 string or epoch seconds, got {_short(value)}"
        )

    def _line(self, raw: bytes) -> None:
        self.line += 1
        ln = self.line
        sink = self.sink
        if raw.endswith(b"\r"):
            sink.add(ln, "crlf", "CRLF line ending (the trail must use LF)")
            raw = raw[:-1]
        if len(raw) > self.cfg.max_line_bytes:
            self.long_line(_sha256(raw).hexdigest(), len(raw), counted=True)
            return
        if not raw.strip():
            sink.add(ln, "blank", "blank line")
            return
        try:
            seq, ts, prev = self._fields(raw)
        except _LineError as exc:
            sink.add(ln, exc.kind, exc.reason)
            info = LineInfo(ln, False, None, None, None)
        else:
            info = LineInfo(ln, True, seq, ts, prev)
        self._advance(info, _sha256(raw).hexdigest())

    def long_line(self, line_hash: str, length: int, *, counted: bool = False) -> None:
        """A line over ``max_line_bytes``: reported, not parsed, still part of the chain."""
        if not counted:
            self.line += 1
        reason = f"line of {length} bytes exceeds the {self.cfg.max_line_bytes}-byte limit"
        self.sink.add(self.line, "too_long", reason)
        self._advance(LineInfo(self.line, False, None, None, None), line_hash)

    def torn_line(self) -> None:
        self.line += 1
        self.torn = True
        self.sink.add(self.line, "torn", "torn last line: no trailing newline (interrupted write)")

    # -- fast path ----------------------------------------------------------------------------
    def block(self, buf: bytes) -> None:
        """Scan complete lines (``buf`` ends with a newline)."""
        self._consumed(buf)
        if not self._fast(buf):
            lines = buf.split(b"\n")
            lines.pop()
            for raw in lines:
                self._line(raw)

    def _fast(self, buf: bytes) -> bool:
        """Accept a block only if it is provably error-free inside; else the slow path runs."""
        if len(buf) > self.cfg.max_line_bytes or buf[0] != 0x7B or buf[-2] != 0x7D or b"\r" in buf:
            return False
        if not buf.isascii():
            try:
                buf.decode("utf-8")
            except UnicodeDecodeError:
                return False
        try:
            recs = self.decoder.decode_lines(buf)
        except msgspec.DecodeError:
            return False
        if not recs:
            return False
        prevs = [r.prev for r in recs]
        lines: list[bytes] = []
        if prevs[0] is None:
            n = buf.count(b"\n")
        else:
            lines = buf.split(b"\n")
            lines.pop()
            n = len(lines)
        # Every line is "{...}" and yields one object: with no raw newline allowed inside a
        # JSON string, n objects over n such lines can only be one object per line.
        if len(recs) != n:
            return False
        if lines:
            try:
                if bytes(map(_FIRST, lines)).count(b"{") != n or bytes(map(_LAST, lines)).count(b"}") != n:
                    return False
            except IndexError:  # an empty line
                return False
        elif buf.count(b"}\n{") != n - 1:
            return False
        stamps = [r.ts for r in recs]
        try:
            if not all(map(operator.le, stamps, islice(stamps, 1, None))):
                return False
        except TypeError:  # datetimes mixed with epoch numbers: compare as floats, slowly
            return False
        seqs = [r.seq for r in recs]
        first_seq = seqs[0]
        if first_seq is None:
            if seqs.count(None) != n:
                return False
        elif seqs != list(range(first_seq, first_seq + n)):
            return False
        if prevs[0] is None:
            if prevs.count(None) != n:
                return False
            last_start = buf.rfind(b"\n", 0, len(buf) - 1) + 1
            last_hash = _sha256(buf[last_start:-1]).hexdigest()
        else:
            if None in prevs:
                return False
            sha = _sha256
            hashes = [sha(x).hexdigest() for x in lines]
            if prevs[1:] != hashes[:-1]:
                return False
            last_hash = hashes[-1]
        first = LineInfo(self.line + 1, True, first_seq, _as_float(stamps[0]), prevs[0])
        self._advance(first, "")  # links the first line; the tail is replaced just below
        self.line += n
        self.prev = Tail(
            start=False,
            hash=last_hash,
            seq=seqs[-1],
            ts=_as_float(stamps[-1]),
            chained=prevs[-1] is not None,
        )
        return True

    def part(self, base: int) -> Part:
        self.close_segment(base)
        return Part(
            lines=self.line,
            complete_bytes=self.complete_bytes,
            torn=self.torn,
            head=self.head,
            tail=self.prev,
            errors=self.sink.errors,
            by_kind=self.sink.by_kind,
            counts=self.sink.counts,
            chained=self.chained,
            sequenced=self.sequenced,
            segments=self.segments,
        )


class _LongLine:
    """Hashes an over-long line piecewise, holding back one byte to drop a CR before the LF.

    Its bytes join the prefix digest only once the newline arrives: a torn long line must
    stay out of a checkpoint like any torn line.
    """

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner
        self.hash = _sha256()
        self.segment = scanner._seg_hash.copy()
        self.length = 0
        self.pending = b""

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self.scanner.digest:
            self.segment.update(data)
        self.hash.update(self.pending)
        self.hash.update(data[:-1])
        self.pending = data[-1:]
        self.length += len(data)

    def end(self) -> None:
        """The newline was reached; the caller accounts for the newline byte itself."""
        sc = self.scanner
        sc._seg_hash = self.segment
        sc.complete_bytes += self.length
        sc.line += 1
        length = self.length
        if self.pending == b"\r":
            sc.sink.add(sc.line, "crlf", "CRLF line ending (the trail must use LF)")
            length -= 1
        else:
            self.hash.update(self.pending)
        sc.long_line(self.hash.hexdigest(), length, counted=True)


def scan_range(f: BinaryIO, start: int, end: int, cfg: AuditConfig, digest: bool) -> Part:
    """Scan bytes ``[start, end)`` of ``f``; ``start`` must begin a line.

    Memory: one block and its line objects, or, for a line longer than a block, about twice
    that line (its bytes, then the split copy that is hashed), up to ``max_line_bytes``; a
    longer line is streamed through a hash, never held. A final fragment without newline is a
    torn line.
    """
    sc = Scanner(cfg, digest)
    limit = cfg.max_line_bytes + 1  # + 1: a CR before the LF does not count
    f.seek(start)
    pos = start
    pending: list[bytes] = []  # pieces of the line still waiting for its newline
    pending_len = 0
    long: _LongLine | None = None
    while pos < end:
        data = f.read(min(cfg.block_size, end - pos))
        if not data:
            break  # the file shrank while we read: what is left is torn
        pos += len(data)
        if long is not None:
            nl = data.find(b"\n")
            if nl < 0:
                long.feed(data)
                continue
            long.feed(data[:nl])
            long.end()
            sc._consumed(b"\n")
            long = None
            data = data[nl + 1 :]
        cut = data.rfind(b"\n")
        if cut < 0:
            if data:
                pending.append(data)
                pending_len += len(data)
            if pending_len > limit:
                long = _LongLine(sc)
                for piece in pending:
                    long.feed(piece)
                pending, pending_len = [], 0
            continue
        head = data[: cut + 1] if cut + 1 < len(data) else data
        if pending:
            pending.append(head)
            head = b"".join(pending)  # one copy, however many pieces a long line took
            pending = []
        sc.block(head)
        sc.maybe_close_segment(start)
        rest = data[cut + 1 :]
        pending, pending_len = ([rest], len(rest)) if rest else ([], 0)
    if long is not None or pending:
        sc.torn_line()
    return sc.part(start)


def scan_file_range(path: str, start: int, end: int, cfg: AuditConfig, digest: bool) -> Part:
    """Process-pool entry point: each worker opens the trail itself, read-only."""
    with open(path, "rb") as f:
        return scan_range(f, start, end, cfg, digest)


def stitch(
    parts: Sequence[Part], prev: Tail, base_line: int, sink: ErrorSink
) -> tuple[Tail, int, bool, bool]:
    """Link each part's head to the state before it; returns (tail, lines, chained, sequenced)."""
    chained = sequenced = False
    lines = base_line
    for part in parts:
        seam: list[AuditError] = []
        if part.head is not None:
            head = part.head
            absolute = LineInfo(head.line + lines, head.ok, head.seq, head.ts, head.prev)
            seam = link(prev, absolute)
        sink.merge(part.errors, part.by_kind, part.counts, lines, seam)
        if part.tail is not None:
            prev = part.tail
        lines += part.lines
        chained |= part.chained
        sequenced |= part.sequenced
    return prev, lines, chained, sequenced


__all__ = ["RANK", "START", "ErrorSink", "Part", "Scanner", "Segment", "link", "scan_range", "stitch"]
