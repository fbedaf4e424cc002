"""The bot's log file: CRITICAL records and the ERROR rate over a lookback window, and secret scans.

Everything here opens files read-only (``rb``) and streams them in blocks, so a log of any size
costs bounded memory. The window scan reads from the END of the file backwards and stops at the
first record older than the window: a months-long log costs what its last minutes cost.

What counts as a record: a line that *starts* with a timestamp (``2026-05-09 07:35:25,123``, the
Python logging default, or ISO-8601 ``2026-05-09T07:35:25.123+00:00``, or syslog ``May  9
07:35:25``). Lines without one (traceback frames, wrapped messages) continue the record above
and are never counted on their own, so a traceback mentioning ``ERROR`` is one record, not ten.
Its level is the first upper-case level name (``CRITICAL``/``FATAL``, ``ERROR``, ``WARNING``, ...)
within the 64 characters after the timestamp. Timestamps without an offset are local time, as
Python's logging writes them. A log in which no timestamp is recognised at all is judged whole:
every line is a record, levelled from its start.

``CRITICAL``/``FATAL`` records and ``ERROR`` records are counted apart: one CRITICAL line fails
``deploy.no_critical_logs`` and only that; ``deploy.error_rate`` counts ERROR records alone.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO, Final, NamedTuple

from ..profiles.names import CRITICAL_LEVELS, ERROR_LEVELS
from ..redact import TELEGRAM_TOKEN
from .files import path_problem

BLOCK: Final = 1 << 16
#: A longer line is kept as its first MAX_LINE bytes (timestamps and levels live at its start).
MAX_LINE: Final = 1 << 20
#: Records may be written slightly out of order (threads); the backward scan reads this far past the window.
ORDER_SLACK_S: Final = 60.0
#: The file is judged binary, not a text log, when more than this share of its lines is not UTF-8 text.
BINARY_SHARE: Final = 0.1
#: How many line numbers a finding keeps (counts stay exact).
KEEP_LINES: Final = 10
LEVEL_SPAN: Final = 64
LINE_POLL_S: Final = 0.05

#: The level names a record is levelled by (its first one), besides those a bot's profile names.
LEVEL_NAMES: Final = ("CRITICAL", "FATAL", "ERROR", "WARNING", "WARN", "NOTICE", "INFO", "DEBUG", "TRACE")


def _level_pattern(*extra: Iterable[str]) -> re.Pattern[bytes]:
    names = {*LEVEL_NAMES, *(name for group in extra for name in group)}
    alternatives = b"|".join(re.escape(n.encode()) for n in sorted(names, key=len, reverse=True))
    return re.compile(rb"\b(" + alternatives + rb")\b")


_ISO = re.compile(
    rb"\s*\[?(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s?(Z|[+-]\d{2}:?\d{2})?\]?"
)
_SYSLOG = re.compile(rb"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})")
_MONTHS: Final = {m: i for i, m in enumerate((b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec").split(), 1)}


class Line(NamedTuple):
    """One line of a file: where it starts, its bytes (no newline), whether it ended with one."""

    offset: int
    data: bytes
    terminated: bool
    truncated: bool


def lines_backward(f: BinaryIO, *, block: int = BLOCK, max_line: int = MAX_LINE) -> Iterator[Line]:
    """Yield the file's lines from the last to the first, reading ``block`` bytes at a time.

    A last line without a newline (torn, or being written) comes first with ``terminated=False``.
    A line longer than ``max_line`` is yielded as its first ``max_line`` bytes, so memory stays
    bounded whatever the file holds.
    """
    end = f.seek(0, os.SEEK_END)
    if end == 0:
        return
    f.seek(end - 1)
    terminated = f.read(1) == b"\n"
    pos = end - 1 if terminated else end
    buf = b""
    truncated = False
    while pos > 0:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        buf = f.read(step) + buf
        cut = buf.rfind(b"\n")
        while cut >= 0:
            data = buf[cut + 1 :]
            cut_data = len(data) > max_line
            yield Line(pos + cut + 1, data[:max_line], terminated, truncated or cut_data)
            terminated, truncated = True, False
            buf = buf[:cut]
            cut = buf.rfind(b"\n")
        if len(buf) > max_line:
            buf, truncated = buf[:max_line], True
    yield Line(0, buf, terminated, truncated)


def line_numbers(f: BinaryIO, offsets: Iterable[int], *, block: int = BLOCK) -> dict[int, int]:
    """1-based line numbers of lines starting at ``offsets``: one forward pass counting newlines."""
    wanted = sorted(set(offsets))
    result: dict[int, int] = {}
    if not wanted:
        return result
    f.seek(0)
    pos, newlines, index = 0, 0, 0
    while index < len(wanted):
        chunk = f.read(block)
        if not chunk:
            break
        while index < len(wanted) and wanted[index] <= pos + len(chunk):
            result[wanted[index]] = newlines + chunk.count(b"\n", 0, wanted[index] - pos) + 1
            index += 1
        newlines += chunk.count(b"\n")
        pos += len(chunk)
    for offset in wanted[index:]:
        result[offset] = newlines + 1
    return result


def parse_line_timestamp(data: bytes, *, now: float | None = None) -> tuple[float, int] | None:
    """(epoch seconds, end of the timestamp) if ``data`` starts with a timestamp, else None."""
    match = _ISO.match(data)
    if match is not None:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        tz: timezone | None = None
        if zone is not None:
            if zone == b"Z":
                tz = UTC
            else:
                digits = zone[1:].replace(b":", b"")
                offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
                tz = timezone(-offset if zone[:1] == b"-" else offset)
        try:
            moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
        except ValueError:
            return None
        micro = int((fraction or b"0")[:6].ljust(6, b"0"))
        return moment.timestamp() + micro / 1e6, match.end()
    match = _SYSLOG.match(data)
    if match is not None and match.group(1) in _MONTHS:
        month_name, day, hour, minute, second = match.groups()
        current = datetime.fromtimestamp(time.time() if now is None else now)
        try:
            moment = current.replace(
                month=_MONTHS[month_name],
                day=int(day),
                hour=int(hour),
                minute=int(minute),
                second=int(second),
                microsecond=0,
            )
        except ValueError:
            return None
        if moment > current + timedelta(days=1):  # syslog has no year: December's lines read in January
            moment = moment.replace(year=moment.year - 1)
        return moment.timestamp(), match.end()
    return None


def _level(pattern: re.Pattern[bytes], data: bytes, start: int) -> str | None:
    match = pattern.search(data, start, start + LEVEL_SPAN)
    return match.group(1).decode() if match else None


def _is_text(line: Line) -> bool:
    if b"\0" in line.data:
        return False
    if line.truncated:
        return True  # a cut may split a character; the NUL test is what tells binary apart here
    try:
        line.data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


#: The level :func:`scan_log` gives a record whose message is critical whatever its level.
_CRITICAL_MESSAGE: Final = "critical message"


def _critical_message(messages: tuple[re.Pattern[str], ...], data: bytes) -> bool:
    """Whether the line matches one of the profile's critical messages (decoded once per line)."""
    if not messages:
        return False
    text = data.decode("utf-8", "replace")
    return any(message.search(text) for message in messages)


