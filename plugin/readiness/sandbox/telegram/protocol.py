"""The Bot API's wire format: how parameters arrive and how answers and errors are shaped.

Telegram reads every parameter as a string whatever the transport (query string, urlencoded or
multipart form, JSON body, whose objects arrive re-serialized), so :class:`Params` holds strings
and parses them the way telegram-bot-api does (``to_bool``, ``to_integer`` with clamping).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code", "description"[, "parameters"]}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def bad_request(reason: str) -> ApiError:
    """400 ``Bad Request: <reason>``."""
    return ApiError(400, f"Bad Request: {reason}")


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Params:
    """A request's parameters as Telegram sees them: string arguments and uploaded files."""

    args: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, Upload] = field(default_factory=dict)

    def text(self, name: str) -> str:
        return self.args.get(name, "")

    def has(self, name: str) -> bool:
        return name in self.args

    def flag(self, name: str) -> bool:
        """telegram-bot-api's ``to_bool``: ``true``, ``yes`` or ``1``, any case."""
        return self.text(name).strip().lower() in ("true", "yes", "1")

    def integer(self, name: str, default: int = 0, low: int | None = None, high: int | None = None) -> int:
        """``td::to_integer`` (leading digits, 0 if none) clamped to ``[low, high]``."""
        raw = self.text(name)
        value = default if not raw else _leading_integer(raw)
        if low is not None:
            value = max(low, value)
        if high is not None:
            value = min(high, value)
        return value

    def json(self, name: str, what: str) -> Any:
        """The parameter parsed as JSON (None when absent); bad JSON is Telegram's 400 for ``what``."""
        raw = self.text(name)
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request(f"can't parse {what} JSON object") from None


def _leading_integer(raw: str) -> int:
    match = re.match(r"-?\d+", raw)
    return int(match.group(0)) if match else 0


async def read_params(request: web.Request) -> Params:
    """Merge query-string and body parameters (JSON, urlencoded or multipart), body winning."""
    args: dict[str, str] = dict(request.query)
    files: dict[str, Upload] = {}
    try:
        if request.content_type == "application/json":
            args.update(_json_args(await request.read()))
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = Upload(value.filename, value.content_type, value.file.read())
                else:
                    args[key] = value if isinstance(value, str) else bytes(value).decode()
        else:
            await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "Request Entity Too Large") from None
    return Params(args, files)


def _json_args(body: bytes) -> dict[str, str]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        raise bad_request("can't parse JSON object") from None
    if not isinstance(parsed, dict):
        raise bad_request("can't parse JSON object")
    return {key: _as_arg(value) for key, value in parsed.items() if value is not None}


def _as_arg(value: Any) -> str:
    return value if isinstance(value, str) else json_text(value)


def json_text(value: Any) -> str:
    """Compact JSON, non-ASCII kept, as Telegram writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def ok(result: Any, description: str | None = None) -> web.Response:
    """``{"ok": true, "result": ...}``; a few methods add a ``description`` (setWebhook)."""
    payload: dict[str, Any] = {"ok": True, "result": result}
    if description is not None:
        payload["description"] = description
    return json_response(payload)


def json_response(payload: Mapping[str, Any], status: int = 200) -> web.Response:
    return web.Response(status=status, body=json_text(payload).encode(), content_type="application/json")


def error_response(error: ApiError) -> web.Response:
    payload: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
    if error.retry_after is not None:
        payload["parameters"] = {"retry_after": error.retry_after}
    return json_response(payload, status=error.status)
