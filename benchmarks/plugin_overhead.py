"""Wall-time overhead of the readiness plugin on a 2,000-check synthetic suite.

Runs the same suite with the plugin (readiness.json + readiness.html written) and with
``-p no:readiness``, alternating the two so machine noise hits both alike, and prints the
median of each and their ratio. Target: ratio <= 1.15.

    python benchmarks/plugin_overhead.py [--checks 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODULE_SIZE = 100
LAYERS = ("component", "integration", "system", "deployment")


def write_suite(root: Path, checks: int) -> None:
    (root / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = ignore::pytest.PytestUnknownMarkWarning\n"
    )
    for module in range(0, checks, MODULE_SIZE):
        lines = ["import pytest", ""]
        for n in range(module, min(module + MODULE_SIZE, checks)):
            layer = LAYERS[n % len(LAYERS)]
            tier = 1 + n % 3
            body = "assert n % 97" if n % 50 == 0 else "pass"
            lines += [
                f'@pytest.mark.readiness(id="bench.check_{n:05d}", layer="{layer}", tier={tier},',
                f'    title="Synthetic check {n}", remediation="Fix synthetic check {n}.")',
                f"def test_check_{n:05d}():",
                f"    n = {n}",
                f"    {body}",
                "",
            ]
        (root / f"test_bench_{module // MODULE_SIZE:03d}.py").write_text("\n".join(lines))


def run(root: Path, plugin: bool) -> float:
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    args += ["--target", "testnet"] if plugin else ["-p", "no:readiness"]
    start = time.perf_counter()
    done = subprocess.run(args, cwd=root, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(f"pytest failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    if plugin and not any((root / "reports").glob("readiness*.html")):
        sys.exit("the plugin run wrote no readiness HTML report")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="readiness-bench-") as folder:
        root = Path(folder)
        write_suite(root, options.checks)
        run(root, plugin=True)  # warm the file cache and bytecode
        run(root, plugin=False)
        with_plugin, without = [], []
        for _ in range(options.rounds):
            with_plugin.append(run(root, plugin=True))
            without.append(run(root, plugin=False))
    base, ours = statistics.median(without), statistics.median(with_plugin)
    print(f"{options.checks} checks, {options.rounds} alternating rounds, median wall time")
    print(f"{'-p no:readiness':>28}: {base:7.3f} s   runs: {' '.join(f'{t:.2f}' for t in without)}")
    print(
        f"{'readiness (JSON + HTML)':>28}: {ours:7.3f} s   runs: {' '.join(f'{t:.2f}' for t in with_plugin)}"
    )
    print(f"{'ratio':>28}: {ours / base:7.3f}   (target <= 1.15)")


if __name__ == "__main__":
    main()
