"""The HTML sign-off report (``readiness.html``), rendered from a ``readiness.json`` dict.

The page is what gets attached to a deployment sign-off, so it is one self-contained file with
no JavaScript: inline CSS and SVG, readable in any browser with scripts off, and printable.
Everything shown is normalised here first (the JSON and history entries may lack fields or
come from an older run), so the template only lays out ready-made, autoescaped text.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from .drill_evidence import DRILL_EVIDENCE_CHECK, PhaseEvidence

__all__ = ["render_html"]

TEMPLATE = "readiness.html.j2"
SANDBOX_NOTICE = "SANDBOX RUN: emulated Binance and Telegram, not a deployment check"
OUTCOMES = ("passed", "warned", "failed", "error", "blocked", "skipped", "not_applicable")
LAYER_ORDER = ("component", "integration", "system", "deployment", "drill")
#: Sort rank of each outcome: what needs a person's attention comes first.
RANK = {
    "failed": 0,
    "error": 0,
    "blocked": 0,
    "warned": 1,
    "skipped": 1,
    "passed": 2,
    "not_applicable": 2,
}
#: Outcomes a check may end with and still count as fine (tier-1 included).
SATISFIED = frozenset({"passed", "warned", "not_applicable"})
#: Outcomes whose remediation is tucked away: nothing to fix.
QUIET = frozenset({"passed", "not_applicable"})
VERDICT_CLASS = {"GO": "go", "CONDITIONAL GO": "conditional", "NO-GO": "nogo"}
#: The checks that judge a person's attestation of a runbook step.
MANUAL_PREFIX = "manual."
#: Outcomes a root cause's checks may have that say nothing was verified.
UNVERIFIED = frozenset({"skipped", "blocked"})
#: How the evidence panel names each phase.
PHASE_LABEL = {"preflight": "Preflight", "drill": "Drill", "postdeploy": "Post-deploy"}
#: What an attested step's outcome says of its attestation.
ATTESTATION_STATUS = {"passed": "active", "failed": "expired"}

# Score gauge: a semi-circle of radius R around (CX, CY) in a 240 x 150 viewBox.
GAUGE_CX, GAUGE_CY, GAUGE_R = 120.0, 122.0, 92.0
# Trend chart plot area inside a 720 x 210 viewBox.
TREND_W, TREND_H = 720.0, 210.0
TREND_LEFT, TREND_RIGHT, TREND_TOP, TREND_BOTTOM = 40.0, 96.0, 14.0, 34.0


@functools.cache
def _environment() -> jinja2.Environment:
    """Built once per process: template compilation dominates a small report's render time."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.filters["plural"] = plural
    return environment


def render_html(
    report: Mapping[str, Any],
    *,
    history: Sequence[Mapping[str, Any]],
    json_sha256: str,
    evidence: Sequence[PhaseEvidence] | None = None,
) -> str:
    """The sign-off page for ``report``; ``history`` is oldest first, the current run last.

    ``evidence`` is the newest run of each phase on the target (``drill_evidence.phase_evidence``
    of the reports folder); None leaves the evidence panel out (the folder was not read)."""
    template = _environment().get_template(TEMPLATE)
    return template.render(_context(report, history, json_sha256, evidence))


def plural(count: Any, word: str) -> str:
    """``1 check``, ``2 checks``: a count with its noun."""
    return f"{_num(count)} {word if _number(count) == 1 else word + 's'}"


# --------------------------------------------------------------------------- formatting helpers


