"""Validate an audit trail: the one entry point for the ``audit.*`` checks and the CLI.

What a trail must satisfy, per physical line (1-based numbers, blank lines counted):

* valid UTF-8, one JSON object, ``timestamp`` (ISO-8601 with a UTC offset, or epoch seconds)
  and ``event`` (a string) present; ``seq`` an integer and ``prev_sha256`` a string if present;
* ``seq`` one more than the previous line's (a gap, a duplicate and an out-of-order value are
  told apart; a line without ``seq`` after one with it is ``seq_missing``);
* timestamps non-decreasing;
* ``prev_sha256`` equal to the SHA-256 hex digest (lowercase, as ``hexdigest()``) of the
  previous line's bytes without its newline (the first line's is 64 zeros; a line without it
  after a chained one is ``chain_missing``). A trail where no line has ``prev_sha256`` has no
  chain (``chained`` False);
* every line LF-terminated.

Defined answers: an empty file is valid with 0 lines. A blank (whitespace-only) line is an
error and is skipped by the comparisons, so the next line is compared with the one before the
blank. A CRLF ending is an error on that line; the CR is then ignored for parsing and hashing,
so one problem is reported once. A final fragment without newline is a ``torn`` line (an
interrupted write), not parsed: distinct from corruption further up. A line that cannot be
read is reported once; the seq and timestamp comparisons resume after it, while the next
line's ``prev_sha256`` is still compared with the hash of its bytes (tampering shows there).

Memory: one read block (512 KiB) and the objects of its lines; a line longer than that is held
whole, costing about twice its size, up to ``max_line_bytes`` (64 MiB, so a 50 MB single line
is checked normally, in ~125 MB peak RSS); a longer line is reported ``too_long`` and streamed
through SHA-256 without being held. Each worker process holds the same.

The trail is opened read-only and never written. A run checks the bytes present when it opened
the file; a line the bot is writing at that instant shows as ``torn`` until the next run.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import io
import itertools
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from subprocess import DEVNULL, PIPE, Popen
from typing import IO, BinaryIO

import msgspec

from .checkpoint import (
    CHECKPOINT_VERSION,
    Checkpoint,
    load_checkpoint,
    save_checkpoint,
    verify_prefix,
)
from .model import START, AuditConfig, AuditResult, Tail
from .scan import ErrorSink, Part, Segment, scan_file_range, scan_range, stitch
from .worker import Request


class TrailUnreadable(Exception):
    """The trail cannot be read (missing, a directory, no permission, a symlink loop...)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read audit trail {path}: {reason}")
        self.path = path
        self.reason = reason


def default_cache_dir(reports_dir: str | os.PathLike[str]) -> Path:
    """The cache folder under a reports folder; checkpoints go to ``<it>/audit/``."""
    return Path(reports_dir) / ".cache"


def user_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where ``readiness audit`` keeps checkpoints when run by hand: the user's cache folder
    (``$XDG_CACHE_HOME/readiness``, else ``~/.cache/readiness``), never the folder it runs in."""
    base = environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "readiness"


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
    return list(itertools.pairwise(bounds))


def _tune_malloc() -> None:
    """Keep freed blocks in the heap (worker processes only): otherwise glibc hands the
    per-block buffers back to the kernel after every block and page-faults them back in."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _single_threaded() -> bool:
    """True when this process has one OS thread (threads started by C libraries count too)."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return threading.active_count() == 1


def _fork(path: str, spans: list[tuple[int, int]], cfg: AuditConfig, digest: bool) -> _Job:
    """Fork a worker: no interpreter start-up. Only used while this process has one thread,
    the one case where fork is safe (no lock can be held by a thread that does not exist)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, which leaves through os._exit
        code = 1
        try:
            os.close(read_end)
            _tune_malloc()
            payload = msgspec.msgpack.encode([scan_file_range(path, a, b, cfg, digest) for a, b in spans])
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    return _Job(pid=pid, stdout=os.fdopen(read_end, "rb"), popen=None, spans=spans)


def _spawn(path: str, spans: list[tuple[int, int]], cfg: AuditConfig, digest: bool) -> _Job:
    """Start ``python -m readiness.audit.worker`` (used when threads make fork unsafe)."""
    env = dict(os.environ)
    here = str(Path(__file__).resolve().parents[2])  # the folder holding the readiness package
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH", "")) if p)
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(64 << 20))
    env.setdefault("MALLOC_TRIM_THRESHOLD_", str(128 << 20))
    child = Popen(
        [sys.executable, "-m", "readiness.audit.worker"],
        stdin=PIPE,
        stdout=PIPE,
        stderr=DEVNULL,
        env=env,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(msgspec.msgpack.encode(Request(path, spans, cfg, digest)))
    except BrokenPipeError:
        pass  # the worker died at once: _collect sees its exit status and scans here instead
    finally:
        with contextlib.suppress(BrokenPipeError):
            child.stdin.close()
    return _Job(pid=child.pid, stdout=child.stdout, popen=child, spans=spans)


@dataclasses.dataclass
class _Job:
    pid: int
    stdout: IO[bytes]
    popen: Popen[bytes] | None
    spans: list[tuple[int, int]]
    done: bool = False

    def wait(self) -> int:
        if self.popen is not None:
            return self.popen.wait()
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)

    def reap(self) -> None:
        """Make sure the worker is gone (on error or interrupt in the parent)."""
        if self.done:
            return
        self.done = True
        self.stdout.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.wait()


def _collect(job: _Job, path: str, cfg: AuditConfig, digest: bool) -> list[Part]:
    """A worker's parts; should it fail for any reason, its spans are scanned here instead."""
    out = job.stdout.read()
    job.stdout.close()
    job.done = True
    if job.wait() == 0:
        try:
            return msgspec.msgpack.decode(out, type=list[Part])
        except msgspec.DecodeError:
            pass
    return [scan_file_range(path, a, b, cfg, digest) for a, b in job.spans]


def _scan_parts(path: str, f: BinaryIO, start: int, end: int, cfg: AuditConfig, digest: bool) -> list[Part]:
    """Scan ``[start, end)``: in-process, or on all cores for large spans.

    With ``w`` workers the span is cut into ``w`` ranges at line starts, each scanned by its
    own worker process, then the parts are stitched here. Workers are forked when this process
    is single-threaded (the CLI), else started as ``python -m readiness.audit.worker``.
    """
    workers = _workers(cfg)
    if workers <= 1 or end - start < cfg.parallel_min_bytes:
        return [scan_range(f, start, end, cfg, digest)]
    cuts = [start + (end - start) * k // workers for k in range(1, workers)]
    spans = _ranges(f, start, end, cuts)
    start_job = _fork if hasattr(os, "fork") and _single_threaded() else _spawn
    jobs: list[_Job | tuple[int, int]] = []
    try:
        for span in spans:
            try:
                jobs.append(start_job(path, [span], cfg, digest))
            except OSError:  # cannot start a worker (no fork, no interpreter): scan it here
                jobs.append(span)
        parts: list[Part] = []
        for job in jobs:
            if isinstance(job, _Job):
                parts.extend(_collect(job, path, cfg, digest))
            else:
                parts.append(scan_range(f, job[0], job[1], cfg, digest))
        return parts
    finally:
        for job in jobs:
            if isinstance(job, _Job):
                job.reap()


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
