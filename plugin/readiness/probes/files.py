"""Read-only probes of the bot's files: positions DB, risk config, audit position events, ``.env``.

The harness never changes the bot's files. SQLite is opened with ``mode=ro``; a WAL
database with no ``-wal`` file is opened ``immutable`` (a read-only connection would otherwise
create ``-wal``/``-shm`` files, owned by the harness's user, beside the bot's DB), and one with a
``-wal`` but no ``-shm`` is read from a private copy. Git is asked only query commands, with
optional locks off. Every failure is a :class:`ProbeError` whose message names the file.
"""

from __future__ import annotations

import difflib
import errno
import json
import math
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from ..profiles.names import POSITION_COLUMNS, RISK_KEYS, BotNames

#: Statuses besides the open one a position row may carry (compared case-insensitively); anything
#: else is a bug or a typo.
OTHER_STATUSES: frozenset[str] = frozenset({"pending", "closing", "closed", "cancelled"})
#: How long a read waits for a writer's lock: a healthy bot commits in milliseconds.
BUSY_TIMEOUT_S = 2.0
GIT_TIMEOUT_S = 5.0
SQLITE_HEADER = b"SQLite format 3\x00"
#: A risk config is a handful of lines; anything this big is the wrong file.
MAX_CONFIG_BYTES = 1024 * 1024
#: Problems listed in one message before the rest are only counted.
MAX_LISTED = 8


class ProbeError(Exception):
    """A bot file cannot be used; ``str()`` names the file and the problem."""

    def __init__(self, message: str, remediation: str | None = None) -> None:
        super().__init__(message)
        self.remediation = remediation


def path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a regular file (missing, folder, symlink loop, no read bit)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "is a dangling symlink" if os.path.islink(path) else "does not exist"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symlink loop (too many levels of symbolic links)"
        return f"cannot be checked ({exc.strerror or exc})"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    # Mode bits as well as access(): the harness may run as root, the bot does not.
    if st.st_mode & 0o444 == 0 or not os.access(path, os.R_OK):
        return f"is not readable (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def listed(problems: list[str]) -> str:
    """The first problems joined for one message line, the rest counted (a bad DB can have millions)."""
    shown = "; ".join(problems[:MAX_LISTED])
    more = len(problems) - MAX_LISTED
    return f"{shown}; and {more} more" if more > 0 else shown


# --- positions DB ------------------------------------------------------------------------------


def _sqlite_problem(path: Path, exc: sqlite3.Error) -> ProbeError:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return ProbeError(
            f"positions DB {path} is locked by another process (a writer held it over {BUSY_TIMEOUT_S:g} s)",
            f"Find the process holding {path} (fuser {path}) and let it finish or stop it; "
            "the bot must not keep write transactions open.",
        )
    if name == "SQLITE_NOTADB":
        return ProbeError(f"positions DB {path} is not an SQLite database", _RESTORE)
    if name.startswith("SQLITE_CORRUPT"):
        return ProbeError(f"positions DB {path} is corrupt (sqlite: {exc})", _RESTORE)
    return ProbeError(f"positions DB {path} cannot be read (sqlite {name or 'error'}: {exc})", _RESTORE)


_RESTORE = (
    "Point READINESS_POSITIONS_DB at the bot's SQLite database, or stop the bot and restore the DB "
    "from backup (sqlite3 .recover), then reconcile positions with the exchange."
)


