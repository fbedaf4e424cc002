"""The fixtures readiness checks use, provided by the plugin so the catalogue runs anywhere."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from .audit import AuditResult, TrailUnreadable, default_cache_dir, validate_file
from .context import CheckContext, RunView
from .probes.catalogue import PROBES
from .probes.network import ProbeSet
from .state import runtime_key, spec_key, state_key


@pytest.fixture
def readiness(request: pytest.FixtureRequest) -> CheckContext:
    """Record metrics, warnings and remediations from inside a readiness check."""
    node = request.node
    if spec_key not in node.stash:
        pytest.fail(f"{node.nodeid}: the readiness fixture needs @pytest.mark.readiness(...)", pytrace=False)
    state = request.config.stash[state_key]
    runtime = node.stash[runtime_key]
    run = RunView(
        reports_dir=state.out_dir,
        started_at=state.started_at,
        drills=tuple(spec.id for spec in state.selected.values() if spec.layer == "drill"),
        outcomes=state.collector.outcomes,
    )
    return CheckContext(
        node.stash[spec_key],
        runtime,
        state.settings,
        state.profile,
        state.redact,
        run,
        attestations=state.attestations,
        attestation_file=state.attestation_file,
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def probes(request: pytest.FixtureRequest) -> AsyncIterator[ProbeSet]:
    """Every network probe the selected checks read, started at once on the session's loop."""
    selected = {item.stash[spec_key].id for item in request.session.items if spec_key in item.stash}
    probe_set = ProbeSet()
    probe_set.start(PROBES, request.config.stash[state_key].settings, selected)
    yield probe_set
    await probe_set.close()


@pytest.fixture(scope="session")
def audit_trail(request: pytest.FixtureRequest) -> AuditResult | TrailUnreadable | None:
    """The audit trail validated once per run (incrementally, from the reports folder's cache)."""
    state = request.config.stash[state_key]
    path = state.settings.audit_trail
    if path is None:
        return None
    try:
        return validate_file(
            path, state.profile.names.audit_config(), cache_dir=default_cache_dir(state.out_dir)
        )
    except TrailUnreadable as exc:
        return exc