@dataclass(slots=True)
class _Tally:
    """CRITICAL and ERROR records of one counting mode (dated records, or whole lines)."""

    critical_levels: tuple[str, ...]
    error_levels: tuple[str, ...]
    critical: int = 0
    errors: int = 0
    critical_at: list[int] = field(default_factory=list)  # offsets, newest first
    error_at: list[int] = field(default_factory=list)

    def add(self, level: str | None, offset: int) -> None:
        if level in self.critical_levels or level == _CRITICAL_MESSAGE:
            self.critical += 1
            if len(self.critical_at) < KEEP_LINES:
                self.critical_at.append(offset)
        elif level in self.error_levels:
            self.errors += 1
            if len(self.error_at) < KEEP_LINES:
                self.error_at.append(offset)


@dataclass(frozen=True, slots=True)
class LogScan:
    """What the last ``lookback_s`` of a log file holds; ``problem`` is set when it cannot be judged."""

    path: Path
    lookback_s: float
    problem: str | None = None
    lines: int = 0  # lines read (the window and a little before it)
    records: int = 0  # records in the window
    dated: bool = True  # False: no timestamp recognised, the whole file was counted
    critical: int = 0
    errors: int = 0
    critical_lines: tuple[int, ...] = ()  # 1-based, oldest first, at most KEEP_LINES
    error_lines: tuple[int, ...] = ()
    not_text: int = 0  # lines with NUL bytes or invalid UTF-8

    @property
    def errors_per_minute(self) -> float:
        return self.errors / (self.lookback_s / 60.0) if self.lookback_s > 0 else float(self.errors)