@contextmanager
def open_positions_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the DB at ``path``; raises :class:`ProbeError` naming the file."""
    problem = path_problem(path)
    if problem:
        raise ProbeError(
            f"positions DB {path} {problem}",
            "Fix READINESS_POSITIONS_DB, or start the bot once so it creates its DB; "
            "the bot's user needs read and write access.",
        )
    try:
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as exc:
        raise ProbeError(f"positions DB {path} cannot be read ({exc.strerror or exc})", _RESTORE) from None
    if not header:
        raise ProbeError(f"positions DB {path} is empty (0 bytes): no SQLite database in it", _RESTORE)
    if not header.startswith(SQLITE_HEADER):
        raise ProbeError(f"positions DB {path} is not an SQLite database (no SQLite header)", _RESTORE)
    wal_mode = len(header) > 19 and 2 in (header[18], header[19])
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    with ExitStack() as stack:
        options = "mode=ro"
        source = path
        if wal_mode and not wal.exists():
            options = "mode=ro&immutable=1"  # nothing in a WAL; and no -wal/-shm may appear
        elif wal_mode and not shm.exists():
            scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="readiness-db-"))
            source = Path(scratch) / path.name  # the WAL must be read, but no -shm may appear
            try:
                shutil.copyfile(path, source)
                shutil.copyfile(wal, Path(f"{source}-wal"))
            except OSError as exc:
                raise ProbeError(
                    f"positions DB {path} cannot be copied for reading ({exc})", _RESTORE
                ) from None
        uri = f"file:{quote(os.fspath(source.absolute()), safe='/')}?{options}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise _sqlite_problem(path, exc) from None
        with closing(conn):
            try:
                yield conn
            except sqlite3.Error as exc:
                raise _sqlite_problem(path, exc) from None


@dataclass(frozen=True, slots=True)
class DbHealth:
    path: Path
    problems: list[str]
    remediation: str | None = None
    rows: int | None = None


def db_health(path: Path, names: BotNames | None = None) -> DbHealth:
    """Integrity (``PRAGMA quick_check``), the positions table and its columns (or the configured
    query), write permission."""
    names = names or BotNames()
    problems: list[str] = []
    remediation: str | None = None
    rows: int | None = None
    table = names.positions_table
    columns = [names.positions_columns[c] for c in POSITION_COLUMNS]
    migrate = (
        f"Point READINESS_POSITIONS_DB at the bot's DB, or name its table and columns in the config "
        f"file's [bot] table (positions_table, positions_columns); expected {table}({', '.join(columns)})."
    )
    try:
        with open_positions_db(path) as conn:
            check = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
            if check != ["ok"]:
                problems.append(f"positions DB {path} fails PRAGMA quick_check: {'; '.join(check)}")
                remediation = _RESTORE
            if names.positions_query is not None:
                rows, problem = _query_rows(conn, names.positions_query)
                if problem:
                    problems.append(f"positions DB {path}: [bot] positions_query {problem}")
                    remediation = remediation or "Fix [bot] positions_query in the config file."
                return _with_mode(DbHealth(path, problems, remediation, rows))
            tables = [str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            if table not in tables:
                has = f"its tables: {', '.join(sorted(tables))}" if tables else "it has no tables"
                problems.append(f"positions DB {path} has no table '{table}' ({has})")
                remediation = remediation or migrate
            else:
                present = [str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})")]
                missing = [c for c in columns if c not in present]
                if missing:
                    problems.append(
                        f"positions DB {path}: table {table} lacks column(s) {', '.join(missing)} "
                        f"(it has {', '.join(present)})"
                    )
                    remediation = remediation or migrate
                else:
                    rows = int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except ProbeError as exc:
        return DbHealth(path, [str(exc)], exc.remediation)
    return _with_mode(DbHealth(path, problems, remediation, rows))


def _query_rows(conn: sqlite3.Connection, query: str) -> tuple[int | None, str | None]:
    """(rows, None) when the query runs and gives the four position fields, else (None, why not)."""
    try:
        cursor = conn.execute(query)
    except sqlite3.Error as exc:
        return None, f"fails: {exc}"
    width = len(cursor.description or ())
    if width != 4:
        return None, f"gives {width} column(s); it must give symbol, qty, avg_price, status in that order"
    return len(cursor.fetchall()), None


def _with_mode(health: DbHealth) -> DbHealth:
    """The health with a read-only DB file added to its problems (the bot could not record positions)."""
    path = health.path
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as exc:  # gone since it was read
        gone = f"positions DB {path} cannot be checked ({exc.strerror or exc})"
        return DbHealth(path, [*health.problems, gone], _RESTORE)
    if mode & 0o222 == 0:
        read_only = f"positions DB {path} is read-only (mode {mode:04o}): the bot cannot record positions"
        fix = health.remediation or f"chmod u+w {path} (as the bot's user)"
        return DbHealth(path, [*health.problems, read_only], fix, health.rows)
    return health


@dataclass(frozen=True, slots=True)
class PositionRow:
    symbol: object
    qty: object
    avg_price: object
    status: object
    #: The status value of an open position, as the bot names it.
    open_status: str = "open"

    @property
    def status_key(self) -> str | None:
        """The status, lower-cased, with the bot's open status read as ``open``."""
        if not isinstance(self.status, str):
            return None
        status = self.status.strip().lower()
        return "open" if status == self.open_status.lower() else status

    @property
    def is_open(self) -> bool:
        return self.status_key == "open"


