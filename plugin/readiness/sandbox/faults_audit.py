"""Session faults for the audit-trail checks (the bot's own faults damage lines inside the trail)."""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path

from .faults import SessionFault


def _point_at_missing_trail(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    env["READINESS_AUDIT_TRAIL"] = str(bot_dir / "missing" / "audit.jsonl")


FAULTS: dict[str, SessionFault] = {
    "audit_trail_missing": SessionFault(
        "READINESS_AUDIT_TRAIL names a file that does not exist (fails audit.present_writable)",
        _point_at_missing_trail,
    ),
}