def file_problem(path: Path, what: str) -> str | None:
    """Why ``path`` cannot be scanned (missing, a folder, unreadable, a loop), naming it; None if it can."""
    problem = path_problem(path)
    return f"{what} {path} {problem}" if problem else None


def scan_log(
    path: Path,
    *,
    lookback_s: float,
    now: float | None = None,
    critical_levels: tuple[str, ...] = CRITICAL_LEVELS,
    error_levels: tuple[str, ...] = ERROR_LEVELS,
    critical_messages: tuple[re.Pattern[str], ...] = (),
) -> LogScan:
    """Count critical and error records of the last ``lookback_s`` seconds, reading from the end;
    a record's level is its first level name (the profile's names among them), and a record whose
    message matches one of ``critical_messages`` is critical whatever its level."""
    problem = file_problem(path, "log file")
    if problem:
        return LogScan(path, lookback_s, problem)
    now = time.time() if now is None else now
    cutoff = now - lookback_s
    dated, whole = _Tally(critical_levels, error_levels), _Tally(critical_levels, error_levels)
    pattern = _level_pattern(critical_levels, error_levels)
    lines = records = not_text = 0
    seen_dated = False
    try:
        with open(path, "rb") as f:
            for line in lines_backward(f):
                lines += 1
                if not _is_text(line):
                    not_text += 1
                    continue
                critical = _critical_message(critical_messages, line.data)
                whole.add(_CRITICAL_MESSAGE if critical else _level(pattern, line.data, 0), line.offset)
                stamp = parse_line_timestamp(line.data, now=now)
                if stamp is None:
                    continue  # a continuation line: part of the record above it
                seen_dated = True
                moment, end = stamp
                if moment < cutoff - ORDER_SLACK_S:
                    break
                if moment >= cutoff:
                    records += 1
                    dated.add(_CRITICAL_MESSAGE if critical else _level(pattern, line.data, end), line.offset)
            if lines and not_text / lines > BINARY_SHARE:
                return LogScan(
                    path,
                    lookback_s,
                    f"log file {path} is not a text log: {not_text} of the {lines} lines read "
                    "hold NUL bytes or invalid UTF-8",
                    lines=lines,
                    not_text=not_text,
                )
            tally = dated if seen_dated else whole
            numbers = line_numbers(f, [*tally.critical_at, *tally.error_at])
    except OSError as exc:
        return LogScan(path, lookback_s, f"log file {path} cannot be read ({exc.strerror or exc})")
    return LogScan(
        path,
        lookback_s,
        lines=lines,
        records=records if seen_dated else lines - not_text,
        dated=seen_dated,
        critical=tally.critical,
        errors=tally.errors,
        critical_lines=tuple(sorted(numbers[o] for o in tally.critical_at)),
        error_lines=tuple(sorted(numbers[o] for o in tally.error_at)),
        not_text=not_text,
    )


# -- heartbeat ---------------------------------------------------------------------------------

#: How far back from the end of the log the newest heartbeat line is looked for.
HEARTBEAT_SCAN_BYTES: Final = 64 << 20


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The newest line matching the bot's heartbeat pattern; ``problem`` says why there is none."""

    path: Path
    line: int | None = None
    at: float | None = None  # the line's timestamp
    pid: int | None = None  # its ``pid`` group
    problem: str | None = None

    def where(self) -> str:
        return f"heartbeat line {self.path}:{self.line}"


