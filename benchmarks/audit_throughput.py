"""Audit-trail validator throughput against jq and a json.loads loop (issue 4).

Generates a chained, seq-numbered trail of realistic events (SPEC §7 names), then prints side by
side: the validator's MB/s (a cold ``readiness audit --json --no-checkpoint`` run in a child
process, so the figure includes start-up and its peak RSS can be read), ``jq -c . >/dev/null``,
a plain ``json.loads`` loop, the ratios against the targets, and full vs incremental time after
a 1% append. Run: ``python benchmarks/audit_throughput.py [--events N] [--path FILE]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

EVENTS = [
    ("api_call", 70),
    ("position_opened", 6),
    ("position_closed", 6),
    ("alert_sent", 6),
    ("ws_reconnect", 4),
    ("circuit_breaker_open", 2),
    ("error", 4),
    ("kill_switch_activated", 1),
    ("kill_switch_deactivated", 1),
]
ENDPOINTS = ["/api/v3/order", "/api/v3/account", "/api/v3/ticker/price", "/api/v3/depth"]
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]


def _event(rng: random.Random, name: str) -> dict[str, object]:
    if name == "api_call":
        return {
            "endpoint": rng.choice(ENDPOINTS),
            "method": rng.choice(["GET", "POST"]),
            "latency_ms": round(rng.uniform(5, 400), 2),
            "status": rng.choice([200, 200, 200, 200, 429, 400]),
            "weight": rng.randint(1, 20),
        }
    if name.startswith("position"):
        return {
            "symbol": rng.choice(SYMBOLS),
            "side": rng.choice(["BUY", "SELL"]),
            "qty": round(rng.uniform(0.0001, 2), 6),
            "price": round(rng.uniform(10, 70000), 2),
            "order_id": rng.randint(10**9, 10**10),
        }
    if name == "alert_sent":
        return {"level": rng.choice(["info", "warning", "critical"]), "chat_id": "-100123456"}
    if name == "error":
        return {"error": "ReadTimeout", "message": "request to /api/v3/order timed out"}
    return {"reason": "operator request", "actor": "risk_manager"}


def generate(path: Path, events: int, start_seq: int = 1, prev: str = "0" * 64) -> str:
    """Write ``events`` chained lines; returns the last line's hash (to append more later)."""
    rng = random.Random(start_seq)
    names = [n for n, _ in EVENTS]
    weights = [w for _, w in EVENTS]
    clock = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=start_seq)
    mode = "ab" if start_seq > 1 else "wb"
    with open(path, mode) as out:
        batch: list[bytes] = []
        for seq in range(start_seq, start_seq + events):
            clock += timedelta(milliseconds=rng.randint(0, 900))
            name = rng.choices(names, weights)[0]
            record = {
                "seq": seq,
                "timestamp": clock.isoformat(timespec="microseconds"),
                "event": name,
                **_event(rng, name),
                "prev_sha256": prev,
            }
            line = json.dumps(record, separators=(",", ":")).encode()
            prev = hashlib.sha256(line).hexdigest()
            batch.append(line + b"\n")
            if len(batch) >= 10000:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    return prev


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def run_validator(args: list[str]) -> tuple[float, dict[str, object], int]:
    """Run the CLI in a child; returns wall seconds, its JSON and peak summed RSS of its tree."""
    cmd = [sys.executable, "-c", "import sys; from readiness.cli import main; sys.exit(main())"]
    started = time.perf_counter()
    child = subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE)
    peak = 0
    ps = psutil.Process(child.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, _tree_rss(ps))
            except psutil.Error:
                pass
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, _ = child.communicate()
    done.set()
    sampler.join()
    seconds = time.perf_counter() - started
    return seconds, json.loads(out), peak


def time_jq(path: Path) -> float:
    started = time.perf_counter()
    with open(path, "rb") as src:
        subprocess.run(["jq", "-c", "."], stdin=src, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def time_json_loads(path: Path) -> float:
    started = time.perf_counter()
    with open(path, "rb") as src:
        for line in src:
            json.loads(line)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--path", type=Path, help="trail to (re)generate; default a temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="audit-bench-"))
    path = opts.path or tmp / "audit.jsonl"
    try:
        t0 = time.perf_counter()
        last = generate(path, opts.events)
        size = path.stat().st_size
        mb = size / 1e6
        print(f"trail: {path}  {opts.events:,} events  {mb:.1f} MB  (generated in "
              f"{time.perf_counter() - t0:.1f} s)  cpus={os.cpu_count()}")
        # Warm the page cache so every contender reads from memory, not disk.
        time_jq(path) if opts.events <= 10_000 else path.read_bytes()

        v_s, v_json, v_rss = run_validator([str(path), "--json", "--no-checkpoint"])
        assert v_json["valid"] is True and v_json["lines"] == opts.events, v_json
        j_s = time_jq(path)
        l_s = time_json_loads(path)
        rows = [
            ("readiness audit (CLI, cold)", v_s),
            ("jq -c . >/dev/null", j_s),
            ("json.loads loop", l_s),
        ]
        print(f"\n{'contender':32} {'seconds':>9} {'MB/s':>9}")
        for label, secs in rows:
            print(f"{label:32} {secs:9.2f} {mb / secs:9.1f}")
        in_proc = float(v_json["seconds"])  # type: ignore[arg-type]
        print(f"{'  (validator in-process time)':32} {in_proc:9.2f} {mb / in_proc:9.1f}")
        print(f"\nvs jq:          {j_s / v_s:6.1f}x   (target >= 10x)  "
              f"{'OK' if j_s / v_s >= 10 else 'MISSED'}")
        print(f"vs json.loads:  {l_s / v_s:6.1f}x   (target >= 4x)   "
              f"{'OK' if l_s / v_s >= 4 else 'MISSED'}")
        print(f"peak RSS (CLI process + workers, summed): {v_rss / 2**20:6.1f} MiB "
              f"(target <= 150)  {'OK' if v_rss <= 150 * 2**20 else 'MISSED'}")

        cache = tmp / "cache"
        full_s, full_json, _ = run_validator([str(path), "--json", "--cache-dir", str(cache)])
        extra = max(1, opts.events // 100)
        generate(path, extra, start_seq=opts.events + 1, prev=last)
        inc_s, inc_json, inc_rss = run_validator([str(path), "--json", "--cache-dir", str(cache)])
        assert inc_json["valid"] is True and inc_json["incremental"] is True, inc_json
        assert inc_json["lines"] == opts.events + extra
        print(f"\nfull run writing a checkpoint: {full_s:6.2f} s (in-process "
              f"{full_json['seconds']:.2f} s)")
        print(f"incremental after a 1% append: {inc_s:6.2f} s (in-process "
              f"{inc_json['seconds']:.2f} s, parsed {inc_json['bytes_parsed']:,} of "
              f"{inc_json['bytes']:,} bytes, peak RSS {inc_rss / 2**20:.1f} MiB)")
        ratio = inc_s / full_s
        print(f"incremental / full: {100 * ratio:5.1f}%  (target <= 25%)  "
              f"{'OK' if ratio <= 0.25 else 'MISSED'}")
    finally:
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
