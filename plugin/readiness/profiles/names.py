"""The names the reference profile reads a bot by, and the ``[bot]`` table that renames them.

A bot that keeps its positions in ``trades(pair, amount, ...)`` or calls its audit field ``ts``
is still the reference bot's shape; only the names differ. Every name has the reference bot's
default; ``[bot]`` in ``readiness.toml`` (or ``[tool.readiness.bot]``) overrides any of them, and
a bad entry is an error naming its key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

from ..audit.model import AuditConfig

__all__ = [
    "CRITICAL_LEVELS",
    "ERROR_LEVELS",
    "POSITION_COLUMNS",
    "POSITION_FIELDS",
    "RISK_KEYS",
    "BotNames",
    "BotNamesError",
    "parse_bot_table",
]

#: What the checks read from a position row, in this order.
POSITION_FIELDS: Final = ("symbol", "qty", "avg_price", "status")
#: The columns a positions table must have: what the checks read, and when the bot wrote it.
POSITION_COLUMNS: Final = (*POSITION_FIELDS, "opened_at", "updated_at")
#: The reference trail's key for each audit field.
AUDIT_KEYS: Final = {"timestamp": "timestamp", "event": "event", "seq": "seq", "hash": "prev_sha256"}
AUDIT_EVENTS: Final = (
    "heartbeat",
    "kill_switch_activated",
    "kill_switch_deactivated",
    "alert_sent",
    "position_opened",
    "position_closed",
    "ws_reconnect",
    "circuit_breaker_open",
    "api_call",
    "error",
)
RISK_KEYS: Final = (
    "max_position_usdt",
    "max_daily_loss_usdt",
    "max_loss_per_trade_usdt",
    "max_open_positions",
    "cooldown_minutes",
)
#: Log levels whose records count as critical, and as errors, unless the ``[bot]`` table says otherwise.
CRITICAL_LEVELS: Final = ("CRITICAL", "FATAL")
ERROR_LEVELS: Final = ("ERROR",)
#: An SQL identifier the harness will interpolate: letters, digits and underscores only.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BotNamesError(Exception):
    """A ``[bot]`` entry is unusable; the message names the key."""


def _identity(names: tuple[str, ...]) -> dict[str, str]:
    return {name: name for name in names}


@dataclass(frozen=True, slots=True)
class BotNames:
    """Every name the reference profile reads; the defaults are the reference bot's."""

    positions_table: str = "positions"
    #: Position field -> the table's column holding it.
    positions_columns: Mapping[str, str] = field(default_factory=lambda: _identity(POSITION_COLUMNS))
    #: A SELECT giving symbol, qty, avg_price, status in that order, instead of table and columns.
    positions_query: str | None = None
    #: The status value of an open position (compared case-insensitively).
    open_status: str = "open"
    audit_fields: Mapping[str, str] = field(default_factory=lambda: dict(AUDIT_KEYS))
    audit_events: Mapping[str, str] = field(default_factory=lambda: _identity(AUDIT_EVENTS))
    risk_keys: Mapping[str, str] = field(default_factory=lambda: _identity(RISK_KEYS))
    #: Log levels whose lines count as critical, and as errors.
    log_critical_levels: tuple[str, ...] = CRITICAL_LEVELS
    log_error_levels: tuple[str, ...] = ERROR_LEVELS
    #: Messages counted as critical at any level (for a bot that logs its fatal errors at ERROR).
    log_critical_messages: tuple[re.Pattern[str], ...] = ()
    #: A line the bot logs while alive; a ``pid`` group in it names the bot's process.
    log_heartbeat: re.Pattern[str] | None = None
    #: Lines the bot logs as its kill switch goes on and off (read by the drills of a bot that
    #: keeps no audit trail).
    log_kill_switch_on: re.Pattern[str] | None = None
    log_kill_switch_off: re.Pattern[str] | None = None
    #: (bot's field, reference field) pairs and bot's event -> reference event, where they differ.
    _fields_back: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    _events_back: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields_back = tuple(
            (self.audit_fields[name], key)
            for name, key in AUDIT_KEYS.items()
            if self.audit_fields[name] != key
        )
        events_back = {bot: ref for ref, bot in self.audit_events.items() if bot != ref}
        object.__setattr__(self, "_fields_back", fields_back)
        object.__setattr__(self, "_events_back", events_back)

    @property
    def renames_audit(self) -> bool:
        """Whether the bot names any audit field or event differently from the reference bot."""
        return bool(self._fields_back or self._events_back)

    def reference_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """An audit record with the bot's field and event names read as the reference names, so
        the checks judge it as they judge the reference bot's (the record itself is not changed)."""
        if not self.renames_audit:
            return record
        out = dict(record)
        for bot, ref in self._fields_back:
            if bot in record:
                out[ref] = record[bot]
        event = out.get("event")
        if isinstance(event, str) and event in self._events_back:
            out["event"] = self._events_back[event]
        return out

    def audit_config(self) -> AuditConfig:
        """The audit validator's settings for this bot's field names."""
        names = self.audit_fields
        return AuditConfig(
            timestamp_field=names["timestamp"],
            event_field=names["event"],
            seq_field=names["seq"],
            hash_field=names["hash"],
        )

    def positions_select(self) -> str:
        """The SELECT that reads symbol, qty, avg_price and status, in that order."""
        if self.positions_query is not None:
            return self.positions_query
        columns = ", ".join(self.positions_columns[name] for name in POSITION_FIELDS)
        return f"SELECT {columns} FROM {self.positions_table}"


