"""Each error kind and each defined edge case of the audit-trail validator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_trailgen import ZERO, chain, join, record, sha, trail

from readiness.audit import (
    CHAIN_KINDS,
    FORMAT_KINDS,
    SEQUENCE_KINDS,
    AuditConfig,
    AuditResult,
    validate_bytes,
    validate_file,
)


def kinds(result: AuditResult) -> list[tuple[int, str]]:
    return [(e.line, e.kind) for e in result.errors]


def test_valid_chained_trail() -> None:
    r = validate_bytes(join(trail(20)))
    assert r.valid and r.lines == 20 and r.chained and r.sequenced
    assert r.errors == () and r.error_count == 0 and not r.torn_last_line


def test_empty_file_is_valid_with_no_lines() -> None:
    r = validate_bytes(b"")
    assert r.valid and r.lines == 0 and not r.chained and not r.sequenced


def test_trail_without_chain_or_seq_reports_no_chain() -> None:
    lines = [json.dumps({"timestamp": 1700000000 + i, "event": "x"}).encode() for i in range(5)]
    r = validate_bytes(join(lines))
    assert r.valid and not r.chained and not r.sequenced


def test_invalid_utf8() -> None:
    lines = trail(3, chained=False)
    lines[1] = b'{"timestamp":"2025-01-01T00:00:00+00:00","event":"\xff\xfe"}'
    r = validate_bytes(join(lines))
    assert kinds(r) == [(2, "utf8")]
    assert r.errors[0].reason.startswith("invalid UTF-8")


def test_utf8_in_unknown_field_is_still_checked() -> None:
    lines = trail(3, chained=False)
    lines[1] = lines[1][:-1] + b',"note":"caf\xe9"}'
    r = validate_bytes(join(lines))
    assert (2, "utf8") in kinds(r)


def test_valid_non_ascii_text_passes() -> None:
    r = validate_bytes(join(chain([record(1, note="café ₿"), record(2, note="日本")])))
    assert r.valid


@pytest.mark.parametrize(
    ("line", "kind", "reason"),
    [
        (b'{"seq":2,"timestamp":', "json", "invalid JSON"),
        (b"[1,2,3]", "not_object", "expected a JSON object, got list"),
        (b'"text"', "not_object", "got str"),
        (b'{"seq":2,"event":"x"}', "field", "missing required field 'timestamp'"),
        (b'{"seq":2,"timestamp":"2025-01-01T00:00:00+00:00"}', "field", "'event'"),
        (b'{"seq":2,"timestamp":"2025-01-01T00:00:00","event":"x"}', "field", "no UTC offset"),
        (b'{"seq":2,"timestamp":"yesterday","event":"x"}', "field", "not ISO-8601"),
        (b'{"seq":2,"timestamp":true,"event":"x"}', "field", "epoch seconds"),
        (b'{"seq":2,"timestamp":1e400,"event":"x"}', "json", "out of range"),
        (b'{"seq":2,"timestamp":1,"event":5}', "field", "'event' must be a string"),
        (b'{"seq":"2","timestamp":1,"event":"x"}', "field", "'seq' must be an integer"),
        (b'{"seq":2.5,"timestamp":1,"event":"x"}', "field", "'seq' must be an integer"),
        (b'{"seq":2,"timestamp":1,"event":"x","prev_sha256":7}', "field", "'prev_sha256'"),
    ],
)
def test_format_errors(line: bytes, kind: str, reason: str) -> None:
    lines = [*trail(1, chained=False), line]
    r = validate_bytes(join(lines))
    assert r.errors[0].line == 2 and r.errors[0].kind == kind
    assert reason in r.errors[0].reason
    assert r.error_counts[kind] == 1


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-01-01T00:00:05Z",
        "2025-01-01T00:00:05.123456789+00:00",
        "2025-01-01 00:00:05+00:00",
        "2025-01-01T02:00:05+0200",
        "2025-01-01T01:00:05+01:00",
    ],
)
def test_iso8601_variants_with_offset_accepted(stamp: str) -> None:
    recs = [record(1), {"seq": 2, "timestamp": stamp, "event": "x"}]
    r = validate_bytes(join(chain(recs)))
    assert r.valid, r.errors


def test_epoch_seconds_accepted_and_ordered_against_iso() -> None:
    recs = [
        {"seq": 1, "timestamp": 1735689600, "event": "a"},  # 2025-01-01T00:00:00Z
        {"seq": 2, "timestamp": "2025-01-01T00:00:01+00:00", "event": "b"},
        {"seq": 3, "timestamp": 1735689601.5, "event": "c"},
        {"seq": 4, "timestamp": "2025-01-01T00:00:01+00:00", "event": "d"},
    ]
    r = validate_bytes(join(chain(recs)))
    assert kinds(r) == [(4, "timestamp_order")]
    assert "goes backwards" in r.errors[0].reason


def test_equal_timestamps_are_fine_and_offsets_compared_as_instants() -> None:
    recs = [
        {"seq": 1, "timestamp": "2025-01-01T01:00:00+01:00", "event": "a"},
        {"seq": 2, "timestamp": "2025-01-01T00:00:00+00:00", "event": "b"},
        {"seq": 3, "timestamp": "2024-12-31T23:59:59-00:00", "event": "c"},
    ]
    r = validate_bytes(join(chain(recs)))
    assert kinds(r) == [(3, "timestamp_order")]


def test_seq_gap_duplicate_out_of_order_missing_told_apart() -> None:
    seqs: list[int | None] = [1, 2, 5, 5, 3, 4, None, 6]
    recs = []
    for i, s in enumerate(seqs):
        rec = record(i + 1)
        if s is None:
            del rec["seq"]
        else:
            rec["seq"] = s
        recs.append(rec)
    r = validate_bytes(join(chain(recs)))
    assert kinds(r) == [(3, "seq_gap"), (4, "seq_duplicate"), (5, "seq_order"), (7, "seq_missing")]
    assert r.errors[0].reason == "seq gap: expected 3, got 5 (2 missing)"
    assert r.count_of(SEQUENCE_KINDS) == 4 and r.count_of(CHAIN_KINDS) == 0


def test_seq_may_start_anywhere_and_resyncs_after_unreadable_line() -> None:
    lines = [*trail(3, start=41, chained=False), b"garbage", *trail(2, start=45, chained=False)]
    r = validate_bytes(join(lines))
    assert kinds(r) == [(4, "json")]


def test_chain_first_line_must_be_zeros() -> None:
    lines = chain([record(1), record(2)])
    lines[0] = lines[0].replace(ZERO.encode(), b"1" * 64)
    r = validate_bytes(join(lines))
    assert kinds(r) == [(1, "chain_mismatch"), (2, "chain_mismatch")]
    assert "64 zeros" in r.errors[0].reason


def test_edited_line_breaks_the_chain_on_the_next_line() -> None:
    lines = trail(5)
    lines[2] = lines[2].replace(b'"latency_ms":13', b'"latency_ms":14')
    r = validate_bytes(join(lines))
    assert kinds(r) == [(4, "chain_mismatch")]
    assert r.describe(CHAIN_KINDS).startswith("<bytes>: 1 problem(s): line 4: prev_sha256")


def test_deleted_line_is_a_seq_gap_and_a_chain_break() -> None:
    lines = trail(5)
    del lines[2]
    r = validate_bytes(join(lines))
    assert kinds(r) == [(3, "seq_gap"), (3, "chain_mismatch")]


def test_chain_missing_after_chained_line_and_chain_may_start_late() -> None:
    recs = chain([record(1), record(2)], chained=False)
    chained = chain([record(3), record(4)])
    # chain starts at line 3: its prev_sha256 must be the hash of line 2
    third = json.loads(chained[0])
    third["prev_sha256"] = sha(recs[1])
    line3 = json.dumps(third, separators=(",", ":")).encode()
    line4 = json.dumps(record(4)).encode()  # no prev_sha256 after a chained line
    r = validate_bytes(join([*recs, line3, line4]))
    assert kinds(r) == [(4, "chain_missing")] and r.chained


def test_blank_lines_reported_and_skipped_by_comparisons() -> None:
    lines = trail(4)
    data = join(lines[:2]) + b"\n   \n" + join(lines[2:])
    r = validate_bytes(data)
    assert kinds(r) == [(3, "blank"), (4, "blank")]
    assert r.lines == 6


def test_crlf_reported_once_per_line_and_ignored_for_hashing() -> None:
    lines = trail(3)
    data = b"".join(line + b"\r\n" for line in lines)
    r = validate_bytes(data)
    assert kinds(r) == [(1, "crlf"), (2, "crlf"), (3, "crlf")]
    assert r.count_of(FORMAT_KINDS) == 3 and r.count_of(CHAIN_KINDS) == 0


def test_torn_last_line_is_distinct_from_corruption() -> None:
    lines = trail(4)
    data = join(lines[:3]) + lines[3][:25]
    r = validate_bytes(data)
    assert kinds(r) == [(4, "torn")] and r.torn_last_line and r.lines == 4
    corrupt = join(lines[:2]) + lines[2][:25] + b"\n" + join(lines[3:])
    r2 = validate_bytes(corrupt)
    assert not r2.torn_last_line and (3, "json") in kinds(r2)


def test_complete_json_without_final_newline_is_still_torn() -> None:
    r = validate_bytes(join(trail(2)).rstrip(b"\n"))
    assert kinds(r) == [(2, "torn")]


def test_first_100_errors_kept_count_exact() -> None:
    data = b"nope\n" * 1234
    r = validate_bytes(data)
    assert r.error_count == 1234 and len(r.errors) == 100
    assert [e.line for e in r.errors] == list(range(1, 101))
    assert len(r.errors_by_kind["json"]) == 10


def test_first_of_kind_found_even_when_overall_list_is_full() -> None:
    lines = [b"nope"] * 150 + trail(3)
    lines[-1] = lines[-1].replace(b'"seq":3', b'"seq":9')
    r = validate_bytes(join(lines))
    assert len(r.errors) == 100
    assert [(e.line, e.kind) for e in r.first_of(SEQUENCE_KINDS)] == [(153, "seq_gap")]


def test_configurable_field_names() -> None:
    recs = [{"n": i, "ts": 1700000000 + i, "type": "x"} for i in range(1, 4)]
    cfg = AuditConfig(timestamp_field="ts", event_field="type", seq_field="n", hash_field="h")
    lines = [json.dumps(r).encode() for r in recs]
    assert validate_bytes(join(lines), cfg).valid
    assert not validate_bytes(join(lines)).valid  # default names: timestamp missing


def test_long_line_limit_is_streamed_and_chain_continues() -> None:
    recs = [record(1), record(2, blob="x" * 5000), record(3)]
    data = join(chain(recs))
    small = AuditConfig(max_line_bytes=1000, block_size=256)
    r = validate_bytes(data, small)
    assert kinds(r) == [(2, "too_long")] and "exceeds the 1000-byte limit" in r.errors[0].reason
    # same answer whether the long line arrives in one block or is streamed in pieces
    assert kinds(validate_bytes(data, AuditConfig(max_line_bytes=1000))) == kinds(r)


def test_50mb_single_line_is_checked_normally(tmp_path: Path) -> None:
    line = json.dumps(record(1, blob="a" * (50 << 20), prev_sha256=ZERO)).encode()
    path = tmp_path / "big.jsonl"
    path.write_bytes(line + b"\n")
    r = validate_file(path)
    assert r.valid and r.lines == 1 and r.bytes == len(line) + 1
    path.write_bytes(line)  # and torn: reported as torn without being held twice
    assert kinds(validate_file(path)) == [(1, "torn")]


def test_describe_names_file_and_first_bad_lines() -> None:
    lines = trail(6)
    lines[1] = b"{"
    lines[4] = b"}"
    r = validate_bytes(join(lines), name="trail.jsonl")
    text = r.describe(FORMAT_KINDS, limit=1)
    assert text.startswith("trail.jsonl: 2 problem(s): line 2: invalid JSON") and "+1 more" in text
