"""The ``readiness`` section of pytest's terminal summary."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .document import SANDBOX_NOTICE

_MARKUP = {
    "GO": {"green": True, "bold": True},
    "CONDITIONAL GO": {"yellow": True, "bold": True},
    "NO-GO": {"red": True, "bold": True},
}
_OUTCOME_MARKUP = {"failed": {"red": True}, "error": {"red": True}, "blocked": {"yellow": True}}


def write_summary(
    terminal: pytest.TerminalReporter,
    document: dict[str, Any],
    paths: list[str],
    redact: Callable[[str], str],
) -> None:
    """Root causes first: the verdict's reasons name each once, with its fix; above them one line
    per other check that did not pass, with its remediation, and the layer scores. A check skipped
    for a setting that is not set, or blocked, is counted under its cause rather than listed.

    With ``-q`` only the verdict and its reasons are written. Every line is masked: a check's
    title or remediation may quote a secret, as its message may.
    """
    reporter = _Masked(terminal, redact)
    quiet = terminal.config.get_verbosity() < 0
    reporter.write_sep("=", "readiness")
    if document["sandbox"]:
        reporter.write_line(SANDBOX_NOTICE, yellow=True)
    if document["partial"]:
        reporter.write_line("partial run — not a sign-off", red=True, bold=True)
    causes = document["root_causes"]
    in_reasons = {cause["check"] for cause in causes if cause["tier1"]}
    blocking = {cause["check"]: len(cause["checks"]) - 1 for cause in causes if cause["check"]}
    for check in document["checks"]:
        outcome = check["outcome"]
        waived = check["waiver"] is not None and check["waiver"]["status"] == "active"
        if outcome in ("passed", "not_applicable") or (quiet and not waived):
            continue
        folded = (outcome == "blocked" and check["id"] not in blocking) or check["unset"]
        if not waived and (folded or check["id"] in in_reasons):
            continue
        head = f"{outcome.upper():<8} {check['id']} (tier {check['tier']}, {check['layer']})"
        head += f" [waived until {check['waiver']['expires']}]" if waived else ""
        message = check["message"].splitlines()[0] if check["message"] and not quiet else ""
        reporter.write_line(f"{head}: {message}" if message else head, **_OUTCOME_MARKUP.get(outcome, {}))
        if outcome != "blocked" and not quiet:
            blocked = blocking.get(check["id"], 0)
            also = f" ({blocked} blocked check{'s' * (blocked != 1)} wait on it)" if blocked else ""
            reporter.write_line(f"         fix: {check['remediation']}{also}")
    for cause in causes:
        if cause["check"] is None and not cause["tier1"] and not quiet:
            reporter.write_line(f"NOT SET  {cause['reason']}", yellow=True)
            reporter.write_line(f"         fix: {cause['fix']} ({len(cause['checks'])} checks skipped)")
    for waiver in document["waivers"]:
        if waiver["status"] == "expired":
            reporter.write_line(
                f"waiver for {waiver['id']} expired on {waiver['expires']} and no longer counts: "
                "renew it (new expires date, approved again) or fix the check",
                yellow=True,
            )
    if not quiet:
        for name, layer in document["layers"].items():
            counts = ", ".join(f"{n} {o}" for o, n in layer["counts"].items() if n)
            reporter.write_line(f"layer {name}: {layer['score']:g} ({counts})")
    verdict = document["verdict"]
    state = "" if document["complete"] else ", INCOMPLETE"
    reporter.write_line(
        f"readiness verdict: {verdict} (score {document['score']:g}, target {document['target']}{state})",
        **_MARKUP[verdict],
    )
    for reason in document["reasons"]:
        reporter.write_line(f"  - {reason}")
    if not quiet:
        reporter.write_line(f"reports: {', '.join(paths)}")


class _Masked:
    """The terminal reporter's line writers, with every line masked first."""

    def __init__(self, terminal: pytest.TerminalReporter, redact: Callable[[str], str]) -> None:
        self._terminal, self._redact = terminal, redact

    def write_sep(self, sep: str, title: str) -> None:
        self._terminal.write_sep(sep, self._redact(title))

    def write_line(self, line: str, **markup: bool) -> None:
        self._terminal.write_line(self._redact(line), **markup)


def write_hints(reporter: pytest.TerminalReporter, hints: list[str]) -> None:
    for hint in hints:
        reporter.write_line(f"hint: {hint}", yellow=True)
