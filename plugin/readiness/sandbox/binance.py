"""A Binance Spot REST emulator faithful enough for the real python-binance client and httpx.

It answers the handful of endpoints the readiness checks use with the documented shapes, HTTP
statuses and error bodies, checks HMAC-SHA256 signatures and the timestamp/recvWindow rule as
Binance does, keeps the per-minute request weight, and refuses every endpoint that could move
funds or place a live order. Named faults (:data:`FAULTS`) each break exactly what one readiness
check verifies, so the harness's own tests can prove every check fails when it should.

Point python-binance at it by overriding the URL class attributes on a subclass or instance:
``API_URL = API_TESTNET_URL = f"{base}/api"`` and ``MARGIN_API_URL = f"{base}/sapi"`` (see
:func:`python_binance_urls`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import os
import re
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.typedefs import Middleware

from readiness.sandbox import market
from readiness.sandbox.server import latency_middleware

__all__ = [
    "FAULTS",
    "REQUEST_LOG_ENV",
    "BinanceEmulator",
    "RequestRecord",
    "python_binance_urls",
    "sign",
    "signature_payload",
    "verify",
]

Network = Literal["testnet", "mainnet"]

#: When set, every emulator appends each request it receives to this file as one JSON line
#: (``method``, ``path``, ``status``, ``user_agent``, ``pid``), across processes: an audit of
#: everything a harness or bot sent, readable after the run.
REQUEST_LOG_ENV = "READINESS_SANDBOX_REQUEST_LOG"

FAULTS: dict[str, str] = {
    "binance_down": "binance.connectivity: every path answers 503 with a load balancer's page",
    "binance_clock_skew": "binance.clock_skew: server clock 3,000 ms ahead; signed calls pass",
    "binance_clock_behind": "binance.api_key_valid: server clock 10 s behind; signed calls -1021",
    "binance_key_rejected": "binance.api_key_valid: signed endpoints answer -2015",
    "binance_bad_signature": "binance.api_key_valid: server holds another secret, answers -1022",
    "binance_key_format": "binance.api_key_valid: signed endpoints answer -2014",
    "binance_cannot_trade": "binance.can_trade: account canTrade false, permissions lack SPOT",
    "binance_withdrawals_enabled": "binance.withdrawals_disabled: key may withdraw",
    "binance_ip_unrestricted": "binance.ip_restricted: apiRestrictions ipRestrict false",
    "binance_maintenance": "binance.system_status: /sapi/v1/system/status reports maintenance",
    "binance_low_balance": "binance.balance_sufficient: USDT free balance is 10",
    "binance_symbol_halted": "binance.symbol_tradable: BTCUSDT status BREAK, spot trading off",
    "binance_order_rejected": (
        "binance.order_validation: order/test enforces NOTIONAL minNotional 1,000,000 "
        "while exchangeInfo still advertises 5"
    ),
    "binance_filter_mismatch": (
        "integration.filters_agree: order/test enforces a LOT_SIZE step 10x coarser than advertised"
    ),
    "binance_weight_high": "binance.rate_limit_headroom: X-MBX-USED-WEIGHT-1M reports 5,900+",
    "binance_rate_limited": "binance.connectivity: every request gets 429, Retry-After 30",
    "binance_banned": "binance.connectivity: every request gets 418 (IP banned), Retry-After 120",
    "binance_mainnet_flavor": (
        "binance.endpoint_matches_target: a testnet emulator that serves /sapi like mainnet"
    ),
    "binance_hang": "binance.connectivity: accepts the connection and never answers",
    "binance_trickle": "binance.connectivity: answers one byte every 0.5 s",
}

WEIGHT_LIMIT = 6000
"""REQUEST_WEIGHT per minute, as advertised in exchangeInfo ``rateLimits``."""

STRIKES_BEFORE_BAN = 4
"""Requests rejected with 429 within a minute before the next one earns a 418 ban."""

BAN_SECONDS = 120
"""The shortest documented automated IP ban (bans scale from 2 minutes to 3 days)."""

SKEW_AHEAD_MS = 3000
BEHIND_MS = -10_000
WEIGHT_HIGH_BASE = 5900
TRICKLE_INTERVAL_S = 0.5

REFUSED_PATHS = frozenset(
    {
        "/api/v3/order",
        "/api/v3/order/oco",
        "/api/v3/order/cancelReplace",
        "/api/v3/orderList/oco",
        "/api/v3/orderList/oto",
        "/api/v3/orderList/otoco",
        "/api/v3/sor/order",
        "/api/v3/openOrders",
        "/sapi/v1/capital/withdraw/apply",
        "/sapi/v1/asset/transfer",
        "/sapi/v1/sub-account/universalTransfer",
    }
)
"""Endpoints that place orders or move funds: always refused (403), and logged, never served."""

_NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_KEY_FORMAT = re.compile(r"^[A-Za-z0-9]{64}$")
_ORDER_TYPES = (
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
)
_TIME_IN_FORCE = ("GTC", "IOC", "FOK")
_DOWN_PAGE = (
    "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    "<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
)


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` keyed with ``secret``: Binance's SIGNED-endpoint rule."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, payload: str, signature: str) -> bool:
    """Whether ``signature`` (case-insensitive hex, as Binance accepts) signs ``payload``."""
    return hmac.compare_digest(sign(secret, payload), signature.lower())


def signature_payload(raw_query: str, raw_body: str) -> str:
    """``totalParams``: the query string concatenated with the body, ``signature`` removed.

    Binance signs the bytes as sent, so both parts stay percent-encoded and in their order.
    """

    def strip(part: str) -> str:
        return "&".join(p for p in part.split("&") if p and not p.startswith("signature="))

    return strip(raw_query) + strip(raw_body)


def python_binance_urls(base_url: str) -> dict[str, str]:
    """The python-binance ``BaseClient`` URL attributes that route a client to ``base_url``."""
    base = base_url.rstrip("/")
    return {
        "API_URL": f"{base}/api",
        "API_TESTNET_URL": f"{base}/api",
        "MARGIN_API_URL": f"{base}/sapi",
    }


def _random_token(length: int = 64) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _fmt(value: Decimal | str) -> str:
    return f"{Decimal(value):.8f}"


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it; ``status`` is None when it never answered."""

    method: str
    path: str
    query: str
    body: str
    time: float
    status: int | None
    user_agent: str = ""

    def journal_line(self) -> bytes:
        """The record as one line of the :data:`REQUEST_LOG_ENV` journal (query and body left out)."""
        entry = {
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "time": self.time,
            "user_agent": self.user_agent,
            "pid": os.getpid(),
        }
        return json.dumps(entry).encode() + b"\n"