def newest_heartbeat(
    path: Path, pattern: re.Pattern[str], *, max_bytes: int = HEARTBEAT_SCAN_BYTES
) -> Heartbeat:
    """The last line of the log matching ``pattern``, read from the end (at most ``max_bytes``)."""
    problem = file_problem(path, "log file")
    if problem:
        return Heartbeat(path, problem=problem)
    try:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            for line in lines_backward(f):
                if end - line.offset > max_bytes:
                    break
                match = pattern.search(line.data.decode("utf-8", "replace"))
                if match is None:
                    continue
                stamp = parse_line_timestamp(line.data)
                pid = match.groupdict().get("pid")
                number = line_numbers(f, [line.offset])[line.offset]
                return Heartbeat(
                    path,
                    number,
                    stamp[0] if stamp else None,
                    int(pid) if pid and pid.isdigit() else None,
                )
    except OSError as exc:
        return Heartbeat(path, problem=f"log file {path} cannot be read ({exc.strerror or exc})")
    within = f" in its last {max_bytes >> 20} MiB" if end > max_bytes else ""
    problem = f"log file {path} has no heartbeat line{within} (pattern {pattern.pattern!r})"
    return Heartbeat(path, problem=problem)


# -- waiting for a line -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogLine:
    """A log line waited for: its text and timestamp."""

    text: str
    at: float | None


def end_offset(path: Path) -> int:
    """The log's current end: where :func:`wait_for_line` starts reading."""
    with open(path, "rb") as f:
        return f.seek(0, os.SEEK_END)


def wait_for_line(path: Path, mark: int, pattern: re.Pattern[str], timeout: float) -> LogLine | None:
    """The first complete line after ``mark`` matching ``pattern``, polling up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            mark = mark if end >= mark else 0  # the file shrank (rotated): read it from the start
            f.seek(mark)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
        mark += len(complete)
        for raw in complete.split(b"\n")[:-1]:
            text = raw.decode("utf-8", "replace")
            if pattern.search(text):
                stamp = parse_line_timestamp(raw)
                return LogLine(text, stamp[0] if stamp else None)
        if time.monotonic() >= deadline:
            return None
        time.sleep(LINE_POLL_S)


# -- secrets ------------------------------------------------------------------------------------

#: The Telegram token shape, bounded so a scan can carry a fixed overlap between blocks.
_TOKEN_BOUNDED: Final = re.compile(TELEGRAM_TOKEN.replace("{30,}", "{30}").encode())
TOKEN_LABEL: Final = "a Telegram-token-shaped string"


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """Where a secret turned up: the file, 1-based line numbers, and which setting (never the value)."""

    path: Path
    label: str
    count: int
    lines: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SecretScan:
    path: Path
    findings: tuple[SecretFinding, ...] = ()
    problem: str | None = None
    bytes_scanned: int = 0


def scan_secrets(
    path: Path, secrets: Mapping[str, str], *, what: str = "file", block: int = BLOCK
) -> SecretScan:
    """Find every occurrence of the ``secrets`` values ({value: label}) and of Telegram-token shapes.

    Streams the whole file forward in blocks with an overlap as long as the longest pattern, so a
    secret split across two blocks is still found, each occurrence once.
    """
    problem = file_problem(path, what)
    if problem:
        return SecretScan(path, problem=problem)
    labels = {value.encode(): label for value, label in secrets.items() if value}
    alternatives = [re.escape(v) for v in sorted(labels, key=len, reverse=True)]
    pattern = re.compile(b"|".join([*alternatives, _TOKEN_BOUNDED.pattern]))
    overlap = max([47, *map(len, labels)]) - 1
    hits: dict[str, list[int]] = {}
    counts: dict[str, int] = {}
    scanned = 0
    try:
        with open(path, "rb") as f:
            tail = b""
            line = 1  # the line number at the start of ``tail + block``
            while chunk := f.read(block):
                scanned += len(chunk)
                buf = tail + chunk
                for match in pattern.finditer(buf):
                    if match.end() <= len(tail):
                        continue  # already found in the previous block
                    label = labels.get(match.group(), TOKEN_LABEL)
                    counts[label] = counts.get(label, 0) + 1
                    numbers = hits.setdefault(label, [])
                    number = line + buf.count(b"\n", 0, match.start())
                    if len(numbers) < KEEP_LINES and number not in numbers:
                        numbers.append(number)
                keep = min(overlap, len(buf))
                line += buf.count(b"\n", 0, len(buf) - keep)
                tail = buf[len(buf) - keep :]
    except OSError as exc:
        return SecretScan(path, problem=f"{what} {path} cannot be read ({exc.strerror or exc})")
    findings = tuple(
        SecretFinding(path, label, counts[label], tuple(hits[label])) for label in sorted(counts)
    )
    return SecretScan(path, findings, bytes_scanned=scanned)
