"""Checkpoints: a grown trail is parsed only from where the last run stopped, a changed prefix
is found, errors in the prefix stay reported, and the trail itself is never written."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import pytest
from audit_trailgen import join, trail

from readiness.audit import AuditConfig, AuditResult, checkpoint_file, validate_file


def comparable(r: AuditResult) -> AuditResult:
    return dataclasses.replace(r, seconds=0.0, bytes_parsed=0, incremental=False, checkpoint="")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "reports" / ".cache"


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as out:
        out.write(data)


def test_append_parses_only_the_tail(tmp_path: Path, cache: Path) -> None:
    lines = trail(60)
    path = tmp_path / "audit.jsonl"
    write(path, join(lines[:50]))
    first = validate_file(path, cache_dir=cache)
    assert first.valid and first.checkpoint == "created" and not first.incremental
    assert first.bytes_parsed == first.bytes
    assert checkpoint_file(cache, str(path)).parent == cache / "audit"
    tail = join(lines[50:])
    append(path, tail)
    second = validate_file(path, cache_dir=cache)
    assert second.incremental and second.checkpoint == "used"
    assert second.bytes_parsed == len(tail) and second.lines == 60 and second.valid
    assert comparable(second) == comparable(validate_file(path))
    third = validate_file(path, cache_dir=cache)  # unchanged: nothing to parse
    assert third.bytes_parsed == 0 and third.valid and third.lines == 60


def test_errors_in_the_prefix_are_still_reported(tmp_path: Path, cache: Path) -> None:
    lines = trail(30)
    lines[3] = b"garbage"
    path = tmp_path / "audit.jsonl"
    write(path, join(lines[:20]))
    assert validate_file(path, cache_dir=cache).error_count == 2  # json + chain on next line
    append(path, join(lines[20:]))
    again = validate_file(path, cache_dir=cache)
    assert again.incremental and not again.valid
    assert [(e.line, e.kind) for e in again.errors] == [(4, "json"), (5, "chain_mismatch")]
    assert comparable(again) == comparable(validate_file(path))


def test_seam_errors_after_checkpoint_found(tmp_path: Path, cache: Path) -> None:
    lines = trail(30)
    path = tmp_path / "audit.jsonl"
    write(path, join(lines[:20]))
    validate_file(path, cache_dir=cache)
    append(path, join(lines[21:]))  # line 21 is missing: gap and chain break at the seam
    r = validate_file(path, cache_dir=cache)
    assert r.incremental
    assert [(e.line, e.kind) for e in r.errors] == [(21, "seq_gap"), (21, "chain_mismatch")]


def test_edited_prefix_forces_full_check_and_finds_the_edit(tmp_path: Path, cache: Path) -> None:
    lines = trail(40)
    path = tmp_path / "audit.jsonl"
    write(path, join(lines[:30]))
    validate_file(path, cache_dir=cache)
    data = bytearray(path.read_bytes())
    at = data.index(b'"latency_ms":15')  # line 5, same length: size and tail unchanged
    data[at : at + 15] = b'"latency_ms":16'
    stat = path.stat()
    write(path, bytes(data) + join(lines[30:]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # an edit that hides its mtime
    r = validate_file(path, cache_dir=cache)
    assert not r.incremental and r.checkpoint == "invalidated: prefix changed"
    assert r.bytes_parsed == r.bytes
    assert [(e.line, e.kind) for e in r.errors] == [(6, "chain_mismatch")]


def test_truncated_file_forces_full_check(tmp_path: Path, cache: Path) -> None:
    lines = trail(20)
    path = tmp_path / "audit.jsonl"
    write(path, join(lines))
    validate_file(path, cache_dir=cache)
    write(path, join(lines[:12]))
    r = validate_file(path, cache_dir=cache)
    assert not r.incremental and r.checkpoint.startswith("invalidated: file shrank")
    assert r.valid and r.lines == 12


def test_replaced_file_with_same_prefix_length_is_caught(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, join(trail(10)))
    validate_file(path, cache_dir=cache)
    write(path, join(trail(10, start=5)) + join(trail(2, start=15)))
    r = validate_file(path, cache_dir=cache)
    assert not r.incremental and r.checkpoint.startswith("invalidated")


def test_torn_line_is_rechecked_once_completed(tmp_path: Path, cache: Path) -> None:
    lines = trail(10)
    path = tmp_path / "audit.jsonl"
    whole = join(lines)
    cut = len(join(lines[:7])) + 20
    write(path, whole[:cut])
    torn = validate_file(path, cache_dir=cache)
    assert torn.torn_last_line and [e.kind for e in torn.errors] == ["torn"]
    append(path, whole[cut:])
    done = validate_file(path, cache_dir=cache)
    assert done.valid and done.incremental and done.lines == 10
    assert done.bytes_parsed == len(whole) - len(join(lines[:7]))


def test_checkpoint_for_other_settings_is_ignored(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, join(trail(5)))
    validate_file(path, cache_dir=cache)
    r = validate_file(path, AuditConfig(event_field="kind"), cache_dir=cache)
    assert not r.incremental and "other settings" in r.checkpoint and not r.valid


def test_corrupt_checkpoint_is_ignored(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, join(trail(5)))
    validate_file(path, cache_dir=cache)
    checkpoint_file(cache, str(path)).write_text("{not json")
    r = validate_file(path, cache_dir=cache)
    assert r.valid and not r.incremental and "corrupt checkpoint" in r.checkpoint


def test_unwritable_cache_does_not_fail_the_check(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    write(path, join(trail(5)))
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    r = validate_file(path, cache_dir=blocker)
    assert r.valid and "checkpoint not written" in r.checkpoint


def test_trail_is_left_byte_identical(tmp_path: Path, cache: Path) -> None:
    lines = trail(50)
    lines[10] = b"broken"
    path = tmp_path / "audit.jsonl"
    write(path, join(lines)[:-5])
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    os.chmod(path, 0o444)
    validate_file(path, cache_dir=cache)
    validate_file(path, cache_dir=cache)
    validate_file(path, AuditConfig(workers=2, parallel_min_bytes=0), cache_dir=cache)
    after = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    assert before == after
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit.jsonl", "reports"]
    stored = json.loads(checkpoint_file(cache, str(path)).read_text())
    assert stored["error_counts"] == {"json": 1, "chain_mismatch": 1}
