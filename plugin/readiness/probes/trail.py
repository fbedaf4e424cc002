"""Operational figures from the audit trail's most recent events (by their configured names).

The trail is read from its END backwards, block by block, and the scan stops at the first event
older than the lookback window, so a months-long trail costs what its last hour costs. The file
is opened read-only. Validity of the trail (JSON, seq, hash chain) is the ``audit.*`` checks'
business: here a line that does not parse, or has no usable timestamp, is counted and skipped,
and a torn last line (no newline yet) is ignored, as the bot may be writing it.

Timestamps are ISO-8601 with an offset or epoch seconds. The trail is appended in time
order; the scan reads :data:`ORDER_SLACK_S` past the window's start to tolerate small disorder.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import msgspec

from ..profiles.names import BotNames
from .logs import file_problem, lines_backward

ORDER_SLACK_S: Final = 60.0
#: Events whose count the ops checks read.
COUNTED: Final = ("ws_reconnect", "circuit_breaker_open", "error", "api_call", "heartbeat")

_decode = msgspec.json.Decoder()


def event_time(value: Any) -> float | None:
    """Epoch seconds of an audit timestamp, or None if it is neither ISO-8601+offset nor a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment.timestamp() if moment.utcoffset() is not None else None
    return None


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (a value that occurred, never an interpolation); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class TrailFigures:
    """The trail's last ``lookback_s`` seconds; ``problem`` is set when the file cannot be read."""

    path: Path
    lookback_s: float
    problem: str | None = None
    lines: int = 0  # lines read from the end
    events: int = 0  # events inside the window
    newest: float | None = None  # timestamp of the most recent event
    unreadable: int = 0  # lines read that are not a JSON object with event and timestamp
    torn_tail: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    latencies_ms: tuple[float, ...] = ()

    def age_s(self, now: float | None = None) -> float | None:
        """Seconds since the newest event (negative if it lies in the future); None without events."""
        if self.newest is None:
            return None
        return (time.time() if now is None else now) - self.newest

    def count(self, event: str) -> int:
        return self.counts.get(event, 0)

    @property
    def latency_p95_ms(self) -> float | None:
        return percentile(list(self.latencies_ms), 0.95)


def read_trail(
    path: Path, *, lookback_s: float, now: float | None = None, names: BotNames | None = None
) -> TrailFigures:
    """Count events and collect api_call latencies of the last ``lookback_s`` seconds, from the end;
    ``names`` reads a bot that names its fields and events its own way."""
    names = names or BotNames()
    problem = file_problem(path, "audit trail")
    if problem:
        return TrailFigures(path, lookback_s, problem)
    now = time.time() if now is None else now
    cutoff = now - lookback_s
    counts: dict[str, int] = {}
    latencies: list[float] = []
    lines = events = unreadable = 0
    newest: float | None = None
    torn = False
    try:
        with open(path, "rb") as f:
            for line in lines_backward(f):
                if not line.terminated:
                    torn = True
                    continue
                if not line.data.strip():
                    continue
                lines += 1
                record = _record(line.data)
                if record is not None:
                    record = names.reference_record(record)
                moment = event_time(record.get("timestamp")) if record else None
                event = record.get("event") if record else None
                if record is None or moment is None or not isinstance(event, str):
                    unreadable += 1
                    continue
                if newest is None or moment > newest:
                    newest = moment
                if moment < cutoff - ORDER_SLACK_S:
                    break
                if moment < cutoff:
                    continue
                events += 1
                if event in COUNTED:
                    counts[event] = counts.get(event, 0) + 1
                if event == "api_call":
                    latency = _latency(record.get("latency_ms"))
                    if latency is not None:
                        latencies.append(latency)
    except OSError as exc:
        return TrailFigures(path, lookback_s, f"audit trail {path} cannot be read ({exc.strerror or exc})")
    return TrailFigures(
        path,
        lookback_s,
        lines=lines,
        events=events,
        newest=newest,
        unreadable=unreadable,
        torn_tail=torn,
        counts=counts,
        latencies_ms=tuple(latencies),
    )


def _latency(value: Any) -> float | None:
    """A usable latency_ms (a finite number >= 0), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _record(data: bytes) -> dict[str, Any] | None:
    try:
        value = _decode.decode(data)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None
