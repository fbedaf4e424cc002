"""Run an aiohttp application on loopback in a background thread owned by the caller.

The emulators live in the pytest process (no child to leak) but on their own event loop, so a
check that blocks its own loop, or the synchronous python-binance client, never stalls them.
"""

from __future__ import annotations

import asyncio
import socket
import threading

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware


def latency_middleware(latency_ms: float) -> Middleware:
    """Delay every response by ``latency_ms``, as a distant server would."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if latency_ms > 0:
            await asyncio.sleep(latency_ms / 1000)
        return await handler(request)

    return middleware


class BackgroundServer:
    """Serve ``app`` on ``127.0.0.1`` (a free port unless given) until :meth:`stop`."""

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="readiness-emulator", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Start serving and return the base URL (``http://127.0.0.1:PORT``)."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self.url

    async def _start(self) -> None:
        # At stop the run is over: cut in-flight requests (e.g. sleeping out injected latency) short.
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=0.05)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    def stop(self) -> None:
        """Stop serving, cancel in-flight requests and join the thread."""
        if self._runner is not None:
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            future.result(timeout=10)
            self._runner = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
