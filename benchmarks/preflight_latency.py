"""How many sequential round trips the sandbox preflight costs.

Runs `pytest -m preflight --target sandbox` with `--sandbox-latency-ms 0` and `300`, alternating,
and prints (wall(300) - wall(0)) / 0.3 s: the number of round trips the run waits for one after
another. Probes that start together cost one; a check-after-check design costs one per request
(15 or more). Target: <= 3. Wall time carries the noise of starting Python and pytest, so it
also prints the same figure from the session's own start and finish times in readiness.json.

    python benchmarks/preflight_latency.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LATENCY_S = 0.3


def session_s(report: dict[str, object]) -> float:
    started = dt.datetime.fromisoformat(str(report["started_at"]))
    return (dt.datetime.fromisoformat(str(report["finished_at"])) - started).total_seconds()


def run(latency_ms: int, out: Path) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "preflight",
            "--target",
            "sandbox",
            "--sandbox-latency-ms",
            str(latency_ms),
            f"--readiness-dir={out}",  # the = form: pytest reads a bare existing folder as a test path
        ],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    report: dict[str, object] = json.loads((out / "readiness.json").read_text())
    return elapsed, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    fast, slow, fast_session, slow_session = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        for _ in range(options.rounds):
            elapsed, report = run(0, out)
            fast.append(elapsed)
            fast_session.append(session_s(report))
            elapsed, slow_report = run(int(LATENCY_S * 1000), out)
            slow.append(elapsed)
            slow_session.append(session_s(slow_report))
    checks = len(report["checks"])  # type: ignore[arg-type]
    base, loaded = statistics.median(fast), statistics.median(slow)
    print(f"sandbox preflight, {checks} checks, {options.rounds} alternating rounds (median wall time)")
    print(f"  --sandbox-latency-ms 0:   {base:6.2f} s   runs: {' '.join(f'{t:.2f}' for t in fast)}")
    print(f"  --sandbox-latency-ms 300: {loaded:6.2f} s   runs: {' '.join(f'{t:.2f}' for t in slow)}")
    print(f"  verdicts: {report['verdict']} / {slow_report['verdict']}")
    for reason in {*report["reasons"], *slow_report["reasons"]}:  # type: ignore[misc]
        print(f"    - {reason}")
    trips = (loaded - base) / LATENCY_S
    print(f"  sequential round trips = (wall(300) - wall(0)) / 0.3 s = {trips:.2f}  (target <= 3)")
    inside = (statistics.median(slow_session) - statistics.median(fast_session)) / LATENCY_S
    print(f"  the same from the session's own times (no interpreter start-up noise): {inside:.2f}")


if __name__ == "__main__":
    main()
