"""The bot's command lists (setMyCommands and friends), one per scope and language.

Parsing and its error texts follow telegram-bot-api and TDLib in their order: the commands JSON,
then the scope (and the chat it names), then the language code, then each command.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from .protocol import Params, bad_request

#: Most commands one scope and language can hold.
MAX_COMMANDS = 100
_COMMAND = re.compile(r"[a-z0-9_]+")
_SIMPLE_SCOPES = ("default", "all_private_chats", "all_group_chats", "all_chat_administrators")
_CHAT_SCOPES = ("chat", "chat_administrators", "chat_member")

ScopeKey = tuple[str, str, int]
"""A BotCommandScope as (type, chat id or "", user id or 0)."""


class BotCommands:
    """Command lists by scope and language; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lists: dict[tuple[ScopeKey, str], list[dict[str, str]]] = {}

    def set(self, scope: ScopeKey, language: str, commands: list[dict[str, str]]) -> None:
        with self._lock:
            self._lists[scope, language] = commands

    def get(self, scope: ScopeKey, language: str) -> list[dict[str, str]]:
        with self._lock:
            return list(self._lists.get((scope, language), []))

    def delete(self, scope: ScopeKey, language: str) -> None:
        with self._lock:
            self._lists.pop((scope, language), None)


def parse_commands(params: Params) -> list[dict[str, Any]]:
    """The ``commands`` array, its shape checked (contents are checked by :func:`clean_commands`)."""
    if not params.text("commands"):
        return []
    value = params.json("commands", "commands")
    if not isinstance(value, list):
        raise bad_request("expected an Array of BotCommand")
    for command in value:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        for name in ("command", "description"):
            if name not in command:
                raise bad_request(f"can't parse BotCommand: Can't find field \"{name}\"")
            if not isinstance(command[name], str):
                raise bad_request(f'can\'t parse BotCommand: Field "{name}" must be of type String')
    return value


def parse_scope(params: Params, check_chat: Callable[[str], None]) -> tuple[ScopeKey, str]:
    """The ``scope`` (BotCommandScope, default when absent) and the ``language_code``, checked."""
    scope: ScopeKey = ("default", "", 0)
    if params.text("scope"):
        value = params.json("scope", "BotCommandScope")
        scope = _scope(value)
        if scope[1]:
            check_chat(scope[1])
    language = params.text("language_code")
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise bad_request("invalid language code specified")
    return scope, language


def _scope(value: Any) -> ScopeKey:
    def fail(reason: str) -> Exception:
        return bad_request(f"can't parse BotCommandScope: {reason}")

    if not isinstance(value, dict):
        raise fail("BotCommandScope must be an Object")
    kind = value.get("type")
    if kind is None:
        raise fail('Can\'t find field "type"')
    if kind in _SIMPLE_SCOPES:
        return (kind, "", 0)
    if kind not in _CHAT_SCOPES:
        raise fail("Unsupported type specified")
    if "chat_id" not in value:
        raise fail('Can\'t find field "chat_id"')
    chat_id = str(value["chat_id"])
    if not chat_id:
        raise fail("Empty chat_id specified")
    if kind != "chat_member":
        return (kind, chat_id, 0)
    user_id = value.get("user_id")
    if user_id is None:
        raise fail('Can\'t find field "user_id"')
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise fail('Field "user_id" must be a Number')
    if user_id <= 0:
        raise fail("Invalid user_id specified")
    return (kind, chat_id, user_id)


def clean_commands(commands: list[dict[str, Any]]) -> list[dict[str, str]]:
    """TDLib's checks (trimmed, leading ``/`` dropped, lengths) then Telegram's (characters, count)."""
    cleaned = []
    for command in commands:
        text = command["command"].strip().removeprefix("/")
        description = command["description"].strip()
        if not text:
            raise bad_request("command must be non-empty")
        if len(text) > 32:
            raise bad_request("command length must not exceed 32")
        if not description:
            raise bad_request("command description must be non-empty")
        if len(description) > 256:
            raise bad_request("command description length must not exceed 256")
        if not _COMMAND.fullmatch(text):
            raise bad_request("BOT_COMMAND_INVALID")
        cleaned.append({"command": text, "description": description})
    if len(cleaned) > MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    return cleaned
