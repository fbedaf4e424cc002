"""The Binance Spot emulator: one paper exchange served over HTTP on loopback.

It checks HMAC-SHA256 signatures and the timestamp/recvWindow rule as Binance does, keeps the
per-minute request weight and the order counts, answers with the documented shapes, statuses
and error bodies, and trades a paper account against seeded price paths (``market``,
``matching``). Named faults (``faults.FAULTS``) each break exactly what one readiness check
verifies. Order lists, smart order routing and every fund movement are refused: the paper
exchange trades single spot orders and moves nothing anywhere.

Point python-binance at it by overriding the URL class attributes on a subclass or instance
(see :func:`~readiness.sandbox.binance.protocol.python_binance_urls`).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import time
from collections.abc import Collection, Mapping
from decimal import Decimal
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..server import latency_middleware
from . import faults as fault_names
from .journal import REQUEST_LOG_ENV, RequestRecord, append
from .limits import BAN_SECONDS, STRIKES_BEFORE_BAN, WEIGHT_LIMIT, Weight
from .marketdata import MarketData
from .matching import Engine
from .protocol import (
    Answer,
    BinanceError,
    Call,
    Endpoint,
    Routes,
    decimal_param,
    mandatory,
    random_token,
    signature_payload,
    verify,
)
from .streams import Streams
from .trading import Trading
from .venue import Network, Venue

_KEY_FORMAT = re.compile(r"^[A-Za-z0-9]{64}$")

REFUSED_PATHS = frozenset(
    {
        "/api/v3/order/oco",
        "/api/v3/order/cancelReplace",
        "/api/v3/orderList/oco",
        "/api/v3/orderList/oto",
        "/api/v3/orderList/otoco",
        "/api/v3/sor/order",
    }
)
"""Order kinds the paper exchange does not trade: refused with a Binance error saying so."""

FUND_MOVEMENTS = frozenset(
    {
        "/sapi/v1/capital/withdraw/apply",
        "/sapi/v1/asset/transfer",
        "/sapi/v1/sub-account/universalTransfer",
    }
)
"""Endpoints that move funds off the account: refused as a key without that permission is."""

MATCH_EVERY_S = 0.25
"""How often resting orders are matched against the tape while the server runs."""

_DOWN_PAGE = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
)
_BAD_GATEWAY_PAGE = _DOWN_PAGE.replace("503 Service Temporarily Unavailable", "502 Bad Gateway")
_RELEASE = web.AppKey("release", asyncio.Event)
_MATCHER = web.AppKey("matcher", asyncio.Task[None])


class BinanceEmulator:
    """One emulated Binance Spot account, served by :meth:`make_app`.

    Credentials default to fresh random ones (read them back from ``api_key``/``api_secret``).
    ``network="testnet"`` answers 404 to every ``/sapi`` path, as the real Spot testnet does.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        network: Network = "testnet",
        latency_ms: float = 0,
        faults: Collection[str] = (),
        balances: Mapping[str, str] | None = None,
        journal_tag: str = "",
    ) -> None:
        self.api_key = api_key or random_token()
        self.api_secret = api_secret or random_token()
        self.venue = Venue(network, faults)
        self.latency_ms = latency_ms
        self.journal_tag = journal_tag
        self.requests: list[RequestRecord] = []
        start = balances or {"USDT": "10000", "BTC": "0.5", "ETH": "5", "BNB": "1"}
        self.engine = Engine(self.venue, {asset: Decimal(amount) for asset, amount in start.items()})
        self.trading = Trading(self.venue, self.engine)
        self._weight = Weight()
        self._answered = 0
        self._routes: Routes = MarketData(self.venue).routes() | self.trading.routes()
        self.streams = Streams(self.venue, self.engine, self.trading, self._authenticate, self.record)

    @property
    def network(self) -> Network:
        return self.venue.network

    @property
    def faults(self) -> frozenset[str]:
        return self.venue.faults

    def set_faults(self, faults: Collection[str]) -> None:
        """Replace the active faults; an unknown name is a ValueError listing the valid ones."""
        self.venue.set_faults(faults)

    @property
    def serves_sapi(self) -> bool:
        return self.venue.serves_sapi

    def server_time_ms(self) -> int:
        """The exchange clock in ms, shifted by the clock faults."""
        return self.venue.now_ms()

    def used_weight(self) -> int:
        """The request weight used in the last minute (what the header reports without faults)."""
        return self._weight.used(time.monotonic())

    def add_weight(self, weight: int) -> None:
        """Charge weight as other traffic from the same IP would, e.g. to reach the limit."""
        self._weight.add(time.monotonic(), weight)

    def make_app(self) -> web.Application:
        """An aiohttp application serving this emulator (one per server; state is shared)."""
        middlewares: list[Middleware] = []
        if self.latency_ms > 0:
            middlewares.append(latency_middleware(self.latency_ms))
        app = web.Application(middlewares=middlewares)
        self.streams.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._handle)

        async def match_continuously() -> None:
            while True:
                await asyncio.sleep(MATCH_EVERY_S)
                self.engine.advance()

        async def startup(app: web.Application) -> None:
            app[_RELEASE] = asyncio.Event()
            app[_MATCHER] = asyncio.create_task(match_continuously())

        async def shutdown(app: web.Application) -> None:
            app[_RELEASE].set()
            app[_MATCHER].cancel()

        app.on_startup.append(startup)
        app.on_shutdown.append(shutdown)
        return app

    # -- dispatch ---------------------------------------------------------------------------

    def record(
        self, request: web.Request, status: int | None, *, raw_body: str = "", received: float | None = None
    ) -> None:
        """Keep the request, and append it to the cross-process journal when one is set."""
        entry = RequestRecord(
            request.method,
            request.path,
            request.rel_url.raw_query_string,
            raw_body,
            time.time() if received is None else received,
            status,
            request.headers.get("User-Agent", ""),
            self.journal_tag,
        )
        self.requests.append(entry)
        journal = os.environ.get(REQUEST_LOG_ENV)
        if journal:
            append(journal, entry.journal_line())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_body = (await request.read()).decode("utf-8", errors="replace")
        raw_query = request.rel_url.raw_query_string
        received = time.time()

        def record(status: int | None) -> None:
            self.record(request, status, raw_body=raw_body, received=received)

        if "binance_hang" in self.faults:
            record(None)
            await self._wait_released(request, math.inf)
            return web.Response(status=504)
        response = self._respond(request, raw_query, raw_body)
        record(response.status)
        if "binance_trickle" in self.faults:
            return await self._trickle(request, response)
        return response

    async def _wait_released(self, request: web.Request, seconds: float) -> bool:
        """Sleep up to ``seconds``; False early if the client left or the server stops."""
        release = request.app[_RELEASE]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            transport = request.transport
            if release.is_set() or transport is None or transport.is_closing():
                return False
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return True

    async def _trickle(self, request: web.Request, response: web.Response) -> web.StreamResponse:
        body = response.body if isinstance(response.body, bytes) else b""
        stream = web.StreamResponse(status=response.status, headers=response.headers)
        stream.content_length = len(body)
        await stream.prepare(request)
        for index in range(len(body)):
            if not await self._wait_released(request, fault_names.TRICKLE_INTERVAL_S):
                break
            try:
                await stream.write(body[index : index + 1])
            except (ConnectionError, RuntimeError):
                break
        return stream

    def _respond(self, request: web.Request, raw_query: str, raw_body: str) -> web.Response:
        self._answered += 1
        if "binance_down" in self.faults:
            return web.Response(status=503, text=_DOWN_PAGE, content_type="text/html")
        if "binance_5xx_burst" in self.faults and (self._answered - 1) % fault_names.BURST_EVERY < (
            fault_names.BURST_LENGTH
        ):
            return web.Response(status=502, text=_BAD_GATEWAY_PAGE, content_type="text/html")
        now = time.monotonic()
        try:
            call = self._parse(request, raw_query, raw_body)
            endpoint = self._route(call)
            weight = endpoint.weight(call) if endpoint else 0
            self._admit(now, weight)
            if endpoint is None:
                raise self._unrouted(call)
            if endpoint.signed:
                self._authenticate(call)
            elif endpoint.keyed:
                self._check_key(call)
            answer = endpoint.handler(call)
            if isinstance(answer, Answer):
                status, payload, headers = 200, answer.payload, answer.headers
            else:
                status, payload, headers = 200, answer, {}
        except BinanceError as error:
            status, headers = error.status, error.headers
            payload = {"code": error.code, "msg": error.msg}
        headers["X-MBX-USED-WEIGHT-1M"] = str(self._reported_weight(now))
        return web.json_response(payload, status=status, headers=headers)

    def _parse(self, request: web.Request, raw_query: str, raw_body: str) -> Call:
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        query_names = {name for name, _ in pairs}
        if raw_body and request.method in ("POST", "PUT", "DELETE"):
            pairs += [(n, v) for n, v in parse_qsl(raw_body, keep_blank_values=True) if n not in query_names]
        params: dict[str, str] = {}
        for name, value in pairs:
            if name in params:
                raise BinanceError(400, -1101, "Duplicate values for a parameter detected.")
            params[name] = value
        return Call(request.method, request.path, params, raw_query, raw_body, request.headers)

    def _route(self, call: Call) -> Endpoint | None:
        if call.path.startswith("/sapi/") and not self.venue.serves_sapi:
            return None
        return self._routes.get(call.path, {}).get(call.method)

    def _unrouted(self, call: Call) -> BinanceError:
        if call.path in REFUSED_PATHS:
            return BinanceError(
                400, -1, "The paper exchange trades single spot orders only: no order lists, OCO or SOR."
            )
        if call.path in FUND_MOVEMENTS:
            return BinanceError(401, -1002, "You are not authorized to execute this request.")
        methods = self._routes.get(call.path)
        if methods and not (call.path.startswith("/sapi/") and not self.venue.serves_sapi):
            allow = ", ".join(sorted(methods))
            return BinanceError(405, -1, "Method Not Allowed", {"Allow": allow})
        return BinanceError(404, -1, "Not Found")

    def _admit(self, now: float, weight: int) -> None:
        """Apply the IP limits: fault-forced 429/418, an active ban, then the weight limit."""
        if "binance_banned" in self.faults:
            raise self._ban_error(BAN_SECONDS)
        if "binance_rate_limited" in self.faults:
            raise self._limit_error(30)
        remaining_ban = self._weight.banned_until - now
        if remaining_ban > 0:
            raise self._ban_error(math.ceil(remaining_ban))
        if weight and self._weight.used(now) + weight > WEIGHT_LIMIT:
            with self._weight.lock:
                self._weight.strikes.append(now)
                strikes = len(self._weight.strikes)
            if strikes > STRIKES_BEFORE_BAN:
                self._weight.banned_until = now + BAN_SECONDS
                raise self._ban_error(BAN_SECONDS)
            raise self._limit_error(self._weight.seconds_until_fits(now, weight, WEIGHT_LIMIT))
        if weight:
            self._weight.add(now, weight)

    def _limit_error(self, retry_after: int) -> BinanceError:
        msg = (
            f"Too many requests; current limit of IP(127.0.0.1) request weight per 1 MINUTE "
            f"is {WEIGHT_LIMIT}. Please use WebSocket Streams for live updates to avoid polling "
            "the API."
        )
        return BinanceError(429, -1003, msg, {"Retry-After": str(retry_after)})

    def _ban_error(self, retry_after: int) -> BinanceError:
        until = self.server_time_ms() + retry_after * 1000
        msg = (
            f"Way too many requests; IP(127.0.0.1) banned until {until}. "
            "Please use the websocket for live updates to avoid bans."
        )
        return BinanceError(418, -1003, msg, {"Retry-After": str(retry_after)})

    def _reported_weight(self, now: float) -> int:
        used = self._weight.used(now)
        if "binance_weight_high" in self.faults:
            return min(fault_names.WEIGHT_HIGH_BASE + used, WEIGHT_LIMIT - 1)
        return used

    # -- SIGNED endpoint security -----------------------------------------------------------

    def _check_key(self, call: Call) -> None:
        key = call.headers.get("X-MBX-APIKEY", "")
        if "binance_key_format" in self.faults or not _KEY_FORMAT.match(key):
            raise BinanceError(401, -2014, "API-key format invalid.")
        if key != self.api_key or "binance_key_rejected" in self.faults:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")

    def _authenticate(self, call: Call) -> None:
        """API key, then recvWindow/timestamp, then signature, in Binance's order."""
        key = call.headers.get("X-MBX-APIKEY", "")
        if "binance_key_format" in self.faults or not key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        if key != self.api_key:
            if not _KEY_FORMAT.match(key):
                raise BinanceError(401, -2014, "API-key format invalid.")
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if "binance_key_rejected" in self.faults:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        recv_window = decimal_param(call, "recvWindow", default="5000")
        if recv_window > 60000:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        raw_timestamp = call.params.get("timestamp", "")
        if not raw_timestamp.isdigit():
            raise mandatory("timestamp")
        signature = call.params.get("signature", "")
        if not signature:
            raise mandatory("signature")
        timestamp = int(raw_timestamp)
        server_time = self.server_time_ms()
        if timestamp >= server_time + 1000:
            raise BinanceError(
                400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if server_time - timestamp > recv_window:
            raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        secret = self.api_secret
        if "binance_bad_signature" in self.faults:
            secret = secret[::-1] + "x"
        if not verify(secret, signature_payload(call.raw_query, call.raw_body), signature):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
