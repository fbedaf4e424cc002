"""A Telegram Bot API emulator faithful enough that httpx and real bot libraries work unchanged.

It serves ``getMe``, ``getChat`` and ``sendMessage`` under ``/bot<token>/`` with the real shapes,
error bodies and HTTP statuses, parses ``parse_mode`` text the way TDLib does (same error
messages, same byte offsets), records every delivered message so tests and drills can watch an
alert arrive from another thread, and injects named faults that each break one readiness check.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from readiness.sandbox.server import latency_middleware

#: Fault name -> what it does and the check it is meant to fail.
FAULTS: dict[str, str] = {
    "telegram_token_revoked": (
        "Every call answers 401 Unauthorized, as after /revoke in BotFather (fails telegram.token_valid)."
    ),
    "telegram_chat_not_found": (
        "getChat and sendMessage answer 400 'chat not found'; getMe works (fails telegram.chat_reachable)."
    ),
    "telegram_bot_blocked": (
        "sendMessage answers 403 'bot was blocked by the user'; getMe and getChat work "
        "(fails telegram.delivery_latency)."
    ),
    "telegram_slow": (
        "sendMessage answers only after send_delay_s (default 6 s, over the 5 s limit) "
        "(fails telegram.delivery_latency)."
    ),
    "telegram_rate_limited": (
        "sendMessage answers 429 'Too Many Requests: retry after 17' (fails telegram.delivery_latency)."
    ),
    "telegram_parse_entities": (
        'sendMessage with any parse_mode answers 400 "can\'t parse entities"; plain text works '
        "(fails integration.alert_path, which sends a formatted alert)."
    ),
    "telegram_down": (
        "Every request answers 502 Bad Gateway with nginx's HTML page (fails telegram.token_valid)."
    ),
    "telegram_hang": (
        "sendMessage is accepted and never answered; nothing is delivered "
        "(fails telegram.delivery_latency through its timeout)."
    ),
    "telegram_hang_all": (
        "Every call is accepted and never answered, getMe included "
        "(fails telegram.token_valid through its timeout; the checks after it end blocked)."
    ),
    "telegram_trickle_all": (
        "Every answer arrives one byte every 0.5 s, getMe included "
        "(fails telegram.token_valid unless it enforces a total deadline)."
    ),
    "telegram_trickle": (
        "sendMessage is delivered but its answer arrives one byte every 0.5 s, so a per-read "
        "timeout never fires (fails telegram.delivery_latency unless it enforces a total deadline)."
    ),
}

#: Default ``send_delay_s``: how long sendMessage takes under ``telegram_slow`` (over the 5 s limit).
SLOW_SEND_S = 6.0
#: ``retry_after`` (seconds) answered under ``telegram_rate_limited``.
RATE_LIMIT_RETRY_AFTER = 17
#: Seconds between the bytes of an answer under ``telegram_trickle``.
TRICKLE_INTERVAL_S = 0.5
#: Longest message text Telegram accepts, in UTF-16 code units after entity parsing.
MAX_TEXT_LENGTH = 4096

TOKEN_PATTERN = re.compile(r"[0-9]+:[A-Za-z0-9_-]{35}")
_TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"
_PATH = re.compile(r"/bot([^/]*)/([^/]*)")
_METHODS = {name.lower(): name for name in ("getMe", "getChat", "sendMessage")}
_PARSE_MODES = {"html": "HTML", "markdownv2": "MarkdownV2", "markdown": "Markdown"}
_BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_POLL_S = 0.05


def validate_faults(faults: Collection[str]) -> frozenset[str]:
    """Return ``faults`` as a set, or raise ValueError naming the unknown one and the valid ones."""
    for name in faults:
        if name not in FAULTS:
            valid = ", ".join(sorted(FAULTS))
            raise ValueError(f"unknown Telegram sandbox fault {name!r}; valid faults: {valid}")
    return frozenset(faults)


def generate_token(bot_id: int | None = None) -> str:
    """A random token of the real shape ``<bot id>:<35 chars>`` (BotFather's start with ``AA``)."""
    if bot_id is None:
        bot_id = 7_000_000_000 + secrets.randbelow(1_000_000_000)
    tail = "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(33))
    return f"{bot_id}:AA{tail}"


class EntityParseError(ValueError):
    """Text that Telegram would reject under its ``parse_mode``; the message is TDLib's."""


@dataclass(frozen=True)
class DeliveredMessage:
    """One message the emulator accepted, as the chat would show it."""

    message_id: int
    chat_id: int
    text: str
    """The text exactly as sent (markup included)."""
    plain_text: str
    """The text as displayed, markup parsed away (the Message's ``text``)."""
    parse_mode: str | None
    entities: tuple[dict[str, Any], ...]
    disable_notification: bool
    received_monotonic: float
    """``time.monotonic()`` when delivered: comparable with the caller's own monotonic clock."""
    received_at: float
    """Wall-clock epoch seconds when delivered."""


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


class _ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code", "description"[, "parameters"]}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


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
        self._faults = validate_faults(faults)
        self._cond = threading.Condition()
        self._messages: list[DeliveredMessage] = []
        self._requests: list[RecordedRequest] = []
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
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        return user

    def chat(self, *, full: bool = False) -> dict[str, Any]:
        """The Chat object (as in a Message); ``full`` makes it getChat's ChatFullInfo."""
        info: dict[str, Any] = {"id": self.chat_id}
        if self.chat_type == "private":
            info |= {"first_name": self.chat_title, "type": "private"}
        else:
            info |= {"title": self.chat_title, "type": self.chat_type}
        if full:
            info |= {"accent_color_id": abs(self.chat_id) % 7, "max_reaction_count": 11}
            if self.chat_type != "private":
                info["permissions"] = {"can_send_messages": True}
        return info

    def delivered(self) -> list[DeliveredMessage]:
        """Every message delivered so far, oldest first (a copy)."""
        with self._cond:
            return list(self._messages)

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

    def make_app(self) -> web.Application:
        """An aiohttp application serving this emulator (one per server)."""
        middlewares = [latency_middleware(self.latency_ms)] if self.latency_ms > 0 else []
        app = web.Application(middlewares=middlewares)
        service = _Service(self)
        app.router.add_route("*", "/{tail:.*}", service.handle)
        app.on_shutdown.append(service.on_shutdown)
        return app

    def _record_request(self, api_method: str, http_method: str, status: int | None, received: float) -> None:
        with self._cond:
            self._requests.append(RecordedRequest(api_method, http_method, status, received))

    def _deliver(
        self,
        *,
        chat_id: int,
        text: str,
        plain_text: str,
        parse_mode: str | None,
        entities: list[dict[str, Any]],
        disable_notification: bool,
    ) -> DeliveredMessage:
        with self._cond:
            message = DeliveredMessage(
                message_id=self._next_message_id,
                chat_id=chat_id,
                text=text,
                plain_text=plain_text,
                parse_mode=parse_mode,
                entities=tuple(entities),
                disable_notification=disable_notification,
                received_monotonic=time.monotonic(),
                received_at=time.time(),
            )
            self._next_message_id += 1
            self._messages.append(message)
            self._cond.notify_all()
        return message


class _Service:
    """The HTTP side of one served app; owns the event that wakes held requests at shutdown."""

    def __init__(self, emulator: TelegramEmulator) -> None:
        self.emulator = emulator
        self._closing = asyncio.Event()
        self._held = 0

    async def on_shutdown(self, app: web.Application) -> None:
        """Release held requests (hang, slow, trickle) so the server stops promptly and cleanly."""
        self._closing.set()
        for _ in range(int(2 / _POLL_S)):
            if not self._held:
                return
            await asyncio.sleep(_POLL_S)

    async def _hold(self, request: web.Request, seconds: float, *, while_connected: bool) -> bool:
        """Wait ``seconds``; return True when cut short by shutdown (or by the client leaving)."""
        deadline = time.monotonic() + seconds
        self._held += 1
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                if while_connected and (request.transport is None or request.transport.is_closing()):
                    return True
                try:
                    await asyncio.wait_for(self._closing.wait(), timeout=min(remaining, _POLL_S))
                except TimeoutError:
                    continue
                return True
            return False
        finally:
            self._held -= 1

    async def handle(self, request: web.Request) -> web.StreamResponse:
        received = time.monotonic()
        match = _PATH.fullmatch(request.path)
        name = match.group(2) if match else ""
        api_method = _METHODS.get(name.lower(), name)
        record = self.emulator._record_request
        if "telegram_hang_all" in self.emulator.faults:
            record(api_method, request.method, None, received)
            await self._hold(request, math.inf, while_connected=True)
            return web.Response(status=504)
        try:
            response = await self._dispatch(request, match, api_method, received)
        except _ApiError as error:
            response = _error_response(error)
        except Exception:
            record(api_method, request.method, 500, received)
            raise
        if response is None:  # telegram_hang, released at shutdown: recorded when swallowed
            return web.Response(status=504)
        record(api_method, request.method, response.status, received)
        if "telegram_trickle_all" in self.emulator.faults and isinstance(response, web.Response):
            assert isinstance(response.body, bytes)
            return await self._trickle(request, response.body, status=response.status)
        return response

    async def _dispatch(
        self,
        request: web.Request,
        match: re.Match[str] | None,
        api_method: str,
        received: float,
    ) -> web.StreamResponse | None:
        emulator = self.emulator
        faults = emulator.faults
        if "telegram_down" in faults:
            return web.Response(status=502, body=_BAD_GATEWAY, content_type="text/html")
        if match is None:
            raise _ApiError(404, "Not Found")
        if match.group(1) != emulator.token or "telegram_token_revoked" in faults:
            raise _ApiError(401, "Unauthorized")
        if api_method not in _METHODS.values():
            raise _ApiError(404, "Not Found")
        params = await _read_params(request)
        if api_method == "getMe":
            return _ok(emulator.bot_user(full=True))
        if api_method == "getChat":
            self._check_chat(params)
            return _ok(emulator.chat(full=True))
        return await self._send_message(request, params, received)

    def _check_chat(self, params: Mapping[str, Any]) -> None:
        chat_id = _text_param(params, "chat_id").strip()
        if not chat_id:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if chat_id != str(self.emulator.chat_id) or "telegram_chat_not_found" in self.emulator.faults:
            raise _ApiError(400, "Bad Request: chat not found")

    async def _send_message(
        self, request: web.Request, params: Mapping[str, Any], received: float
    ) -> web.StreamResponse | None:
        emulator = self.emulator
        faults = emulator.faults
        text = _text_param(params, "text")
        raw_mode = _text_param(params, "parse_mode")
        parse_mode = _PARSE_MODES.get(raw_mode.lower())
        if raw_mode and raw_mode.lower() != "none" and parse_mode is None:
            raise _ApiError(400, "Bad Request: unsupported parse_mode")
        try:
            if parse_mode is not None and "telegram_parse_entities" in faults:
                raise EntityParseError(_INJECTED_PARSE_ERRORS[parse_mode])
            plain_text, entities = parse_text(text, parse_mode)
        except EntityParseError as error:
            raise _ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        if not plain_text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(plain_text) > MAX_TEXT_LENGTH:
            raise _ApiError(400, "Bad Request: message is too long")
        self._check_chat(params)
        if "telegram_bot_blocked" in faults:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if "telegram_rate_limited" in faults:
            raise _ApiError(
                429,
                f"Too Many Requests: retry after {RATE_LIMIT_RETRY_AFTER}",
                retry_after=RATE_LIMIT_RETRY_AFTER,
            )
        if "telegram_hang" in faults:
            emulator._record_request("sendMessage", request.method, None, received)
            await self._hold(request, math.inf, while_connected=True)
            return None
        if "telegram_slow" in faults and await self._hold(
            request, emulator.send_delay_s, while_connected=False
        ):
            return web.Response(status=503)
        message = emulator._deliver(
            chat_id=emulator.chat_id,
            text=text,
            plain_text=plain_text,
            parse_mode=parse_mode,
            entities=entities,
            disable_notification=_bool_param(params, "disable_notification"),
        )
        result: dict[str, Any] = {
            "message_id": message.message_id,
            "from": emulator.bot_user(),
            "chat": emulator.chat(),
            "date": int(message.received_at),
            "text": plain_text,
        }
        if entities:
            result["entities"] = entities
        if "telegram_trickle" in faults:
            return await self._trickle(request, _json_body({"ok": True, "result": result}))
        return _ok(result)

    async def _trickle(self, request: web.Request, body: bytes, status: int = 200) -> web.StreamResponse:
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        for index in range(len(body)):
            try:
                await response.write(body[index : index + 1])
            except ConnectionError:
                break
            if index + 1 < len(body) and await self._hold(request, TRICKLE_INTERVAL_S, while_connected=True):
                break
        return response


_INJECTED_PARSE_ERRORS = {
    "HTML": 'Can\'t find end tag corresponding to start tag "b"',
    "MarkdownV2": "Character '.' is reserved and must be escaped with the preceding '\\'",
    "Markdown": "Can't find end of the entity starting at byte offset 0",
}


def _json_body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _ok(result: Any) -> web.Response:
    return web.Response(body=_json_body({"ok": True, "result": result}), content_type="application/json")


def _error_response(error: _ApiError) -> web.Response:
    payload: dict[str, Any] = {
        "ok": False,
        "error_code": error.status,
        "description": error.description,
    }
    if error.retry_after is not None:
        payload["parameters"] = {"retry_after": error.retry_after}
    return web.Response(status=error.status, body=_json_body(payload), content_type="application/json")


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query-string and body parameters (JSON, urlencoded or multipart), body winning."""
    params: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.read() or b"{}")
        except ValueError:
            raise _ApiError(400, "Bad Request: can't parse JSON object") from None
        if not isinstance(body, dict):
            raise _ApiError(400, "Bad Request: can't parse JSON object")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                value = value.file.read()
            params[key] = value.decode() if isinstance(value, bytes) else value
    else:
        await request.read()
    return params


def _text_param(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _bool_param(params: Mapping[str, Any], name: str) -> bool:
    return _text_param(params, name).strip().lower() in ("true", "1")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# ---------------------------------------------------------------------------------------------
# parse_mode parsing, ported from TDLib's MessageEntity.cpp (parse_html, parse_markdown_v2,
# parse_markdown): it works on UTF-8 bytes, so error byte offsets match Telegram's exactly.
# ---------------------------------------------------------------------------------------------

_SPACES = frozenset(b" \t\r\n\0\v")
_HTML_TAGS = frozenset(
    {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler", "tg-emoji"}
    | {"span", "pre", "code", "blockquote"}
)
_HTML_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
}
# TDLib's order for entities sharing offset and length.
_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}
_V2_TYPE_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "precode": "PreCode",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and Bot API entities of ``text`` under ``parse_mode`` (None: no markup)."""
    if parse_mode == "HTML":
        return parse_html(text)
    if parse_mode == "MarkdownV2":
        return parse_markdown_v2(text)
    if parse_mode == "Markdown":
        return parse_markdown(text)
    return text, []


class _Bytes:
    """UTF-8 bytes read C-style: past the end reads as NUL, as TDLib relies on."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-8", "surrogatepass")
        self.size = len(self.data)

    def __getitem__(self, index: int) -> int:
        return self.data[index] if index < self.size else 0


class _Output:
    """Plain text being built, with its length in UTF-16 code units (entity offsets)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.utf16 = 0
        self.entities: list[dict[str, Any]] = []

    def byte(self, c: int) -> None:
        self.data.append(c)
        if c & 0xC0 != 0x80:
            self.utf16 += 2 if c >= 0xF0 else 1

    def char(self, code_point: int) -> None:
        self.data += chr(code_point).encode("utf-8", "surrogatepass")
        self.utf16 += 2 if code_point > 0xFFFF else 1

    def entity(self, kind: str, offset: int, **extra: Any) -> None:
        if self.utf16 > offset:
            self.entities.append({"type": kind, "offset": offset, "length": self.utf16 - offset} | extra)

    def finish(self) -> tuple[str, list[dict[str, Any]]]:
        try:
            text = self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise EntityParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            ) from None
        self.entities.sort(key=lambda e: (e["offset"], -e["length"], _PRIORITY.get(e["type"], 50)))
        return text, [{k: v for k, v in e.items() if not k.startswith("_")} for e in self.entities]


