"""A Telegram Bot API emulator faithful enough that httpx and real bot frameworks work unchanged.

It serves under ``/bot<token>/`` what python-telegram-bot and aiogram call (getMe, getChat in the
current ChatFullInfo shape, getUpdates long polling, the webhook and command methods, sending,
editing and deleting messages, documents and photos, chat actions, callback answers, getFile),
with the real shapes, error bodies and HTTP statuses. It parses ``parse_mode`` text the way TDLib
does, records every delivered message so tests and drills can watch an alert arrive from another
thread, delivers a user's message or button press to the bot (:meth:`TelegramEmulator.send_update`,
``POST /sandbox/updates``), and injects named faults that each break one readiness check.
"""

from .emulator import TOKEN_PATTERN, DeliveredMessage, RecordedRequest, TelegramEmulator, generate_token
from .entities import EntityParseError, parse_html, parse_markdown, parse_markdown_v2, parse_text
from .faults import FAULTS, RATE_LIMIT_RETRY_AFTER, SLOW_SEND_S, TRICKLE_INTERVAL_S, validate_faults
from .methods import MAX_TEXT_LENGTH

__all__ = [
    "FAULTS",
    "MAX_TEXT_LENGTH",
    "RATE_LIMIT_RETRY_AFTER",
    "SLOW_SEND_S",
    "TOKEN_PATTERN",
    "TRICKLE_INTERVAL_S",
    "DeliveredMessage",
    "EntityParseError",
    "RecordedRequest",
    "TelegramEmulator",
    "generate_token",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
    "parse_text",
    "validate_faults",
]
