"""The HTTP side: routes, the faults every request is subject to, and the request log.

``/bot<token>/<method>`` runs a method of :mod:`.methods`, ``/file/bot<token>/<path>`` serves an
uploaded file as Telegram's file server does, and the control endpoint of :mod:`.control`
delivers what the user says. Anything else is Telegram's 404.
"""

from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING

from aiohttp import web

from ..server import latency_middleware
from .control import CONTROL_PATH, control_handler
from .files import MAX_UPLOAD_BYTES
from .methods import METHODS
from .protocol import ApiError, error_response, read_params
from .service import Call, Server

if TYPE_CHECKING:
    from .emulator import TelegramEmulator

_API_PATH = re.compile(r"/bot([^/]*)/([^/]*)")
_FILE_PATH = re.compile(r"/file/bot([^/]*)/(.+)")
_CANONICAL = {name.lower(): name for name in METHODS}
_BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
#: Room for a maximal upload plus the other form fields.
_MAX_BODY = MAX_UPLOAD_BYTES + 1024 * 1024


def make_app(emulator: TelegramEmulator) -> web.Application:
    """An aiohttp application serving ``emulator`` (one per server)."""
    middlewares = [latency_middleware(emulator.latency_ms)] if emulator.latency_ms > 0 else []
    app = web.Application(middlewares=middlewares, client_max_size=_MAX_BODY)
    routes = _Routes(emulator, Server())
    app.router.add_post(CONTROL_PATH, control_handler(emulator))
    app.router.add_route("*", "/{tail:.*}", routes.handle)
    app.on_shutdown.append(routes.server.on_shutdown)
    return app


class _Routes:
    def __init__(self, emulator: TelegramEmulator, server: Server) -> None:
        self.emulator = emulator
        self.server = server

    async def handle(self, request: web.Request) -> web.StreamResponse:
        received = time.monotonic()
        match = _API_PATH.fullmatch(request.path)
        name = match.group(2) if match else ""
        api_method = _CANONICAL.get(name.lower(), name)
        record = self.emulator._record_request
        if "telegram_hang_all" in self.emulator.faults:
            record(api_method, request.method, None, received)
            await self.server.hold(request, math.inf, while_connected=True)
            return web.Response(status=504)
        try:
            response = await self._dispatch(request, match, api_method, received)
        except ApiError as error:
            response = error_response(error)
        except Exception:
            record(api_method, request.method, 500, received)
            raise
        if response is None:  # telegram_hang, released at shutdown: recorded when swallowed
            return web.Response(status=504)
        record(api_method, request.method, response.status, received)
        if "telegram_trickle_all" in self.emulator.faults and isinstance(response, web.Response):
            assert isinstance(response.body, bytes)
            return await self.server.trickle(request, response.body, status=response.status)
        return response

    async def _dispatch(
        self, request: web.Request, match: re.Match[str] | None, api_method: str, received: float
    ) -> web.StreamResponse | None:
        emulator = self.emulator
        if "telegram_down" in emulator.faults:
            return web.Response(status=502, body=_BAD_GATEWAY, content_type="text/html")
        file_match = _FILE_PATH.fullmatch(request.path) if match is None else None
        token = match or file_match
        if token is None:
            raise ApiError(404, "Not Found")
        if token.group(1) != emulator.token or "telegram_token_revoked" in emulator.faults:
            raise ApiError(401, "Unauthorized")
        if file_match is not None:
            return self._download(file_match.group(2))
        handler = METHODS.get(api_method)
        if handler is None:
            raise ApiError(404, "Not Found")
        params = await read_params(request)
        return await handler(Call(emulator, self.server, request, params, received))

    def _download(self, file_path: str) -> web.StreamResponse:
        stored = self.emulator.files.by_path(file_path)
        if stored is None or stored.data is None:
            raise ApiError(404, "Not Found")
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")
