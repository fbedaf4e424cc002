"""Outcomes, score and verdict: the scoring rules as pure functions over check results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .spec import LAYERS, CheckSpec
from .waivers import Waiver


class Outcome(StrEnum):
    PASSED = "passed"
    WARNED = "warned"
    FAILED = "failed"
    ERROR = "error"
    BLOCKED = "blocked"
    SKIPPED = "skipped"
    NOT_APPLICABLE = "not_applicable"


class Verdict(StrEnum):
    GO = "GO"
    CONDITIONAL = "CONDITIONAL GO"
    NO_GO = "NO-GO"


#: Outcomes that let a dependent check run, and that a tier-1 check may end with.
SATISFIED = frozenset({Outcome.PASSED, Outcome.WARNED, Outcome.NOT_APPLICABLE})


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: float
    unit: str = ""
    threshold: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "threshold": self.threshold,
        }


@dataclass(slots=True)
class CheckResult:
    spec: CheckSpec
    nodeid: str
    outcome: Outcome
    duration_s: float = 0.0
    message: str = ""
    remediation: str = ""
    metrics: list[Metric] = field(default_factory=list)
    blocked_by: list[str] = field(default_factory=list)
    evidence: dict[str, Any] | None = None
    waiver: Waiver | None = None
    waiver_status: str | None = None

    @property
    def waived(self) -> bool:
        return self.waiver_status == "active"

    def to_json(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "id": spec.id,
            "nodeid": self.nodeid,
            "title": spec.title,
            "layer": spec.layer,
            "tier": spec.tier,
            "weight": spec.weight,
            "outcome": str(self.outcome),
            "duration_s": round(self.duration_s, 4),
            "message": self.message,
            "remediation": self.remediation,
            "metrics": [m.to_json() for m in self.metrics],
            "blocked_by": list(self.blocked_by),
            "evidence": self.evidence,
            "waiver": self.waiver.to_json(self.waiver_status or "active") if self.waiver else None,
        }


@dataclass(frozen=True, slots=True)
class Thresholds:
    go: float = 85.0
    conditional: float = 70.0


@dataclass(frozen=True, slots=True)
class LayerSummary:
    score: float
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Assessment:
    verdict: Verdict
    score: float
    complete: bool
    reasons: tuple[str, ...]
    layers: Mapping[str, LayerSummary]


def score(results: Iterable[CheckResult]) -> float:
    """100 x earned / possible; N/A and waived checks are out, skipped ones earn nothing."""
    earned = possible = 0.0
    for result in results:
        if result.outcome is Outcome.NOT_APPLICABLE or result.waived:
            continue
        weight = result.spec.weight
        possible += weight
        if result.outcome is Outcome.PASSED:
            earned += weight
        elif result.outcome is Outcome.WARNED:
            earned += weight / 2
    return round(100 * earned / possible, 2) if possible else 0.0


def apply_dependencies(results: Sequence[CheckResult]) -> None:
    """Relabel a check ``blocked`` when a dependency of it did not pass, transitively.

    Done once over the final results, so serial and distributed runs agree whatever order the
    checks ran in. A dependency that has no result in this run (left out, or never reached)
    blocks too: what it would have verified was not verified.
    """
    by_id = {r.spec.id: r for r in results}
    resolved: set[str] = set()

    def resolve(result: CheckResult, path: frozenset[str]) -> None:
        if result.spec.id in resolved:
            return
        unmet: list[tuple[str, str]] = []
        for dep_id in result.spec.depends:
            dep = by_id.get(dep_id)
            if dep is None:
                unmet.append((dep_id, f"{dep_id}, which did not run"))
                continue
            if dep_id in path:
                continue
            resolve(dep, path | {result.spec.id})
            if dep.outcome not in SATISFIED:
                unmet.append((dep_id, f"{dep_id} ({dep.outcome})"))
        if unmet:
            result.outcome = Outcome.BLOCKED
            result.blocked_by = [dep_id for dep_id, _ in unmet]
            result.metrics = []  # whatever it measured is not verified either
            result.message = f"not verified: depends on {', '.join(named for _, named in unmet)}"
        resolved.add(result.spec.id)

    for result in results:
        resolve(result, frozenset())


def attach_waivers(results: Iterable[CheckResult], waivers: Iterable[Waiver], today: dt.date) -> None:
    by_id = {w.id: w for w in waivers}
    for result in results:
        waiver = by_id.get(result.spec.id)
        if waiver is not None:
            result.waiver = waiver
            result.waiver_status = waiver.status(today)


def waiver_entries(
    waivers: Iterable[Waiver], results: Iterable[CheckResult], today: dt.date
) -> list[dict[str, Any]]:
    """Every waiver with its status; ``unused`` when its check is not in this run."""
    present = {r.spec.id for r in results}
    return [w.to_json(w.status(today) if w.id in present else "unused") for w in waivers]


def _counts(results: Iterable[CheckResult]) -> dict[str, int]:
    counts = {str(o): 0 for o in Outcome}
    for result in results:
        counts[str(result.outcome)] += 1
    return counts


def assess(
    results: Sequence[CheckResult],
    *,
    thresholds: Thresholds,
    missing: Sequence[str] = (),
    interrupted: str | None = None,
    partial: Sequence[str] = (),
) -> Assessment:
    """Score the run and decide the verdict, listing every reason it is not GO.

    ``missing`` are the ids of collected checks with no result; ``interrupted`` says why the
    run stopped early (Ctrl-C, ``-x``, collection errors), if it did; ``partial`` says which
    phases the run covers only in part (a partial run is never a sign-off).
    """
    total = score(results)
    reasons: list[str] = []
    no_go = False
    for result in results:
        if result.spec.tier == 1 and result.outcome not in SATISFIED:
            reasons.append(f"tier-1 check {result.spec.id} is {result.outcome}")
            no_go = True
    complete = not missing and interrupted is None
    if interrupted is not None:
        reasons.append(f"run incomplete: {interrupted}")
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        reasons.append(f"run incomplete: {len(missing)} collected check(s) have no result: {shown}")
    if not complete:
        no_go = True
    if partial:
        reasons.extend(partial)
        no_go = True
    if not results:
        reasons.append("no check ran")
        no_go = True
    elif not any(r.outcome is not Outcome.NOT_APPLICABLE and not r.waived for r in results):
        reasons.append("no check counts toward the score (all not applicable or waived)")
        no_go = True
    if total < thresholds.conditional:
        reasons.append(f"score {total:g} is below the conditional threshold {thresholds.conditional:g}")
        no_go = True
    elif total < thresholds.go:
        reasons.append(f"score {total:g} is below the GO threshold {thresholds.go:g}")
    if no_go:
        verdict = Verdict.NO_GO
    elif total >= thresholds.go:
        verdict = Verdict.GO
    else:
        verdict = Verdict.CONDITIONAL
    layers = {
        layer: LayerSummary(score(members), _counts(members))
        for layer in LAYERS
        if (members := [r for r in results if r.spec.layer == layer])
    }
    return Assessment(verdict, total, complete, tuple(reasons), layers)
