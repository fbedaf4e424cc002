"""The emulated bot, the one chat it can reach, and everything said in that chat.

State is shared between the server's event loop and the caller's threads (a test, a drill), so
every read and write of the chat goes through one condition variable, on which
:meth:`TelegramEmulator.wait_for` waits for the bot's next message.
"""

from __future__ import annotations

import copy
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .commands import BotCommands
from .entities import bot_command_entities
from .faults import SLOW_SEND_S, validate_faults
from .files import FileStore
from .markup import callback_data
from .protocol import bad_request
from .updates import UpdateQueue

TOKEN_PATTERN = re.compile(r"[0-9]+:[A-Za-z0-9_-]{35}")
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"
#: The user who writes to the bot in a group chat (in a private chat the chat is the user).
OPERATOR_ID = 5_000_000_001
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same as a "
    "current content and reply markup of the message"
)
_NO_GIFTS = dict.fromkeys(
    ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels"), False
)
_PERMISSIONS = {
    **dict.fromkeys(
        (
            "can_send_messages",
            "can_send_media_messages",
            "can_send_audios",
            "can_send_documents",
            "can_send_photos",
            "can_send_videos",
            "can_send_video_notes",
            "can_send_voice_notes",
            "can_send_polls",
            "can_send_other_messages",
            "can_add_web_page_previews",
            "can_react_to_messages",
        ),
        True,
    ),
    **dict.fromkeys(
        ("can_edit_tag", "can_change_info", "can_invite_users", "can_pin_messages", "can_manage_topics"),
        False,
    ),
}


def generate_token(bot_id: int | None = None) -> str:
    """A random token of the real shape ``<bot id>:<35 chars>`` (BotFather's start with ``AA``)."""
    if bot_id is None:
        bot_id = 7_000_000_000 + secrets.randbelow(1_000_000_000)
    tail = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(33))
    return f"{bot_id}:AA{tail}"


