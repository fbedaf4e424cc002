"""What a method handler works with: the request in hand and the server that may hold it.

A held request (a long poll, an injected hang or delay) waits on the server's closing event, so
stopping the server releases it at once instead of leaving a handler behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from .faults import TRICKLE_INTERVAL_S
from .protocol import Params

if TYPE_CHECKING:
    from .emulator import TelegramEmulator

_POLL_S = 0.05


class Server:
    """The serving side of one app: held requests and their release at shutdown."""

    def __init__(self) -> None:
        self._closing = asyncio.Event()
        self._held = 0

    async def on_shutdown(self, app: web.Application) -> None:
        """Release held requests (polls, hang, slow, trickle) so the server stops promptly and cleanly."""
        self._closing.set()
        for _ in range(int(2 / _POLL_S)):
            if not self._held:
                return
            await asyncio.sleep(_POLL_S)

    async def hold(
        self,
        request: web.Request,
        seconds: float,
        *,
        while_connected: bool,
        until: asyncio.Event | None = None,
    ) -> bool:
        """Wait ``seconds``; True when cut short by shutdown, ``until``, or (``while_connected``) the
        client leaving."""
        deadline = time.monotonic() + seconds
        events = [self._closing] if until is None else [self._closing, until]
        waiters = [asyncio.ensure_future(event.wait()) for event in events]
        self._held += 1
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                if while_connected and (request.transport is None or request.transport.is_closing()):
                    return True
                done, _ = await asyncio.wait(
                    waiters, timeout=min(remaining, _POLL_S), return_when=asyncio.FIRST_COMPLETED
                )
                if done:
                    return True
            return False
        finally:
            self._held -= 1
            for waiter in waiters:
                waiter.cancel()

    async def trickle(self, request: web.Request, body: bytes, status: int = 200) -> web.StreamResponse:
        """Send ``body`` one byte every :data:`TRICKLE_INTERVAL_S`, with its full length announced."""
        response = web.StreamResponse(status=status, headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        for index in range(len(body)):
            try:
                await response.write(body[index : index + 1])
            except ConnectionError:
                break
            if index + 1 < len(body) and await self.hold(request, TRICKLE_INTERVAL_S, while_connected=True):
                break
        return response


@dataclass(frozen=True)
class Call:
    """One Bot API call being answered."""

    emulator: TelegramEmulator
    server: Server
    request: web.Request
    params: Params
    received: float
    """``time.monotonic()`` when the request reached the handler."""


Handler = Callable[[Call], Awaitable[web.StreamResponse | None]]
"""A method's implementation; None means the request was swallowed (``telegram_hang``)."""