_MAPPINGS: Final[dict[str, tuple[str, ...]]] = {
    "positions_columns": POSITION_COLUMNS,
    "audit_fields": tuple(AUDIT_KEYS),
    "audit_events": AUDIT_EVENTS,
    "risk_keys": RISK_KEYS,
}
_LEVELS: Final = ("log_critical_levels", "log_error_levels")


def parse_bot_table(table: Mapping[str, Any], where: str) -> BotNames:
    """The ``[bot]`` table as :class:`BotNames`; ``where`` names the file in errors (BotNamesError)."""
    known = {f.name for f in fields(BotNames) if f.init}
    changes: dict[str, Any] = {}
    defaults = BotNames()
    for key, raw in table.items():
        at = f"{where}: [bot] {key}"
        if key not in known:
            raise BotNamesError(f"{at}: unknown name; known: {', '.join(sorted(known))}")
        if key in _MAPPINGS:
            sql = key == "positions_columns"
            changes[key] = _mapping(raw, at, _MAPPINGS[key], getattr(defaults, key), sql=sql)
        elif key in _LEVELS:
            changes[key] = _levels(raw, at)
        elif key == "log_critical_messages":
            if not isinstance(raw, list) or not raw:
                raise BotNamesError(f"{at}: must be a non-empty list of regular expressions, got {raw!r}")
            changes[key] = tuple(_pattern(value, f"{at}[{i}]") for i, value in enumerate(raw))
        elif key in ("log_kill_switch_on", "log_kill_switch_off"):
            changes[key] = _pattern(raw, at)
        elif key == "log_heartbeat":
            changes[key] = heartbeat = _pattern(raw, at)
            if heartbeat.groupindex.keys() - {"pid"}:
                raise BotNamesError(f"{at}: its only named group may be (?P<pid>...), got {raw!r}")
        elif key == "positions_query":
            changes[key] = _query(raw, at)
        else:
            changes[key] = _name(raw, at, sql=key == "positions_table")
    if "positions_query" in changes and {"positions_table", "positions_columns"} & changes.keys():
        raise BotNamesError(
            f"{where}: [bot] positions_query replaces positions_table and positions_columns; give one"
        )
    return replace(defaults, **changes)


def _name(raw: object, at: str, *, sql: bool) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise BotNamesError(f"{at}: must be a non-empty string, got {raw!r}")
    if sql and not _IDENTIFIER.match(raw):
        raise BotNamesError(f"{at}: must be a plain SQL name (letters, digits, _), got {raw!r}")
    return raw


def _mapping(
    raw: object, at: str, allowed: tuple[str, ...], default: Mapping[str, str], *, sql: bool
) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise BotNamesError(f'{at}: must be a table such as {{ {allowed[0]} = "..." }}, got {raw!r}')
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise BotNamesError(f"{at}: unknown {', '.join(unknown)}; known: {', '.join(allowed)}")
    renamed = {**default, **{name: _name(value, f"{at}.{name}", sql=sql) for name, value in raw.items()}}
    taken = sorted({value for value in renamed.values() if list(renamed.values()).count(value) > 1})
    if taken:
        raise BotNamesError(f"{at}: {', '.join(repr(v) for v in taken)} would name two things at once")
    return renamed


def _levels(raw: object, at: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(v, str) and v.strip() for v in raw):
        raise BotNamesError(f"{at}: must be a non-empty list of level names, got {raw!r}")
    return tuple(v.strip().upper() for v in raw)


def _pattern(raw: object, at: str) -> re.Pattern[str]:
    text = _name(raw, at, sql=False)
    try:
        pattern = re.compile(text)
    except re.error as exc:
        raise BotNamesError(f"{at}: not a regular expression ({exc}), got {raw!r}") from None
    return pattern


def _query(raw: object, at: str) -> str:
    """One SELECT (it runs on a read-only connection: it could change nothing anyway)."""
    text = _name(raw, at, sql=False).strip().rstrip(";")
    if not re.match(r"(?is)^\s*(select|with)\b", text) or ";" in text:
        raise BotNamesError(f"{at}: must be one SELECT statement, got {raw!r}")
    return text
