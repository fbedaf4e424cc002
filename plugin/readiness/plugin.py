"""The pytest plugin: collects readiness checks, scores them and writes the sign-off reports.

This module only wires the subsystems, each a small module of its own hooks: ``options``
(command line and ini), ``collection`` (markers, dependencies), ``running`` (one check),
``fixtures``, ``masking`` (secrets), ``sandbox_run``, ``reporting`` (score, verdict, files,
the Prometheus textfile, GitHub's job summary), ``xdist_hooks``, ``html_hooks`` and
``junit_hooks`` (registered only when those plugins are active) and ``github_actions``
(annotations, only under GitHub Actions). What a run knows lives in one
:class:`~readiness.state.RunState` in ``config.stash``.
"""

from __future__ import annotations

import shutil
import warnings

import pytest

from . import (
    catalogue,
    collection,
    fixtures,
    github_actions,
    masking,
    options,
    reporting,
    running,
    sandbox_run,
    signals,
    startup,
)
from .spec import LAYERS, PHASES
from .state import RunState, is_worker, state_key

#: pytest-asyncio (which the catalogue's checks use) warns, at configure time, about an ini
#: option the operator's project need not set; under "warnings are errors" that would break
#: every run of their own tests. The catalogue names its loop scopes explicitly.
_ASYNCIO_LOOP_SCOPE_UNSET = r'The configuration option "asyncio_default_fixture_loop_scope" is unset'


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> None:
    startup.check_path_options(early_config, parser, args)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "readiness(id, layer, tier, title=None, remediation=None, weight=None, phases=(), depends=()): "
        "a deployment-readiness check",
    )
    for name in dict.fromkeys((*LAYERS, *PHASES)):
        config.addinivalue_line("markers", f"{name}: readiness checks of the {name} layer or phase")
    # pluggy warns, then re-raises, when an old-style hookwrapper's teardown raises; under the
    # common "warnings are errors" setting that warning would replace a Ctrl-C or SIGTERM landing
    # there (pytest-asyncio, pytest-timeout, pytest-html have such wrappers), losing the interrupt
    config.addinivalue_line("filterwarnings", "ignore::pluggy.PluggyTeardownRaisedWarning")
    warnings.filterwarnings("ignore", _ASYNCIO_LOOP_SCOPE_UNSET, pytest.PytestDeprecationWarning)
    if not is_worker(config):
        signals.install_sigterm(config)
    manifest_dir = env_file = None
    if is_worker(config):
        from .xdist_hooks import worker_inputs

        manifest_dir, env_file = worker_inputs(config)
    state = options.build_state(config, env_file)
    state.manifest_dir = manifest_dir
    config.stash[state_key] = state
    for module in (collection, running, fixtures, masking, sandbox_run, reporting):
        config.pluginmanager.register(module, f"readiness-{module.__name__.rsplit('.', 1)[-1]}")
    config.pluginmanager.register(reporting.ReportListener(state), "readiness-listener")
    if config.pluginmanager.hasplugin("xdist"):
        from . import xdist_hooks

        config.pluginmanager.register(xdist_hooks, "readiness-xdist")
    if not is_worker(config):
        _register_outputs(config, state)
    catalogue.add_to_collection(config)
    sandbox_run.start(config, state)  # last: everything above may still refuse the run


def _register_outputs(config: pytest.Config, state: RunState) -> None:
    """The hooks of outputs other plugins write, on the process that writes them (not a worker)."""
    if config.pluginmanager.hasplugin("html"):
        from .html_hooks import HtmlHooks

        config.pluginmanager.register(HtmlHooks(state), "readiness-html")
    if getattr(config.option, "xmlpath", None):
        from .junit_hooks import JunitProperties

        config.pluginmanager.register(JunitProperties(state), "readiness-junit")
    if github_actions.in_github_actions():
        config.pluginmanager.register(github_actions, "readiness-github")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    with signals.held():
        reporting.finish_interrupted(config)
        sandbox_run.stop(config)
    signals.restore_sigterm(config)
    if state is not None and state.manifest_dir is not None and not is_worker(config):
        shutil.rmtree(state.manifest_dir, ignore_errors=True)
