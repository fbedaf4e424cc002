"""What a readiness check declares: its ``@pytest.mark.readiness(...)`` marker, validated."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

LAYERS = ("component", "integration", "system", "deployment", "drill")
PHASES = ("preflight", "postdeploy", "drill")
LAYER_PHASES: Mapping[str, tuple[str, ...]] = {
    "component": ("preflight",),
    "integration": ("preflight",),
    "system": ("preflight",),
    "deployment": ("postdeploy",),
    "drill": ("drill",),
}
TIER_WEIGHTS: Mapping[int, float] = {1: 5, 2: 3, 3: 1}
CHECK_ID = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_ALLOWED_KWARGS = frozenset({"id", "layer", "tier", "title", "remediation", "weight", "phases", "depends"})
NO_REMEDIATION = "no remediation given"


class InvalidCheck(Exception):
    """A readiness marker that cannot be scored; reported as a collection error."""


@dataclass(frozen=True, slots=True)
class CheckSpec:
    id: str
    layer: str
    tier: int
    title: str
    remediation: str
    weight: float
    phases: tuple[str, ...]
    depends: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "layer": self.layer,
            "tier": self.tier,
            "title": self.title,
            "remediation": self.remediation,
            "weight": self.weight,
            "phases": list(self.phases),
            "depends": list(self.depends),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckSpec:
        return cls(
            id=data["id"],
            layer=data["layer"],
            tier=data["tier"],
            title=data["title"],
            remediation=data["remediation"],
            weight=data["weight"],
            phases=tuple(data["phases"]),
            depends=tuple(data["depends"]),
        )


def _names(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidCheck(f"{what} must be a tuple of strings, got {value!r}")


def _optional_text(kwargs: Mapping[str, Any], field: str) -> str | None:
    value = kwargs.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidCheck(f"{field}= must be a non-empty string when given")
    return value.strip()


def spec_from_marker(mark: pytest.Mark, doc: str | None = None) -> CheckSpec:
    """Build a :class:`CheckSpec` from the marker or raise :class:`InvalidCheck` saying why.

    ``doc`` is the check's docstring: its first line is the title when ``title=`` is not given
    (then the id), so an operator's own check needs no more than ``id``, ``layer`` and ``tier``.
    """
    if mark.args:
        raise InvalidCheck("takes keyword arguments only (id=, layer=, tier=, title=, remediation=)")
    kwargs = mark.kwargs
    unknown = sorted(set(kwargs) - _ALLOWED_KWARGS)
    if unknown:
        raise InvalidCheck(f"unknown argument(s) {', '.join(unknown)}")
    check_id = kwargs.get("id")
    if not isinstance(check_id, str) or not CHECK_ID.fullmatch(check_id):
        raise InvalidCheck(
            f"malformed id {check_id!r}: use lowercase dotted words, e.g. 'binance.connectivity'"
        )
    layer = kwargs.get("layer")
    if layer not in LAYERS:
        raise InvalidCheck(f"unknown layer {layer!r}; use one of {', '.join(LAYERS)}")
    tier = kwargs.get("tier")
    if not isinstance(tier, int) or isinstance(tier, bool) or tier not in TIER_WEIGHTS:
        raise InvalidCheck(f"tier must be 1, 2 or 3, got {tier!r}")
    doc_line = next((line.strip() for line in (doc or "").splitlines() if line.strip()), None)
    title = _optional_text(kwargs, "title") or doc_line or check_id
    remediation = _optional_text(kwargs, "remediation") or NO_REMEDIATION
    weight = kwargs.get("weight", TIER_WEIGHTS[tier])
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        raise InvalidCheck(f"weight must be a positive number, got {weight!r}")
    extra_phases = _names(kwargs.get("phases", ()), "phases")
    for phase in extra_phases:
        if phase not in PHASES:
            raise InvalidCheck(f"unknown phase {phase!r}; use one of {', '.join(PHASES)}")
    depends = _names(kwargs.get("depends", ()), "depends")
    for dep in depends:
        if not CHECK_ID.fullmatch(dep):
            raise InvalidCheck(f"depends names a malformed id {dep!r}")
        if dep == check_id:
            raise InvalidCheck("a check cannot depend on itself")
    phases = tuple(dict.fromkeys((*LAYER_PHASES[layer], *extra_phases)))
    return CheckSpec(
        id=check_id,
        layer=layer,
        tier=tier,
        title=title,
        remediation=remediation,
        weight=float(weight),
        phases=phases,
        depends=depends,
    )
