"""The drill run a preflight rests on: the newest one ``history.jsonl`` records for the target,
read back from its report and checked against the SHA-256 recorded when it was written.

:func:`phase_evidence` reads the same records for the sign-off report: the newest run of each
phase on the target, its report hashed again the same way."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..probes.release import EvidenceError, read_evidence
from .files import read_history

#: The check that judges drill evidence; with ``--drill`` it runs after the run's own drills.
DRILL_EVIDENCE_CHECK: Final = "release.drill_evidence_fresh"
#: The four drills a drill run must have passed.
DRILLS: Final = (
    "drill.killswitch_activation",
    "drill.killswitch_deactivation",
    "drill.crash_recovery",
    "drill.position_reconciliation",
)
#: Outcomes a drill may end with and still count as rehearsed (not applicable says why in its report).
DRILL_PASSED: Final = frozenset({"passed", "warned", "not_applicable"})
HISTORY: Final = "history.jsonl"
#: The phases the sign-off report shows evidence of, in the order a release goes through them.
EVIDENCE_PHASES: Final = ("preflight", "drill", "postdeploy")
_UNDRILLED: Final = "deploying without a rehearsed kill switch and crash recovery is a high risk"
_ALL: Final = 10**9


class DrillEvidenceError(Exception):
    """No usable drill run: none recorded, or its report is gone, unreadable or changed."""


@dataclass(frozen=True, slots=True)
class DrillRun:
    report: Path
    finished_at: dt.datetime
    verdict: str
    json_sha256: str
    complete: bool
    partial: bool
    #: Outcome of each check of the run, by id.
    outcomes: dict[str, str]

    def age_days(self, now: dt.datetime) -> float:
        return (now - self.finished_at).total_seconds() / 86400

    def problems(self) -> list[str]:
        """Why this run does not show the drills rehearsed (empty: it does)."""
        found = [] if self.complete else ["it did not finish (interrupted or crashed)"]
        if self.partial:
            found.append("it ran only part of the drills")
        for drill in DRILLS:
            outcome = self.outcomes.get(drill)
            if outcome is None:
                found.append(f"{drill} did not run")
            elif outcome not in DRILL_PASSED:
                found.append(f"{drill} {outcome}")
        return found


def newest_drill_run(location: Path, target: str) -> DrillRun:
    """The newest drill run on ``target`` recorded in ``location`` (a reports folder, or a drill
    report inside one, which then must be the newest of its name)."""
    named = location.name if location.suffix == ".json" else None
    folder = location.parent if named else location
    history = folder / HISTORY
    if not history.is_file():
        raise DrillEvidenceError(f"no drill run is recorded in {folder}: it has no {HISTORY}; {_UNDRILLED}")
    entry = _newest(recorded_runs(folder, target), "drill", named)
    if entry is None:
        which = f"of {named} " if named else ""
        raise DrillEvidenceError(
            f"no drill run {which}on target {target} is recorded in {history}; {_UNDRILLED}"
        )
    path, data = read_recorded(folder, entry, "a drill report")
    document = _document(path, data)
    return DrillRun(
        report=path,
        finished_at=dt.datetime.fromisoformat(document["finished_at"]),
        verdict=str(document.get("verdict")),
        json_sha256=str(entry.get("json_sha256")),
        complete=bool(document.get("complete")),
        partial=bool(document.get("partial")),
        outcomes={check["id"]: check["outcome"] for check in document["checks"]},
    )


def recorded_runs(folder: Path, target: str) -> list[dict[str, Any]]:
    """Every run on ``target`` that the folder's ``history.jsonl`` records, oldest first."""
    return read_history(folder / HISTORY, _ALL, target=target)


def _newest(entries: list[dict[str, Any]], phase: str, named: str | None = None) -> dict[str, Any] | None:
    runs = [
        entry
        for entry in entries
        if phase in (entry.get("phases") or ()) and (named is None or entry.get("report") == named)
    ]
    return runs[-1] if runs else None


def read_recorded(folder: Path, entry: dict[str, Any], what: str) -> tuple[Path, bytes]:
    """The report a history entry names, as bytes that still hash to the SHA-256 it recorded."""
    history = folder / HISTORY
    path = folder / str(entry.get("report"))
    try:
        data = read_evidence(path, what).data
    except EvidenceError as exc:
        raise DrillEvidenceError(
            f"the {what.removeprefix('a ')} {HISTORY} names is not readable: {exc}"
        ) from None
    recorded = str(entry.get("json_sha256"))
    actual = hashlib.sha256(data).hexdigest()
    if actual != recorded:
        raise DrillEvidenceError(
            f"{path} no longer hashes to what {history} recorded when the "
            f"{_phase_names(entry)} run ended "
            f"({actual[:12]}… is not {recorded[:12]}…): the report was changed after the run"
        )
    return path, data


def _phase_names(entry: dict[str, Any]) -> str:
    return " and ".join(str(phase) for phase in entry.get("phases") or ()) or "recorded"


@dataclass(frozen=True, slots=True)
class PhaseEvidence:
    """The newest run of one phase on the target, as its history entry records it."""

    phase: str
    #: The history entry; None: no run of this phase is recorded.
    entry: dict[str, Any] | None
    #: Why the report does not back the entry (gone, unreadable, changed); None: it hashes as recorded.
    problem: str | None = None


def phase_evidence(folder: Path, entries: list[dict[str, Any]]) -> list[PhaseEvidence]:
    """The newest preflight, drill and post-deploy run among ``entries`` (:func:`recorded_runs` of
    ``folder`` for one target), each report read back and hashed again (a reader never trusts the
    history entry alone)."""
    found = []
    for phase in EVIDENCE_PHASES:
        entry = _newest(entries, phase)
        problem = None
        if entry is not None:
            try:
                read_recorded(folder, entry, "a readiness report")
            except DrillEvidenceError as exc:
                problem = str(exc)
        found.append(PhaseEvidence(phase, entry, problem))
    return found


def _document(path: Path, data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data)
        dt.datetime.fromisoformat(document["finished_at"])
        if not all(isinstance(c, dict) and {"id", "outcome"} <= c.keys() for c in document["checks"]):
            raise ValueError("a check entry without id or outcome")
    except (ValueError, KeyError, TypeError) as exc:
        raise DrillEvidenceError(f"{path} is not a readiness report ({exc})") from None
    return document  # type: ignore[no-any-return]
