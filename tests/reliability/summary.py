"""The reliability ledger: what the suite tried and what held, printed as its last section.

Reliability tests record each case they try through the ``tried`` fixture (a user property, so
it reaches the controller under xdist too); a case held when its test passed. The whole-suite
safety audit runs here as well: for the session every Binance emulator in every process appends
each request it receives to one journal (:data:`REQUEST_LOG_ENV`), and at the end any request
outside the harness's allow-list fails the run, unless the sandbox's bot sent it (its orders on
the paper exchange; it names itself in its User-Agent) or an emulator test sent it on purpose
(those identify themselves by :data:`EMULATOR_TESTS_AGENT`, as User-Agent or, for client
libraries whose WebSockets cannot say so, as the journal tag of the emulator the test serves).
A request from anyone else is held to the allow-list too: only what names itself is exempt.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from readiness.probes.binance import ALLOWED_REQUESTS
from readiness.sandbox.binance import REQUEST_LOG_ENV
from readiness.sandbox.trader import USER_AGENT as BOT_USER_AGENT

from ..helpers import EMULATOR_TESTS_AGENT

PROPERTY = "reliability"
#: Seeds the random moments of the interrupt cases; set it to replay a run.
SEED_ENV = "RELIABILITY_SEED"
#: The categories of the table, in order, with what "held" means for each.
CATEGORIES = {
    "faults": "every sandbox fault: complete reports, NO-GO when tier 1 is hit, remediation in all three",
    "hangs": "network checks fail by their own timeouts, together; reports written",
    "bad input": "a clear failure naming the file and line or setting; no traceback; files byte-identical",
    "interrupts": "complete JSON or complete:false NO-GO; no torn or temp file; no process left",
    "leak probes": "planted secrets found in no output (terminal, JSON, HTML, pytest-html, JUnit, logs)",
    "xdist parity": "every sandbox fault: the same outcomes, verdict and score under -n 2 as serially",
    "safety": "drills refused on mainnet; emulator requests inside the allow-list",
}


#: Categories whose figures are outcomes to count rather than lines to list; a figure's
#: ``[bracketed]`` tail (say, the seed) is shown once.
TALLIED = {"interrupts"}


def _tally(cases: list[Case]) -> str:
    counts: dict[str, int] = defaultdict(int)
    tails: set[str] = set()
    for case in cases:
        outcome, _, tail = case.figure.partition(" [")
        counts[outcome] += 1
        if tail:
            tails.add(tail.rstrip("]"))
    tallied = "; ".join(
        f"{count} {outcome}" for outcome, count in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return f"{len(cases)} cases: {tallied}" + (f" ({', '.join(sorted(tails))})" if tails else "")


@dataclass
class Case:
    category: str
    name: str
    figure: str
    held: bool = True


@dataclass
class Ledger:
    cases: dict[str, Case] = field(default_factory=dict)
    journal: Path | None = None
    #: The session's environment changes (journal, seed), undone at the end.
    environ: pytest.MonkeyPatch = field(default_factory=pytest.MonkeyPatch)
    requests: int = 0
    audit: JournalAudit | None = None


_ledger = Ledger()


@dataclass
class JournalAudit:
    """The journal's requests by sender, and those outside the allow-list."""

    by_tests: int = 0
    by_bot: int = 0
    #: Marked as the harness's by the journal (its User-Agent).
    by_harness: int = 0
    outside: list[str] = field(default_factory=list)


def audit_journal(lines: list[str]) -> JournalAudit:
    audit = JournalAudit()
    for line in lines:
        entry = json.loads(line)
        if EMULATOR_TESTS_AGENT in (entry["user_agent"], entry.get("tag")):
            audit.by_tests += 1
        elif entry["user_agent"] == BOT_USER_AGENT:
            audit.by_bot += 1
        else:
            audit.by_harness += entry["harness"]
            if (entry["method"], entry["path"]) not in ALLOWED_REQUESTS:
                audit.outside.append(
                    f"{entry['method']} {entry['path']} (pid {entry['pid']}, {entry['user_agent']!r})"
                )
    return audit


@pytest.hookimpl
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # workers inherit the controller's journal through the environment
    fd, name = tempfile.mkstemp(prefix="binance-requests-", suffix=".jsonl")
    os.close(fd)
    _ledger.journal = Path(name)
    _ledger.environ.setenv(REQUEST_LOG_ENV, name)
    # one seed for the whole run, so xdist workers draw the same moments a serial run would
    _ledger.environ.setenv(SEED_ENV, os.environ.get(SEED_ENV) or str(random.SystemRandom().randrange(10**6)))


@pytest.hookimpl
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for key, value in report.user_properties:
        if key == PROPERTY:
            category, name, figure = value
            case = _ledger.cases.setdefault(report.nodeid, Case(category, name, figure))
            case.figure = figure or case.figure
            case.held = case.held and not report.failed


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """The whole-suite allow-list audit: a request outside it fails the run."""
    if _ledger.journal is None:
        return
    lines = _ledger.journal.read_text("utf-8").splitlines()
    _ledger.requests = len(lines)
    _ledger.audit = audit_journal(lines)
    if _ledger.audit.outside:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl
def pytest_unconfigure(config: pytest.Config) -> None:
    if _ledger.journal is None:
        return
    _ledger.journal.unlink(missing_ok=True)
    _ledger.environ.undo()
    _ledger.journal = None


@pytest.hookimpl
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _ledger.cases and not _ledger.requests:
        return
    write = terminalreporter.write_line
    terminalreporter.write_sep("=", "reliability: what was tried, what held")
    by_category: dict[str, list[Case]] = defaultdict(list)
    for case in _ledger.cases.values():
        by_category[case.category].append(case)
    audit = _ledger.audit or JournalAudit()
    audited = _ledger.requests - audit.by_tests - audit.by_bot
    write(f"{'':<12} {'tried':>6} {'held':>6}  what held means")
    for category, meaning in CATEGORIES.items():
        cases = by_category.get(category, [])
        tried, held = len(cases), sum(case.held for case in cases)
        if category == "safety":
            tried, held = tried + audited, held + audited - len(audit.outside)
        if tried:
            write(f"{category:<12} {tried:>6} {held:>6}  {meaning}")
    for category in CATEGORIES:
        figured = [case for case in by_category.get(category, []) if case.figure]
        if category in TALLIED and figured:
            write(f"  {category}: {_tally(figured)}")
            continue
        for case in figured:
            write(f"  {category}: {case.name}: {case.figure}")
    write(
        f"  safety: {audited} requests to Binance emulators across the suite held to the allow-list "
        f"({audit.by_harness} marked as the harness's), {len(audit.outside)} outside it; exempt: "
        f"{audit.by_bot} from the sandbox's bot, {audit.by_tests} sent on purpose by the emulator's own tests"
    )
    for case in _ledger.cases.values():
        if not case.held:
            write(f"NOT HELD: {case.category}: {case.name}")
    for request in audit.outside:
        write(f"NOT HELD: safety: request outside the allow-list: {request}")