def _text(value: Any, default: str = "") -> str:
    """A value as display text: JSON for nested data, ``default`` for null or missing."""
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _num(value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _number(value: Any) -> float | None:
    """A finite float, or None for anything else (missing, text, NaN, bools)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _num(value: Any) -> str:
    """Numbers as a person reads them: no float noise, no needless ``.0``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _text(value, "—")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text if text not in ("0", "-0") else f"{value:.3g}"


def _score(value: Any) -> str:
    number = _number(value)
    return "—" if number is None else f"{number:.2f}".rstrip("0").rstrip(".")


def _duration(value: Any) -> str:
    seconds = _number(value)
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{seconds / 60:.1f} min"


def _when(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _timestamp(value: Any) -> str:
    """ISO timestamps shown as ``2026-11-24 03:40:02 UTC``; anything else as given."""
    moment = _when(value)
    if moment is None:
        return _text(value, "—")
    suffix = " UTC" if moment.tzinfo is not None else ""
    return moment.strftime("%Y-%m-%d %H:%M:%S") + suffix


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _outcome(value: Any) -> str:
    return value if isinstance(value, str) and value else "unknown"


def _yes_no(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else "—"


def _label(outcome: str) -> str:
    return outcome.replace("_", " ").upper()


# --------------------------------------------------------------------------- view model


def _context(
    report: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]],
    json_sha256: str,
    evidence: Sequence[PhaseEvidence] | None,
) -> dict[str, Any]:
    environment = _mapping(report.get("environment"))
    thresholds = _mapping(report.get("thresholds"))
    go = _number(thresholds.get("go"))
    conditional = _number(thresholds.get("conditional"))
    go = 85.0 if go is None else go
    conditional = 70.0 if conditional is None else conditional
    verdict = _text(report.get("verdict"), "UNKNOWN")
    sandbox = report.get("sandbox") is True or report.get("target") == "sandbox"
    checks = [_check(raw) for raw in _list(report.get("checks")) if isinstance(raw, Mapping)]
    ordered = sorted(checks, key=lambda check: check.rank)  # stable within a rank
    totals = dict.fromkeys(OUTCOMES, 0)
    for check in checks:
        totals[check.outcome] = totals.get(check.outcome, 0) + 1
    started, finished = _when(report.get("started_at")), _when(report.get("finished_at"))
    run_time = (
        _duration((finished - started).total_seconds())
        if started and finished and (started.tzinfo is None) == (finished.tzinfo is None)
        else "—"
    )
    tier1 = [check for check in ordered if check.tier == "1"]
    manual = [check for check in checks if check.id.startswith(MANUAL_PREFIX)]  # in the run's order
    complete = report.get("complete")
    causes = _causes(report.get("root_causes"), {check.id: check.outcome for check in checks})
    reasons = [_text(reason) for reason in _list(report.get("reasons"))]
    return {
        "sandbox": sandbox,
        "sandbox_notice": SANDBOX_NOTICE,
        "target": _text(report.get("target"), "unknown"),
        "verdict": verdict,
        "verdict_class": VERDICT_CLASS.get(verdict, "unknown"),
        "score": _score(report.get("score")),
        "complete": complete is True,
        "complete_known": isinstance(complete, bool),
        "partial": report.get("partial") is True,
        "left_out": [_text(check_id) for check_id in _list(report.get("left_out"))],
        "phases": ", ".join(_text(phase) for phase in _list(report.get("phases"))) or "none",
        "causes": causes,
        "reasons": [r for r in reasons if not any(r.startswith(cause.reason) for cause in causes)],
        "go": _num(go),
        "conditional": _num(conditional),
        "schema": _text(report.get("schema"), "—"),
        "started_at": _timestamp(report.get("started_at")),
        "finished_at": _timestamp(report.get("finished_at")),
        "finished_date": finished.strftime("%Y-%m-%d") if finished else _text(report.get("finished_at"), ""),
        "run_time": run_time,
        "git_commit": _text(environment.get("git_commit"), "not recorded"),
        "signoff_by": _text(environment.get("signoff_by"), ""),
        "json_sha256": json_sha256,
        "gauge": _gauge(_number(report.get("score")), go, conditional),
        "trend": _trend(history, go, conditional),
        "layers": _layers(report.get("layers")),
        "outcomes": OUTCOMES,
        "totals": totals,
        "total": len(checks),
        "tier1": tier1,
        "tier1_failing": sum(1 for check in tier1 if not check.ok),
        "groups": _groups(ordered),
        "waivers": [_waiver(raw) for raw in _list(report.get("waivers")) if isinstance(raw, Mapping)],
        "attested": [_attested(check) for check in manual],
        "attestation_files": list(
            dict.fromkeys(
                _text(c.evidence.get("file")) for c in manual if c.evidence and c.evidence.get("file")
            )
        ),
        "environment": [(str(key), _text(value, "—")) for key, value in environment.items()],
        "drill_run": _drill_run(report),
        "evidence": None if evidence is None else [_evidence(item, json_sha256) for item in evidence],
    }


def _drill_run(report: Mapping[str, Any]) -> str | None:
    """The drill run the preflight rests on, as the sign-off names it (None: not judged)."""
    entry = next(
        (
            c
            for c in _list(report.get("checks"))
            if isinstance(c, Mapping) and c.get("id") == DRILL_EVIDENCE_CHECK
        ),
        None,
    )
    if entry is None:
        return None
    outcome = _text(entry.get("outcome"), "unknown").replace("_", " ")
    evidence = _mapping(entry.get("evidence"))
    if evidence.get("report") == "this run":
        return f"this run's own drills ({DRILL_EVIDENCE_CHECK} {outcome})"
    if not evidence:
        return f"none on record ({DRILL_EVIDENCE_CHECK} {outcome}: {_text(entry.get('message'))})"
    return (
        f"{_timestamp(evidence.get('finished_at'))}, {_text(evidence.get('verdict'))}, "
        f"SHA-256 {_text(evidence.get('json_sha256'))} ({_text(evidence.get('report'))}; "
        f"{DRILL_EVIDENCE_CHECK} {outcome})"
    )


@dataclass(frozen=True, slots=True)
class CauseView:
    """One root cause in the verdict box: what is wrong, its fix, the checks it accounts for."""

    reason: str
    fix: str
    tier1: bool
    #: (id, outcome) of each check folded under it, the cause's own first.
    checks: list[tuple[str, str]]
    summary: str


def _causes(raw: Any, outcomes: Mapping[str, str]) -> list[CauseView]:
    causes = []
    for cause in _list(raw):
        if not isinstance(cause, Mapping) or not _text(cause.get("reason")):
            continue
        checks = [(_text(i), outcomes.get(_text(i), "unknown")) for i in _list(cause.get("checks"))]
        causes.append(
            CauseView(
                reason=_text(cause.get("reason")),
                fix=_text(cause.get("fix")).strip(),
                tier1=cause.get("tier1") is True,
                checks=checks,
                summary=_cause_summary([outcome for _, outcome in checks]),
            )
        )
    return causes


def _cause_summary(outcomes: list[str]) -> str:
    """``3 checks skipped or blocked``, ``1 check failed``, ``7 checks: 1 failed, 6 blocked``."""
    if not outcomes:
        return "no check named"
    if set(outcomes) <= UNVERIFIED:
        return f"{plural(len(outcomes), 'check')} skipped or blocked"
    counts = {outcome: outcomes.count(outcome) for outcome in dict.fromkeys(outcomes)}
    if len(counts) == 1:
        return f"{plural(len(outcomes), 'check')} {_outcome_words(outcomes[0])}"
    parts = ", ".join(f"{count} {_outcome_words(outcome)}" for outcome, count in counts.items())
    return f"{plural(len(outcomes), 'check')}: {parts}"


def _outcome_words(outcome: str) -> str:
    return "ended in error" if outcome == "error" else outcome.replace("_", " ")


@dataclass(frozen=True, slots=True)
class EvidenceView:
    """The newest run of one phase, in the evidence panel."""

    phase: str
    recorded: bool
    when: str
    verdict: str
    cls: str
    sha256: str
    report: str
    status: str  # what the SHA-256 says of the report file now
    ok: bool
    this_run: bool


def _evidence(item: PhaseEvidence, json_sha256: str) -> EvidenceView:
    label = PHASE_LABEL.get(item.phase, item.phase)
    entry = item.entry
    if entry is None:
        return EvidenceView(label, False, "", "", "unknown", "", "", "", False, False)
    verdict = _text(entry.get("verdict"), "—")
    flags = (["incomplete"] if entry.get("complete") is False else []) + (
        ["partial"] if entry.get("partial") is True else []
    )
    sha256 = _text(entry.get("json_sha256"), "—")
    return EvidenceView(
        phase=label,
        recorded=True,
        when=_timestamp(entry.get("finished_at")),
        verdict=verdict + (f" ({', '.join(flags)})" if flags else ""),
        cls=VERDICT_CLASS.get(verdict, "unknown"),
        sha256=sha256,
        report=_text(entry.get("report"), "—"),
        status=item.problem or "the report still hashes to it",
        ok=item.problem is None,
        this_run=sha256 == json_sha256,
    )


@dataclass(frozen=True, slots=True)
class MetricView:
    name: str
    value: str
    unit: str
    threshold: str
    status: str  # "over", "within", "unknown" (not comparable), or "" (no threshold)


@dataclass(frozen=True, slots=True)
class WaiverView:
    id: str
    justification: str
    approved_by: str
    expires: str
    status: str


@dataclass(frozen=True, slots=True)
class AttestedView:
    """One ``manual.*`` check in the sign-off block: who attested its step, until when."""

    id: str
    step: str
    attested: bool
    attested_by: str
    date: str
    expires: str
    status: str  # "active", "expired", "not attested", or the check's outcome when it is neither
    badge: str
    note: str


@dataclass(frozen=True, slots=True)
class CheckView:
    """One check, ready to show. Attributes, not dict keys: Jinja looks attributes up first."""

    id: str
    nodeid: str
    title: str
    layer: str
    tier: str
    weight: str
    outcome: str
    label: str
    ok: bool
    quiet: bool
    rank: int
    duration: str
    message: str
    remediation: str
    metrics: list[MetricView]
    blocked_by: list[str]
    waiver: WaiverView | None
    evidence: Mapping[str, Any] | None


def _metric(raw: Mapping[str, Any]) -> MetricView:
    value, threshold = _number(raw.get("value")), _number(raw.get("threshold"))
    if raw.get("threshold") is None:
        status = ""
    elif value is None or threshold is None:
        status = "unknown"
    else:
        status = "over" if value > threshold else "within"
    return MetricView(
        name=_text(raw.get("name"), "—"),
        value=_num(raw.get("value")),
        unit=_text(raw.get("unit")),
        threshold=_num(raw.get("threshold")) if status else "",
        status=status,
    )


def _check(raw: Mapping[str, Any]) -> CheckView:
    outcome = _outcome(raw.get("outcome"))
    waiver, evidence = raw.get("waiver"), raw.get("evidence")
    return CheckView(
        id=_text(raw.get("id"), "(no id)"),
        nodeid=_text(raw.get("nodeid")),
        title=_text(raw.get("title")),
        layer=_text(raw.get("layer"), "—"),
        tier=_text(raw.get("tier"), "—"),
        weight=_num(raw.get("weight")),
        outcome=outcome,
        label=_label(outcome),
        ok=outcome in SATISFIED,
        quiet=outcome in QUIET,
        rank=RANK.get(outcome, 0),
        duration=_duration(raw.get("duration_s")),
        message=_text(raw.get("message")).strip(),
        remediation=_text(raw.get("remediation")).strip(),
        metrics=[_metric(m) for m in _list(raw.get("metrics")) if isinstance(m, Mapping)],
        blocked_by=[_text(item) for item in _list(raw.get("blocked_by"))],
        waiver=_waiver(waiver) if isinstance(waiver, Mapping) else None,
        evidence=evidence if isinstance(evidence, Mapping) else None,
    )


def _attested(check: CheckView) -> AttestedView:
    evidence = check.evidence
    if evidence is None:
        return AttestedView(
            id=check.id,
            step=check.title or check.id,
            attested=False,
            attested_by="",
            date="",
            expires="",
            status="not attested",
            badge=check.outcome,
            note="",
        )
    status = ATTESTATION_STATUS.get(check.outcome, check.outcome.replace("_", " "))
    return AttestedView(
        id=check.id,
        step=check.title or check.id,
        attested=True,
        attested_by=_text(evidence.get("attested_by"), "—"),
        date=_text(evidence.get("date"), "—"),
        expires=_text(evidence.get("expires"), "—"),
        status=status,
        badge=status if check.outcome in ATTESTATION_STATUS else check.outcome,
        note=_text(evidence.get("note")),
    )


def _waiver(raw: Mapping[str, Any]) -> WaiverView:
    return WaiverView(
        id=_text(raw.get("id"), "—"),
        justification=_text(raw.get("justification"), "—"),
        approved_by=_text(raw.get("approved_by"), "—"),
        expires=_text(raw.get("expires"), "—"),
        status=_text(raw.get("status"), "unknown"),
    )


def _layers(raw: Any) -> list[dict[str, Any]]:
    layers = _mapping(raw)
    names = [name for name in LAYER_ORDER if name in layers]
    names += [name for name in layers if name not in LAYER_ORDER]
    rows = []
    for name in names:
        layer = _mapping(layers[name])
        counts = _mapping(layer.get("counts"))
        values = {outcome: counts.get(outcome, 0) for outcome in OUTCOMES}
        rows.append(
            {
                "name": str(name),
                "score": _score(layer.get("score")),
                "counts": {key: _num(value) for key, value in values.items()},
                "total": _num(sum(v for v in values.values() if _number(v) is not None)),
            }
        )
    return rows


def _groups(ordered: list[CheckView]) -> list[dict[str, Any]]:
    titles = (
        ("attention", "Needs attention: failed, error, blocked"),
        ("review", "Review: warned, not verified (skipped)"),
        ("fine", "Passed and not applicable"),
    )
    return [
        {"key": key, "title": title, "checks": [c for c in ordered if c.rank == rank]}
        for rank, (key, title) in enumerate(titles)
    ]


# --------------------------------------------------------------------------- SVG geometry


def _polar(score: float, radius: float) -> tuple[float, float]:
    """Point on the gauge for ``score`` (0 at the left end, 100 at the right end)."""
    angle = math.pi * (1 - max(0.0, min(100.0, score)) / 100)
    return GAUGE_CX + radius * math.cos(angle), GAUGE_CY - radius * math.sin(angle)


def _arc(start: float, end: float, radius: float) -> str:
    x1, y1 = _polar(start, radius)
    x2, y2 = _polar(end, radius)
    return f"M {x1:.2f} {y1:.2f} A {radius:.0f} {radius:.0f} 0 0 1 {x2:.2f} {y2:.2f}"


def _gauge(score: float | None, go: float, conditional: float) -> dict[str, Any]:
    """Paths of the semi-circle gauge: coloured zones, the score arc and the threshold ticks."""
    low, high = sorted((max(0.0, min(100.0, conditional)), max(0.0, min(100.0, go))))
    zones = [
        {"cls": cls, "d": _arc(a, b, GAUGE_R + 15)}
        for cls, a, b in (("nogo", 0.0, low), ("conditional", low, high), ("go", high, 100.0))
        if b > a
    ]
    ticks = []
    for label, value in (("conditional", conditional), ("go", go)):
        x1, y1 = _polar(value, GAUGE_R - 12)
        x2, y2 = _polar(value, GAUGE_R + 20)
        lx, ly = _polar(value, GAUGE_R + 30)
        anchor = "end" if value < 40 else "start" if value > 60 else "middle"
        ticks.append(
            {
                "name": label,
                "x1": f"{x1:.2f}",
                "y1": f"{y1:.2f}",
                "x2": f"{x2:.2f}",
                "y2": f"{y2:.2f}",
                "lx": f"{lx:.2f}",
                "ly": f"{ly + 4:.2f}",
                "anchor": anchor,
                "text": _num(value),
            }
        )
    value_arc = _arc(0.0, score, GAUGE_R) if score is not None and score > 0 else ""
    return {
        "track": _arc(0.0, 100.0, GAUGE_R),
        "zones": zones,
        "value": value_arc,
        "ticks": ticks,
        "cx": f"{GAUGE_CX:.0f}",
        "cy": f"{GAUGE_CY:.0f}",
    }


def _trend(history: Sequence[Mapping[str, Any]], go: float, conditional: float) -> dict[str, Any]:
    """Points, lines and labels of the score trend; ``points`` is empty when there is no trend."""
    runs: list[dict[str, Any]] = []
    for entry in history:
        if not isinstance(entry, Mapping):
            continue
        verdict = _text(entry.get("verdict"), "—")
        runs.append(
            {
                "when": _timestamp(entry.get("finished_at")),
                "target": _text(entry.get("target"), "—"),
                "verdict": verdict,
                "cls": VERDICT_CLASS.get(verdict, "unknown"),
                "score": _number(entry.get("score")),
                "score_text": _score(entry.get("score")),
                "complete": _yes_no(entry.get("complete")),
                "commit": _text(entry.get("git_commit"), "—")[:12],
            }
        )
    scored = [(run, score) for run in runs if (score := run["score"]) is not None]
    plot_w = TREND_W - TREND_LEFT - TREND_RIGHT
    plot_h = TREND_H - TREND_TOP - TREND_BOTTOM

    def y_of(score: float) -> float:
        return TREND_TOP + (100 - max(0.0, min(100.0, score))) / 100 * plot_h

    points = []
    if len(scored) >= 2:
        step = plot_w / (len(scored) - 1)
        for index, (run, score) in enumerate(scored):
            points.append(
                {
                    **run,
                    "x": f"{TREND_LEFT + index * step:.2f}",
                    "y": f"{y_of(score):.2f}",
                    "last": index == len(scored) - 1,
                    "hollow": run["complete"] == "no",
                }
            )
    summary = ""
    if points:
        values = [score for _, score in scored]
        first, last = scored[0][0], scored[-1][0]
        summary = (
            f"{len(scored)} runs from {first['when']} ({first['score_text']}, {first['verdict']}) "
            f"to {last['when']} ({last['score_text']}, {last['verdict']}); "
            f"lowest {_score(min(values))}, highest {_score(max(values))}."
        )
    grid = [{"y": f"{y_of(value):.2f}", "text": _num(value)} for value in (0.0, 25.0, 50.0, 75.0, 100.0)]
    lines = [
        {"cls": "go", "y": f"{y_of(go):.2f}", "text": f"GO {_num(go)}"},
        {"cls": "conditional", "y": f"{y_of(conditional):.2f}", "text": f"COND. {_num(conditional)}"},
    ]
    return {
        "runs": runs,
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "summary": summary,
        "grid": grid,
        "lines": lines,
        "width": f"{TREND_W:.0f}",
        "height": f"{TREND_H:.0f}",
        "left": f"{TREND_LEFT:.0f}",
        "right": f"{TREND_W - TREND_RIGHT:.0f}",
        "label_x": f"{TREND_W - TREND_RIGHT + 6:.0f}",
        "axis_y": f"{TREND_H - TREND_BOTTOM + 18:.0f}",
        "first_label": points[0]["when"] if points else "",
        "last_label": points[-1]["when"] if points else "",
    }