@dataclass(frozen=True)
class DeliveredMessage:
    """One message the bot sent and the emulator accepted, as the chat would show it."""

    message_id: int
    chat_id: int
    text: str
    """The text (a media message's caption) exactly as sent, markup included."""
    plain_text: str
    """The text as displayed, markup parsed away (the Message's ``text`` or ``caption``)."""
    parse_mode: str | None
    entities: tuple[dict[str, Any], ...]
    disable_notification: bool
    received_monotonic: float
    """``time.monotonic()`` when delivered: comparable with the caller's own monotonic clock."""
    received_at: float
    """Wall-clock epoch seconds when delivered."""
    kind: str = "text"
    """``text``, ``document`` or ``photo``."""
    file_id: str | None = None
    """The document's file id, or the largest size's for a photo."""


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the emulator saw."""

    api_method: str
    """Canonical method name (``sendMessage``), as given when unknown, empty off ``/bot``."""
    http_method: str
    status: int | None
    """HTTP status answered; None when never answered (``telegram_hang``)."""
    received_monotonic: float
    """``time.monotonic()`` when the request reached the handler (after injected latency)."""


class TelegramEmulator:
    """State of one emulated bot and the one chat it can reach; :meth:`make_app` serves it."""

    def __init__(
        self,
        *,
        token: str | None = None,
        chat_id: int = -1001234567890,
        chat_title: str = "Readiness Alerts",
        bot_username: str = "readiness_sandbox_bot",
        bot_first_name: str = "Readiness Sandbox",
        latency_ms: float = 0.0,
        faults: Collection[str] = (),
        send_delay_s: float = SLOW_SEND_S,
    ) -> None:
        if token is None:
            token = generate_token()
        if not TOKEN_PATTERN.fullmatch(token):
            raise ValueError("token must look like a bot token: <digits>:<35 of [A-Za-z0-9_-]>")
        if latency_ms < 0 or send_delay_s < 0:
            raise ValueError("latency_ms and send_delay_s must not be negative")
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.chat_id = chat_id
        self.chat_title = chat_title
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.latency_ms = latency_ms
        self.send_delay_s = send_delay_s
        self.updates = UpdateQueue()
        self.files = FileStore()
        self.commands = BotCommands()
        self._faults = validate_faults(faults)
        self._cond = threading.Condition()
        self._messages: list[DeliveredMessage] = []
        self._requests: list[RecordedRequest] = []
        self._chat: dict[int, dict[str, Any]] = {}
        self._open_callbacks: set[str] = set()
        self._next_message_id = 1

    @property
    def faults(self) -> frozenset[str]:
        """The active fault names (see :data:`FAULTS`)."""
        return self._faults

    def env(self, base_url: str) -> dict[str, str]:
        """The settings that point a bot or the harness at this emulator."""
        return {
            "TELEGRAM_BOT_TOKEN": self.token,
            "TELEGRAM_CHAT_ID": str(self.chat_id),
            "TELEGRAM_API_URL": base_url,
        }

    def set_faults(self, faults: Collection[str]) -> None:
        """Replace the active faults while serving (a drill can break Telegram mid-run)."""
        self._faults = validate_faults(faults)

    @property
    def chat_type(self) -> str:
        """``supergroup`` for ``-100…`` ids, ``group`` for other negative ids, else ``private``."""
        if self.chat_id >= 0:
            return "private"
        return "supergroup" if str(self.chat_id).startswith("-100") else "group"

    def bot_user(self, *, full: bool = False) -> dict[str, Any]:
        """The bot's User object; ``full`` adds the fields only getMe returns."""
        user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }
        if full:
            user |= {
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "supports_guest_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
                "has_topics_enabled": False,
                "allows_users_to_create_topics": False,
                "can_manage_bots": False,
            }
        return user

    def operator(self) -> dict[str, Any]:
        """The User who writes to the bot: the chat itself when private, else a sandbox operator."""
        if self.chat_type == "private":
            return {"id": self.chat_id, "is_bot": False, "first_name": self.chat_title, "language_code": "en"}
        return {
            "id": OPERATOR_ID,
            "is_bot": False,
            "first_name": "Sandbox",
            "last_name": "Operator",
            "username": "sandbox_operator",
            "language_code": "en",
        }

    def chat(self, *, full: bool = False) -> dict[str, Any]:
        """The Chat object (as in a Message); ``full`` makes it getChat's ChatFullInfo."""
        info: dict[str, Any] = {"id": self.chat_id}
        if self.chat_type == "private":
            info |= {"first_name": self.chat_title, "type": "private"}
        else:
            info |= {"title": self.chat_title, "type": self.chat_type}
        if full:
            if self.chat_type != "private":
                info["permissions"] = dict(_PERMISSIONS)
            info |= {
                "accepted_gift_types": dict(_NO_GIFTS),
                "max_reaction_count": 11,
                "accent_color_id": abs(self.chat_id) % 7,
            }
        return info

    def delivered(self) -> list[DeliveredMessage]:
        """Every message the bot delivered so far, oldest first (a copy)."""
        with self._cond:
            return list(self._messages)

    def message(self, message_id: int) -> dict[str, Any] | None:
        """The chat's message as it stands now (edits applied), None if deleted or never sent."""
        with self._cond:
            found = self._chat.get(message_id)
            return copy.deepcopy(found) if found is not None else None

    def file_content(self, file_id: str) -> bytes | None:
        """The bytes the bot uploaded under ``file_id``; None when unknown or sent by URL."""
        stored = self.files.by_id(file_id)
        return stored.data if stored is not None else None

    def requests(self) -> list[RecordedRequest]:
        """Every request answered (or, for ``telegram_hang``, swallowed) so far, oldest first."""
        with self._cond:
            return list(self._requests)

    def clear(self) -> None:
        """Forget recorded messages and requests; message ids keep counting up, as in a chat."""
        with self._cond:
            self._messages.clear()
            self._requests.clear()

    def wait_for(
        self,
        predicate: Callable[[DeliveredMessage], bool] | None = None,
        timeout: float = 5.0,
        *,
        since: float | None = None,
    ) -> DeliveredMessage | None:
        """First delivered message matching ``predicate`` (any if None), waiting up to ``timeout``.

        ``since`` (a ``time.monotonic()`` value) ignores messages delivered before it, so a drill
        does not mistake an earlier alert for the one it provoked. Safe from any thread; the
        predicate runs in the caller's thread, outside the lock.
        """
        deadline = time.monotonic() + timeout
        last_id = 0
        while True:
            with self._cond:
                if not self._messages or self._messages[-1].message_id <= last_id:
                    self._cond.wait(timeout=max(0.0, deadline - time.monotonic()))
                fresh = [m for m in self._messages if m.message_id > last_id]
            for message in fresh:
                last_id = message.message_id
                if since is not None and message.received_monotonic < since:
                    continue
                if predicate is None or predicate(message):
                    return message
            if time.monotonic() >= deadline:
                return None

    def send_update(self, text: str) -> dict[str, Any] | None:
        """Deliver ``text`` to the bot as the operator's chat message (``/stop`` is a command).

        Returns the Update queued for getUpdates, or None when the bot's ``allowed_updates``
        leave messages out (the message is still in the chat).
        """
        if not text.strip():
            raise ValueError("message text is empty")
        entities = bot_command_entities(text)
        with self._cond:
            message = self._new_message(self.operator(), {"text": text})
            if entities:
                message["entities"] = entities
        return self.updates.push("message", copy.deepcopy(message))

    def press_button(self, data: str, message_id: int | None = None) -> dict[str, Any] | None:
        """The operator presses the inline button carrying ``data`` (on ``message_id``, else the latest
        bot message that has it). Returns the callback_query Update, None when not allowed."""
        with self._cond:
            if message_id is None:
                candidates = [m for m in reversed(self._chat.values()) if m["from"]["id"] == self.bot_id]
            else:
                candidates = [m for m in (self._chat.get(message_id),) if m is not None]
            message = next((m for m in candidates if data in callback_data(m.get("reply_markup"))), None)
            if message is None:
                where = f"message {message_id}" if message_id is not None else "any message of the bot"
                raise ValueError(f"no inline button with callback_data {data!r} on {where}")
            query_id = str(secrets.randbelow(2**63))
            self._open_callbacks.add(query_id)
            query = {
                "id": query_id,
                "from": self.operator(),
                "message": copy.deepcopy(message),
                "chat_instance": str(abs(self.chat_id) * 7919 % 2**63),
                "data": data,
            }
        return self.updates.push("callback_query", query)

    def make_app(self) -> web.Application:
        """An aiohttp application serving this emulator (one per server)."""
        from .app import make_app

        return make_app(self)

    def _record_request(self, api_method: str, http_method: str, status: int | None, received: float) -> None:
        with self._cond:
            self._requests.append(RecordedRequest(api_method, http_method, status, received))

    def _new_message(self, sender: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        """Add a message to the chat (lock held); returns it, stored."""
        message = {
            "message_id": self._next_message_id,
            "from": sender,
            "chat": self.chat(),
            "date": int(time.time()),
            **content,
        }
        self._next_message_id += 1
        self._chat[message["message_id"]] = message
        return message

    def _deliver(
        self,
        content: dict[str, Any],
        *,
        text: str,
        parse_mode: str | None,
        disable_notification: bool,
        kind: str = "text",
        file_id: str | None = None,
    ) -> dict[str, Any]:
        """Post the bot's message to the chat and record it; returns the Message it answers."""
        with self._cond:
            message = self._new_message(self.bot_user(), content)
            self._messages.append(
                DeliveredMessage(
                    message_id=message["message_id"],
                    chat_id=self.chat_id,
                    text=text,
                    plain_text=content.get("text", content.get("caption", "")),
                    parse_mode=parse_mode,
                    entities=tuple(content.get("entities", content.get("caption_entities", ()))),
                    disable_notification=disable_notification,
                    received_monotonic=time.monotonic(),
                    received_at=time.time(),
                    kind=kind,
                    file_id=file_id,
                )
            )
            self._cond.notify_all()
            return copy.deepcopy(message)

    def _edit_text(self, message_id: int, content: dict[str, Any]) -> dict[str, Any]:
        """Replace the text, entities and inline keyboard of the bot's message, as editMessageText."""
        with self._cond:
            message = self._chat.get(message_id)
            if message is None:
                raise bad_request("message to edit not found")
            if message["from"]["id"] != self.bot_id:
                raise bad_request("message can't be edited")
            if "text" not in message:
                raise bad_request("there is no text in the message to edit")
            current = {key: message[key] for key in ("text", "entities", "reply_markup") if key in message}
            if current == content:
                raise bad_request(NOT_MODIFIED)
            for key in ("entities", "reply_markup"):
                message.pop(key, None)
            message |= content | {"edit_date": int(time.time())}
            return copy.deepcopy(message)

    def _delete(self, message_id: int) -> bool:
        with self._cond:
            return self._chat.pop(message_id, None) is not None

    def _answer_callback(self, query_id: str) -> bool:
        with self._cond:
            if query_id not in self._open_callbacks:
                return False
            self._open_callbacks.remove(query_id)
            return True
