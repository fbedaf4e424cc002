"""Telegram probes (filled by the catalogue work of issue 5)."""

from __future__ import annotations

from .network import ProbeDef

PROBES: tuple[ProbeDef, ...] = ()
