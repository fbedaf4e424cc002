"""What an xdist worker collected, left in a file for the controller (which collects nothing)."""

from __future__ import annotations

import json
from pathlib import Path

from .report.files import write_atomic
from .spec import CheckSpec
from .state import RunState


def write(state: RunState, path: Path) -> None:
    manifest = {
        "selected": {nodeid: spec.to_json() for nodeid, spec in state.selected.items()},
        "selected_as": state.selected_as,
        "collected": {check_id: spec.to_json() for check_id, spec in state.collected_specs.items()},
        "nodeids": state.collected,
        "catalogue_collected": state.catalogue_collected,
    }
    write_atomic(path, json.dumps(manifest).encode())


def merge(state: RunState, path: Path) -> None:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for nodeid, data in manifest["selected"].items():
        state.selected.setdefault(nodeid, CheckSpec.from_json(data))
    for nodeid, phases in manifest["selected_as"].items():
        state.selected_as.setdefault(nodeid, tuple(phases))
    for check_id, data in manifest["collected"].items():
        state.collected_specs.setdefault(check_id, CheckSpec.from_json(data))
    for check_id, nodeid in manifest["nodeids"].items():
        state.collected.setdefault(check_id, nodeid)
    state.catalogue_collected = state.catalogue_collected or manifest["catalogue_collected"]
