"""The ``readiness.json`` document (schema ``readiness-report/1``, docs/readiness-json.md)."""

from __future__ import annotations

import datetime as dt
import platform
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import pytest

from .. import __version__
from ..scoring import Assessment, CheckResult, Thresholds
from ..settings import Settings

SCHEMA = "readiness-report/1"
SANDBOX_NOTICE = "SANDBOX RUN: emulated Binance and Telegram, not a deployment check"


def git_commit(rootdir: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=rootdir,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def environment(*, rootdir: Path, settings: Settings, signoff_by: str | None, workers: int) -> dict[str, Any]:
    return {
        "git_commit": git_commit(rootdir),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "config_sha256": settings.config_sha256,
        "config_file": str(settings.config_file) if settings.config_file else None,
        "pytest": pytest.__version__,
        "readiness": __version__,
        "hostname": socket.gethostname(),
        "workers": workers,
        "signoff_by": signoff_by,
    }


def build(
    *,
    target: str,
    assessment: Assessment,
    thresholds: Thresholds,
    results: Sequence[CheckResult],
    waivers: list[dict[str, Any]],
    phases: Sequence[str],
    left_out: Sequence[str],
    started_at: dt.datetime,
    finished_at: dt.datetime,
    env: dict[str, Any],
) -> dict[str, Any]:
    document: dict[str, Any] = {"notice": SANDBOX_NOTICE} if target == "sandbox" else {}
    document["schema"] = SCHEMA
    document.update(
        {
            "sandbox": target == "sandbox",
            "target": target,
            "verdict": str(assessment.verdict),
            "score": assessment.score,
            "complete": assessment.complete,
            "phases": list(phases),
            "partial": bool(left_out),
            "left_out": list(left_out),
            "thresholds": {"go": thresholds.go, "conditional": thresholds.conditional},
            "reasons": list(assessment.reasons),
            "root_causes": [cause.to_json() for cause in assessment.root_causes],
            "started_at": started_at.isoformat(),
            "finished_at": finished_at.isoformat(),
            "environment": env,
            "layers": {
                name: {"score": layer.score, "counts": dict(layer.counts)}
                for name, layer in assessment.layers.items()
            },
            "checks": [r.to_json() for r in results],
            "waivers": waivers,
        }
    )
    return document


def dumps(document: dict[str, Any]) -> str:
    """Indented JSON whose first line carries the first key (the sandbox notice, or the schema)."""
    text = msgspec.json.format(msgspec.json.encode(document), indent=2).decode("utf-8")
    return "{" + text[1:].lstrip() + "\n"


def outcome_counts(document: dict[str, Any]) -> dict[str, int]:
    """Checks per outcome over every layer."""
    counts: dict[str, int] = {}
    for layer in document["layers"].values():
        for outcome, count in layer["counts"].items():
            counts[outcome] = counts.get(outcome, 0) + count
    return counts


def history_entry(document: dict[str, Any], *, report: str, json_sha256: str) -> dict[str, Any]:
    counts = outcome_counts(document)
    return {
        "finished_at": document["finished_at"],
        "target": document["target"],
        "phases": document["phases"],
        "verdict": document["verdict"],
        "score": document["score"],
        "complete": document["complete"],
        "partial": document["partial"],
        "report": report,
        "json_sha256": json_sha256,
        "git_commit": document["environment"]["git_commit"],
        "counts": counts,
    }
