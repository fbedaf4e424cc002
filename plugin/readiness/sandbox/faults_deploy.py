"""Session faults for the deployment layer (the bot's running process, its log and its trail)."""

from __future__ import annotations

from .faults import SessionFault

FAULTS: dict[str, SessionFault] = {}
