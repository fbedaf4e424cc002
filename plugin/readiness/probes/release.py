"""Release evidence the bot's own pipeline leaves: its git checkout, a JUnit XML, a pip-audit report.

Everything here only reads. git runs with optional locks off (``git status`` would otherwise
refresh the index, a write into the bot's repo); files are opened read-only, without blocking
(a FIFO is refused, not waited on), and read up to a size no real report reaches.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

#: Larger than any test report or audit a bot's CI writes; a bigger file is not one.
MAX_EVIDENCE_BYTES: Final = 64 * 1024 * 1024
GIT_TIMEOUT_S: Final = 10.0


class EvidenceError(Exception):
    """The evidence cannot be read, or is not what it should be; the message names the file."""


@dataclass(frozen=True, slots=True)
class Evidence:
    path: Path
    data: bytes
    modified: dt.datetime

    def age_days(self, now: dt.datetime) -> float:
        return (now - self.modified).total_seconds() / 86400


def read_evidence(path: Path, what: str) -> Evidence:
    """The bytes of a regular file (symlinks followed), or an :class:`EvidenceError` saying why not."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise EvidenceError(f"{path} does not exist") from None
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot open it ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise EvidenceError(f"{path} is a folder, not {what}")
        if not stat.S_ISREG(info.st_mode):
            raise EvidenceError(f"{path} is not a regular file, so not {what}")
        if info.st_size > MAX_EVIDENCE_BYTES:
            raise EvidenceError(
                f"{path} is {info.st_size / 2**20:.0f} MB, too large for {what} "
                f"(at most {MAX_EVIDENCE_BYTES // 2**20} MB)"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_EVIDENCE_BYTES + 1)
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if not data.strip():
        raise EvidenceError(f"{path} is empty, not {what}")
    return Evidence(path, data, dt.datetime.fromtimestamp(info.st_mtime, dt.UTC))


# --- the bot's git checkout ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepoState:
    path: Path
    head: str
    head_time: dt.datetime
    #: ``git status --porcelain`` entries: a status code and a path, e.g. ``M config/risk.toml``.
    changes: tuple[str, ...]


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", "-C", str(repo), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        raise EvidenceError("git is not installed on this host") from None
    except subprocess.TimeoutExpired:
        raise EvidenceError(f"{repo}: git {args[0]} did not answer within {GIT_TIMEOUT_S:g} s") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        fatal = [line.removeprefix("fatal: ") for line in lines if line.startswith(("fatal:", "error:"))]
        raise EvidenceError(f"{repo}: {(fatal or lines or [f'git {args[0]} failed'])[0]}")
    return done.stdout.decode("utf-8", "surrogateescape")


def repo_state(repo: Path) -> RepoState:
    """HEAD and every uncommitted change (untracked files included) of the checkout at ``repo``."""
    if not repo.is_dir():
        raise EvidenceError(f"{repo} is not a folder" if repo.exists() else f"{repo} does not exist")
    try:
        head, _, stamp = _git(repo, "log", "-1", "--format=%H %ct", "HEAD").strip().partition(" ")
    except EvidenceError as exc:
        if "does not have any commits" in str(exc) or "unknown revision" in str(exc):
            raise EvidenceError(f"{repo}: the repository has no commit yet") from None
        raise
    raw = _git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all").split("\0")
    changes: list[str] = []
    entries = iter(raw)
    for entry in entries:
        if not entry:
            continue
        code, name = entry[:2].strip(), entry[3:]
        if code[:1] in ("R", "C"):
            next(entries, None)  # a rename or copy is followed by the path it came from
        changes.append(f"{code} {name}")
    return RepoState(repo, head, dt.datetime.fromtimestamp(int(stamp), dt.UTC), tuple(changes))


# --- the bot's test report (JUnit XML) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TestReport:
    path: Path
    total: int
    passed: int
    skipped: int
    #: ``classname::name`` of each failed or erroring test case, with its message.
    failures: tuple[str, ...]
    #: When the tests started (the earliest suite's ``timestamp``), else the file's time.
    started_at: dt.datetime
    stamped: bool

    @property
    def ran(self) -> int:
        return self.total - self.skipped

    @property
    def pass_rate(self) -> float:
        return 100.0 * self.passed / self.ran if self.ran else 0.0


