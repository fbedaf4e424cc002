"""The sandbox's attestation file: the manual steps attested for the rehearsal, so a healthy
sandbox run is GO; a fault lets one of them expire, as a forgotten renewal would."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from pathlib import Path

from ..attestations import DEFAULT_FILE

#: Who the sandbox's attestations name: no person checked anything in a rehearsal.
ATTESTED_BY = "readiness sandbox (rehearsal, no person)"
#: The attested steps and the fault that lets each one's attestation expire.
STEPS: Mapping[str, str] = {
    "manual.runbook_reviewed": "runbook_attestation_expired",
    "manual.rollback_plan_ready": "rollback_attestation_expired",
    "manual.escalation_contacts_current": "escalation_attestation_expired",
}
FAULTS: Mapping[str, str] = {
    fault: f"the sandbox's attestation of {check_id} expired two days ago (fails {check_id})"
    for check_id, fault in STEPS.items()
}


def write(folder: Path, faults: Collection[str], today: dt.date | None = None) -> Path:
    """Write ``readiness-attestations.toml`` into ``folder`` and return its path.

    Dated two days back: the run's date was taken before the sandbox started, and a rehearsal
    begun just before midnight must not find its attestations dated after it.
    """
    today = today or dt.date.today()
    tables = []
    for check_id, fault in STEPS.items():
        expired = fault in faults
        date = today - dt.timedelta(days=40 if expired else 2)
        expires = today - dt.timedelta(days=2) if expired else today + dt.timedelta(days=30)
        tables.append(
            f'[[attestation]]\nid = "{check_id}"\nattested_by = "{ATTESTED_BY}"\n'
            f"date = {date.isoformat()}\nexpires = {expires.isoformat()}\n"
            'note = "written by the sandbox for its rehearsal run"\n'
        )
    path = folder / DEFAULT_FILE
    path.write_text("\n".join(tables), encoding="utf-8")
    return path
