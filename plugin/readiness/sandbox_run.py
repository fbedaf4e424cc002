"""The sandbox's life within a run: started after the settings are validated, stopped last.

The controller starts it and points the environment at it; xdist workers and the bot inherit
the environment, and workers get the sandbox's ``.env`` path through ``workerinput``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from .options import read_attestations, read_settings
from .redact import Redactor
from .state import RunState, is_info_run, is_worker, sandbox_key

if TYPE_CHECKING:
    from .sandbox.session import Sandbox

_saved_environ_key = pytest.StashKey[dict[str, str | None]]()


def start(config: pytest.Config, state: RunState) -> None:
    """Start the sandbox (``--target sandbox``) and re-read the settings (and so the attestation
    file) it points at."""
    latency = config.getoption("readiness_sandbox_latency_ms")
    faults = config.getoption("readiness_sandbox_faults") or []
    if state.settings.target != "sandbox":
        if latency is not None or faults:
            raise pytest.UsageError("--sandbox-latency-ms and --sandbox-fault need --target sandbox")
        return
    if is_worker(config) or is_info_run(config):
        return  # a worker uses the controller's sandbox; --help or --co need none
    if latency is not None and not latency >= 0:
        raise pytest.UsageError(f"--sandbox-latency-ms: must be >= 0, got {latency:g}")
    from .sandbox.session import Sandbox, SandboxError  # the emulators load only when asked for

    try:
        sandbox = Sandbox(
            latency_ms=latency or 0.0, faults=faults, host_bot=state.profile.name == "reference"
        )
    except SandboxError as exc:
        raise pytest.UsageError(f"--sandbox-fault: {exc}") from None
    config.stash[sandbox_key] = sandbox
    try:
        env = sandbox.start()
    except SandboxError as exc:
        raise pytest.UsageError(f"the sandbox did not start: {exc}") from None
    config.stash[_saved_environ_key] = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    state.settings, environ = read_settings(config, sandbox.env_file)
    state.attestation_file, state.attestations = read_attestations(config, state.settings, state.today)
    state.redact = Redactor.from_environ(environ, state.settings.secrets())
    state.sandbox_env_file = sandbox.env_file


def stop(config: pytest.Config) -> None:
    sandbox = config.stash.get(sandbox_key, None)
    if sandbox is None:
        return
    for name, value in config.stash.get(_saved_environ_key, {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    sandbox.stop()


def warm(config: pytest.Config, state: RunState) -> None:
    """Give a fresh sandbox bot a moment before the checks that read it: deployment checks read its
    recent history, drills its positions (a crash drill that killed it mid-way through its opening
    orders would make it buy twice)."""
    sandbox = config.stash.get(sandbox_key, None)
    if sandbox is not None and any(spec.layer in ("deployment", "drill") for spec in state.selected.values()):
        sandbox.wait_for_bot_activity()


@pytest.fixture(scope="session")
def sandbox(pytestconfig: pytest.Config) -> Sandbox:
    """The running sandbox: its emulators record what reached them (``--target sandbox``)."""
    running = pytestconfig.stash.get(sandbox_key, None)
    if running is None:
        pytest.skip("needs --target sandbox, in the process that runs the sandbox (not an xdist worker)")
    return running
