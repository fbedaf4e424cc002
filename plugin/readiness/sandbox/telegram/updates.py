"""The bot's incoming updates: the queue getUpdates reads, long polls, and the webhook setting.

Semantics follow telegram-bot-api: an update stays queued until a getUpdates ``offset`` past it
confirms it; ``allowed_updates`` persists between calls and filters updates when they are
created; one long poll at a time, a newer one ending the older with 409; while a webhook is set
getUpdates answers 409.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from typing import Any

#: Every update type telegram-bot-api knows, in its order.
UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "message_reaction",
    "message_reaction_count",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "purchased_paid_media",
    "managed_bot",
    "guest_message",
)
#: What a bot gets unless it asks otherwise: all but chat_member and the reaction updates.
DEFAULT_ALLOWED = frozenset(UPDATE_TYPES) - {"chat_member", "message_reaction", "message_reaction_count"}
#: Longest long poll telegram-bot-api grants, in seconds.
LONG_POLL_MAX_TIMEOUT = 50

WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
TERMINATED_BY_POLL = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
TERMINATED_BY_WEBHOOK = "Conflict: terminated by setWebhook request"


@dataclass(frozen=True)
class Webhook:
    """A set webhook, as getWebhookInfo reports it."""

    url: str
    max_connections: int
    ip_address: str
    secret_token: str


class Poll:
    """One waiting long poll; woken (from any thread) by a new update or ended by a conflict."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.event = asyncio.Event()
        self.conflict: str | None = None

    def wake(self, conflict: str | None = None) -> None:
        if conflict is not None:
            self.conflict = conflict
        self._loop.call_soon_threadsafe(self.event.set)


class UpdateQueue:
    """Unconfirmed updates in order; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._next_id = 1
        self._poll: Poll | None = None
        self.allowed: frozenset[str] = DEFAULT_ALLOWED
        self.webhook: Webhook | None = None

    def push(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue ``{"update_id", kind: payload}``; None when ``allowed_updates`` excludes ``kind``."""
        with self._lock:
            if kind not in self.allowed:
                return None
            update = {"update_id": self._next_id, kind: payload}
            self._next_id += 1
            self._pending.append(update)
            if self._poll is not None:
                self._poll.wake()
        return update

    def confirm(self, offset: int) -> None:
        """Forget updates before ``offset``; a negative offset keeps only the last ``-offset``."""
        with self._lock:
            if offset < 0:
                del self._pending[: max(0, len(self._pending) + offset)]
            elif offset > 0:
                self._pending = [u for u in self._pending if u["update_id"] >= offset]

    def peek(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return self._pending[:limit]

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending)

    def drop_pending(self) -> None:
        with self._lock:
            self._pending.clear()

    def set_allowed(self, raw: str) -> None:
        """Apply an ``allowed_updates`` parameter: a JSON array of type names.

        As in telegram-bot-api, anything but such an array leaves the setting alone, and an array
        naming no known type (``[]`` included) restores the default.
        """
        try:
            names = json.loads(raw) if raw else None
        except ValueError:
            return
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            return
        chosen = frozenset(name.lower() for name in names) & set(UPDATE_TYPES)
        with self._lock:
            self.allowed = chosen or DEFAULT_ALLOWED

    def start_poll(self) -> Poll:
        """Register a long poll, ending the one already waiting (409, as a second bot instance gets)."""
        poll = Poll()
        with self._lock:
            if self._poll is not None:
                self._poll.wake(TERMINATED_BY_POLL)
            self._poll = poll
        return poll

    def end_poll(self, poll: Poll) -> None:
        with self._lock:
            if self._poll is poll:
                self._poll = None

    def set_webhook(self, webhook: Webhook | None) -> None:
        """Set or delete the webhook; setting one ends a waiting long poll with 409."""
        with self._lock:
            self.webhook = webhook
            if webhook is not None and self._poll is not None:
                self._poll.wake(TERMINATED_BY_WEBHOOK)
                self._poll = None
