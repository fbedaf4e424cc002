"""What one run knows, kept in ``config.stash``, and the stash keys every hook module shares."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .attestations import Attestation
from .context import CheckRuntime
from .profiles.protocol import BotProfile
from .redact import Redactor
from .results import ResultCollector
from .scoring import Thresholds
from .settings import Settings
from .spec import CheckSpec
from .waivers import Waiver

if TYPE_CHECKING:
    from .sandbox.session import Sandbox


@dataclass(slots=True)
class RunState:
    settings: Settings
    profile: BotProfile
    redact: Redactor
    thresholds: Thresholds
    waivers: list[Waiver]
    #: What the attestation file says, and that file (which may not exist yet).
    attestations: list[Attestation]
    attestation_file: Path
    out_dir: Path
    gate: str | None
    #: The Prometheus textfile each run writes too (``--readiness-prometheus``), if any.
    prometheus: Path | None
    signoff_by: str | None
    drill: bool
    started_at: dt.datetime
    #: The ``.env`` the run's settings came from when the sandbox wrote it (xdist workers too).
    sandbox_env_file: Path | None = None
    #: Where xdist workers leave the specs they collected for the controller to read.
    manifest_dir: Path | None = None
    collected: dict[str, str] = field(default_factory=dict)  # check id -> nodeid
    collected_specs: dict[str, CheckSpec] = field(default_factory=dict)  # check id -> spec
    selected: dict[str, CheckSpec] = field(default_factory=dict)  # nodeid -> spec, to run
    #: Phases each selected check was selected for (nodeid -> phases), see ``coverage``.
    selected_as: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Some collected check came from the built-in catalogue (so it is part of the run).
    catalogue_collected: bool = False
    #: Drill checks were left out for want of ``--drill``.
    drills_held_back: int = 0
    collector: ResultCollector = field(default_factory=ResultCollector)
    collection_errors: int = 0
    document: dict[str, Any] | None = None
    written: list[str] = field(default_factory=list)
    #: Ctrl-C or SIGTERM reached pytest (possibly before the session began).
    interrupted: bool = False

    @property
    def today(self) -> dt.date:
        """The run's date by the local clock, which waivers and attestations are judged against."""
        return self.started_at.astimezone().date()


state_key = pytest.StashKey[RunState]()
spec_key = pytest.StashKey[CheckSpec]()
runtime_key = pytest.StashKey[CheckRuntime]()
sandbox_key: pytest.StashKey[Sandbox] = pytest.StashKey()


def is_worker(config: pytest.Config) -> bool:
    """An xdist worker: it runs checks, the controller scores them."""
    return hasattr(config, "workerinput")


def is_info_run(config: pytest.Config) -> bool:
    """A run that only shows things (``--co``, ``--fixtures``, ``--markers``, ``--help``...)."""
    option = config.option
    return any(
        getattr(option, name, False)
        for name in ("collectonly", "showfixtures", "show_fixtures_per_test", "markers", "help", "version")
    )
