"""Collection: validate each check's marker, tag it, order it after its dependencies.

Unknown ``depends=`` ids are collection errors of the module that names them; drills stay out
without ``--drill``; the phases each selected check was selected for are noted for coverage.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path

import pytest

from . import catalogue, coverage, manifest, sandbox_run
from .context import CheckRuntime
from .report.drill_evidence import DRILL_EVIDENCE_CHECK
from .spec import LAYERS, PHASES, InvalidCheck, spec_from_marker
from .state import RunState, is_worker, runtime_key, spec_key, state_key

_MARKERS = {name: getattr(pytest.mark, name) for name in (*LAYERS, *PHASES)}


def _register_item(state: RunState, item: pytest.Item) -> str | None:
    """Validate one item's marker and tag it with its layer and phases; return a problem."""
    mark = item.get_closest_marker("readiness")
    if mark is None:
        return None
    try:
        spec = spec_from_marker(mark, getattr(getattr(item, "function", None), "__doc__", None))
    except InvalidCheck as exc:
        return f"{item.nodeid}: readiness id {mark.kwargs.get('id')!r}: {exc}"
    first = state.collected.get(spec.id)
    if first is not None and first != item.nodeid:  # the same test may be collected twice (node-id args)
        return f"{item.nodeid}: readiness id {spec.id!r} is already used by {first}"
    state.collected[spec.id] = item.nodeid
    state.collected_specs[spec.id] = spec
    state.catalogue_collected = state.catalogue_collected or catalogue.in_catalogue(item.path)
    item.stash[spec_key] = spec
    item.stash[runtime_key] = CheckRuntime()
    for name in (spec.layer, *spec.phases):
        item.add_marker(_MARKERS[name])
    return None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """``--no-readiness-catalogue`` leaves the built-in checks out, wherever they are."""
    if catalogue.excluded(config) and catalogue.in_catalogue(collection_path):
        return True
    return None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Turn a bad readiness marker into a collection error of the module that declares it."""
    report = yield
    state = collector.config.stash.get(state_key, None)
    if state is None or not report.passed:
        return report
    problems = [
        problem
        for node in report.result
        if isinstance(node, pytest.Item) and (problem := _register_item(state, node)) is not None
    ]
    if problems:
        report.outcome = "failed"
        report.longrepr = "\n".join(problems)
        report.result = []
    return report


def _dependency_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """Stable order in which every check comes after the checks it depends on."""
    position = {item.stash[spec_key].id: item for item in items if spec_key in item.stash}
    ordered: list[pytest.Item] = []
    placed: set[int] = set()

    def place(item: pytest.Item, chain: tuple[str, ...]) -> None:
        if id(item) in placed:
            return
        spec = item.stash.get(spec_key, None)
        if spec is not None and spec.id in chain:
            cycle = " -> ".join((*chain[chain.index(spec.id) :], spec.id))
            raise pytest.UsageError(f"readiness depends= forms a cycle: {cycle}")
        for dep in spec.depends if spec else ():
            if dep in position:
                place(position[dep], (*chain, spec.id) if spec else chain)
        placed.add(id(item))
        ordered.append(item)

    for item in items:
        place(item, ())
    return ordered


def _after_the_drills(items: list[pytest.Item]) -> list[pytest.Item]:
    """The drill-evidence check judges a run's own drills, so it runs after the last of them."""
    specs = [item.stash.get(spec_key, None) for item in items]
    judge = [
        item for item, spec in zip(items, specs, strict=True) if spec and spec.id == DRILL_EVIDENCE_CHECK
    ]
    drills = [item for item, spec in zip(items, specs, strict=True) if spec and spec.layer == "drill"]
    if not judge or not drills:
        return items
    rest = [item for item in items if item not in judge]
    after = rest.index(drills[-1]) + 1
    return [*rest[:after], *judge, *rest[after:]]


def _refuse_unknown_dependencies(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A ``depends=`` id that no check has (collected or built in) is a collection error."""
    known = {item.stash[spec_key].id for item in items if spec_key in item.stash}
    broken: list[pytest.Item] = []
    for item in items:
        spec = item.stash.get(spec_key, None)
        unknown = [dep for dep in spec.depends if dep not in known] if spec else []
        if spec is None or not unknown:
            continue
        unknown = [dep for dep in unknown if dep not in catalogue.catalogue_specs()]
        if unknown:
            broken.append(item)
            named = ", ".join(repr(dep) for dep in unknown)
            message = f"{item.nodeid}: readiness check {spec.id!r} depends on {named}, which no check has"
            config.hook.pytest_collectreport(report=pytest.CollectReport(item.nodeid, "failed", message, []))
    if broken:
        items[:] = [item for item in items if item not in broken]


def _hold_back_drills(config: pytest.Config, state: RunState, items: list[pytest.Item]) -> None:
    drills = [
        item for item in items if (s := item.stash.get(spec_key, None)) is not None and s.layer == "drill"
    ]
    if drills:
        config.hook.pytest_deselected(items=drills)
        held = set(map(id, drills))
        items[:] = [item for item in items if id(item) not in held]
        state.drills_held_back = len(drills)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    """Unknown dependencies are refused before any selection; after ``-m``/``-k`` have selected,
    drills stay out without ``--drill`` and checks run after what they depend on."""
    state = config.stash[state_key]
    _refuse_unknown_dependencies(config, items)
    yield
    if not state.drill:
        _hold_back_drills(config, state, items)
    items[:] = _after_the_drills(_dependency_order(items))


@pytest.hookimpl(tryfirst=True)  # the manifest must exist before xdist reports collection done
def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    state = config.stash[state_key]
    expression = coverage.compile_expression(config)
    found = [(item, spec) for item in session.items if (spec := item.stash.get(spec_key, None))]
    # built first and stored in one update each, so a Ctrl-C here leaves no half phase set behind
    selected = {item.nodeid: spec for item, spec in found}
    selected_as = {i.nodeid: coverage.selected_as(i, spec, expression, state.drill) for i, spec in found}
    state.selected.update(selected)
    state.selected_as.update(selected_as)
    if is_worker(config):
        if state.manifest_dir is not None:
            worker_id = config.workerinput["workerid"]  # type: ignore[attr-defined]
            manifest.write(state, state.manifest_dir / f"{worker_id}.json")
        return
    check_waivers(state)
    check_attestations(state)
    sandbox_run.warm(config, state)


def check_waivers(state: RunState) -> None:
    """Tier-1 checks cannot be waived, and a waiver must name a check that exists."""
    for waiver in state.waivers:
        spec = state.collected_specs.get(waiver.id) or catalogue.catalogue_specs().get(waiver.id)
        if spec is None:
            raise pytest.UsageError(f"waiver for {waiver.id}: no check has this id (misspelled?)")
        if spec.tier == 1:
            where = state.collected.get(waiver.id, "the built-in catalogue")
            raise pytest.UsageError(f"waiver for {waiver.id}: tier-1 checks cannot be waived ({where})")


def check_attestations(state: RunState) -> None:
    """An attestation must name a ``manual.*`` check that exists: a misspelled id attests nothing."""
    known = sorted(
        check_id
        for check_id in {*state.collected_specs, *catalogue.catalogue_specs()}
        if check_id.startswith("manual.")
    )
    for attestation in state.attestations:
        if attestation.id not in known:
            raise pytest.UsageError(
                f"attestation file {attestation.where}: no manual.* check has id {attestation.id!r}; "
                f"attestations are for the manual.* checks: {', '.join(known) or 'none'}"
            )
