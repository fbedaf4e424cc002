"""The run for GitHub Actions: a Markdown job summary and workflow-command annotations.

A step's summary is refused whole by GitHub past 1 MiB, so the table of checks is cut to fit what
the step's summary file leaves; a step shows at most 10 annotations of each level, so the rest are
counted in one line instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..redact import Redactor

SUMMARY_LIMIT = 1024 * 1024
ANNOTATIONS_PER_LEVEL = 10
LEVELS = ("error", "warning", "notice")
#: Checks the summary lists, worst first; passed and not-applicable checks are left out, as in
#: the terminal section.
_RANK = {"error": 0, "failed": 0, "blocked": 1, "skipped": 2, "warned": 3}
_NOT_SATISFIED = frozenset(_RANK) - {"warned"}
_MESSAGE_CHARS = 300
_REMEDIATION_CHARS = 500
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#])")


def _waived(check: Mapping[str, Any]) -> bool:
    waiver = check.get("waiver")
    return isinstance(waiver, dict) and waiver.get("status") == "active"


def _first_line(text: str, limit: int) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


class _Cells:
    """Text for the summary: masked first (a secret cut short or escaped would no longer be
    recognised), then shortened, then with Markdown and HTML characters (``|`` too) standing for
    themselves."""

    def __init__(self, redact: Redactor) -> None:
        self.redact = redact

    def __call__(self, text: str, limit: int | None = None) -> str:
        text = self.redact(text)
        if limit is not None:
            text = _first_line(text, limit)
        return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))

    def row(self, check: Mapping[str, Any]) -> str:
        waived = f" (waived until {check['waiver']['expires']})" if _waived(check) else ""
        remediation = "" if check["outcome"] == "blocked" else check["remediation"]
        cells = (
            f"`{self.redact(check['id'])}`",  # a code span: ids need no escaping, and get none
            str(check["tier"]),
            self(check["outcome"] + waived),
            self(check["message"], _MESSAGE_CHARS),
            self(remediation, _REMEDIATION_CHARS),
        )
        return "| " + " | ".join(cells) + " |\n"


def not_passed(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    checks = [c for c in document["checks"] if c["outcome"] in _RANK]
    return sorted(checks, key=lambda c: (_waived(c), _RANK[c["outcome"]], c["tier"]))


def summary(document: Mapping[str, Any], paths: Sequence[str], redact: Redactor, limit: int) -> str:
    """The Markdown to append, at most ``limit`` bytes in UTF-8 ("" when not even its head fits)."""
    cell = _Cells(redact)
    state = "" if document["complete"] else " · **incomplete run**"
    state += " · **partial run — not a sign-off**" if document["partial"] else ""
    head = [
        f"## Readiness: {document['verdict']}\n\n",
        *([f"> {cell(document['notice'])}\n\n"] if document.get("notice") else []),
        f"Score **{document['score']:g}** · target **{cell(document['target'])}** · "
        f"phases **{cell(', '.join(document['phases']) or 'none')}**{state}\n\n",
    ]
    if document["reasons"]:
        head += ["**Why not GO**\n\n", *(f"- {cell(reason)}\n" for reason in document["reasons"]), "\n"]
    checks = not_passed(document)
    if checks:
        head += [
            f"**{len(checks)} of {len(document['checks'])} checks did not pass**\n\n",
            "| Check | Tier | Outcome | Message | Remediation |\n|---|---|---|---|---|\n",
        ]
    else:
        head.append(f"Every one of the {len(document['checks'])} checks passed or was not applicable.\n")
    tail = f"\nReports: {', '.join(f'`{redact(p)}`' for p in paths)}\n\n" if paths else "\n"
    text = "".join(head)
    budget = limit - _size(text) - _size(tail) - _size(_more(len(checks)))
    if budget < 0:
        return ""
    rows: list[str] = []
    for check in checks:
        row = cell.row(check)
        budget -= _size(row)
        if budget < 0:
            break
        rows.append(row)
    cut = _more(len(checks) - len(rows)) if len(rows) < len(checks) else ""
    return text + "".join(rows) + cut + tail


def _more(count: int) -> str:
    return f"\n_{count} more not shown: see the reports_\n"


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation_level(check: Mapping[str, Any]) -> str | None:
    """``error`` for a tier-1 check that keeps the run from GO, ``warning`` for any other check that
    did not pass, ``notice`` for a warned or waived one; none for passed or not applicable."""
    outcome = check["outcome"]
    if outcome not in _RANK:
        return None
    if _waived(check) or outcome == "warned":
        return "notice"
    return "error" if check["tier"] == 1 and outcome in _NOT_SATISFIED else "warning"


def _annotation(level: str, check: Mapping[str, Any], redact: Redactor) -> str:
    message = check["message"].strip() or check["outcome"]
    if check["remediation"] and check["outcome"] != "blocked":
        message += f" — {check['remediation']}"
    if _waived(check):
        message += f" (waived until {check['waiver']['expires']})"
    return f"::{level} title={escape_property(redact(check['id']))}::{escape_data(redact(message))}"


def workflow_commands(document: Mapping[str, Any], redact: Redactor) -> Iterator[str]:
    """Workflow commands for the checks that did not pass, at most 10 per level, then a count."""
    by_level: dict[str, list[Mapping[str, Any]]] = {level: [] for level in LEVELS}
    for check in document["checks"]:
        level = annotation_level(check)
        if level is not None:
            by_level[level].append(check)
    for level, checks in by_level.items():
        for check in checks[:ANNOTATIONS_PER_LEVEL]:
            yield _annotation(level, check, redact)
        if len(checks) > ANNOTATIONS_PER_LEVEL:
            yield f"{len(checks) - ANNOTATIONS_PER_LEVEL} more {level} annotations not shown"