def _decode_html_entity(text: _Bytes, pos: int) -> tuple[int, int] | None:
    """Code point of the character reference at ``pos`` and the position after it, or None."""
    end = pos + 1
    code = 0
    if text[pos + 1] == ord("#"):
        end += 1
        hexadecimal = text[pos + 2] == ord("x")
        end += hexadecimal
        digits = b"0123456789abcdefABCDEF" if hexadecimal else b"0123456789"
        while text[end] and text[end] in digits:
            code = code * (16 if hexadecimal else 10) + int(chr(text[end]), 16)
            end += 1
            if code >= 0x10FFFF:
                return None
        if code == 0 or end - pos >= 10:
            return None
    else:
        while chr(text[end]).isascii() and chr(text[end]).isalpha():
            end += 1
        named = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}.get(text.data[pos + 1 : end])
        if named is None:
            return None
        code = named
    return code, end + 1 if text[end] == ord(";") else end


def _normalize_url(url: str) -> str | None:
    """The URL as Telegram stores it (scheme and path added), or None if it is not one."""
    if not url or any(c.isspace() for c in url):
        return None
    if "://" not in url:
        url = "http://" + url
    scheme, rest = url.split("://", 1)
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not host or (scheme.lower() in ("http", "https") and "." not in host):
        return None
    if scheme.lower() in ("http", "https") and len(host) == len(rest):
        url += "/"
    elif scheme.lower() in ("http", "https") and rest[len(host)] in "?#":
        url = f"{scheme}://{host}/{rest[len(host) :]}"
    return url


