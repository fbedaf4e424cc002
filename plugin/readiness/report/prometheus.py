"""The run as a Prometheus textfile, for node_exporter's textfile collector (``--readiness-prometheus``).

The collector reads the Prometheus text format (not OpenMetrics), so every metric is a gauge; the
verdict is a state set in that form, one series per verdict, 1 for the run's. Every series carries
the run's ``target`` and ``phases``, so the files of a preflight and a post-deploy run read by one
collector never clash. The counts cover every outcome, layer and tier, zeros included: a query sees
a 0 rather than no series.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..redact import Redactor
from ..scoring import Outcome, Verdict
from ..spec import LAYERS, TIER_WEIGHTS
from .files import write_atomic

_HELP = {
    "readiness_verdict": "Verdict of the last readiness run: 1 for its verdict, 0 for the others.",
    "readiness_score": "Score of the last readiness run, 0 to 100.",
    "readiness_checks": "Checks of the last readiness run by outcome, layer and tier.",
    "readiness_complete": "1 when the last readiness run finished every check it collected, else 0.",
    "readiness_partial": "1 when the last readiness run left out checks of its phases, else 0.",
    "readiness_last_run_timestamp_seconds": "When the last readiness run finished, in Unix time.",
}


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    return "{" + ",".join(f'{name}="{escape_label(value)}"' for name, value in labels.items()) + "}"


def _family(name: str, samples: Iterable[tuple[Mapping[str, str], float]]) -> list[str]:
    lines = [f"# HELP {name} {_HELP[name]}", f"# TYPE {name} gauge"]
    lines.extend(f"{name}{_labels(labels)} {value!r}" for labels, value in samples)
    return lines


def exposition(document: Mapping[str, Any]) -> str:
    run = {"target": str(document["target"]), "phases": ",".join(document["phases"])}
    checks = document["checks"]
    layers = [*LAYERS, *sorted({c["layer"] for c in checks} - set(LAYERS))]
    tiers = sorted({*TIER_WEIGHTS, *(c["tier"] for c in checks)})
    counts = dict.fromkeys(((str(o), layer, tier) for o in Outcome for layer in layers for tier in tiers), 0)
    for check in checks:
        counts[(check["outcome"], check["layer"], check["tier"])] += 1
    finished = dt.datetime.fromisoformat(document["finished_at"]).timestamp()
    lines = [
        *_family(
            "readiness_verdict",
            (({**run, "verdict": str(v)}, float(v == document["verdict"])) for v in Verdict),
        ),
        *_family("readiness_score", [(run, float(document["score"]))]),
        *_family(
            "readiness_checks",
            (
                ({**run, "outcome": outcome, "layer": layer, "tier": str(tier)}, float(n))
                for (outcome, layer, tier), n in counts.items()
            ),
        ),
        *_family("readiness_complete", [(run, float(document["complete"]))]),
        *_family("readiness_partial", [(run, float(document["partial"]))]),
        *_family("readiness_last_run_timestamp_seconds", [(run, finished)]),
    ]
    return "\n".join(lines) + "\n"


def write_textfile(path: Path, document: Mapping[str, Any], redact: Redactor) -> None:
    """Replace ``path`` whole: the collector may read it at any moment, and its temp file (a dot
    file not ending in ``.prom``) is one the collector never reads."""
    write_atomic(path, redact(exposition(document)).encode("utf-8"))
