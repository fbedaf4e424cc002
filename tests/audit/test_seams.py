"""Cutting a trail into ranges (as the parallel and incremental paths do) never changes the
result: every seam position, every block size, property-based over corrupted trails."""

from __future__ import annotations

import dataclasses

from audit_trailgen import chain, join, record, trail
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readiness.audit import AuditConfig, AuditResult, validate_bytes


def same(r: AuditResult) -> AuditResult:
    return dataclasses.replace(r, seconds=0.0)


def mixed_trail() -> bytes:
    """A small trail with one of every kind of problem, including a long line."""
    lines = trail(14)
    lines[2] = lines[2].replace(b'"latency_ms":13', b'"latency_ms":99')  # chain break on 4
    del lines[5]  # seq gap + chain break
    lines[7] = b"garbage"
    lines[9] = lines[9][:-1] + b',"blob":"' + b"z" * 300 + b'"}'  # too long with limit 200
    data = join(lines[:4]) + b"\n" + join(lines[4:8])
    data += lines[8] + b"\r\n" + join(lines[9:12]) + join(lines[12:])[:-30]
    return data


SMALL = AuditConfig(max_line_bytes=200)


def test_every_seam_position_gives_the_serial_result() -> None:
    data = mixed_trail()
    base = same(validate_bytes(data, SMALL))
    assert base.error_count >= 8 and base.torn_last_line
    for cut in range(len(data) + 1):
        assert same(validate_bytes(data, SMALL, cuts=[cut])) == base, cut


def test_every_block_size_gives_the_same_result() -> None:
    data = mixed_trail()
    base = same(validate_bytes(data, SMALL))
    for size in range(1, 400, 7):
        cfg = dataclasses.replace(SMALL, block_size=size)
        assert same(validate_bytes(data, cfg)) == base, size


_MUTATIONS = ("delete", "duplicate", "swap", "corrupt", "blank", "crlf", "unchain", "noseq", "back")


@st.composite
def trails(draw: st.DrawFn) -> bytes:
    n = draw(st.integers(0, 25))
    recs = [record(i + 1) for i in range(n)]
    lines = chain(recs, chained=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 4))):
        if not lines:
            break
        op = draw(st.sampled_from(_MUTATIONS))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap" and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        elif op == "corrupt" and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = (
                lines[i][:j] + draw(st.sampled_from([b"\xff", b"x", b"", b"\x00"])) + (lines[i][j + 1 :])
            )
        elif op == "blank":
            lines.insert(i, b"")
        elif op == "crlf":
            lines[i] += b"\r"
        elif op == "unchain":
            lines[i] = lines[i].split(b',"prev_sha256"')[0] + b"}"
        elif op == "noseq":
            lines[i] = lines[i].replace(b'"seq":', b'"sq":')
        elif op == "back":
            lines[i] = lines[i].replace(b"2025-01-01", b"2024-12-31")
    data = join(lines)
    if data and draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # maybe torn
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=trails(),
    cuts=st.lists(st.integers(0, 5000), max_size=4),
    block=st.integers(1, 300),
    limit=st.sampled_from([64, 150, 64 << 20]),
)
def test_split_anywhere_equals_serial(data: bytes, cuts: list[int], block: int, limit: int) -> None:
    cfg = AuditConfig(max_line_bytes=limit)
    serial = same(validate_bytes(data, cfg))
    cuts = [c % (len(data) + 1) for c in cuts]
    split = same(validate_bytes(data, dataclasses.replace(cfg, block_size=block), cuts=cuts))
    assert split == serial
    assert serial.error_count == sum(serial.error_counts.values())
    assert list(serial.errors) == sorted(serial.errors, key=lambda e: e.key())
