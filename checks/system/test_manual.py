"""System layer: the runbook steps a person confirms before deployment, read from their attestations.

No probe can tell whether the runbook matches the deployment or the on-call list is current; a
person checks, then records who did it and when in the attestation file. An attested step passes
until its attestation expires; a step nobody attested is not verified (skipped).
"""

from __future__ import annotations

import pytest

from readiness.context import CheckContext


def _judge_attestation(readiness: CheckContext) -> None:
    """Pass while the step's attestation is in force, fail once it has expired, skip without one."""
    check_id, path = readiness.spec.id, readiness.attestation_file
    attestation = readiness.attestation(check_id)
    if attestation is None:
        missing = "" if path.exists() else " (the file does not exist yet)"
        pytest.skip(
            f'not attested: add an [[attestation]] with id = "{check_id}", attested_by, date and '
            f"expires to {path}{missing}"
        )
    readiness.evidence(
        file=str(attestation.path),
        line=attestation.line,
        attested_by=attestation.attested_by,
        date=attestation.date.isoformat(),
        expires=attestation.expires.isoformat(),
        note=attestation.note,
    )
    if attestation.status(readiness.today) == "expired":
        readiness.fail(
            f"attested by {attestation.attested_by} on {attestation.date.isoformat()}, expired on "
            f"{attestation.expires.isoformat()} ({attestation.where})",
            remediation="Have the step checked again and renew its attestation (new date and expires) "
            f"in {attestation.where}.",
        )


@pytest.mark.readiness(
    id="manual.runbook_reviewed",
    layer="system",
    tier=2,
    title="The runbook was walked through and matches the deployment",
    remediation="Walk through the runbook with the on-call engineer against this deployment (commands, "
    "hosts, settings), correct what differs, then attest it: add or renew its [[attestation]] in the "
    "attestation file with who did it, when, and until when it holds.",
)
def test_runbook_reviewed(readiness: CheckContext) -> None:
    _judge_attestation(readiness)


@pytest.mark.readiness(
    id="manual.rollback_plan_ready",
    layer="system",
    tier=2,
    title="A rollback plan is written and rehearsed",
    remediation="Write down how to return to the previous release (stop the bot, restore its version, "
    "config and positions DB, start it), rehearse it once, then attest it: add or renew its "
    "[[attestation]] in the attestation file with who did it, when, and until when it holds.",
)
def test_rollback_plan_ready(readiness: CheckContext) -> None:
    _judge_attestation(readiness)


@pytest.mark.readiness(
    id="manual.escalation_contacts_current",
    layer="system",
    tier=2,
    title="Escalation contacts are current",
    remediation="Reach each escalation contact (on-call, risk officer, exchange account owner) to confirm "
    "they answer and the list is right, then attest it: add or renew its [[attestation]] in the "
    "attestation file with who did it, when, and until when it holds.",
)
def test_escalation_contacts_current(readiness: CheckContext) -> None:
    _judge_attestation(readiness)
