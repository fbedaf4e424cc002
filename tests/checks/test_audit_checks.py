"""The audit.* checks against the sandbox bot's trail and against bad trails given directly."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ..helpers import check_entry, outcomes, run_catalogue

AUDIT = ("audit.present_writable", "audit.jsonl_valid", "audit.sequence_intact", "audit.hash_chain_intact")


def test_healthy_sandbox_trail_passes(tmp_path: Path) -> None:
    report = run_catalogue(tmp_path, "checks/component/test_audit.py", "--target", "sandbox")
    assert outcomes(report) == dict.fromkeys(AUDIT, "passed")
    assert check_entry(report, "audit.present_writable")["metrics"][0]["name"] == "lines"


@pytest.mark.parametrize(
    ("fault", "check_id", "message", "remediation"),
    [
        (
            "audit_garbage_line",
            "audit.jsonl_valid",
            "*audit.jsonl: 1 problem(s): line 2: *",
            "restore the trail from backup",
        ),
        (
            "audit_seq_gap",
            "audit.sequence_intact",
            "*audit.jsonl: 1 problem(s): line 2: *seq*",
            "lost or replayed events",
        ),
        (
            "audit_chain_broken",
            "audit.hash_chain_intact",
            "*audit.jsonl: 1 problem(s): line 2: *",
            "treat it as tampering",
        ),
    ],
)
def test_each_trail_fault_fails_exactly_its_check(
    tmp_path: Path, fault: str, check_id: str, message: str, remediation: str
) -> None:
    report = run_catalogue(
        tmp_path, "checks/component/test_audit.py", "--target", "sandbox", "--sandbox-fault", fault
    )
    assert outcomes(report) == dict.fromkeys(AUDIT, "passed") | {check_id: "failed"}
    entry = check_entry(report, check_id)
    assert __import__("fnmatch").fnmatch(entry["message"], message), entry["message"]
    assert remediation in entry["remediation"]
    assert remediation in report["_stdout"]


def test_missing_trail_fails_presence_and_blocks_the_rest(tmp_path: Path) -> None:
    report = run_catalogue(
        tmp_path,
        "checks/component/test_audit.py",
        "--target",
        "sandbox",
        "--sandbox-fault",
        "audit_trail_missing",
    )
    assert outcomes(report) == {
        "audit.present_writable": "failed",
        "audit.jsonl_valid": "blocked",
        "audit.sequence_intact": "blocked",
        "audit.hash_chain_intact": "blocked",
    }
    assert "missing/audit.jsonl" in check_entry(report, "audit.present_writable")["message"]


def _line(seq: int, prev: str | None = None) -> bytes:
    record: dict[str, object] = {
        "timestamp": f"2026-11-24T10:00:{seq:02d}+00:00",
        "event": "heartbeat",
        "seq": seq,
    }
    if prev is not None:
        record["prev_sha256"] = prev
    return json.dumps(record).encode()


def _run_on(tmp_path: Path, content: bytes) -> dict[str, object]:
    trail = tmp_path / "trail.jsonl"
    trail.write_bytes(content)
    before = hashlib.sha256(content).hexdigest()
    report = run_catalogue(
        tmp_path,
        "checks/component/test_audit.py",
        "--target",
        "testnet",
        env={"READINESS_AUDIT_TRAIL": str(trail)},
    )
    assert hashlib.sha256(trail.read_bytes()).hexdigest() == before  # read, never changed
    assert "Traceback" not in str(report["_stdout"]) and "INTERNALERROR" not in str(report["_stdout"])
    return report


def test_unchained_trail_makes_the_chain_check_not_applicable(tmp_path: Path) -> None:
    report = _run_on(tmp_path, b"".join(_line(n) + b"\n" for n in range(1, 4)))
    assert outcomes(report)["audit.hash_chain_intact"] == "not_applicable"
    assert outcomes(report)["audit.sequence_intact"] == "passed"


def test_torn_last_line_is_named(tmp_path: Path) -> None:
    first = _line(1, "0" * 64)
    report = _run_on(tmp_path, first + b"\n" + _line(2, hashlib.sha256(first).hexdigest())[:20])
    entry = check_entry(report, "audit.jsonl_valid")  # type: ignore[arg-type]
    assert entry["outcome"] == "failed"
    assert "line 2" in entry["message"] and "torn" in entry["message"]


def test_unreadable_trail_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.jsonl"
    folder.mkdir()
    report = run_catalogue(
        tmp_path,
        "checks/component/test_audit.py",
        "--target",
        "testnet",
        env={"READINESS_AUDIT_TRAIL": str(folder)},
    )
    entry = check_entry(report, "audit.present_writable")
    assert entry["outcome"] == "failed"
    assert entry["message"].startswith(f"READINESS_AUDIT_TRAIL={folder}")
    assert outcomes(report)["audit.jsonl_valid"] == "blocked"