def read_positions(path: Path, names: BotNames | None = None) -> list[PositionRow]:
    """Every row of the positions table, or of the configured query (raises :class:`ProbeError`)."""
    names = names or BotNames()
    with open_positions_db(path) as conn:
        try:
            cursor = conn.execute(names.positions_select())
        except sqlite3.Error as exc:
            raise ProbeError(f"positions DB {path}: cannot read positions ({exc})", _RESTORE) from None
        return [PositionRow(row[0], row[1], row[2], row[3], names.open_status) for row in cursor]


def _number_problem(value: object) -> str | None:
    if value is None:
        return "is NULL (SQLite stores NaN as NULL)"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"is not a number ({type(value).__name__} {value!r:.40})"
    if not math.isfinite(value):
        return f"is {value!r}"
    if value <= 0:
        return f"{value!r} is not positive"
    return None


def value_problems(rows: list[PositionRow], names: BotNames | None = None) -> list[str]:
    """What is wrong with the rows' values: qty/price of open positions, statuses, duplicate opens."""
    problems: list[str] = []
    seen_open: dict[str, int] = {}
    unknown: dict[str, int] = {}
    for row in rows:
        status = row.status_key
        if status != "open" and status not in OTHER_STATUSES:
            label = repr(row.status)[:40]
            unknown[label] = unknown.get(label, 0) + 1
            continue
        if status != "open":
            continue
        if not isinstance(row.symbol, str) or not row.symbol.strip():
            problems.append(f"an open position has no symbol ({row.symbol!r:.40})")
            continue
        symbol = row.symbol.strip()
        seen_open[symbol] = seen_open.get(symbol, 0) + 1
        for name, value in (("qty", row.qty), ("avg_price", row.avg_price)):
            problem = _number_problem(value)
            if problem:
                problems.append(f"{symbol} {name} {problem}")
    problems += [f"{symbol} is open in {n} rows" for symbol, n in sorted(seen_open.items()) if n > 1]
    known = ", ".join(sorted({*OTHER_STATUSES, (names or BotNames()).open_status}))
    problems += [f"{n} row(s) with unknown status {label} (known: {known})" for label, n in unknown.items()]
    return problems


def open_quantities(rows: list[PositionRow]) -> dict[str, float]:
    """Open positions by symbol, quantities summed (a non-number counts as NaN: it agrees with nothing)."""
    totals: dict[str, float] = {}
    for row in rows:
        if row.is_open and isinstance(row.symbol, str):
            qty = row.qty if isinstance(row.qty, int | float) and not isinstance(row.qty, bool) else math.nan
            symbol = row.symbol.strip()
            totals[symbol] = totals.get(symbol, 0.0) + float(qty)
    return totals


# --- audit trail: position events --------------------------------------------------------------


@dataclass(slots=True)
class AuditPositions:
    """Open positions the audit trail's ``position_opened``/``position_closed`` events leave."""

    open: dict[str, float] = field(default_factory=dict)
    line_of: dict[str, int] = field(default_factory=dict)  # symbol -> line of its last event
    events: int = 0
    problems: list[str] = field(default_factory=list)