def _suite_start(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        stamp = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.astimezone()  # pytest before 8 wrote local time, naive


def read_test_report(path: Path) -> TestReport:
    """The outcome of every test case in a JUnit XML report (pytest's ``--junitxml``, any xunit
    flavour: ``<testsuites>`` or a single ``<testsuite>``)."""
    evidence = read_evidence(path, "a JUnit XML test report")
    if b"<!ENTITY" in evidence.data:
        raise EvidenceError(f"{path} declares XML entities; a test report has none")
    try:
        root = ET.fromstring(evidence.data)
    except ET.ParseError as exc:
        raise EvidenceError(f"{path} is not XML ({exc})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise EvidenceError(f"{path} is not a JUnit report: its root element is <{root.tag}>")
    total = passed = skipped = 0
    failures: list[str] = []
    for case in root.iter("testcase"):
        total += 1
        name = "::".join(part for part in (case.get("classname"), case.get("name")) if part)
        problem = next((child for child in case if child.tag in ("failure", "error")), None)
        if problem is not None:
            message = (problem.get("message") or problem.tag).strip().splitlines()
            failures.append(f"{name or '(unnamed)'} ({message[0][:160] if message else problem.tag})")
        elif any(child.tag == "skipped" for child in case):
            skipped += 1
        else:
            passed += 1
    if not total:
        raise EvidenceError(f"{path} holds no test case: the test run recorded nothing")
    suites = [root, *root.iter("testsuite")]
    starts = [stamp for suite in suites if (stamp := _suite_start(suite.get("timestamp")))]
    return TestReport(
        path,
        total,
        passed,
        skipped,
        tuple(failures),
        min(starts) if starts else evidence.modified,
        bool(starts),
    )


# --- the dependency audit (pip-audit -f json) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vulnerability:
    package: str
    version: str
    id: str
    fix_versions: tuple[str, ...]

    def describe(self) -> str:
        fix = f"fixed in {', '.join(self.fix_versions)}" if self.fix_versions else "no fix released yet"
        return f"{self.package} {self.version}: {self.id} ({fix})"


@dataclass(frozen=True, slots=True)
class DependencyAudit:
    path: Path
    modified: dt.datetime
    audited: int
    vulnerabilities: tuple[Vulnerability, ...]
    #: Dependencies pip-audit could not audit, with its reason.
    not_audited: tuple[str, ...] = field(default=())


def _dependencies(path: Path, document: Any) -> list[Any]:
    if isinstance(document, list):  # pip-audit before 2.5 wrote the list alone
        return document
    dependencies = document.get("dependencies") if isinstance(document, dict) else None
    if isinstance(dependencies, list):
        return dependencies
    raise EvidenceError(f"{path} is not a pip-audit JSON report: it has no 'dependencies' list")


def read_dependency_audit(path: Path) -> DependencyAudit:
    """The vulnerabilities a ``pip-audit -f json`` report found, per dependency."""
    evidence = read_evidence(path, "a pip-audit JSON report")
    try:
        document = json.loads(evidence.data.decode("utf-8"))
    except UnicodeDecodeError:
        raise EvidenceError(f"{path} is not UTF-8 text, so not a pip-audit JSON report") from None
    except json.JSONDecodeError as exc:
        raise EvidenceError(
            f"{path} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    audited = 0
    found: list[Vulnerability] = []
    skipped: list[str] = []
    for number, dependency in enumerate(_dependencies(path, document), start=1):
        name = dependency.get("name") if isinstance(dependency, dict) else None
        if not isinstance(name, str) or not name:
            raise EvidenceError(f"{path}: dependency #{number} has no name; not a pip-audit report")
        if "skip_reason" in dependency:
            skipped.append(f"{name} ({dependency['skip_reason']})")
            continue
        vulns = dependency.get("vulns", [])
        if not isinstance(vulns, list) or not all(isinstance(v, dict) and "id" in v for v in vulns):
            raise EvidenceError(f"{path}: dependency {name!r} has a malformed 'vulns' list")
        audited += 1
        version = str(dependency.get("version", "?"))
        found += [
            Vulnerability(name, version, str(v["id"]), tuple(map(str, v.get("fix_versions") or ())))
            for v in vulns
        ]
    return DependencyAudit(path, evidence.modified, audited, tuple(found), tuple(skipped))
