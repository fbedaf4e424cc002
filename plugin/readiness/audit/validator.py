"""Validate an audit trail (SPEC §7): the one entry point for the ``audit.*`` checks and the CLI.

What a trail must satisfy, per physical line (1-based numbers, blank lines counted):

* valid UTF-8, one JSON object, ``timestamp`` (ISO-8601 with a UTC offset, or epoch seconds)
  and ``event`` (a string) present; ``seq`` an integer and ``prev_sha256`` a string if present;
* ``seq`` one more than the previous line's (a gap, a duplicate and an out-of-order value are
  told apart; a line without ``seq`` after one with it is ``seq_missing``);
* timestamps non-decreasing;
* ``prev_sha256`` equal to the SHA-256 hex digest of the previous line's bytes without its
  newline (the first line's is 64 zeros; a line without it after a chained one is
  ``chain_missing``). A trail where no line has ``prev_sha256`` has no chain (``chained`` False);
* every line LF-terminated.

Defined answers: an empty file is valid with 0 lines. A blank (whitespace-only) line is an
error and is skipped by the comparisons, so the next line is compared with the one before the
blank. A CRLF ending is an error on that line; the CR is then ignored for parsing and hashing,
so one problem is reported once. A final fragment without newline is a ``torn`` line (an
interrupted write), not parsed: distinct from corruption further up. A line that cannot be
read is reported once; the seq and timestamp comparisons resume after it, while the next
line's ``prev_sha256`` is still compared with the hash of its bytes (tampering shows there).

Memory: one read block (4 MiB) and the objects of its lines, plus the longest line up to
``max_line_bytes`` (64 MiB, so a 50 MB single line is checked normally); a longer line is
reported ``too_long`` and streamed through SHA-256 without being held. With workers, each
worker process holds the same. The trail is opened read-only and never written.
"""

from __future__ import annotations

import dataclasses
import io
import multiprocessing
import os
import stat
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import BinaryIO

from .checkpoint import (
    CHECKPOINT_VERSION,
    Checkpoint,
    load_checkpoint,
    save_checkpoint,
    verify_prefix,
)
from .model import START, AuditConfig, AuditResult, Tail
from .scan import ErrorSink, Part, Segment, scan_file_range, scan_range, stitch