def _qty(record: Mapping[str, Any]) -> float | None:
    value = record.get("qty")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def audit_positions(path: Path, names: BotNames | None = None) -> AuditPositions:
    """Replay position events, streaming; lines that are not JSON are left to the ``audit.*`` checks."""
    names = names or BotNames()
    # a cheap filter for the reference names; a bot with its own names has every line parsed
    needle = b"" if names.renames_audit else b"position_"
    problem = path_problem(path)
    if problem:
        raise ProbeError(f"audit trail {path} {problem}")
    result = AuditPositions()
    try:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                if needle not in raw:
                    continue
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(record, dict):
                    continue
                record = names.reference_record(record)
                event = record.get("event")
                if event not in ("position_opened", "position_closed"):
                    continue
                result.events += 1
                symbol = record.get("symbol")
                qty = _qty(record)
                if not isinstance(symbol, str) or not symbol.strip():
                    result.problems.append(f"line {number}: {event} without a symbol")
                    continue
                symbol = symbol.strip()
                result.line_of[symbol] = number
                if event == "position_opened":
                    if qty is None:
                        result.problems.append(
                            f"line {number}: position_opened {symbol} without a numeric qty"
                        )
                        continue
                    result.open[symbol] = result.open.get(symbol, 0.0) + qty
                elif qty is None or symbol not in result.open or qty >= result.open[symbol] - _tolerance(qty):
                    result.open.pop(symbol, None)  # closed in full
                else:
                    result.open[symbol] -= qty  # a partial close
    except OSError as exc:
        raise ProbeError(f"audit trail {path} cannot be read ({exc.strerror or exc})") from None
    return result


def _tolerance(*values: float) -> float:
    return 1e-9 * max(1.0, *(abs(v) for v in values))


def position_mismatches(db_open: Mapping[str, float], audit: AuditPositions) -> list[str]:
    """Where the DB's open positions and the audit trail's disagree, one line per symbol."""
    problems: list[str] = []
    for symbol in sorted(db_open.keys() | audit.open.keys()):
        where = f"line {audit.line_of[symbol]}" if symbol in audit.line_of else "no position event"
        db_qty, audit_qty = db_open.get(symbol), audit.open.get(symbol)
        if audit_qty is None:
            problems.append(
                f"{symbol} is open in the DB (qty {db_qty:g}) but not per the audit trail ({where})"
            )
        elif db_qty is None:
            problems.append(
                f"{symbol} is open per the audit trail ({where}, qty {audit_qty:g}) but not in the DB"
            )
        elif not abs(db_qty - audit_qty) <= _tolerance(db_qty, audit_qty):
            problems.append(f"{symbol} qty {db_qty:g} in the DB, {audit_qty:g} per the audit trail ({where})")
    return problems


# --- risk config -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskConfig:
    path: Path
    values: dict[str, float]  # the keys that are valid numbers
    problems: list[str]
    warnings: list[str]
    remediation: str | None = None
    #: What the report should say about the limits without judging it.
    notes: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """Every problem on one line, the file named once."""
        return f"risk config {self.path}: {'; '.join(self.problems)}" if self.problems else ""


