"""Reading what a pytester run of the plugin wrote."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

#: The User-Agent of the emulator's own tests, which send refused requests on purpose (to see the
#: emulator answer them as Binance does); the whole-suite allow-list audit leaves those out.
EMULATOR_TESTS_AGENT = "readiness-emulator-tests"


def report_path(folder: Path) -> Path:
    """The readiness JSON the last run wrote in ``folder`` (files are named after its phases:
    ``readiness.json`` for preflight, ``readiness-postdeploy.json``...)."""
    written = sorted(folder.glob("readiness*.json"), key=lambda path: path.stat().st_mtime_ns)
    if not written:
        raise AssertionError(f"no readiness*.json in {folder}")
    return written[-1]


def assert_go_but_partial(report: dict[str, Any]) -> None:
    """A healthy run of part of a phase: nothing but its partial coverage kept it from GO."""
    assert report["partial"] is True, report["reasons"]
    assert report["verdict"] == "NO-GO"
    assert report["reasons"] and all(r.startswith("partial run: ") for r in report["reasons"]), report[
        "reasons"
    ]
    assert report["score"] >= report["thresholds"]["go"]


def read_report(pytester: pytest.Pytester, folder: str = "reports") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(report_path(pytester.path / folder).read_text("utf-8"))
    return data


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {check["id"]: check["outcome"] for check in report["checks"]}


def check_entry(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    for check in report["checks"]:
        if check["id"] == check_id:
            entry: dict[str, Any] = check
            return entry
    raise AssertionError(f"{check_id} not in the report: {sorted(outcomes(report))}")


REPO = Path(__file__).resolve().parents[1]
#: A pytest of its own process, as an operator would start it (no cache folder left behind).
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider")


def run_pytest(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run pytest in a subprocess (by default on the project's own catalogue) and capture it."""
    return subprocess.run(
        [*PYTEST, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def run_catalogue(tmp_path: Any, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the project's own check catalogue (``checks/``) and return its readiness.json."""
    out = tmp_path / "reports"
    done = run_pytest(f"--readiness-dir={out}", *args, env=env)
    written = sorted(out.glob("readiness*.json"), key=lambda path: path.stat().st_mtime_ns)
    assert written, f"no report (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    path = written[-1]
    report: dict[str, Any] = json.loads(path.read_text("utf-8"))
    report["_stdout"] = done.stdout
    report["_returncode"] = done.returncode
    return report


SCHEMA = "CREATE TABLE positions(symbol TEXT, qty REAL, avg_price REAL, status TEXT, opened_at, updated_at)"


def make_db(path: Path, rows: list[tuple[Any, ...]] | None = None, *, wal: bool = False) -> None:
    """A positions DB of the bot contract's schema (SPEC §7) holding ``rows``."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        if wal:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute(SCHEMA)
        db.executemany(
            "INSERT INTO positions VALUES (?, ?, ?, ?, 'x', 'x')",
            rows if rows is not None else [("BTCUSDT", 0.5, 50000.0, "open")],
        )


def snapshot(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` by name, with its SHA-256 (or where it points, for a symlink)."""
    state: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.is_symlink():
            state[path.name] = "-> " + os.readlink(path)
        elif path.is_file() and os.stat(path).st_mode & 0o444:
            state[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            state[path.name] = oct(os.stat(path).st_mode)
    return state


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it holds; fail, naming ``what``, after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
