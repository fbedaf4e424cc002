"""The sandbox bot's release evidence, earned the way a bot's CI earns it.

The bot gets a source repository of its own (git, one commit: its launcher, shipped config,
pinned requirements and tests), its tests really run with ``--junitxml`` after that commit, its
pinned requirements are audited against the sandbox's advisory list (empty unless a fault adds
one) into pip-audit's JSON format. Faults change what happens, never the verdict directly: a
commit that breaks a test, a commit after the test run, an edit left uncommitted, an advisory,
an old audit.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Collection, Mapping
from importlib import metadata
from pathlib import Path
from typing import Final

from . import bot

JUNIT: Final = "reports/junit.xml"
AUDIT: Final = "reports/pip-audit.json"
#: What the reference bot imports: the requirements its repo pins.
DEPENDENCIES: Final = ("python-binance", "httpx", "aiohttp")
TESTS_TIMEOUT_S: Final = 60.0
COARSE_CLOCK_MARGIN_S: Final = 0.05
#: The sandbox's advisory for fault ``dependency_vulnerable``, in pip-audit's shape.
ADVISORY: Final = {
    "id": "SANDBOX-2026-0001",
    "aliases": [],
    "description": "request smuggling (sandbox advisory)",
}
VULNERABLE: Final = "httpx"
FAULTS: Final[dict[str, str]] = {
    "bot_repo_dirty": "the bot's repo has an uncommitted edit of config/risk.toml and an untracked "
    "hotfix.py (fails release.bot_repo_clean)",
    "bot_tests_failing": "a commit ships a per-trade loss limit above the daily one; the bot's own "
    "tests catch it and fail (fails release.bot_tests_passed)",
    "bot_test_report_stale": "a commit lands after the bot's tests ran, so their report is older than "
    "HEAD (fails release.bot_tests_passed)",
    "dependency_vulnerable": f"the dependency audit finds {ADVISORY['id']} in the bot's pinned "
    f"{VULNERABLE} (fails release.dependencies_audited)",
    "dependency_audit_stale": "the dependency audit was last run 8 days ago "
    "(fails release.dependencies_audited)",
}

_TESTS: Final = '''\
"""The bot's own tests: its shipped risk limits and how it keeps the kill switch."""

import json
from pathlib import Path

from readiness.sandbox import bot

CONFIG = Path(__file__).resolve().parent.parent / "config" / "risk.toml"


def test_shipped_risk_limits_load():
    assert bot.load_risk(CONFIG)["max_open_positions"] >= 1


def test_loss_per_trade_within_daily_limit():
    risk = bot.load_risk(CONFIG)
    assert risk["max_loss_per_trade_usdt"] <= risk["max_daily_loss_usdt"], "a trade could lose a day's limit"


def test_kill_switch_survives_restart(tmp_path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"active": True, "reason": "drill", "changed_at": "now"}))
    assert bot.load_kill_switch(state).active


def test_unreadable_state_fails_closed(tmp_path):
    state = tmp_path / "state.json"
    state.write_bytes(b"{torn")
    assert bot.load_kill_switch(state).active
