"""Every network probe the check catalogue can start (see :mod:`readiness.probes.network`)."""

from __future__ import annotations

from . import binance, telegram
from .network import ProbeDef

PROBES: tuple[ProbeDef, ...] = (*telegram.PROBES, *binance.PROBES)
