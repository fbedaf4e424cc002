"""Session faults for the deployment layer (the bot's running process, its log and its trail).

Each is applied once the bot runs and fails exactly one deployment check; none leaves anything
running or stopped that :meth:`Sandbox.stop` would have to undo (no SIGSTOP: a stopped bot would
only end after ``stop_bot``'s SIGTERM timeout):

- ``bot_not_running``: the bot is SIGKILLed (and reaped), so its PID file stays behind, stale.
- ``bot_memory_limit``: the run's READINESS_MAX_RSS_MB is set to half the bot's measured RSS.
- ``bot_error_burst``: ERROR records, in the bot's own log format, appended to bot.log.
- ``bot_stale_trail``: the trail is replaced, under the running bot, by a copy whose events are
  10 minutes older (hash chain recomputed, so it stays valid). The bot keeps writing to the
  replaced file, as after a careless rotation, so the trail the harness reads stops growing and
  its newest event is 10 minutes old: past ``deploy.recent_activity``'s 5 minutes, well inside
  the ops checks' hour.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import time
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import psutil

from ..report.files import write_atomic
from . import bot
from .faults import SessionFault

ERROR_BURST: Final = 40
STALE_BY: Final = timedelta(minutes=10)


def _bot_pid(bot_dir: Path) -> int:
    return int((bot_dir / bot.PID_FILE).read_text().strip())


def _await_api_call(bot_dir: Path, timeout_s: float = 5.0) -> None:
    """Wait for the bot's first api_call event, so ops.api_latency_p95 still has a figure to judge."""
    deadline = time.monotonic() + timeout_s
    while b'"event":"api_call"' not in (bot_dir / bot.AUDIT_FILE).read_bytes():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox bot in {bot_dir} recorded no api_call within {timeout_s:g} s")
        time.sleep(0.02)


def _kill_bot(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    _await_api_call(bot_dir)
    pid = _bot_pid(bot_dir)
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)  # the sandbox started it: reap it, or it lingers as a zombie
    except ChildProcessError:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).wait(5)


def _lower_rss_limit(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    rss_mb = psutil.Process(_bot_pid(bot_dir)).memory_info().rss / (1024 * 1024)
    env["READINESS_MAX_RSS_MB"] = f"{max(1, int(rss_mb // 2))}"


def _error_burst(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"
    lines = [
        f"{stamp} ERROR bot: binance: GET /api/v3/ping failed: ReadTimeout "
        f"(injected fault bot_error_burst, {n} of {ERROR_BURST})\n"
        for n in range(1, ERROR_BURST + 1)
    ]
    fd = os.open(bot_dir / bot.LOG_FILE, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, "".join(lines).encode())  # one append: never splits a line the bot writes
    finally:
        os.close(fd)


def _stale_trail(bot_dir: Path, env: MutableMapping[str, str]) -> None:
    _await_api_call(bot_dir)
    path = bot_dir / bot.AUDIT_FILE
    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]  # a line the bot is writing right now is left out
    out: list[bytes] = []
    prev = bot.ZERO_HASH
    for raw in data.splitlines():
        record = json.loads(raw)
        moment = datetime.fromisoformat(record["timestamp"]) - STALE_BY
        record["timestamp"] = moment.astimezone(UTC).isoformat(timespec="milliseconds")
        if "prev_sha256" in record:
            record["prev_sha256"] = prev
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
        prev = hashlib.sha256(line).hexdigest()
        out.append(line + b"\n")
    write_atomic(path, b"".join(out))


FAULTS: dict[str, SessionFault] = {
    "bot_not_running": SessionFault(
        "the bot is SIGKILLed once it runs, leaving a stale PID file (fails deploy.process_running; "
        "deploy.process_memory ends blocked)",
        _kill_bot,
    ),
    "bot_memory_limit": SessionFault(
        "READINESS_MAX_RSS_MB set to half the bot's RSS (fails deploy.process_memory)", _lower_rss_limit
    ),
    "bot_error_burst": SessionFault(
        f"{ERROR_BURST} ERROR records appended to bot.log in the bot's format (fails deploy.error_rate)",
        _error_burst,
    ),
    "bot_stale_trail": SessionFault(
        "the audit trail replaced under the running bot by a copy 10 minutes older, so it stops "
        "growing and its newest event is 10 minutes old (fails deploy.recent_activity)",
        _stale_trail,
    ),
}