'''


def _git_env() -> dict[str, str]:
    """git with no user configuration (no hooks, signing or templates of the host's) and a fixed author."""
    return {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Sandbox Bot CI",
        "GIT_AUTHOR_EMAIL": "ci@sandbox.invalid",
        "GIT_COMMITTER_NAME": "Sandbox Bot CI",
        "GIT_COMMITTER_EMAIL": "ci@sandbox.invalid",
    }


class BotRepo:
    """The sandbox bot's source repository in ``folder`` and the evidence its pipeline leaves."""

    def __init__(self, folder: Path, faults: Collection[str] = ()) -> None:
        self.folder = folder
        self.faults = frozenset(faults) & set(FAULTS)
        #: The bot's requirements, pinned to what is installed (at start): its repo's and audit's list.
        self.pins: dict[str, str] = {}
        self._tests: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            "READINESS_BOT_REPO": str(self.folder),
            "READINESS_BOT_TEST_REPORT": str(self.folder / JUNIT),
            "READINESS_BOT_DEPENDENCY_AUDIT": str(self.folder / AUDIT),
        }

    def start(self) -> None:
        """Commit the bot's source, then start its tests (they run while the sandbox starts)."""
        self.pins = {name: metadata.version(name) for name in DEPENDENCIES}
        risk = dict(bot.DEFAULT_RISK)
        if "bot_tests_failing" in self.faults:
            risk["max_loss_per_trade_usdt"] = risk["max_daily_loss_usdt"] * 2
        files = {
            "README.md": "# Sandbox grid bot\n\nThe reference bot the readiness sandbox runs.\n",
            ".gitignore": "reports/\n__pycache__/\n.pytest_cache/\n",
            "pyproject.toml": '[project]\nname = "sandbox-gridbot"\nversion = "1.0.0"\n\n'
            '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n',
            "requirements.txt": "".join(f"{name}=={version}\n" for name, version in self.pins.items()),
            "bot.py": "from readiness.sandbox.bot import main\n\nraise SystemExit(main())\n",
            "config/risk.toml": bot.render_risk(risk),
            "tests/test_bot.py": _TESTS,
        }
        for name, text in files.items():
            path = self.folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        self._git("init", "-q", "-b", "main")
        self._git("add", "-A")
        self._git("commit", "-q", "-m", "Sandbox grid bot 1.0.0")
        (self.folder / "reports").mkdir()
        self._tests = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={JUNIT}"],
            cwd=self.folder,
            env={**child_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONDONTWRITEBYTECODE": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def finish(self) -> None:
        """Wait for the tests' report, then what follows it: the audit, and the faults that come later."""
        if self._tests is not None:
            try:
                self._tests.wait(TESTS_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._tests.kill()
                self._tests.wait()
            self._tests = None
        self._write_audit()
        if "bot_test_report_stale" in self.faults:
            # The commit's second follows the run's. Past the boundary by a margin: git stamps it
            # with time(), which reads a coarse clock that lags the boundary by up to a tick.
            time.sleep(math.floor(time.time()) + 1 + COARSE_CLOCK_MARGIN_S - time.time())
            with (self.folder / "README.md").open("a", encoding="utf-8") as readme:
                readme.write("\nStart it with `python bot.py --workdir DIR`.\n")
            self._git("commit", "-q", "-am", "README: how to start the bot")
        if "bot_repo_dirty" in self.faults:
            config = self.folder / "config/risk.toml"
            config.write_text(config.read_text(encoding="utf-8").replace("= 5\n", "= 6\n"), encoding="utf-8")
            (self.folder / "hotfix.py").write_text("# applied by hand on the server\n", encoding="utf-8")

    def stop(self) -> None:
        if self._tests is not None:
            self._tests.kill()
            self._tests.wait()
            self._tests = None

    def _git(self, *args: str) -> None:
        subprocess.run(
            ["git", *args], cwd=self.folder, env=_git_env(), check=True, capture_output=True, timeout=30
        )

    def _write_audit(self) -> None:
        """Audit the pinned requirements against the sandbox's advisories, as ``pip-audit -f json``
        reports them."""
        dependencies = [
            {
                "name": name,
                "version": version,
                "vulns": [{**ADVISORY, "fix_versions": [_next_major(version)]}]
                if name == VULNERABLE and "dependency_vulnerable" in self.faults
                else [],
            }
            for name, version in self.pins.items()
        ]
        path = self.folder / AUDIT
        path.write_text(json.dumps({"dependencies": dependencies, "fixes": []}, indent=2), encoding="utf-8")
        if "dependency_audit_stale" in self.faults:
            then = time.time() - 8 * 86400
            os.utime(path, (then, then))


def _next_major(version: str) -> str:
    major = version.split(".", 1)[0]
    return f"{int(major) + 1}.0.0" if major.isdigit() else "99.0.0"


def child_env() -> Mapping[str, str]:
    """This environment without pytest's and the harness's own variables (a child run of its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "READINESS_"))}