class BinanceError(Exception):
    """A documented Binance error: HTTP status plus the ``{"code", "msg"}`` body."""

    def __init__(self, status: int, code: int, msg: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = dict(headers or {})


def _append(path: str, line: bytes) -> None:
    """One ``O_APPEND`` write per line, so emulators in several processes can share one journal."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _mandatory(name: str) -> BinanceError:
    return BinanceError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def _filter_failure(name: str) -> BinanceError:
    return BinanceError(400, -1013, f"Filter failure: {name}")


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    params: dict[str, str]
    raw_query: str
    raw_body: str
    headers: Mapping[str, str]


Payload = dict[str, Any] | list[Any]
_Handler = Callable[[_Call], Payload]


@dataclass(frozen=True)
class _Endpoint:
    handler: _Handler
    weight: Callable[[_Call], int]
    signed: bool = False
    #: MARKET_DATA security: the API key header is required, no signature.
    keyed: bool = False


@dataclass
class _Symbol:
    symbol: str
    base: str
    quote: str
    start_price: Decimal
    tick_size: str
    step_size: str
    market_max_qty: str
    min_notional: str = "5"
    status: str = "TRADING"
    spot_allowed: bool = True
    path: market.PricePath = field(init=False)

    def __post_init__(self) -> None:
        self.path = market.PricePath(
            self.symbol, self.start_price, Decimal(self.tick_size), Decimal(self.step_size)
        )


def _symbols() -> dict[str, _Symbol]:
    return {
        s.symbol: s
        for s in (
            _Symbol("BTCUSDT", "BTC", "USDT", Decimal("50000.00"), "0.01", "0.00001", "100"),
            _Symbol("ETHUSDT", "ETH", "USDT", Decimal("2500.00"), "0.01", "0.0001", "1000"),
            _Symbol("BNBUSDT", "BNB", "USDT", Decimal("600.00"), "0.01", "0.001", "5000"),
            _Symbol("ETHBTC", "ETH", "BTC", Decimal("0.05000"), "0.00001", "0.0001", "1000", "0.0001"),
        )
    }


def _depth_weight(call: _Call) -> int:
    limit = int(call.params.get("limit", "100") or 100) if call.params.get("limit", "").isdigit() else 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


_RELEASE = web.AppKey("release", asyncio.Event)


@dataclass
class _Weight:
    """Rolling per-minute request weight for the one IP every loopback client shares."""

    window_s: float = 60.0
    entries: deque[tuple[float, int]] = field(default_factory=deque)
    strikes: deque[float] = field(default_factory=deque)
    banned_until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _prune(self, now: float) -> None:
        while self.entries and now - self.entries[0][0] >= self.window_s:
            self.entries.popleft()
        while self.strikes and now - self.strikes[0] >= self.window_s:
            self.strikes.popleft()

    def used(self, now: float) -> int:
        with self.lock:
            self._prune(now)
            return sum(w for _, w in self.entries)

    def add(self, now: float, weight: int) -> None:
        with self.lock:
            self.entries.append((now, weight))

    def seconds_until_fits(self, now: float, weight: int, limit: int) -> int:
        with self.lock:
            self._prune(now)
            excess = sum(w for _, w in self.entries) + weight - limit
            for stamp, w in self.entries:
                excess -= w
                if excess <= 0:
                    return max(1, math.ceil(stamp + self.window_s - now))
            return max(1, math.ceil(self.window_s))


class BinanceEmulator:
    """State and handlers of one emulated Binance Spot account, served by :meth:`make_app`.

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
    ) -> None:
        if network not in ("testnet", "mainnet"):
            raise ValueError(f"network must be 'testnet' or 'mainnet', not {network!r}")
        self.api_key = api_key or _random_token()
        self.api_secret = api_secret or _random_token()
        self.network: Network = network
        self.latency_ms = latency_ms
        self.faults: frozenset[str] = frozenset()
        self.set_faults(faults)
        self.requests: list[RequestRecord] = []
        self.uid = 354937868
        self.key_created_ms = 1_700_000_000_000
        self._balances: dict[str, Decimal] = {
            asset: Decimal(amount)
            for asset, amount in (balances or {"USDT": "10000", "BTC": "0.5", "ETH": "5", "BNB": "1"}).items()
        }
        self._symbols = _symbols()
        self._weight = _Weight()
        self._routes: dict[str, dict[str, _Endpoint]] = {
            "/api/v3/ping": {"GET": _Endpoint(self._ping, lambda c: 1)},
            "/api/v3/time": {"GET": _Endpoint(self._time, lambda c: 1)},
            "/api/v3/exchangeInfo": {"GET": _Endpoint(self._exchange_info, lambda c: 20)},
            "/api/v3/ticker/price": {
                "GET": _Endpoint(self._ticker_price, lambda c: 2 if "symbol" in c.params else 4)
            },
            "/api/v3/klines": {"GET": _Endpoint(self._klines, lambda c: 2)},
            "/api/v3/uiKlines": {"GET": _Endpoint(self._klines, lambda c: 2)},
            "/api/v3/depth": {"GET": _Endpoint(self._depth, _depth_weight)},
            "/api/v3/trades": {"GET": _Endpoint(self._trades, lambda c: 25)},
            "/api/v3/historicalTrades": {"GET": _Endpoint(self._historical_trades, lambda c: 25, keyed=True)},
            "/api/v3/aggTrades": {"GET": _Endpoint(self._agg_trades, lambda c: 4)},
            "/api/v3/avgPrice": {"GET": _Endpoint(self._avg_price, lambda c: 2)},
            "/api/v3/ticker/24hr": {"GET": _Endpoint(self._ticker_24hr, self._per_symbol_weight(2, 80))},
            "/api/v3/ticker/bookTicker": {
                "GET": _Endpoint(self._book_ticker, lambda c: 2 if "symbol" in c.params else 4)
            },
            "/api/v3/ticker": {"GET": _Endpoint(self._rolling_ticker, self._per_symbol_weight(4, 200))},
            "/api/v3/account": {"GET": _Endpoint(self._account, lambda c: 20, signed=True)},
            "/api/v3/order/test": {
                "POST": _Endpoint(
                    self._order_test,
                    lambda c: 20 if c.params.get("computeCommissionRates") == "true" else 1,
                    signed=True,
                )
            },
            "/sapi/v1/account/apiRestrictions": {
                "GET": _Endpoint(self._api_restrictions, lambda c: 1, signed=True)
            },
            "/sapi/v1/system/status": {"GET": _Endpoint(self._system_status, lambda c: 1)},
            # what ccxt's default load_markets reads besides exchangeInfo
            "/sapi/v1/capital/config/getall": {"GET": _Endpoint(self._coins, lambda c: 10, signed=True)},
            "/sapi/v1/margin/allPairs": {"GET": _Endpoint(self._margin_pairs, lambda c: 1, keyed=True)},
            "/sapi/v1/margin/isolated/allPairs": {
                "GET": _Endpoint(self._margin_pairs, lambda c: 10, signed=True)
            },
            "/fapi/v1/exchangeInfo": {"GET": _Endpoint(self._no_futures, lambda c: 1)},
            "/dapi/v1/exchangeInfo": {"GET": _Endpoint(self._no_futures, lambda c: 1)},
        }

    def set_faults(self, faults: Collection[str]) -> None:
        """Replace the active faults; an unknown name is a ValueError listing the valid ones."""
        unknown = sorted(set(faults) - FAULTS.keys())
        if unknown:
            raise ValueError(
                f"unknown Binance sandbox fault(s): {', '.join(unknown)}; "
                f"valid faults: {', '.join(sorted(FAULTS))}"
            )
        self.faults = frozenset(faults)

    @property
    def serves_sapi(self) -> bool:
        """Whether ``/sapi`` exists here: mainnet, or a testnet wearing mainnet's flavour."""
        return self.network == "mainnet" or "binance_mainnet_flavor" in self.faults

    def server_time_ms(self) -> int:
        """The exchange clock in ms, shifted by the clock faults."""
        offset = 0
        if "binance_clock_skew" in self.faults:
            offset = SKEW_AHEAD_MS
        if "binance_clock_behind" in self.faults:
            offset = BEHIND_MS
        return int(time.time() * 1000) + offset

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
        app.router.add_route("*", "/{tail:.*}", self._handle)

        async def startup(app: web.Application) -> None:
            app[_RELEASE] = asyncio.Event()

        async def shutdown(app: web.Application) -> None:
            app[_RELEASE].set()

        app.on_startup.append(startup)
        app.on_shutdown.append(shutdown)
        return app

    # -- dispatch ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_body = (await request.read()).decode("utf-8", errors="replace")
        raw_query = request.rel_url.raw_query_string
        received = time.time()

        def record(status: int | None) -> None:
            entry = RequestRecord(
                request.method,
                request.path,
                raw_query,
                raw_body,
                received,
                status,
                request.headers.get("User-Agent", ""),
            )
            self.requests.append(entry)
            journal = os.environ.get(REQUEST_LOG_ENV)
            if journal:
                _append(journal, entry.journal_line())

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
            if not await self._wait_released(request, TRICKLE_INTERVAL_S):
                break
            try:
                await stream.write(body[index : index + 1])
            except (ConnectionError, RuntimeError):
                break
        return stream

    def _respond(self, request: web.Request, raw_query: str, raw_body: str) -> web.Response:
        if "binance_down" in self.faults:
            return web.Response(status=503, text=_DOWN_PAGE, content_type="text/html")
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
            status, payload, headers = 200, endpoint.handler(call), {}
        except BinanceError as error:
            status, headers = error.status, error.headers
            payload = {"code": error.code, "msg": error.msg}
        headers["X-MBX-USED-WEIGHT-1M"] = str(self._reported_weight(now))
        return web.json_response(payload, status=status, headers=headers)

    def _parse(self, request: web.Request, raw_query: str, raw_body: str) -> _Call:
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        query_names = {name for name, _ in pairs}
        if raw_body and request.method in ("POST", "PUT", "DELETE"):
            pairs += [(n, v) for n, v in parse_qsl(raw_body, keep_blank_values=True) if n not in query_names]
        params: dict[str, str] = {}
        for name, value in pairs:
            if name in params:
                raise BinanceError(400, -1101, "Duplicate values for a parameter detected.")
            params[name] = value
        return _Call(request.method, request.path, params, raw_query, raw_body, request.headers)

    def _route(self, call: _Call) -> _Endpoint | None:
        if call.path.startswith("/sapi/") and not self.serves_sapi:
            return None
        return self._routes.get(call.path, {}).get(call.method)

    def _unrouted(self, call: _Call) -> BinanceError:
        if call.path in REFUSED_PATHS:
            return BinanceError(403, -1, "The sandbox refuses live orders and fund movements.")
        methods = self._routes.get(call.path)
        if methods and not (call.path.startswith("/sapi/") and not self.serves_sapi):
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
            return min(WEIGHT_HIGH_BASE + used, WEIGHT_LIMIT - 1)
        return used

    # -- SIGNED endpoint security -----------------------------------------------------------

    def _check_key(self, call: _Call) -> None:
        key = call.headers.get("X-MBX-APIKEY", "")
        if "binance_key_format" in self.faults or not _KEY_FORMAT.match(key):
            raise BinanceError(401, -2014, "API-key format invalid.")
        if key != self.api_key or "binance_key_rejected" in self.faults:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")

    def _authenticate(self, call: _Call) -> None:
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
        recv_window = self._decimal_param(call, "recvWindow", default="5000")
        if recv_window > 60000:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        raw_timestamp = call.params.get("timestamp", "")
        if not raw_timestamp.isdigit():
            raise _mandatory("timestamp")
        signature = call.params.get("signature", "")
        if not signature:
            raise _mandatory("signature")
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

    @staticmethod
    def _decimal_param(call: _Call, name: str, default: str | None = None) -> Decimal:
        raw = call.params.get(name, default)
        if raw is None or raw == "":
            raise _mandatory(name)
        if not _NUMBER.match(raw):
            raise BinanceError(
                400,
                -1100,
                f"Illegal characters found in parameter '{name}'; "
                "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
            )
        return Decimal(raw)

    # -- public endpoints -------------------------------------------------------------------

    def _ping(self, call: _Call) -> Payload:
        return {}

    def _time(self, call: _Call) -> Payload:
        return {"serverTime": self.server_time_ms()}

    def _lookup(self, name: str) -> _Symbol:
        symbol = self._symbols.get(name)
        if symbol is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return symbol

    def _requested_symbols(self, call: _Call) -> list[_Symbol]:
        if "symbol" in call.params and "symbols" in call.params:
            raise BinanceError(400, -1128, "Combination of optional parameters invalid.")
        if "symbol" in call.params:
            return [self._lookup(call.params["symbol"])]
        if "symbols" in call.params:
            try:
                names = json.loads(call.params["symbols"])
            except ValueError:
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'.") from None
            if not isinstance(names, list) or not names:
                raise _mandatory("symbols")
            return [self._lookup(str(name)) for name in names]
        return list(self._symbols.values())

    def _exchange_info(self, call: _Call) -> Payload:
        return {
            "timezone": "UTC",
            "serverTime": self.server_time_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": WEIGHT_LIMIT,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(s) for s in self._requested_symbols(call)],
        }

    def _symbol_status(self, symbol: _Symbol) -> tuple[str, bool]:
        if symbol.symbol == "BTCUSDT" and "binance_symbol_halted" in self.faults:
            return "BREAK", False
        return symbol.status, symbol.spot_allowed

    def _symbol_info(self, symbol: _Symbol) -> dict[str, Any]:
        status, spot_allowed = self._symbol_status(symbol)
        return {
            "symbol": symbol.symbol,
            "status": status,
            "baseAsset": symbol.base,
            "baseAssetPrecision": 8,
            "quoteAsset": symbol.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": list(_ORDER_TYPES),
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "amendAllowed": True,
            "isSpotTradingAllowed": spot_allowed,
            "isMarginTradingAllowed": self.network == "mainnet",
            "filters": self._advertised_filters(symbol),
            "permissions": [],
            "permissionSets": [["SPOT", "MARGIN"] if self.network == "mainnet" else ["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": [
                "EXPIRE_TAKER",
                "EXPIRE_MAKER",
                "EXPIRE_BOTH",
                "DECREMENT",
            ],
        }

    @staticmethod
    def _advertised_filters(symbol: _Symbol) -> list[dict[str, Any]]:
        return [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": _fmt(symbol.tick_size),
                "maxPrice": _fmt("1000000"),
                "tickSize": _fmt(symbol.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": _fmt(symbol.step_size),
                "maxQty": _fmt("9000"),
                "stepSize": _fmt(symbol.step_size),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MIN_NOTIONAL",
                "minNotional": _fmt(symbol.min_notional),
                "applyToMarket": True,
                "avgPriceMins": 5,
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": _fmt(symbol.min_notional),
                "applyMinToMarket": True,
                "maxNotional": _fmt("9000000"),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": _fmt("0"),
                "maxQty": _fmt(symbol.market_max_qty),
                "stepSize": _fmt("0"),
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ]

    def _enforced_filters(self, symbol: _Symbol) -> dict[str, dict[str, Any]]:
        """What order/test checks: the advertised filters, unless a fault makes them differ."""
        filters = {f["filterType"]: dict(f) for f in self._advertised_filters(symbol)}
        if "binance_order_rejected" in self.faults:
            filters["NOTIONAL"]["minNotional"] = _fmt("1000000")
        if "binance_filter_mismatch" in self.faults:
            coarse = _fmt(Decimal(symbol.step_size) * 10)
            filters["LOT_SIZE"]["stepSize"] = coarse
            filters["LOT_SIZE"]["minQty"] = coarse
        return filters

    def _ticker_price(self, call: _Call) -> Payload:
        symbols = self._requested_symbols(call)
        now = self.server_time_ms()
        prices = [{"symbol": s.symbol, "price": _fmt(s.path.price(now))} for s in symbols]
        return prices[0] if "symbol" in call.params else prices

    # -- market data: every view read off the symbol's price path (sandbox/market.py) -------------

    def _per_symbol_weight(self, each: int, most: int) -> Callable[[_Call], int]:
        def weight(call: _Call) -> int:
            if "symbol" in call.params:
                return each
            if "symbols" in call.params:
                return min(most, each * max(1, call.params["symbols"].count(",") + 1))
            return most

        return weight

    def _one_symbol(self, call: _Call) -> _Symbol:
        if not call.params.get("symbol"):
            raise _mandatory("symbol")
        return self._lookup(call.params["symbol"])

    @staticmethod
    def _int_param(call: _Call, name: str, default: int | None = None, most: int | None = None) -> int | None:
        raw = call.params.get(name)
        if raw is None or raw == "":
            return default
        if not raw.lstrip("-").isdigit():
            raise BinanceError(
                400,
                -1100,
                f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
            )
        value = int(raw)
        if value < 0 or (most is not None and value > most) or (name == "limit" and value == 0):
            raise BinanceError(400, -1130, f"Data sent for parameter '{name}' is not valid.")
        return value

    def _klines(self, call: _Call) -> Payload:
        symbol = self._one_symbol(call)
        interval = call.params.get("interval", "")
        if not interval:
            raise _mandatory("interval")
        if interval not in market.INTERVALS_MS:
            raise BinanceError(400, -1120, "Invalid interval.")
        limit = self._int_param(call, "limit", 500, 1000) or 500
        start, end = self._int_param(call, "startTime"), self._int_param(call, "endTime")
        if start is not None and end is not None and start > end:
            raise BinanceError(400, -1127, "More than 200 hours between startTime and endTime.")
        return market.klines(symbol.path, interval, self.server_time_ms(), limit, start, end)

    def _depth(self, call: _Call) -> Payload:
        symbol = self._one_symbol(call)
        limit = self._int_param(call, "limit", 100) or 100
        return market.depth(symbol.path, self.server_time_ms(), min(limit, 5000))

    def _trades(self, call: _Call) -> Payload:
        symbol = self._one_symbol(call)
        limit = self._int_param(call, "limit", 500, 1000) or 500
        return [market.trade_row(t) for t in symbol.path.trades_until(self.server_time_ms(), limit)]

    def _historical_trades(self, call: _Call) -> Payload:
        symbol = self._one_symbol(call)
        limit = self._int_param(call, "limit", 500, 1000) or 500
        now = self.server_time_ms()
        from_id = self._int_param(call, "fromId")
        if from_id is None:
            trades = symbol.path.trades_until(now, limit)
        else:
            trades = symbol.path.trades_from(from_id, limit, now)
        return [market.trade_row(t) for t in trades]

    def _agg_trades(self, call: _Call) -> Payload:
        symbol = self._one_symbol(call)
        limit = self._int_param(call, "limit", 500, 1000) or 500
        now = self.server_time_ms()
        start, end = self._int_param(call, "startTime"), self._int_param(call, "endTime")
        from_id = self._int_param(call, "fromId")
        if start is not None and end is not None and end - start > 3_600_000:
            raise BinanceError(400, -1127, "More than 1 hours between startTime and endTime.")
        if from_id is not None:
            trades = symbol.path.trades_from(from_id, limit, now)
        elif start is not None:
            trades = symbol.path.trades_between(start, min(end if end is not None else now, now), limit)
        else:
            trades = symbol.path.trades_until(min(end if end is not None else now, now), limit)
        return [market.agg_trade_row(t) for t in trades]

    def _avg_price(self, call: _Call) -> Payload:
        return market.avg_price(self._one_symbol(call).path, self.server_time_ms())

    def _ticker_type(self, call: _Call) -> bool:
        kind = call.params.get("type", "FULL")
        if kind not in ("FULL", "MINI"):
            raise BinanceError(400, -1139, "Invalid ticker type.")
        return kind == "FULL"

    def _ticker_24hr(self, call: _Call) -> Payload:
        full, now = self._ticker_type(call), self.server_time_ms()
        rows = [
            market.window_ticker(s.path, now, 86_400_000, full=full, rolling=False)
            for s in self._requested_symbols(call)
        ]
        return rows[0] if "symbol" in call.params else rows

    def _rolling_ticker(self, call: _Call) -> Payload:
        if "symbol" not in call.params and "symbols" not in call.params:
            raise BinanceError(
                400, -1102, "Parameter 'symbol' or 'symbols' must be sent, but both were empty/null!"
            )
        window = market.window_ms(call.params.get("windowSize", "1d"))
        if window is None:
            raise BinanceError(400, -1100, "Illegal characters found in parameter 'windowSize'.")
        full, now = self._ticker_type(call), self.server_time_ms()
        rows = [
            market.window_ticker(s.path, now, window, full=full, rolling=True)
            for s in self._requested_symbols(call)
        ]
        return rows[0] if "symbol" in call.params else rows

    def _book_ticker(self, call: _Call) -> Payload:
        now = self.server_time_ms()
        rows = [market.book_ticker(s.path, now) for s in self._requested_symbols(call)]
        return rows[0] if "symbol" in call.params else rows

    # -- what a client's market loading reads besides exchangeInfo ------------------------------

    def _coins(self, call: _Call) -> Payload:
        """The wallet's coin list (``capital/config/getall``); withdrawals shown as the key allows."""
        assets = sorted({a for s in self._symbols.values() for a in (s.base, s.quote)} | set(self._balances))
        withdraw = "binance_withdrawals_enabled" in self.faults
        return [
            {
                "coin": asset,
                "name": asset,
                "depositAllEnable": True,
                "withdrawAllEnable": withdraw,
                "free": _fmt(self._balances.get(asset, Decimal(0))),
                "locked": _fmt("0"),
                "freeze": _fmt("0"),
                "withdrawing": _fmt("0"),
                "ipoing": _fmt("0"),
                "ipoable": _fmt("0"),
                "storage": _fmt("0"),
                "isLegalMoney": False,
                "trading": True,
                "networkList": [
                    {
                        "network": "BSC",
                        "coin": asset,
                        "name": "BNB Smart Chain (BEP20)",
                        "isDefault": True,
                        "depositEnable": True,
                        "withdrawEnable": withdraw,
                        "withdrawFee": _fmt("0.0001"),
                        "withdrawMin": _fmt("0.001"),
                        "withdrawMax": _fmt("10000"),
                        "withdrawIntegerMultiple": _fmt("0.00000001"),
                        "minConfirm": 15,
                        "unLockConfirm": 0,
                        "depositDesc": "",
                        "withdrawDesc": "",
                        "specialTips": "",
                        "busy": False,
                        "sameAddress": False,
                    }
                ],
            }
            for asset in assets
        ]

    def _margin_pairs(self, call: _Call) -> Payload:
        return [
            {
                "id": index,
                "symbol": s.symbol,
                "base": s.base,
                "quote": s.quote,
                "isMarginTrade": True,
                "isBuyAllowed": True,
                "isSellAllowed": True,
            }
            for index, s in enumerate(self._symbols.values(), start=1)
        ]

    def _no_futures(self, call: _Call) -> Payload:
        """The paper exchange trades spot only: futures markets exist, with no symbol."""
        return {
            "timezone": "UTC",
            "serverTime": self.server_time_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "assets": [],
            "symbols": [],
        }

    def _system_status(self, call: _Call) -> Payload:
        if "binance_maintenance" in self.faults:
            return {"status": 1, "msg": "system_maintenance"}
        return {"status": 0, "msg": "normal"}

    # -- SIGNED endpoints -------------------------------------------------------------------

    def _account(self, call: _Call) -> Payload:
        cannot_trade = "binance_cannot_trade" in self.faults
        balances = dict(self._balances)
        if "binance_low_balance" in self.faults:
            balances["USDT"] = Decimal("10")
        rows = [
            {"asset": asset, "free": _fmt(amount), "locked": _fmt("0")} for asset, amount in balances.items()
        ]
        if call.params.get("omitZeroBalances") == "true":
            rows = [row for row in rows if Decimal(row["free"]) or Decimal(row["locked"])]
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": _fmt("0.001"),
                "taker": _fmt("0.001"),
                "buyer": _fmt("0"),
                "seller": _fmt("0"),
            },
            "canTrade": not cannot_trade,
            "canWithdraw": "binance_withdrawals_enabled" in self.faults,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.server_time_ms() - 60_000,
            "accountType": "SPOT",
            "balances": rows,
            "permissions": ["MARGIN"] if cannot_trade else ["SPOT"],
            "uid": self.uid,
        }

    def _api_restrictions(self, call: _Call) -> Payload:
        return {
            "ipRestrict": "binance_ip_unrestricted" not in self.faults,
            "createTime": self.key_created_ms,
            "enableReading": True,
            "enableSpotAndMarginTrading": "binance_cannot_trade" not in self.faults,
            "enableWithdrawals": "binance_withdrawals_enabled" in self.faults,
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": False,
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enablePortfolioMarginTrading": False,
            "enableFixApiTrade": False,
            "enableFixReadOnly": False,
        }

    def _order_test(self, call: _Call) -> Payload:
        """Validate like the matching engine's front door; never touches balances (as real)."""
        params = call.params
        for name in ("symbol", "side", "type"):
            if not params.get(name):
                raise _mandatory(name)
        symbol = self._lookup(params["symbol"])
        if params["side"] not in ("BUY", "SELL"):
            raise BinanceError(400, -1117, "Invalid side.")
        order_type = params["type"]
        if order_type not in _ORDER_TYPES:
            raise BinanceError(400, -1116, "Invalid orderType.")
        self._check_mandatory(params, order_type)
        status, spot_allowed = self._symbol_status(symbol)
        if status != "TRADING" or not spot_allowed:
            raise BinanceError(400, -2010, "Market is closed.")
        if "binance_cannot_trade" in self.faults:
            raise BinanceError(400, -2010, "This account may not place or cancel orders.")
        self._check_filters(call, symbol, order_type)
        if params.get("computeCommissionRates") == "true":
            return {
                "standardCommissionForOrder": {"maker": _fmt("0.001"), "taker": _fmt("0.001")},
                "specialCommissionForOrder": {"maker": _fmt("0"), "taker": _fmt("0")},
                "taxCommissionForOrder": {"maker": _fmt("0"), "taker": _fmt("0")},
                "discount": {
                    "enabledForAccount": True,
                    "enabledForSymbol": True,
                    "discountAsset": "BNB",
                    "discount": _fmt("0.25"),
                },
            }
        return {}

    @staticmethod
    def _check_mandatory(params: Mapping[str, str], order_type: str) -> None:
        needs_tif = order_type in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
        if needs_tif and not params.get("timeInForce"):
            raise _mandatory("timeInForce")
        if not needs_tif and "timeInForce" in params:
            raise BinanceError(400, -1106, "Parameter 'timeInForce' sent when not required.")
        if needs_tif and params["timeInForce"] not in _TIME_IN_FORCE:
            raise BinanceError(400, -1115, "Invalid timeInForce.")
        if order_type == "MARKET":
            has_qty, has_quote = bool(params.get("quantity")), bool(params.get("quoteOrderQty"))
            if not has_qty and not has_quote:
                raise BinanceError(
                    400,
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
            if has_qty and has_quote:
                raise BinanceError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.")
            return
        if not params.get("quantity"):
            raise _mandatory("quantity")
        if order_type not in ("STOP_LOSS", "TAKE_PROFIT") and not params.get("price"):
            raise _mandatory("price")
        if order_type not in ("LIMIT", "LIMIT_MAKER") and not (
            params.get("stopPrice") or params.get("trailingDelta")
        ):
            raise BinanceError(
                400,
                -1102,
                "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!",
            )

    def _check_filters(self, call: _Call, symbol: _Symbol, order_type: str) -> None:
        """PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL, NOTIONAL, in that order."""
        filters = self._enforced_filters(symbol)
        market = order_type in ("MARKET", "STOP_LOSS", "TAKE_PROFIT")
        prices = [self._decimal_param(call, name) for name in ("price", "stopPrice") if call.params.get(name)]
        price_filter = filters["PRICE_FILTER"]
        for price in prices:
            if not _within(
                price, price_filter["minPrice"], price_filter["maxPrice"], price_filter["tickSize"]
            ):
                raise _filter_failure("PRICE_FILTER")
        quantity: Decimal | None = None
        if call.params.get("quantity"):
            quantity = self._decimal_param(call, "quantity")
            lot = filters["LOT_SIZE"]
            if not _within(quantity, lot["minQty"], lot["maxQty"], lot["stepSize"]):
                raise _filter_failure("LOT_SIZE")
            market_lot = filters["MARKET_LOT_SIZE"]
            if market and not _within(
                quantity, market_lot["minQty"], market_lot["maxQty"], market_lot["stepSize"]
            ):
                raise _filter_failure("MARKET_LOT_SIZE")
        if quantity is None:
            notional = self._decimal_param(call, "quoteOrderQty")
        elif market:
            notional = quantity * symbol.path.price(self.server_time_ms())
        else:
            notional = quantity * self._decimal_param(call, "price")
        min_notional = filters["MIN_NOTIONAL"]
        if (not market or min_notional["applyToMarket"]) and notional < Decimal(min_notional["minNotional"]):
            raise _filter_failure("MIN_NOTIONAL")
        notional_filter = filters["NOTIONAL"]
        if (not market or notional_filter["applyMinToMarket"]) and notional < Decimal(
            notional_filter["minNotional"]
        ):
            raise _filter_failure("NOTIONAL")
        if (not market or notional_filter["applyMaxToMarket"]) and notional > Decimal(
            notional_filter["maxNotional"]
        ):
            raise _filter_failure("NOTIONAL")


def _within(value: Decimal, minimum: str, maximum: str, step: str) -> bool:
    """Binance's range-and-step rule; a zero bound or step disables that part of the rule."""
    low, high, increment = Decimal(minimum), Decimal(maximum), Decimal(step)
    if low and value < low:
        return False
    if high and value > high:
        return False
    try:
        return not increment or (value - low) % increment == 0
    except InvalidOperation:
        return False
