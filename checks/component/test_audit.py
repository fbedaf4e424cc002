"""The bot's audit trail: present, well-formed JSONL, contiguous seq, intact hash chain."""

from __future__ import annotations

import os

import pytest

from readiness.audit import (
    CHAIN_KINDS,
    FORMAT_KINDS,
    SEQUENCE_KINDS,
    TIMESTAMP_KINDS,
    AuditResult,
    TrailUnreadable,
)
from readiness.context import CheckContext

UNREADABLE = "the trail could not be read (see audit.present_writable)"
Trail = AuditResult | TrailUnreadable | None  # what the `audit_trail` fixture gives


def _validated(readiness: CheckContext, audit_trail: Trail) -> AuditResult:
    readiness.require_audit_trail()
    if not isinstance(audit_trail, AuditResult):
        readiness.fail(f"{audit_trail}" if audit_trail else UNREADABLE)
    return audit_trail


@pytest.mark.readiness(
    id="audit.present_writable",
    layer="component",
    tier=1,
    title="The audit trail exists and the bot can append to it",
    remediation="Point READINESS_AUDIT_TRAIL at the bot's audit trail; the bot's user needs write access "
    "to the file and its folder.",
)
def test_present_writable(readiness: CheckContext, audit_trail: Trail) -> None:
    readiness.require_audit_trail()
    path = readiness.settings.audit_trail
    assert path is not None
    if isinstance(audit_trail, TrailUnreadable) or not path.is_file():
        readiness.fail(f"READINESS_AUDIT_TRAIL={path}: {audit_trail or 'not a file'}")
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        readiness.fail(f"READINESS_AUDIT_TRAIL={path}: the file or its folder is not writable by this user")
    assert isinstance(audit_trail, AuditResult)
    readiness.metric("lines", audit_trail.lines)
    readiness.metric("validated", round(audit_trail.seconds, 3), unit="s")


@pytest.mark.readiness(
    id="audit.jsonl_valid",
    layer="component",
    tier=1,
    depends=("audit.present_writable",),
    title="Every audit line is one UTF-8 JSON object with timestamp and event",
    remediation="Find what wrote the lines named in the message (another writer, a crash, an editor) and "
    "restore the trail from backup; never edit it in place.",
)
def test_jsonl_valid(readiness: CheckContext, audit_trail: Trail) -> None:
    result = _validated(readiness, audit_trail)
    if result.count_of(FORMAT_KINDS):
        readiness.fail(result.describe(FORMAT_KINDS))


@pytest.mark.readiness(
    id="audit.sequence_intact",
    layer="component",
    tier=1,
    depends=("audit.present_writable",),
    title="seq numbers are contiguous and timestamps never go back",
    remediation="A gap or duplicate means lost or replayed events: compare with the bot's log around the "
    "lines named, and restore the trail from backup before deploying.",
)
def test_sequence_intact(readiness: CheckContext, audit_trail: Trail) -> None:
    result = _validated(readiness, audit_trail)
    kinds = (*SEQUENCE_KINDS, *TIMESTAMP_KINDS)
    if result.count_of(kinds):
        readiness.fail(result.describe(kinds))


@pytest.mark.readiness(
    id="audit.hash_chain_intact",
    layer="component",
    tier=1,
    depends=("audit.present_writable",),
    title="Each line's prev_sha256 matches the line before it",
    remediation="A broken chain means a line was changed or removed after it was written: treat it as "
    "tampering, restore the trail from backup and find out who wrote the lines named.",
)
def test_hash_chain_intact(readiness: CheckContext, audit_trail: Trail) -> None:
    result = _validated(readiness, audit_trail)
    if not result.chained:
        readiness.not_applicable("the trail carries no prev_sha256 chain")
    if result.count_of(CHAIN_KINDS):
        readiness.fail(result.describe(CHAIN_KINDS))
