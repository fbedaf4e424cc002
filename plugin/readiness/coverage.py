"""Whether a run speaks for whole phases: which phases it covers and which checks it left out.

A check is selected *as* a phase when the ``-m`` expression matches it with its other phase
markers removed: under ``-m postdeploy`` a component check that is also a post-deploy check is
there as a post-deploy check, so the run covers post-deploy only; ``-m component`` covers every
phase its checks belong to, and is partial.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pytest
from _pytest.mark import MarkMatcher  # pytest's own -m matcher, so selection is judged as pytest does
from _pytest.mark.expression import Expression

from .spec import LAYER_PHASES, LAYERS, PHASES, CheckSpec


def compile_expression(config: pytest.Config) -> Expression | None:
    text = config.getoption("markexpr", "") or ""
    return Expression.compile(text) if text.strip() else None


def selected_as(
    item: pytest.Item, spec: CheckSpec, expression: Expression | None, drill: bool
) -> tuple[str, ...]:
    """The phases this selected check was selected for."""
    phases = tuple(p for p in spec.phases if drill or p != "drill")
    if expression is None:
        return phases
    marks = list(item.iter_markers())
    chosen = tuple(
        phase
        for phase in phases
        if expression.evaluate(
            MarkMatcher.from_markers([m for m in marks if m.name == phase or m.name not in PHASES])
        )
    )
    return chosen or phases


def asked_phases(expression: Expression | None) -> tuple[str, ...]:
    """The phases a ``-m`` expression asks for, judged on a bare check of each layer."""
    if expression is None:
        return ()
    asked: set[str] = set()
    for layer in LAYERS:
        names = (layer, *LAYER_PHASES[layer])
        if expression.evaluate(MarkMatcher.from_markers([getattr(pytest.mark, n).mark for n in names])):
            asked.update(LAYER_PHASES[layer])
    return ordered(asked)


def ordered(phases: Iterable[str]) -> tuple[str, ...]:
    present = set(phases)
    return tuple(p for p in PHASES if p in present)


def report_stem(phases: tuple[str, ...]) -> str:
    """``readiness`` for the preflight sign-off; other phase sets get files of their own."""
    return "readiness" if phases in ((), ("preflight",)) else "readiness-" + "-".join(phases)


@dataclass(frozen=True, slots=True)
class Coverage:
    phases: tuple[str, ...]
    #: phase -> (selected ids, expected ids)
    counts: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    left_out: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.left_out)

    def reasons(self) -> list[str]:
        return [
            f"partial run: {selected} of {expected} {phase} checks selected"
            for phase, (selected, expected) in self.counts.items()
            if selected < expected
        ]


def assess_coverage(
    selected: Mapping[str, CheckSpec],
    selected_for: Mapping[str, tuple[str, ...]],
    collected: Mapping[str, CheckSpec],
    catalogue: Mapping[str, CheckSpec],
) -> Coverage:
    """``selected``: nodeid -> spec of the checks that ran; ``selected_for``: nodeid -> phases;
    ``collected`` and ``catalogue``: id -> spec of what could have run (``catalogue`` empty when the
    built-in catalogue is not part of the run)."""
    phases = ordered(p for nodeid in selected for p in selected_for.get(nodeid, selected[nodeid].phases))
    pool = {**catalogue, **collected}
    ran = {spec.id for spec in selected.values()}
    counts: dict[str, tuple[int, int]] = {}
    left_out: set[str] = set()
    for phase in phases:
        expected = {check_id for check_id, spec in pool.items() if phase in spec.phases}
        counts[phase] = (len(expected & ran), len(expected))
        left_out |= expected - ran
    return Coverage(phases, counts, tuple(sorted(left_out)))
