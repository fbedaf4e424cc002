"""pytest-xdist: the controller collects nothing, so workers tell it what they collected.

Registered only when xdist is active. Each worker gets a folder for its manifest and the
sandbox's ``.env`` path (the environment it inherits carries the rest of the sandbox). Under
``--dist load`` the drills go to one worker together (:class:`DrillsTogether`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from . import collection, manifest, sandbox_run
from .report.drill_evidence import DRILL_EVIDENCE_CHECK
from .state import RunState, state_key

MANIFEST_DIR = "readiness_manifest_dir"
SANDBOX_ENV_FILE = "readiness_sandbox_env_file"
DRILL_UNIT = "readiness-drills"


class DrillsTogether(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
    """``--dist load`` with one exception: every drill check is in one unit of work.

    The drills rehearse on one bot, and each starts from what the one before left (the crash
    drill kills and restarts the bot; a torn audit line it leaves is the next drill's trail), so
    they run on one worker in collection order, as a serial run has them. The drill lock only
    keeps them from overlapping; it cannot keep their order. The drill-evidence check joins them:
    it judges the run's own drills from the outcomes its worker saw.
    """

    def __init__(self, config: pytest.Config, log: Any, state: RunState) -> None:
        super().__init__(config, log)
        self._state = state

    def _split_scope(self, nodeid: str) -> str:
        spec = self._state.selected.get(nodeid)
        drilled = spec is not None and (spec.layer == "drill" or spec.id == DRILL_EVIDENCE_CHECK)
        return DRILL_UNIT if drilled else nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Controller: give each worker the folder where it leaves its collected specs."""
    state = node.config.stash[state_key]
    if state.manifest_dir is None:
        state.manifest_dir = Path(tempfile.mkdtemp(prefix="readiness-manifest-"))
    node.workerinput[MANIFEST_DIR] = str(state.manifest_dir)
    if state.sandbox_env_file is not None:
        node.workerinput[SANDBOX_ENV_FILE] = str(state.sandbox_env_file)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Controller: learn the collected checks (and refuse bad waivers and attestations) before
    tests run."""
    state = node.config.stash[state_key]
    if state.manifest_dir is not None:
        manifest.merge(state, state.manifest_dir / f"{node.gateway.id}.json")
    collection.check_waivers(state)
    collection.check_attestations(state)
    sandbox_run.warm(node.config, state)


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    """Controller: a run with drills under ``--dist load`` keeps its drills on one worker."""
    state = config.stash[state_key]
    if config.getvalue("dist") != "load" or not state.drill:
        return None
    return DrillsTogether(config, log, state)


def worker_inputs(config: pytest.Config) -> tuple[Path | None, Path | None]:
    """Worker: the manifest folder and the sandbox's ``.env``, as the controller gave them."""
    workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
    manifest_dir, env_file = workerinput.get(MANIFEST_DIR), workerinput.get(SANDBOX_ENV_FILE)
    return (Path(manifest_dir) if manifest_dir else None), (Path(env_file) if env_file else None)
