"""What the Telegram emulator's tests share: a served emulator and the shape of an error answer."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from readiness.sandbox.telegram import TelegramEmulator

GROUP = -1001234567890


@dataclass(frozen=True)
class Running:
    """A served emulator and its base URL."""

    emulator: TelegramEmulator
    url: str

    def api(self, method: str, token: str | None = None) -> str:
        return f"{self.url}/bot{token or self.emulator.token}/{method}"


StartTelegram = Callable[..., Running]


def assert_error(response: httpx.Response, status: int, description: str) -> dict[str, Any]:
    """A Bot API error answer: the status, JSON, ``ok: false`` and exactly this description."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["ok"] is False
    assert body["error_code"] == status
    assert body["description"] == description
    return body


def png(width: int, height: int) -> bytes:
    """A PNG header (signature and IHDR) of the given size: what sendPhoto reads."""
    chunk = b"IHDR" + struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
