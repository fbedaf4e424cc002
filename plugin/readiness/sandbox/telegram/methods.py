"""The Bot API methods the emulator serves, one function each, with Telegram's checks in its order.

Error texts are telegram-bot-api's and TDLib's (their source is the reference); the faults of
:mod:`.faults` hook in where they say.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from .commands import ScopeKey, clean_commands, parse_commands, parse_scope
from .entities import PARSE_MODES, EntityParseError, parse_text, utf16_len
from .faults import INJECTED_PARSE_ERRORS, RATE_LIMIT_RETRY_AFTER
from .markup import reply_markup
from .protocol import ApiError, bad_request, json_text, ok
from .service import Call, Handler
from .updates import DEFAULT_ALLOWED, LONG_POLL_MAX_TIMEOUT, UPDATE_TYPES, WEBHOOK_ACTIVE, Webhook

#: Longest message text, and caption, in UTF-16 code units after entity parsing.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
#: Chat actions sendChatAction accepts, any case (record_audio, upload_audio and pick_up_location
#: are older names Telegram still takes).
CHAT_ACTIONS = frozenset(
    {"cancel", "typing", "record_video", "upload_video", "record_audio", "record_voice", "upload_audio"}
    | {"upload_voice", "upload_photo", "upload_document", "choose_sticker", "pick_up_location"}
    | {"find_location", "record_video_note", "upload_video_note"}
)
_WEBHOOK_PORTS = (80, 88, 443, 8443)


def check_chat(call: Call, chat_id: str) -> None:
    """The one chat the bot can reach, named by its id."""
    chat_id = chat_id.strip()
    if not chat_id:
        raise bad_request("chat_id is empty")
    if chat_id != str(call.emulator.chat_id) or "telegram_chat_not_found" in call.emulator.faults:
        raise bad_request("chat not found")


def _refuse_if_blocked(call: Call) -> None:
    if "telegram_bot_blocked" in call.emulator.faults:
        raise ApiError(403, "Forbidden: bot was blocked by the user")


def _formatted(
    call: Call, field: str, *, limit: int, too_long: str, inject: bool = False
) -> tuple[str, list[dict[str, Any]], str | None]:
    """The ``field`` text parsed under ``parse_mode``: plain text, entities and the canonical mode."""
    raw_mode = call.params.text("parse_mode")
    parse_mode = PARSE_MODES.get(raw_mode.lower())
    if raw_mode and raw_mode.lower() != "none" and parse_mode is None:
        raise bad_request("unsupported parse_mode")
    try:
        if inject and parse_mode is not None and "telegram_parse_entities" in call.emulator.faults:
            raise EntityParseError(INJECTED_PARSE_ERRORS[parse_mode])
        plain, entities = parse_text(call.params.text(field), parse_mode)
    except EntityParseError as error:
        raise bad_request(f"can't parse entities: {error}") from None
    if utf16_len(plain) > limit:
        raise bad_request(too_long)
    return plain, entities, parse_mode


def _text_content(call: Call, *, inject: bool = False) -> tuple[dict[str, Any], str | None]:
    """A text message's ``text`` and ``entities`` (and the parse mode), as sendMessage and
    editMessageText check them."""
    if not call.params.text("text"):
        raise bad_request("message text is empty")
    plain, entities, parse_mode = _formatted(
        call, "text", limit=MAX_TEXT_LENGTH, too_long="message is too long", inject=inject
    )
    if not plain.strip():
        raise bad_request("message text is empty")
    return {"text": plain, **({"entities": entities} if entities else {})}, parse_mode


def _reply_to(call: Call) -> tuple[int, bool]:
    """The message being replied to (0 for none) and whether a missing one may be ignored."""
    params = call.params
    if not params.has("reply_parameters"):
        return max(0, params.integer("reply_to_message_id")), params.flag("allow_sending_without_reply")
    if not params.text("reply_parameters"):
        return 0, False
    value = params.json("reply_parameters", "reply parameters")
    if not isinstance(value, dict):
        raise bad_request("object expected as reply parameters")
    if not value:
        return 0, False
    message_id = value.get("message_id")
    if message_id is None:
        raise bad_request('can\'t find field "message_id"')
    if not isinstance(message_id, int) or isinstance(message_id, bool):
        raise bad_request('field "message_id" must be a Number')
    return max(0, message_id), value.get("allow_sending_without_reply") is True


def _compose(call: Call, content: dict[str, Any]) -> dict[str, Any]:
    """The new message's fields in Telegram's order: the replied message, ``content``, the keyboard.

    Checked in telegram-bot-api's order: reply parameters, reply markup, the chat, the replied message.
    """
    reply_id, without_reply = _reply_to(call)
    markup = reply_markup(call.params)
    check_chat(call, call.params.text("chat_id"))
    composed: dict[str, Any] = {}
    if reply_id:
        replied = call.emulator.message(reply_id)
        if replied is not None:
            replied.pop("reply_to_message", None)
            composed["reply_to_message"] = replied
        elif not without_reply:
            raise bad_request("message to be replied not found")
    composed |= content
    if markup is not None:
        composed["reply_markup"] = markup
    return composed


async def get_me(call: Call) -> web.StreamResponse:
    return ok(call.emulator.bot_user(full=True))


async def get_chat(call: Call) -> web.StreamResponse:
    check_chat(call, call.params.text("chat_id"))
    return ok(call.emulator.chat(full=True))


async def send_message(call: Call) -> web.StreamResponse | None:
    emulator, faults, request = call.emulator, call.emulator.faults, call.request
    text, parse_mode = _text_content(call, inject=True)
    content = _compose(call, text)
    _refuse_if_blocked(call)
    if "telegram_rate_limited" in faults:
        raise ApiError(
            429,
            f"Too Many Requests: retry after {RATE_LIMIT_RETRY_AFTER}",
            retry_after=RATE_LIMIT_RETRY_AFTER,
        )
    if "telegram_hang" in faults:
        emulator._record_request("sendMessage", request.method, None, call.received)
        await call.server.hold(request, math.inf, while_connected=True)
        return None
    if "telegram_slow" in faults and await call.server.hold(
        request, emulator.send_delay_s, while_connected=False
    ):
        return web.Response(status=503)
    message = emulator._deliver(
        content,
        text=call.params.text("text"),
        parse_mode=parse_mode,
        disable_notification=call.params.flag("disable_notification"),
    )
    if "telegram_trickle" in faults:
        return await call.server.trickle(request, json_text({"ok": True, "result": message}).encode())
    return ok(message)


async def edit_message_text(call: Call) -> web.StreamResponse:
    content, _ = _text_content(call)
    markup = reply_markup(call.params)
    chat_id, message_id = call.params.text("chat_id"), max(0, call.params.integer("message_id"))
    if not chat_id and not message_id:
        if not call.params.text("inline_message_id"):
            raise bad_request("message identifier is not specified")
        raise bad_request("MESSAGE_ID_INVALID")
    check_chat(call, chat_id)
    if markup is not None:
        content["reply_markup"] = markup
    return ok(call.emulator._edit_text(message_id, content))


async def delete_message(call: Call) -> web.StreamResponse:
    chat_id, message_id = call.params.text("chat_id"), max(0, call.params.integer("message_id"))
    if not chat_id:
        raise bad_request("chat identifier is not specified")
    if not message_id:
        raise bad_request("message identifier is not specified")
    check_chat(call, chat_id)
    if not call.emulator._delete(message_id):
        raise bad_request("message to delete not found")
    return ok(True)


async def send_document(call: Call) -> web.StreamResponse:
    return await _send_file(call, "document")


async def send_photo(call: Call) -> web.StreamResponse:
    return await _send_file(call, "photo")


async def _send_file(call: Call, kind: str) -> web.StreamResponse:
    sizes = call.emulator.files.resolve(call.params, kind)
    caption, entities, parse_mode = _formatted(
        call, "caption", limit=MAX_CAPTION_LENGTH, too_long="message caption is too long"
    )
    media = sizes[0].document() if kind == "document" else [size.photo_size() for size in sizes]
    content = _compose(
        call,
        {kind: media}
        | ({"caption": caption} if caption else {})
        | ({"caption_entities": entities} if entities else {}),
    )
    _refuse_if_blocked(call)
    message = call.emulator._deliver(
        content,
        text=call.params.text("caption"),
        parse_mode=parse_mode,
        disable_notification=call.params.flag("disable_notification"),
        kind=kind,
        file_id=sizes[-1].file_id,
    )
    return ok(message)


async def send_chat_action(call: Call) -> web.StreamResponse:
    if call.params.text("action").lower() not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    check_chat(call, call.params.text("chat_id"))
    _refuse_if_blocked(call)
    return ok(True)


async def answer_callback_query(call: Call) -> web.StreamResponse:
    if not call.emulator._answer_callback(str(call.params.integer("callback_query_id"))):
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    return ok(True)


async def get_updates(call: Call) -> web.StreamResponse:
    queue, params = call.emulator.updates, call.params
    if queue.webhook is not None:
        raise ApiError(409, WEBHOOK_ACTIVE)
    limit = params.integer("limit", 100, 1, 100)
    timeout = params.integer("timeout", 0, 0, LONG_POLL_MAX_TIMEOUT)
    queue.set_allowed(params.text("allowed_updates"))
    queue.confirm(params.integer("offset"))
    updates = queue.peek(limit)
    if updates or not timeout:
        return ok(updates)
    poll = queue.start_poll()
    try:
        await call.server.hold(call.request, timeout, while_connected=True, until=poll.event)
    finally:
        queue.end_poll(poll)
    if poll.conflict is not None:
        raise ApiError(409, poll.conflict)
    return ok(queue.peek(limit))


async def set_webhook(call: Call) -> web.StreamResponse:
    """Checked and kept, never called (the sandbox sends nothing out); while set, getUpdates is 409."""
    params, queue = call.params, call.emulator.updates
    url = params.text("url")
    if not url:
        return await delete_webhook(call)
    drop = params.flag("drop_pending_updates")
    webhook = Webhook(
        url=url,
        max_connections=params.integer("max_connections", 40, 1, 100),
        ip_address=params.text("ip_address"),
        secret_token=params.text("secret_token"),
    )
    if webhook == queue.webhook and not drop:
        queue.set_allowed(params.text("allowed_updates"))
        return ok(True, "Webhook is already set")
    if drop:
        queue.drop_pending()
    parts = urlsplit(url if "://" in url else f"https://{url}")
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (80 if scheme == "http" else 443)
    except ValueError:
        port = 0
    if scheme not in ("http", "https") or not parts.hostname or not port:
        raise bad_request("invalid webhook URL specified")
    if len(webhook.secret_token) > 256:
        raise bad_request("secret token is too long")
    if not re.fullmatch(r"[A-Za-z0-9_-]*", webhook.secret_token):
        raise bad_request("secret token contains unallowed characters")
    if scheme == "http":
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    if port not in _WEBHOOK_PORTS:
        raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    queue.set_allowed(params.text("allowed_updates"))
    queue.set_webhook(webhook)
    return ok(True, "Webhook was set")


async def delete_webhook(call: Call) -> web.StreamResponse:
    queue = call.emulator.updates
    if call.params.flag("drop_pending_updates"):
        queue.drop_pending()
    if queue.webhook is None:
        return ok(True, "Webhook is already deleted")
    queue.set_webhook(None)
    return ok(True, "Webhook was deleted")


async def get_webhook_info(call: Call) -> web.StreamResponse:
    queue = call.emulator.updates
    webhook = queue.webhook
    info: dict[str, Any] = {
        "url": webhook.url if webhook else "",
        "has_custom_certificate": False,
        "pending_update_count": queue.pending_count(),
    }
    if webhook is not None:
        info["max_connections"] = webhook.max_connections
        info["ip_address"] = webhook.ip_address or "<unknown>"
    if queue.allowed != DEFAULT_ALLOWED:
        info["allowed_updates"] = [name for name in UPDATE_TYPES if name in queue.allowed]
    return ok(info)


def _scope(call: Call) -> tuple[ScopeKey, str]:
    return parse_scope(call.params, lambda chat_id: check_chat(call, chat_id))


async def set_my_commands(call: Call) -> web.StreamResponse:
    commands = parse_commands(call.params)
    scope, language = _scope(call)
    call.emulator.commands.set(scope, language, clean_commands(commands))
    return ok(True)


async def get_my_commands(call: Call) -> web.StreamResponse:
    scope, language = _scope(call)
    return ok(call.emulator.commands.get(scope, language))


async def delete_my_commands(call: Call) -> web.StreamResponse:
    scope, language = _scope(call)
    call.emulator.commands.delete(scope, language)
    return ok(True)


async def get_file(call: Call) -> web.StreamResponse:
    file_id = call.params.text("file_id")
    if not file_id:
        raise bad_request("file_id not specified")
    stored = call.emulator.files.by_id(file_id)
    if stored is None:
        raise bad_request("invalid file_id")
    if stored.data is None:
        raise bad_request("wrong file_id or the file is temporarily unavailable")
    return ok(stored.as_file())


#: Canonical method name -> implementation; names are matched case-insensitively.
METHODS: dict[str, Handler] = {
    "getMe": get_me,
    "getChat": get_chat,
    "sendMessage": send_message,
    "editMessageText": edit_message_text,
    "deleteMessage": delete_message,
    "sendDocument": send_document,
    "sendPhoto": send_photo,
    "sendChatAction": send_chat_action,
    "answerCallbackQuery": answer_callback_query,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "getFile": get_file,
}