@dataclass
class _OpenTag:
    name: str
    argument: str
    offset: int
    """UTF-16 offset of the tag's content in the plain text."""
    begin: int
    """Byte offset of the ``<`` in the markup (error messages)."""
    out_begin: int
    """Byte offset of the tag's content in the plain text."""
    expandable: bool = False


def parse_html(html: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's HTML parse mode; raises EntityParseError with TDLib's message."""
    text = _Bytes(html)
    out = _Output()
    nested: list[_OpenTag] = []
    i = 0
    while i < text.size:
        c = text[i]
        if c == ord("&"):
            decoded = _decode_html_entity(text, i)
            if decoded is not None:
                out.char(decoded[0])
                i = decoded[1]
                continue
        if c != ord("<"):
            out.byte(c)
            i += 1
            continue
        begin = i
        i += 1
        if text[i] != ord("/"):
            while text[i] not in _SPACES and text[i] != ord(">"):
                i += 1
            if text[i] == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = text.data[begin + 1 : i].lower().decode("utf-8", "replace")
            if tag not in _HTML_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            opened = _OpenTag(tag, "", out.utf16, begin, len(out.data))
            i = _parse_html_attributes(text, i, opened)
            nested.append(opened)
        else:
            if not nested:
                raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
            while text[i] not in _SPACES and text[i] != ord(">"):
                i += 1
            end_tag = text.data[begin + 2 : i].decode("utf-8", "replace")
            while text[i] in _SPACES and text[i] != 0:
                i += 1
            if text[i] != ord(">"):
                raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
            opened = nested.pop()
            if end_tag and end_tag.lower() != opened.name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {begin}, "
                    f'expected "</{opened.name}>", found "</{end_tag}>"'
                )
            _close_html_tag(out, opened)
        i += 1
    if nested:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{nested[-1].name}"')
    return out.finish()


def _parse_html_attributes(text: _Bytes, i: int, opened: _OpenTag) -> int:
    """Read a start tag's attributes from ``i``; return the position of its closing ``>``."""
    tag, begin = opened.name, opened.begin
    while text[i] != ord(">"):
        while text[i] != 0 and text[i] in _SPACES:
            i += 1
        if text[i] == ord(">"):
            break
        if text[i] == 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        name_begin = i
        while text[i] not in _SPACES and text[i] not in (ord("="), ord(">")):
            i += 1
        name = text.data[name_begin:i].decode("utf-8", "replace")
        if not name:
            raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
        while text[i] != 0 and text[i] in _SPACES:
            i += 1
        if tag == "blockquote" and name == "expandable":
            opened.expandable = True
        if text[i] != ord("="):
            continue
        i += 1
        while text[i] != 0 and text[i] in _SPACES:
            i += 1
        if text[i] == 0:
            raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
        value = bytearray()
        if text[i] not in (ord("'"), ord('"')):
            token_begin = i
            while chr(text[i]).isascii() and (chr(text[i]).isalnum() or text[i] in b".-"):
                i += 1
            value += text.data[token_begin:i].lower()
            if text[i] not in _SPACES and text[i] != ord(">"):
                raise EntityParseError(f"Unexpected end of name token at byte offset {token_begin}")
        else:
            quote = text[i]
            i += 1
            while text[i] != quote and text[i] != 0:
                decoded = _decode_html_entity(text, i) if text[i] == ord("&") else None
                if decoded is not None:
                    value += chr(decoded[0]).encode("utf-8", "surrogatepass")
                    i = decoded[1]
                    continue
                value.append(text[i])
                i += 1
            if text[i] == quote:
                i += 1
        if text[i] == 0:
            raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
        argument = value.decode("utf-8", "replace")
        if tag == "a" and name == "href":
            opened.argument = argument
        elif tag == "code" and name == "class" and argument.startswith("language-"):
            opened.argument = argument[len("language-") :]
        elif tag == "span" and name == "class" and argument.startswith("tg-"):
            opened.argument = argument[len("tg-") :]
        elif tag == "tg-emoji" and name == "emoji-id":
            opened.argument = argument
    if tag == "span" and opened.argument != "spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    return i


def _close_html_tag(out: _Output, opened: _OpenTag) -> None:
    tag, offset = opened.name, opened.offset
    if out.utf16 <= offset:
        return
    if tag == "a":
        inner = out.data[opened.out_begin :].decode("utf-8", "replace")
        url = _normalize_url(opened.argument or inner)
        if url is not None:
            out.entity("text_link", offset, url=url)
    elif tag == "tg-emoji":
        if not opened.argument.isdigit() or int(opened.argument) == 0:
            raise EntityParseError("Invalid custom emoji identifier specified")
        out.entity("custom_emoji", offset, custom_emoji_id=opened.argument)
    elif tag == "blockquote":
        out.entity("expandable_blockquote" if opened.expandable else "blockquote", offset)
    elif tag in ("pre", "code"):
        _close_pre_or_code(out, opened)
    else:
        out.entity(_HTML_TYPES[tag], offset)


def _close_pre_or_code(out: _Output, opened: _OpenTag) -> None:
    """``<pre><code class="language-x">`` (either nesting) becomes one ``pre`` with a language."""
    length = out.utf16 - opened.offset
    last = out.entities[-1] if out.entities else None
    same_span = last is not None and last["offset"] == opened.offset and last["length"] == length
    if last is not None and same_span and {last["type"], opened.name} == {"pre", "code"}:
        language = last.pop("_language", "") or (opened.argument if opened.name == "code" else "")
        if language:
            out.entities[-1] = {"type": "pre", "offset": opened.offset, "length": length}
            out.entities[-1]["language"] = language
            return
    if opened.name == "code" and opened.argument:
        out.entity("code", opened.offset, _language=opened.argument)
    else:
        out.entity(opened.name, opened.offset)


@dataclass
class _OpenMarkdown:
    kind: str
    argument: str
    offset: int
    byte_offset: int
    begin: int


def parse_markdown_v2(markdown: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's MarkdownV2 parse mode; raises EntityParseError with TDLib's message."""
    text = _Bytes(markdown)
    out = _Output()
    nested: list[_OpenMarkdown] = []
    quote_offset: int | None = None
    i = 0
    while i < text.size:
        c = text[i]
        if c == ord("\\") and 0 < text[i + 1] <= 126:
            out.byte(text[i + 1])
            i += 2
            continue
        inside_code = bool(nested) and nested[-1].kind in ("code", "pre", "precode")
        at_line_start = not out.data or out.data[-1] in b"\r\n"
        if not inside_code and c == ord(">") and at_line_start:
            if quote_offset is None:
                quote_offset = out.utf16
            i += 1
            continue
        if not inside_code and c == ord("\n") and quote_offset is not None and text[i + 1] != ord(">"):
            out.byte(c)
            out.entity("blockquote", quote_offset)
            quote_offset = None
            i += 1
            continue
        reserved = b"`" if inside_code else b"_*[]()~`>#+-=|{}.!"
        if c not in reserved:
            out.byte(c)
            i += 1
            continue
        top = nested[-1].kind if nested else None
        closes = (
            (top == "bold" and c == ord("*"))
            or (top == "italic" and c == ord("_") and text[i + 1] != ord("_"))
            or (top == "underline" and c == ord("_") and text[i + 1] == ord("_"))
            or (top == "strikethrough" and c == ord("~"))
            or (top == "spoiler" and c == ord("|") and text[i + 1] == ord("|"))
            or (top == "code" and c == ord("`"))
            or (top in ("pre", "precode") and text.data[i : i + 3] == b"```")
            or (top in ("text_link", "custom_emoji") and c == ord("]"))
        )
        if closes:
            i = _close_markdown_v2(text, i, out, nested.pop())
        else:
            i = _open_markdown_v2(text, i, out, nested)
        i += 1
    if nested:
        kind, byte_offset = _V2_TYPE_NAMES[nested[-1].kind], nested[-1].byte_offset
        raise EntityParseError(f"Can't find end of {kind} entity at byte offset {byte_offset}")
    if quote_offset is not None:
        out.entity("blockquote", quote_offset)
    return out.finish()


def _reserved(c: int) -> EntityParseError:
    return EntityParseError(f"Character '{chr(c)}' is reserved and must be escaped with the preceding '\\'")


def _open_markdown_v2(text: _Bytes, i: int, out: _Output, nested: list[_OpenMarkdown]) -> int:
    c = text[i]
    byte_offset = i
    argument = ""
    if c == ord("_"):
        kind = "underline" if text[i + 1] == ord("_") else "italic"
        i += kind == "underline"
    elif c == ord("*"):
        kind = "bold"
    elif c == ord("~"):
        kind = "strikethrough"
    elif c == ord("|") and text[i + 1] == ord("|"):
        kind = "spoiler"
        i += 1
    elif c == ord("["):
        kind = "text_link"
    elif c == ord("!") and text[i + 1] == ord("["):
        kind = "custom_emoji"
        i += 1
    elif c == ord("`") and text.data[i : i + 3] == b"```":
        i += 3
        kind = "pre"
        language_end = i
        while text[language_end] not in _SPACES and text[language_end] != ord("`"):
            language_end += 1
        if i != language_end and language_end < text.size and text[language_end] != ord("`"):
            kind = "precode"
            argument = text.data[i:language_end].decode("utf-8", "replace")
            i = language_end
        i = _skip_one_newline(text, i) - 1
    elif c == ord("`"):
        kind = "code"
    else:
        raise _reserved(c)
    nested.append(_OpenMarkdown(kind, argument, out.utf16, byte_offset, len(out.data)))
    return i


def _skip_one_newline(text: _Bytes, i: int) -> int:
    if text[i] in b"\r\n" and text[i]:
        pair = text[i + 1] in b"\r\n" and text[i + 1] and text[i] != text[i + 1]
        return i + (2 if pair else 1)
    return i


def _close_markdown_v2(text: _Bytes, i: int, out: _Output, opened: _OpenMarkdown) -> int:
    kind, offset = opened.kind, opened.offset
    if kind in ("underline", "spoiler"):
        i += 1
    elif kind in ("pre", "precode"):
        i += 2
    elif kind in ("text_link", "custom_emoji"):
        url = ""
        if text[i + 1] != ord("("):
            if kind == "custom_emoji":
                raise EntityParseError("The entity must contain a tg://emoji or tg://time URL")
            url = out.data[opened.begin :].decode("utf-8", "replace")
        else:
            i += 2
            url_begin = i
            raw = bytearray()
            while i < text.size and text[i] != ord(")"):
                if text[i] == ord("\\") and 0 < text[i + 1] <= 126:
                    raw.append(text[i + 1])
                    i += 2
                    continue
                raw.append(text[i])
                i += 1
            if text[i] != ord(")"):
                raise EntityParseError(f"Can't find end of a URL at byte offset {url_begin}")
            url = raw.decode("utf-8", "replace")
        if kind == "custom_emoji":
            out.entity("custom_emoji", offset, custom_emoji_id=_custom_emoji_id(url))
            return i
        normalized = _normalize_url(url)
        if normalized is not None:
            out.entity("text_link", offset, url=normalized)
        return i
    if kind == "precode":
        out.entity("pre", offset, language=opened.argument)
    else:
        out.entity(kind, offset)
    return i


def _custom_emoji_id(url: str) -> str:
    parts = urlsplit(url)
    ids = parse_qs(parts.query).get("id", [""])
    if (
        parts.scheme.lower() != "tg"
        or parts.netloc.lower() != "emoji"
        or parts.path not in ("", "/")
        or not ids[0].isdigit()
        or ids[0].startswith("0")
    ):
        raise EntityParseError("Invalid tg://emoji or tg://time URL specified")
    return ids[0]


def parse_markdown(markdown: str) -> tuple[str, list[dict[str, Any]]]:
    """Telegram's legacy Markdown parse mode; raises EntityParseError with TDLib's message."""
    text = _Bytes(markdown)
    out = _Output()
    i = 0
    while i < text.size:
        c = text[i]
        if c == ord("\\") and text[i + 1] in b"_*`[" and text[i + 1]:
            out.byte(text[i + 1])
            i += 2
            continue
        if c not in b"_*`[":
            out.byte(c)
            i += 1
            continue
        begin = i
        end_character = ord("]") if c == ord("[") else c
        i += 1
        is_pre = False
        language = ""
        if c == ord("`") and text[i] == ord("`") and text[i + 1] == ord("`"):
            i += 2
            is_pre = True
            language_end = i
            while text[language_end] not in _SPACES and text[language_end] != ord("`"):
                language_end += 1
            if i != language_end and language_end < text.size and text[language_end] != ord("`"):
                language = text.data[i:language_end].decode("utf-8", "replace")
                i = language_end
            i = _skip_one_newline(text, i)
        offset, inner_begin = out.utf16, len(out.data)
        while i < text.size and (
            text[i] != end_character or (is_pre and not (text[i + 1] == ord("`") and text[i + 2] == ord("`")))
        ):
            out.byte(text[i])
            i += 1
        if i == text.size:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {begin}")
        if c == ord("["):
            url = out.data[inner_begin:].decode("utf-8", "replace")
            if text[i + 1] == ord("("):
                i += 2
                url_begin = i
                while i < text.size and text[i] != ord(")"):
                    i += 1
                url = text.data[url_begin:i].decode("utf-8", "replace")
            normalized = _normalize_url(url)
            if normalized is not None:
                out.entity("text_link", offset, url=normalized)
        elif is_pre:
            out.entity("pre", offset, **({"language": language} if language else {}))
            i += 2
        else:
            out.entity({"_": "italic", "*": "bold", "`": "code"}[chr(c)], offset)
        i += 1
    return out.finish()
