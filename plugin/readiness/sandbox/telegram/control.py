"""The sandbox's own door into the chat: deliver a user's message or button press to the bot.

``POST /sandbox/updates`` (outside ``/bot<token>/``, untouched by faults and unrecorded) takes
``{"text": "/stop"}`` or ``{"callback_data": "...", "message_id": N}`` and answers
``{"ok": true, "result": <Update>}``; :func:`deliver` is its client, for the command line.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
from aiohttp import web
from aiohttp.typedefs import Handler

from .protocol import bad_request, error_response, ok

if TYPE_CHECKING:
    from .emulator import TelegramEmulator

CONTROL_PATH = "/sandbox/updates"


def control_handler(emulator: TelegramEmulator) -> Handler:
    """The aiohttp handler of :data:`CONTROL_PATH` for ``emulator``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            body = None
        try:
            update = _apply(emulator, body)
        except ValueError as error:
            return error_response(bad_request(str(error)))
        if update is None:
            return ok(None, "the bot's allowed_updates leave this update type out; it was not queued")
        return ok(update)

    return handle


def _apply(emulator: TelegramEmulator, body: Any) -> dict[str, Any] | None:
    if isinstance(body, dict) and isinstance(body.get("text"), str):
        return emulator.send_update(body["text"])
    if isinstance(body, dict) and isinstance(body.get("callback_data"), str):
        message_id = body.get("message_id")
        if message_id is not None and (not isinstance(message_id, int) or isinstance(message_id, bool)):
            raise ValueError("message_id must be an integer")
        return emulator.press_button(body["callback_data"], message_id)
    raise ValueError('expected a JSON object with "text", or "callback_data" and optionally "message_id"')


def deliver(api_url: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """POST ``payload`` to a running emulator's control endpoint; its JSON answer."""
    response = httpx.post(api_url.rstrip("/") + CONTROL_PATH, json=payload, timeout=timeout)
    answer: dict[str, Any] = response.json()
    return answer
