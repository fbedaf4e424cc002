"""Checkpoints that let a later run on a grown trail parse only the appended bytes.

A checkpoint records where the last run stopped (the end of the last complete line), the
validator state there (the last line's hash, seq and timestamp), the errors found so far (so
a checkpoint never hides a problem in the prefix) and a digest of the prefix.

Prefix digest, and why: a list of SHA-256 digests over consecutive segments of the prefix
(at most 32 MiB each, plus one per later incremental run), computed while the prefix was
parsed. Confirming it re-reads and re-hashes the prefix, in two threads (hashlib releases the
GIL on large buffers). That is *sound* — any changed, inserted or removed byte is found, and
then the whole file is checked again — and cheap: hashing runs at well over 1 GB/s against
roughly 100-200 MB/s for parsing. The cheaper alternatives are unsound: size and mtime can be
preserved by an editor or `touch -r`, and sampling a few blocks misses an edit between them,
which would let a tampered line pass for as long as the checkpoint lives.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import msgspec

from ..report.files import write_atomic
from .model import AuditConfig, AuditError, Tail
from .scan import Segment

CHECKPOINT_VERSION: Final = 1
_READ: Final = 4 << 20


class Checkpoint(msgspec.Struct):
    """The persisted state after the first ``offset`` bytes (``lines`` lines) of a trail."""

    version: int
    path: str
    config: str
    offset: int
    lines: int
    tail: Tail
    chained: bool
    sequenced: bool
    errors: list[AuditError]
    errors_by_kind: dict[str, list[AuditError]]
    error_counts: dict[str, int]
    segments: list[Segment]


_decoder = msgspec.json.Decoder(Checkpoint)
_encoder = msgspec.json.Encoder()


def checkpoint_file(cache_dir: str | os.PathLike[str], trail: str) -> Path:
    """Where the checkpoint for ``trail`` lives: ``<cache_dir>/audit/<hash of its real path>.json``."""
    key = hashlib.sha256(os.path.realpath(trail).encode()).hexdigest()[:32]
    return Path(cache_dir) / "audit" / f"{key}.json"


def load_checkpoint(
    cache_dir: str | os.PathLike[str], trail: str, cfg: AuditConfig
) -> tuple[Checkpoint | None, str]:
    """The stored checkpoint if it belongs to this trail and these settings, and a status."""
    where = checkpoint_file(cache_dir, trail)
    try:
        raw = where.read_bytes()
    except FileNotFoundError:
        return None, "none"
    except OSError as exc:
        return None, f"unreadable checkpoint ({exc.strerror})"
    try:
        cp = _decoder.decode(raw)
    except msgspec.DecodeError:
        return None, "corrupt checkpoint ignored"
    if cp.version != CHECKPOINT_VERSION or cp.path != os.path.realpath(trail):
        return None, "stale checkpoint ignored"
    if cp.config != cfg.fingerprint():
        return None, "checkpoint made with other settings ignored"
    return cp, "found"


def _segment_matches(fd: int, seg: Segment) -> bool:
    digest = hashlib.sha256()
    pos = seg.start
    while pos < seg.end:
        chunk = os.pread(fd, min(_READ, seg.end - pos), pos)
        if not chunk:
            return False
        digest.update(chunk)
        pos += len(chunk)
    return digest.hexdigest() == seg.sha256


def verify_prefix(fd: int, size: int, cp: Checkpoint, threads: int = 2) -> str | None:
    """None when the first ``cp.offset`` bytes are unchanged, else why the checkpoint is void."""
    if size < cp.offset:
        return f"file shrank from {cp.offset} to {size} bytes"
    pos = 0
    for seg in cp.segments:
        if seg.start != pos or seg.end <= seg.start:
            return "checkpoint segments are inconsistent"
        pos = seg.end
    if pos != cp.offset:
        return "checkpoint segments are inconsistent"
    if cp.offset and os.pread(fd, 1, cp.offset - 1) != b"\n":
        return "prefix changed"
    if len(cp.segments) <= 1 or threads <= 1:
        ok = all(_segment_matches(fd, s) for s in cp.segments)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            ok = all(pool.map(lambda s: _segment_matches(fd, s), cp.segments))
    return None if ok else "prefix changed"


def save_checkpoint(cache_dir: str | os.PathLike[str], cp: Checkpoint) -> str | None:
    """Write atomically (temp file + rename); returns an error text instead of raising."""
    try:
        write_atomic(checkpoint_file(cache_dir, cp.path), _encoder.encode(cp))
    except OSError as exc:
        return f"checkpoint not written ({exc.strerror or exc})"
    return None
