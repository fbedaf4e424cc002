"""The built wheel, installed into a fresh venv, in an operator's bot folder that is not this repo.

Nothing of this checkout is on that venv's path: the catalogue, its fixtures and the sandbox come
from the wheel alone, under the operator's own strict pytest configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

from readiness.catalogue import catalogue_specs
from readiness.sandbox.binance import BinanceEmulator
from readiness.sandbox.server import BackgroundServer
from readiness.sandbox.telegram import TelegramEmulator

from .helpers import REPO, outcomes
from .test_profiles import _gridbot

OPERATOR_PYPROJECT = """[project]
name = "their-bot"
version = "1.0"

[tool.pytest.ini_options]
addopts = ["--strict-markers", "--strict-config", "-p", "no:cacheprovider"]
filterwarnings = ["error"]
"""
UNIT_TEST = "def test_position_size():\n    assert round(0.1 * 3, 2) == 0.3\n"
OWN_CHECK = '''import pytest


@pytest.mark.readiness(id="own.strategy_loads", layer="component", tier=2)
def test_strategy_loads():
    """The bot's strategy module imports."""
    import fractions  # stands in for the bot's strategy module
'''
OWN_ID = "own.strategy_loads"
PREFLIGHT = ("-m", "preflight", "--target", "sandbox")


def _run(command: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}
        and not name.startswith("PYTEST_XDIST")
    }
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the sources: xdist workers building in the repo at once would share its
    build/ and egg-info folders."""
    out = tmp_path_factory.mktemp("wheel")
    source = out / "source"
    for folder in ("plugin", "checks"):
        shutil.copytree(
            REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)], cwd=out))
    (built,) = out.glob("pytest_readiness-*.whl")
    return built


@pytest.fixture(scope="module")
def operator_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel (and pytest-xdist, as an operator's CI might)."""
    where = tmp_path_factory.mktemp("venv") / "venv"
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    _ok(_run([str(python), "-m", "pip", "install", "-q", str(wheel), "pytest-xdist"], cwd=where))
    return python


@pytest.fixture
def bot_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "their-bot"
    (repo / "tests").mkdir(parents=True)
    (repo / "checks").mkdir()
    (repo / "pyproject.toml").write_text(OPERATOR_PYPROJECT)
    (repo / "tests" / "test_unit.py").write_text(UNIT_TEST)
    (repo / "checks" / "test_own.py").write_text(OWN_CHECK)
    return repo


def _pytest(python: Path, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run([str(python), "-m", "pytest", *args], cwd=repo)


def _report(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / "reports" / "readiness.json").read_text("utf-8"))
    return data


def test_wheel_carries_the_catalogue_and_nothing_of_the_repo(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in (REPO / "checks").rglob("*.py"):
        assert f"readiness/checks/{source.relative_to(REPO / 'checks').as_posix()}" in names
    assert "readiness/report/templates/readiness.html.j2" in names
    assert not {name for name in names if name.startswith(("tests/", "checks/", "conftest.py"))}


def test_preflight_in_an_operator_folder_is_go_with_every_built_in_check(
    operator_python: Path, bot_repo: Path
) -> None:
    done = _ok(_pytest(operator_python, bot_repo, *PREFLIGHT))
    report = _report(bot_repo)
    built_in = {i for i, spec in catalogue_specs().items() if "preflight" in spec.phases}
    assert report["verdict"] == "GO", (report["reasons"], done.stdout[-3000:])
    assert report["partial"] is False and report["left_out"] == []
    assert set(outcomes(report)) == built_in | {OWN_ID}
    assert outcomes(report)[OWN_ID] == "passed"
    own = next(check for check in report["checks"] if check["id"] == OWN_ID)
    assert own["title"] == "The bot's strategy module imports."
    assert own["remediation"] == "no remediation given"

    parallel = bot_repo.parent / "parallel"
    _ok(_pytest(operator_python, bot_repo, *PREFLIGHT, "-n", "2", f"--readiness-dir={parallel}"))
    in_parallel = json.loads((parallel / "readiness.json").read_text("utf-8"))
    assert (outcomes(in_parallel), in_parallel["verdict"]) == (outcomes(report), "GO")


def test_drills_in_an_operator_folder_rehearse_the_sandbox_bot(operator_python: Path, bot_repo: Path) -> None:
    done = _ok(_pytest(operator_python, bot_repo, "-m", "drill", "--drill", "--target", "sandbox"))
    report = json.loads((bot_repo / "reports" / "readiness-drill.json").read_text("utf-8"))
    drills = {i for i, spec in catalogue_specs().items() if spec.layer == "drill"}
    assert report["verdict"] == "GO", (report["reasons"], done.stdout[-3000:])
    assert outcomes(report) == dict.fromkeys(drills, "passed")
    assert not (bot_repo / "reports" / "readiness.json").exists()  # the preflight sign-off is its own


def test_the_operators_own_test_run_stays_theirs(operator_python: Path, bot_repo: Path) -> None:
    done = _ok(_pytest(operator_python, bot_repo, "tests", "-q"))
    assert "1 passed" in done.stdout
    assert not (bot_repo / "reports").exists()


def test_no_readiness_catalogue_runs_the_operators_checks_only(operator_python: Path, bot_repo: Path) -> None:
    _ok(_pytest(operator_python, bot_repo, *PREFLIGHT, "--no-readiness-catalogue"))
    assert outcomes(_report(bot_repo)) == {OWN_ID: "passed"}


def test_a_narrowed_gate_in_an_operator_folder_does_not_pass(operator_python: Path, bot_repo: Path) -> None:
    done = _pytest(operator_python, bot_repo, *PREFLIGHT, "-k", "disk", "--readiness-gate", "go")
    report = _report(bot_repo)
    assert done.returncode == 1, done.stdout[-3000:]
    assert report["partial"] is True and report["verdict"] == "NO-GO"
    assert "partial run — not a sign-off" in done.stdout


def test_an_operators_own_profile_in_their_folder_reads_their_bot(
    operator_python: Path, bot_repo: Path, tmp_path: Path
) -> None:
    """The worked example of docs/profiles.md, kept in the bot's repo beside its checks."""
    (bot_repo / "gridbot_profile.py").write_text(
        (REPO / "docs" / "examples" / "gridbot_profile.py").read_text()
    )
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        env = {
            k: v
            for k, v in _gridbot(
                tmp_path, sleeper.pid, {"max_exposure_usdt": 500, "max_positions": 3}
            ).items()
            if k != "PYTHONPATH"
        }
        done = subprocess.run(
            [str(operator_python), "-m", "pytest", "-m", "preflight or postdeploy", "--target", "sandbox"],
            cwd=bot_repo,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, **env},
            check=False,
        )
    finally:
        sleeper.kill()
        sleeper.wait()
    report = json.loads((bot_repo / "reports" / "readiness-preflight-postdeploy.json").read_text("utf-8"))
    got = outcomes(report)
    read = ("positions.db_healthy", "positions.values_sane", "risk.config_valid", "deploy.process_running")
    assert {cid: got[cid] for cid in read} == dict.fromkeys(read, "passed"), done.stdout[-3000:]
    assert got["audit.present_writable"] == "not_applicable"


def test_init_from_the_wheel_sets_up_an_operators_folder(operator_python: Path, bot_repo: Path) -> None:
    telegram, binance = TelegramEmulator(), BinanceEmulator(network="testnet")
    with BackgroundServer(telegram.make_app()) as bot_api, BackgroundServer(binance.make_app()) as exchange:
        answers = {
            "TELEGRAM_API_URL": bot_api.url,
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_CHAT_ID": str(telegram.chat_id),
            "BINANCE_API_URL": exchange.url,
            "BINANCE_TESTNET_API_KEY": binance.api_key,
            "BINANCE_TESTNET_API_SECRET": binance.api_secret,
        }
        done = subprocess.run(
            [str(operator_python.parent / "readiness"), "init", "--non-interactive"],
            cwd=bot_repo,
            env={**os.environ, **answers},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE((bot_repo / ".env").stat().st_mode) == 0o600
    for name in ("readiness.toml", "readiness-waivers.toml", "readiness-attestations.toml"):
        assert (bot_repo / name).is_file(), name
    assert telegram.token not in done.stdout and binance.api_secret not in done.stdout
    # The operator's own pytest reads what init wrote: the target and the commented config.
    collected = _ok(_pytest(operator_python, bot_repo, "-m", "preflight", "--co"))
    assert (
        f"readiness: target testnet (env file {bot_repo / '.env'}), config {bot_repo / 'readiness.toml'}"
        in (collected.stdout)
    )
