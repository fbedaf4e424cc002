"""Attestations: a person's record that a runbook step was done, judged by the ``manual.*`` checks."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .spec import CHECK_ID

#: Looked for in the rootdir when neither ``--readiness-attestations`` nor the setting names a file.
DEFAULT_FILE = "readiness-attestations.toml"
_REQUIRED = ("id", "attested_by", "date", "expires")
_FIELDS = (*_REQUIRED, "note")
_HEADER = re.compile(r"""\s*\[\[\s*(["']?)attestation\1\s*\]\]""")


class AttestationError(Exception):
    """The attestation file cannot be trusted; reported as a usage error."""


@dataclass(frozen=True, slots=True)
class Attestation:
    id: str
    attested_by: str
    date: dt.date
    expires: dt.date
    note: str = ""
    #: The 1-based line of its ``[[attestation]]`` header, for messages that send a person there.
    line: int = field(kw_only=True)
    path: Path = field(kw_only=True)

    def status(self, today: dt.date) -> str:
        """``active`` through the expiry date inclusive, ``expired`` after it."""
        return "active" if today <= self.expires else "expired"

    @property
    def where(self) -> str:
        """Its file and line, for messages: ``/x/readiness-attestations.toml, line 7``."""
        return f"{self.path}, line {self.line}"


def _header_lines(text: str, tables: int, path: Path) -> list[int]:
    """The line of each ``[[attestation]]`` header; the Nth header starts the Nth table.

    A header-like line inside a multi-line string is not a header: the text before a real one
    parses on its own, the text before one inside a string does not.
    """
    lines = text.splitlines(keepends=True)
    found = [number for number, line in enumerate(lines, start=1) if _HEADER.match(line)]
    if len(found) != tables:
        found = [number for number in found if _parses("".join(lines[: number - 1]))]
    if len(found) != tables:
        raise AttestationError(
            f"attestation file {path}: cannot tell which line each attestation starts on; "
            "write each as an [[attestation]] table on a line of its own"
        )
    return found


def _parses(text: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return True


def _read(path: Path) -> str:
    if path.is_dir():
        raise AttestationError(f"attestation file {path}: is a folder, not a file")
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AttestationError(f"attestation file {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise AttestationError(f"attestation file {path}: not UTF-8 text") from None


def load_attestations(path: Path) -> list[Attestation]:
    """Parse ``[[attestation]]`` tables; any doubt about the file is an error, never a silent skip."""
    text = _read(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AttestationError(f"attestation file {path}: invalid TOML: {exc}") from None
    unknown = sorted(set(data) - {"attestation"})
    if unknown:
        raise AttestationError(
            f"attestation file {path}: unknown key(s) {', '.join(unknown)}; use [[attestation]] tables"
        )
    tables = data.get("attestation", [])
    if not isinstance(tables, list):
        raise AttestationError(
            f"attestation file {path}: 'attestation' must be an array of tables ([[attestation]])"
        )
    attestations: list[Attestation] = []
    first_line: dict[str, int] = {}
    headers = _header_lines(text, len(tables), path)
    for number, (table, line) in enumerate(zip(tables, headers, strict=True), start=1):
        attestation = _attestation(
            table, path, line, f"attestation file {path}, line {line} (attestation #{number})"
        )
        if attestation.id in first_line:
            raise AttestationError(
                f"attestation file {path}, line {line} (attestation #{number}): check {attestation.id!r} "
                f"is attested twice (first on line {first_line[attestation.id]})"
            )
        first_line[attestation.id] = line
        attestations.append(attestation)
    return attestations


def _attestation(table: Any, path: Path, line: int, where: str) -> Attestation:
    if not isinstance(table, dict):
        raise AttestationError(f"{where}: not a table")
    missing = [name for name in _REQUIRED if name not in table]
    if missing:
        raise AttestationError(f"{where}: lacks required field(s) {', '.join(missing)}")
    extra = sorted(set(table) - set(_FIELDS))
    if extra:
        raise AttestationError(
            f"{where}: unknown field(s) {', '.join(extra)}; an attestation has {', '.join(_FIELDS)}"
        )
    for name in ("id", "attested_by", "note"):
        if name in table and (not isinstance(table[name], str) or not table[name].strip()):
            raise AttestationError(f"{where}: '{name}' must be a non-empty string, got {table[name]!r}")
    for name in ("date", "expires"):
        value = table[name]
        if isinstance(value, dt.datetime):
            raise AttestationError(
                f"{where}: '{name}' must be a TOML date like 2026-12-31, got the date and time "
                f"{value.isoformat()}; leave the time out"
            )
        if not isinstance(value, dt.date):
            raise AttestationError(f"{where}: '{name}' must be a TOML date like 2026-12-31, got {value!r}")
    check_id = table["id"].strip()
    if not CHECK_ID.fullmatch(check_id):
        raise AttestationError(
            f"{where}: malformed check id {check_id!r}; use e.g. 'manual.runbook_reviewed'"
        )
    date, expires = table["date"], table["expires"]
    if expires < date:
        raise AttestationError(
            f"{where}: 'expires' {expires.isoformat()} is before 'date' {date.isoformat()}"
        )
    return Attestation(
        id=check_id,
        attested_by=table["attested_by"].strip(),
        date=date,
        expires=expires,
        note=table.get("note", "").strip(),
        line=line,
        path=path,
    )


def refuse_future(attestations: Iterable[Attestation], today: dt.date) -> None:
    """An attestation records a check already made: one dated after the run's date is a mistake."""
    for attestation in attestations:
        if attestation.date > today:
            raise AttestationError(
                f"attestation file {attestation.where} ({attestation.id}): dated "
                f"{attestation.date.isoformat()}, after this run's date {today.isoformat()}: "
                "an attestation records a check already made"
            )
