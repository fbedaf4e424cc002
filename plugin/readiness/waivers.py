"""Waivers: signed-off exceptions that take a known-bad tier-2/3 check out of the score."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .spec import CHECK_ID

_FIELDS = ("id", "justification", "approved_by", "expires")


class WaiverError(Exception):
    """The waiver file cannot be trusted; reported as a usage error."""


@dataclass(frozen=True, slots=True)
class Waiver:
    id: str
    justification: str
    approved_by: str
    expires: dt.date

    def status(self, today: dt.date) -> str:
        """``active`` through the expiry date inclusive, ``expired`` after it."""
        return "active" if today <= self.expires else "expired"

    def to_json(self, status: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "justification": self.justification,
            "approved_by": self.approved_by,
            "expires": self.expires.isoformat(),
            "status": status,
        }


def load_waivers(path: Path) -> list[Waiver]:
    """Parse ``[[waiver]]`` tables; any doubt about the file is an error, never a silent skip."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WaiverError(f"waiver file {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise WaiverError(f"waiver file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise WaiverError(f"waiver file {path}: invalid TOML: {exc}") from None
    unknown = sorted(set(data) - {"waiver"})
    if unknown:
        raise WaiverError(f"waiver file {path}: unknown key(s) {', '.join(unknown)}; use [[waiver]] tables")
    tables = data.get("waiver", [])
    if not isinstance(tables, list):
        raise WaiverError(f"waiver file {path}: 'waiver' must be an array of tables ([[waiver]])")
    waivers: list[Waiver] = []
    seen: set[str] = set()
    for number, table in enumerate(tables, start=1):
        where = f"waiver file {path}: waiver #{number}"
        if not isinstance(table, dict):
            raise WaiverError(f"{where} is not a table")
        missing = [name for name in _FIELDS if name not in table]
        if missing:
            raise WaiverError(f"{where} lacks required field(s) {', '.join(missing)}")
        extra = sorted(set(table) - set(_FIELDS))
        if extra:
            raise WaiverError(f"{where} has unknown field(s) {', '.join(extra)}")
        for name in ("id", "justification", "approved_by"):
            if not isinstance(table[name], str) or not table[name].strip():
                raise WaiverError(f"{where}: '{name}' must be a non-empty string")
        expires = table["expires"]
        if not isinstance(expires, dt.date) or isinstance(expires, dt.datetime):
            raise WaiverError(f"{where}: 'expires' must be a TOML date like 2026-12-31, got {expires!r}")
        check_id = table["id"].strip()
        if not CHECK_ID.fullmatch(check_id):
            raise WaiverError(f"{where}: malformed check id {check_id!r}")
        if check_id in seen:
            raise WaiverError(f"{where}: check {check_id!r} is waived twice")
        seen.add(check_id)
        waivers.append(
            Waiver(check_id, table["justification"].strip(), table["approved_by"].strip(), expires)
        )
    return waivers
