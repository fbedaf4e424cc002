"""The check catalogue's shared fixtures (the plugin itself comes from the ``pytest11`` entry point)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from readiness.plugin import spec_key, state_key
from readiness.probes.catalogue import PROBES
from readiness.probes.network import ProbeSet


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def probes(request: pytest.FixtureRequest) -> AsyncIterator[ProbeSet]:
    """Every network probe the selected checks read, started at once on the session's loop."""
    selected = {item.stash[spec_key].id for item in request.session.items if spec_key in item.stash}
    probe_set = ProbeSet()
    probe_set.start(PROBES, request.config.stash[state_key].settings, selected)
    yield probe_set
    await probe_set.close()