def _key_line(text: str, key: str) -> int | None:
    pattern = re.compile(rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return None


def read_risk_config(path: Path, names: BotNames | None = None) -> RiskConfig:
    """Parse and validate the TOML risk config; every problem names the file and the key or line.

    ``names.risk_keys`` says what the bot calls each limit; the values come back under the
    reference names, the problems speak of the file's own keys.
    """
    keys = (names or BotNames()).risk_keys
    label = f"risk config {path}"
    fix_file = "Fix READINESS_RISK_CONFIG or restore the bot's risk config (a readable UTF-8 TOML file)."
    problem = path_problem(path)
    if problem:
        return RiskConfig(path, {}, [f"the file {problem}"], [], fix_file)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        return RiskConfig(path, {}, [f"the file cannot be read ({exc.strerror or exc})"], [], fix_file)
    if len(data) > MAX_CONFIG_BYTES:
        return RiskConfig(path, {}, ["the file is over 1 MiB: not a risk config"], [], fix_file)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return RiskConfig(path, {}, [f"the file is not UTF-8 text (byte {exc.start})"], [], fix_file)
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return RiskConfig(
            path,
            {},
            [f"invalid TOML: {exc}"],
            [],
            f"Fix the TOML syntax of {path} at the line named.",
        )
    problems: list[str] = []
    values: dict[str, float] = {}
    unknown = [key for key in table if key not in keys.values()]

    def at(key: str) -> str:
        line = _key_line(text, key)
        return f" (line {line})" if line else ""

    for limit in RISK_KEYS:
        key = keys[limit]
        if key not in table:
            nested = [name for name, sub in table.items() if isinstance(sub, dict) and key in sub]
            hint = difflib.get_close_matches(key, unknown, n=1)
            if nested:
                problems.append(f"{key} is under [{nested[0]}]{at(key)}; it must be a top-level key")
            elif hint:
                problems.append(f"{key} is missing (is {hint[0]!r}{at(hint[0])} a typo?)")
            else:
                problems.append(f"{key} is missing")
            continue
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{key} must be a number, got {type(value).__name__} {value!r:.40}{at(key)}")
        elif not math.isfinite(value):
            problems.append(f"{key} must be finite, got {value!r}{at(key)}")
        elif limit == "cooldown_minutes" and value < 0:
            problems.append(f"{key} must not be negative, got {value!r}{at(key)}")
        elif limit != "cooldown_minutes" and value <= 0:
            problems.append(f"{key} must be positive, got {value!r}{at(key)}")
        elif limit == "max_open_positions" and not float(value).is_integer():
            problems.append(f"{key} must be a whole number, got {value!r}{at(key)}")
        else:
            values[limit] = float(value)
    for small, large in (
        ("max_loss_per_trade_usdt", "max_daily_loss_usdt"),
        ("max_loss_per_trade_usdt", "max_position_usdt"),
    ):
        if small in values and large in values and values[small] > values[large]:
            low, high = keys[small], keys[large]
            problems.append(
                f"{low} = {values[small]:g}{at(low)} exceeds {high} = {values[large]:g}{at(high)}"
            )
    warnings = [
        f"{label}: unknown key {key!r}{at(key)} is ignored"
        for key in unknown
        if not isinstance(table[key], dict) or not any(k in table[key] for k in keys.values())
    ]
    remediation = f"Fix {path}: set {', '.join(keys.values())} as positive numbers." if problems else None
    return RiskConfig(path, values, problems, warnings, remediation)


# --- .env file ---------------------------------------------------------------------------------


def file_mode(path: Path) -> int:
    """The permission bits of ``path`` (of its target, for a symlink); raises OSError."""
    return stat.S_IMODE(os.stat(path).st_mode)


GitState = Literal["no_git", "not_in_repo", "tracked", "ignored", "untracked", "unknown"]


@dataclass(frozen=True, slots=True)
class GitStatus:
    state: GitState
    detail: str = ""
    relpath: str = ""  # the file's path relative to the work tree root


def _git(git: str, folder: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}
    env |= {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    return subprocess.run(
        [git, "-C", os.fspath(folder), *args],
        capture_output=True,
        text=True,
        errors="replace",
        stdin=subprocess.DEVNULL,
        env=env,
        timeout=timeout,
        check=False,
    )


def git_status(path: Path, timeout: float = GIT_TIMEOUT_S) -> GitStatus:
    """Whether git tracks or ignores ``path``: query commands only, each bounded by ``timeout``."""
    git = shutil.which("git")
    if git is None:
        return GitStatus("no_git", "git is not installed")
    folder = Path(os.path.realpath(path.parent))
    try:
        top = _git(git, folder, "rev-parse", "--show-toplevel", timeout=timeout)
        if top.returncode != 0:
            if "not a git repository" in top.stderr:
                return GitStatus("not_in_repo", f"{folder} is not in a git work tree")
            return GitStatus("unknown", f"git rev-parse in {folder}: {top.stderr.strip()[:200]}")
        relpath = os.path.relpath(folder / path.name, top.stdout.strip())
        listed = _git(git, folder, "ls-files", "--error-unmatch", "--", path.name, timeout=timeout)
        if listed.returncode == 0:
            return GitStatus("tracked", relpath=relpath)
        if listed.returncode != 1:
            return GitStatus("unknown", f"git ls-files: {listed.stderr.strip()[:200]}", relpath)
        ignored = _git(git, folder, "check-ignore", "-q", "--", path.name, timeout=timeout)
    except subprocess.TimeoutExpired:
        return GitStatus("unknown", f"git did not answer within {timeout:g} s")
    except OSError as exc:
        return GitStatus("unknown", f"cannot run git: {exc.strerror or exc}")
    if ignored.returncode == 0:
        return GitStatus("ignored", relpath=relpath)
    if ignored.returncode == 1:
        return GitStatus("untracked", relpath=relpath)
    return GitStatus("unknown", f"git check-ignore: {ignored.stderr.strip()[:200]}", relpath)
