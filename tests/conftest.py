"""Shared helpers for the harness's own tests (the plugin is tested through ``pytester``)."""

from __future__ import annotations

import os

import hypothesis  # noqa: F401  (imported up front: each in-process pytester run would re-import it, ~1 s)
import pytest

from readiness.sandbox.binance import REQUEST_LOG_ENV

pytest_plugins = ["pytester", "tests.reliability.summary"]

#: Environment variables of the machine running the tests that would leak into a pytester run.
_SETTINGS_PREFIXES = ("READINESS_", "TELEGRAM_", "BINANCE_")
#: Under GitHub Actions, every pytester run would annotate the job and append to its summary.
_CI_OUTPUTS = ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No setting of this machine's, and no cache in its home (``readiness audit`` keeps one there)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
    for name in list(os.environ):
        if (name.startswith(_SETTINGS_PREFIXES) and name != REQUEST_LOG_ENV) or name in _CI_OUTPUTS:
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture(autouse=True)
def _pytester_ini(request: pytest.FixtureRequest) -> None:
    """Give pytester runs the ini pytest-asyncio expects (warnings are errors here), and leave the
    built-in catalogue out: synthetic suites reuse its ids. Tests of the catalogue joining a
    folder's run write an ini of their own."""
    if "pytester" in request.fixturenames:
        pytester: pytest.Pytester = request.getfixturevalue("pytester")
        pytester.makeini(
            "[pytest]\nasyncio_default_fixture_loop_scope = function\naddopts = --no-readiness-catalogue\n"
        )
