"""Sandbox start-up time: both emulators serving and the reference bot answering /health.

Starts and stops the sandbox several times in this process and prints each start-up, the
median, and the whole `pytest --target sandbox` session overhead against a testnet run of the
same empty selection, side by side. Target: median start-up <= 1.5 s.

    python benchmarks/sandbox_startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from readiness.sandbox.session import Sandbox


def session_seconds(folder: Path, target: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--target", target],
        cwd=folder,
        capture_output=True,
        check=False,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    startups = []
    for _ in range(options.rounds):
        with Sandbox() as sandbox:
            startups.append(sandbox.startup_s)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
        (root / "test_one.py").write_text(
            "import pytest\n"
            '@pytest.mark.readiness(id="bench.one", layer="system", tier=3, title="T", remediation="R")\n'
            "def test_one(): pass\n"
        )
        sandbox_runs, testnet_runs = [], []
        for _ in range(3):
            sandbox_runs.append(session_seconds(root, "sandbox"))
            testnet_runs.append(session_seconds(root, "testnet"))
    print(f"sandbox start-up (emulators + bot healthy), {options.rounds} runs:")
    print("  " + " ".join(f"{s:.3f}" for s in startups))
    print(f"  median {statistics.median(startups):.3f} s   (target <= 1.5 s)")
    base, ours = statistics.median(testnet_runs), statistics.median(sandbox_runs)
    print(f"pytest session, median of 3: testnet {base:.2f} s, sandbox {ours:.2f} s")
    print(f"  difference {ours - base:.2f} s (start-up, stop and the emulator imports)")


if __name__ == "__main__":
    main()
