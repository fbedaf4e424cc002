"""The multi-process path (forked or spawned workers) equals the in-process scan."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from audit_trailgen import join, trail

import readiness.audit.validator as validator
from readiness.audit import AuditConfig, AuditResult, validate_file


def comparable(r: AuditResult) -> AuditResult:
    return dataclasses.replace(r, seconds=0.0, checkpoint="", bytes_parsed=0, incremental=False)


@pytest.fixture
def broken_trail(tmp_path: Path) -> Path:
    lines = trail(400)
    lines[123] = b"garbage"
    del lines[250]
    lines[300] += b"\r"
    path = tmp_path / "audit.jsonl"
    path.write_bytes(join(lines)[:-7])
    return path


PARALLEL = AuditConfig(workers=3, parallel_min_bytes=0)


#: Run in a process of its own: fork is only taken while the process has one thread, which a
#: pytest-xdist worker (execnet's thread) never has.
FORKED = """
import dataclasses, sys
import readiness.audit.validator as validator
from readiness.audit import AuditConfig, validate_file

def comparable(r):
    return dataclasses.replace(r, seconds=0.0, checkpoint="", bytes_parsed=0, incremental=False)

assert validator._single_threaded(), "not single-threaded: this would test the spawn path twice"
serial = validate_file(sys.argv[1], AuditConfig(workers=1))
assert serial.error_count == 6 and serial.torn_last_line, serial
forked = validate_file(sys.argv[1], AuditConfig(workers=3, parallel_min_bytes=0))
assert comparable(forked) == comparable(serial), (forked, serial)
"""


def test_forked_workers_match_serial(broken_trail: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FORKED, str(broken_trail)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_spawned_workers_match_serial(broken_trail: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = validate_file(broken_trail, AuditConfig(workers=1))
    monkeypatch.setattr(validator, "_single_threaded", lambda: False)  # fork deemed unsafe
    assert comparable(validate_file(broken_trail, PARALLEL)) == comparable(serial)


def test_failed_worker_is_replaced_in_process(broken_trail: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = validate_file(broken_trail, AuditConfig(workers=1))
    monkeypatch.setattr(validator, "_single_threaded", lambda: False)
    monkeypatch.setattr(validator.sys, "executable", "/bin/false")
    assert comparable(validate_file(broken_trail, PARALLEL)) == comparable(serial)


def test_parallel_checkpoint_then_incremental(broken_trail: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    full = validate_file(broken_trail, PARALLEL, cache_dir=cache)
    with open(broken_trail, "ab") as out:
        out.write(b"\n")
    again = validate_file(broken_trail, PARALLEL, cache_dir=cache)
    assert again.incremental and again.bytes_parsed < 400
    # the torn line is complete now, and shows as the broken JSON it is
    assert "torn" not in again.error_counts and full.error_counts["torn"] == 1
    assert again.error_counts["json"] == full.error_counts["json"] + 1
    assert comparable(again) == comparable(validate_file(broken_trail, AuditConfig(workers=1)))