class TrailUnreadable(Exception):
    """The trail cannot be read (missing, a directory, no permission, a symlink loop...)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read audit trail {path}: {reason}")
        self.path = path
        self.reason = reason


def default_cache_dir(reports_dir: str | os.PathLike[str]) -> Path:
    """The cache folder under a reports folder; checkpoints go to ``<it>/audit/``."""
    return Path(reports_dir) / ".cache"


def _workers(cfg: AuditConfig) -> int:
    if cfg.workers is not None:
        return max(1, cfg.workers)
    return max(1, min(2, len(os.sched_getaffinity(0))))


def _next_line_start(f: BinaryIO, pos: int, end: int) -> int:
    """The first offset >= ``pos`` that begins a line (or ``end``)."""
    if pos <= 0:
        return 0
    f.seek(pos - 1)
    at = pos - 1
    while at < end:
        piece = f.read(min(1 << 16, end - at))
        if not piece:
            return end
        nl = piece.find(b"\n")
        if nl >= 0:
            return at + nl + 1
        at += len(piece)
    return end


def _ranges(f: BinaryIO, start: int, end: int, cuts: Sequence[int]) -> list[tuple[int, int]]:
    bounds = [start]
    for cut in sorted(cuts):
        b = _next_line_start(f, cut, end)
        if bounds[-1] < b < end:
            bounds.append(b)
    bounds.append(end)
    return list(zip(bounds, bounds[1:], strict=False))


def _scan_parts(
    path: str, f: BinaryIO, start: int, end: int, cfg: AuditConfig, digest: bool
) -> list[Part]:
    workers = _workers(cfg)
    if workers <= 1 or end - start < cfg.parallel_min_bytes:
        return [scan_range(f, start, end, cfg, digest)]
    pieces = workers * 2
    cuts = [start + (end - start) * k // pieces for k in range(1, pieces)]
    spans = _ranges(f, start, end, cuts)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["readiness.audit.scan"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(scan_file_range, path, a, b, cfg, digest) for a, b in spans]
        return [fut.result() for fut in futures]


def _result(
    path: str,
    size: int,
    parts: Sequence[Part],
    cfg: AuditConfig,
    prior: Checkpoint | None,
    started: float,
    status: str,
) -> tuple[AuditResult, ErrorSink, Tail, int]:
    sink = ErrorSink(cfg.max_errors, cfg.max_errors_per_kind)
    prev, base, chained, sequenced = START, 0, False, False
    if prior is not None:
        sink.merge(prior.errors, prior.errors_by_kind, prior.error_counts, 0)
        prev, base = prior.tail, prior.lines
        chained, sequenced = prior.chained, prior.sequenced
    tail, lines, more_chained, more_sequenced = stitch(parts, prev, base, sink)
    parsed = sum(p.complete_bytes for p in parts)
    torn = bool(parts) and parts[-1].torn
    result = AuditResult(
        path=path,
        lines=lines,
        bytes=size,
        errors=tuple(sink.errors),
        error_count=sum(sink.counts.values()),
        error_counts=dict(sink.counts),
        errors_by_kind={k: tuple(v) for k, v in sink.by_kind.items() if v},
        torn_last_line=torn,
        chained=chained or more_chained,
        sequenced=sequenced or more_sequenced,
        bytes_parsed=size - (prior.offset if prior is not None else 0),
        incremental=prior is not None,
        checkpoint=status,
        seconds=time.perf_counter() - started,
    )
    return result, sink, tail, parsed


def _without_torn(sink: ErrorSink, line: int) -> None:
    """Drop the torn-line error: a checkpoint stops before the torn line, which may yet grow."""
    sink.counts["torn"] -= 1
    if not sink.counts["torn"]:
        del sink.counts["torn"]
    if sink.errors and sink.errors[-1].line == line and sink.errors[-1].kind == "torn":
        sink.errors.pop()
    kept = sink.by_kind.get("torn")
    if kept and kept[-1].line == line:
        kept.pop()


def validate_file(
    path: str | os.PathLike[str],
    config: AuditConfig | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> AuditResult:
    """Validate the trail at ``path``; with ``cache_dir``, reuse and update a checkpoint there.

    Raises :class:`TrailUnreadable` when the file cannot be opened or read.
    """
    started = time.perf_counter()
    cfg = config or AuditConfig()
    name = os.fspath(path)
    try:
        st = os.stat(name)
        if stat.S_ISDIR(st.st_mode):
            raise TrailUnreadable(name, "is a directory")
        if not stat.S_ISREG(st.st_mode):
            raise TrailUnreadable(name, "not a regular file")
        with open(name, "rb") as f:
            return _validate_open(name, f, cfg, cache_dir, started)
    except OSError as exc:
        raise TrailUnreadable(name, exc.strerror or str(exc)) from None


def _validate_open(
    name: str,
    f: BinaryIO,
    cfg: AuditConfig,
    cache_dir: str | os.PathLike[str] | None,
    started: float,
) -> AuditResult:
    size = os.fstat(f.fileno()).st_size
    prior: Checkpoint | None = None
    status = "disabled"
    if cache_dir is not None:
        prior, status = load_checkpoint(cache_dir, name, cfg)
        if prior is not None:
            why = verify_prefix(f.fileno(), size, prior, threads=_workers(cfg))
            if why is None:
                status = "used"
            else:
                prior, status = None, f"invalidated: {why}"
    start = prior.offset if prior is not None else 0
    parts = _scan_parts(os.path.realpath(name), f, start, size, cfg, cache_dir is not None)
    result, sink, tail, parsed = _result(name, size, parts, cfg, prior, started, status)
    if cache_dir is None:
        return result
    lines = result.lines
    if result.torn_last_line:
        _without_torn(sink, lines)
        lines -= 1
    segments: list[Segment] = list(prior.segments) if prior is not None else []
    for part in parts:
        segments.extend(part.segments)
    cp = Checkpoint(
        version=CHECKPOINT_VERSION,
        path=os.path.realpath(name),
        config=cfg.fingerprint(),
        offset=start + parsed,
        lines=lines,
        tail=tail,
        chained=result.chained,
        sequenced=result.sequenced,
        errors=sink.errors,
        errors_by_kind=sink.by_kind,
        error_counts=sink.counts,
        segments=segments,
    )
    if prior is None and not status.startswith("invalidated"):
        status = "created" if status == "none" else f"created ({status})"
    problem = save_checkpoint(cache_dir, cp)
    if problem is not None:
        status = f"{status}; {problem}"
    return dataclasses.replace(result, checkpoint=status, seconds=time.perf_counter() - started)


def validate_bytes(
    data: bytes,
    config: AuditConfig | None = None,
    *,
    cuts: Sequence[int] = (),
    name: str = "<bytes>",
) -> AuditResult:
    """Validate an in-memory trail, split into ranges at ``cuts`` (each moved to the next line
    start) and stitched exactly as the parallel file path does; used to test seam handling."""
    started = time.perf_counter()
    cfg = config or AuditConfig()
    f = io.BytesIO(data)
    spans = _ranges(f, 0, len(data), cuts)
    parts = [scan_range(f, a, b, cfg, False) for a, b in spans]
    result, _, _, _ = _result(name, len(data), parts, cfg, None, started, "disabled")
    return result
