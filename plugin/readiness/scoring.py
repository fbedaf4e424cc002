"""Outcomes, score and verdict: the scoring rules as pure functions over check results."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .settings import DEFINITIONS, how_to_set
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
    #: The variables whose absence decided the outcome (skipped for want of them, or failed so).
    unset: tuple[str, ...] = ()
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
            "unset": list(self.unset),
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
class RootCause:
    """One thing to fix, and every check that did not pass because of it."""

    reason: str
    fix: str
    #: The checks it accounts for: its own, the ones skipped for the same settings, the ones blocked.
    checks: tuple[str, ...]
    #: A tier-1 check is among them, so this cause alone makes the run NO-GO.
    tier1: bool
    #: The check that is the cause; None for settings that are not set (many checks share those).
    check: str | None = None

    @property
    def text(self) -> str:
        """The cause as one line of the verdict's reasons."""
        if self.check is None:
            fix = self.fix[:1].lower() + self.fix[1:]
            return f"{self.reason}: {fix} — {_checks(len(self.checks))} skipped or blocked"
        blocked = len(self.checks) - 1
        return f"{self.reason} — fix: {self.fix}" + (f" ({_checks(blocked)} blocked)" if blocked else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "fix": self.fix,
            "check": self.check,
            "checks": list(self.checks),
            "tier1": self.tier1,
        }


@dataclass(frozen=True, slots=True)
class Assessment:
    verdict: Verdict
    score: float
    complete: bool
    reasons: tuple[str, ...]
    layers: Mapping[str, LayerSummary]
    root_causes: tuple[RootCause, ...] = ()


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


def _checks(n: int) -> str:
    return f"{n} check" if n == 1 else f"{n} checks"


#: Settings in the settings table's order, the order a cause lists them in.
ENV_ORDER: Mapping[str, int] = {d.env: i for i, d in enumerate(DEFINITIONS)}
#: How much of a cause's check message its reason quotes (the check's entry has all of it).
REASON_MESSAGE = 160


def root_causes(results: Sequence[CheckResult], env_file: Path | None = None) -> tuple[RootCause, ...]:
    """The causes of every check that did not pass, each once: settings that are not set (one cause
    for all of them), else the check that failed, with the checks it blocked folded under it."""
    by_id = {r.spec.id: r for r in results}

    def roots(result: CheckResult, seen: frozenset[str]) -> list[CheckResult]:
        """The checks (not blocked themselves) that a blocked check waits on, transitively."""
        if result.outcome is not Outcome.BLOCKED:
            return [result]
        found = [
            root
            for dep in result.blocked_by
            if dep in by_id and dep not in seen
            for root in roots(by_id[dep], seen | {dep})
        ]
        return found or [result]  # a dependency that never ran: the blocked check stands alone

    folded: dict[str | None, list[CheckResult]] = {}
    for result in results:
        if result.outcome in SATISFIED:
            continue
        for root in roots(result, frozenset({result.spec.id})):
            key = None if root.unset else root.spec.id
            members = folded.setdefault(key, [])
            if result not in members:
                members.append(result)
    causes: list[RootCause] = []
    for key, members in sorted(folded.items(), key=lambda item: item[0] is not None):
        ids = tuple(r.spec.id for r in members)
        tier1 = any(r.spec.tier == 1 for r in members)
        if key is None:
            unset = sorted(
                {v for r in members for v in r.unset}, key=lambda v: ENV_ORDER.get(v, len(ENV_ORDER))
            )
            fix = how_to_set(unset, env_file, name_them=False)
            causes.append(RootCause(f"{', '.join(unset)} not set", fix, ids, tier1))
            continue
        root = by_id[key]
        message = root.message.splitlines()[0] if root.message else ""
        if len(message) > REASON_MESSAGE:
            message = message[: REASON_MESSAGE - 1] + "…"
        reason = f"{key} {root.outcome}" + (f": {message}" if message else "")
        causes.append(RootCause(reason, root.remediation, (key, *(i for i in ids if i != key)), tier1, key))
    return tuple(causes)


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
    unconfigured: bool = False,
    env_file: Path | None = None,
) -> Assessment:
    """Score the run and decide the verdict, listing every reason it is not GO.

    A tier-1 check that did not pass makes the run NO-GO; the reasons name its root cause once,
    however many checks it skipped or blocked. ``missing`` are the ids of collected checks with
    no result; ``interrupted`` says why the run stopped early (Ctrl-C, ``-x``, collection errors),
    if it did; ``partial`` says which phases the run covers only in part (a partial run is never
    a sign-off); ``unconfigured``: none of the target's credentials is set (a first run: the
    reasons then point at the sandbox, when settings that are not set are what keeps it from GO).
    """
    total = score(results)
    causes = root_causes(results, env_file)
    reasons = [cause.text for cause in causes if cause.tier1]
    no_go = bool(reasons)
    if unconfigured and any(cause.check is None and cause.tier1 for cause in causes):
        reasons.append(
            "nothing is configured for this target yet: `pytest -m preflight --target sandbox` "
            "shows a healthy run against a local sandbox"
        )
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
    return Assessment(verdict, total, complete, tuple(reasons), layers, causes)
