"""Binance probes: the real python-binance ``AsyncClient``, behind one allow-list.

Every probe builds its own :class:`GuardedClient` (python-binance's ``AsyncClient`` with every URL
attribute pointed at ``settings.binance_api_url``, so ``/api`` and ``/sapi`` both go where the
operator said; ``testnet=True`` would send ``/sapi`` to mainnet) and closes it when done. The
client is never created with ``AsyncClient.create()``: that corrects for clock skew, and the
harness must measure the skew, not hide it.

Safety lives in :func:`guard_request`, the one function every exchange request passes through
(the client's single low-level ``_request`` and its WebSocket-API entry both call it before a
byte is sent): only the GET endpoints below and ``POST /api/v3/order/test``, only to the
configured origin, and ``/sapi`` only on the mainnet network, except one keyless
``GET /sapi/v1/system/status`` that tells an unknown host's network apart by behaviour.

Exchange errors are data (:class:`ApiError`: HTTP status, Binance code and msg, Retry-After),
never exceptions, so a check can turn each into a remediation.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import re
import threading
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from .. import __version__
from ..settings import Settings
from .network import ProbeDef

#: Every exchange request the harness may send, as (METHOD, path). Nothing here moves funds or
#: places a live order; ``/sapi`` entries are further limited to the mainnet network.
ALLOWED_REQUESTS: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/api/v3/ping"),
        ("GET", "/api/v3/time"),
        ("GET", "/api/v3/exchangeInfo"),
        ("GET", "/api/v3/ticker/price"),
        ("GET", "/api/v3/account"),
        ("GET", "/sapi/v1/account/apiRestrictions"),
        ("GET", "/sapi/v1/system/status"),
        ("POST", "/api/v3/order/test"),
    }
)
#: How every harness request names itself, so an exchange's logs (and the sandbox's request journal)
#: tell the harness's requests from the bot's.
USER_AGENT = f"pytest-readiness/{__version__}"

#: The one ``/sapi`` request allowed off mainnet, and only without an API key: it tells an
#: unknown host's network apart (mainnet answers it, the Spot testnet answers 404).
IDENTIFY_REQUEST = ("GET", "/sapi/v1/system/status")

#: Per-request deadline (aiohttp's total: a trickling server trips it too). It makes a hung
#: exchange an :class:`ApiError` the checks can explain; the probes' own ProbeDef timeouts are
#: the backstop, with room for the one-off python-binance import (over a second on a busy host).
REQUEST_TIMEOUT_S = 4.0
SINGLE_STEP_S = REQUEST_TIMEOUT_S + 5.0
TWO_STEP_S = 2 * REQUEST_TIMEOUT_S + 5.0

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
TESTNET_HOSTS = frozenset({"testnet.binance.vision"})
MAINNET_HOST = re.compile(r"^api(?:[1-4]|-gcp)?\.binance\.com$")
_FILTER_FAILURE = re.compile(r"Filter failure: (\w+)")


class RefusedRequest(Exception):
    """An exchange request outside the allow-list; raised before anything is sent."""


def guard_request(method: str, url: str, *, origin: str, network: str, with_key: bool) -> None:
    """Refuse, before sending, any exchange request the harness must never make.

    ``url`` is the full request URL (its query is ignored), ``origin`` the configured
    ``BINANCE_API_URL``. Exact path match: no prefix, no normalisation tricks.
    """
    verb = method.upper()
    parts, base = urlsplit(url), urlsplit(origin.rstrip("/"))
    where = f"{verb} {url.split('?', 1)[0]}"
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not parts.path.startswith(
        base.path + "/"
    ):
        raise RefusedRequest(f"refused {where}: not under the configured BINANCE_API_URL {origin}")
    path = parts.path[len(base.path) :]
    if (verb, path) not in ALLOWED_REQUESTS:
        raise RefusedRequest(
            f"refused {where}: not on the harness's allow-list (read-only GETs and POST /api/v3/order/test)"
        )
    if path.startswith("/sapi/") and network != "mainnet" and ((verb, path) != IDENTIFY_REQUEST or with_key):
        raise RefusedRequest(f"refused {where}: /sapi is used on the mainnet network only")


@functools.cache
def load_python_binance() -> None:
    """Import python-binance once, quiet about websockets' deprecation of the legacy API it uses.

    Under an operator's "warnings are errors" configuration that import-time warning would fail
    every Binance check; the deprecation is python-binance's to fix, not a readiness finding.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"websockets(\.\w+)* is deprecated", DeprecationWarning)
        import binance.client
        import binance.ws.websocket_api  # noqa: F401


_CLASS_LOCK = threading.Lock()
#: X-MBX-USED-WEIGHT-1M of the last response in this task: concurrent calls each see their own.
_LAST_WEIGHT: contextvars.ContextVar[int | None] = contextvars.ContextVar("binance_weight", default=None)


def _client_class() -> type[Any]:
    """python-binance's AsyncClient with :func:`guard_request` in front of every request.

    Built on first use: importing python-binance is slow and warns (websockets), so only runs
    that probe Binance pay for it, and off the event loop (:func:`guarded_client`), so the
    import does not stall probes already in flight (a Telegram round trip being timed).
    """
    with _CLASS_LOCK:
        return _build_client_class()


@functools.cache
def _build_client_class() -> type[Any]:
    import aiohttp

    load_python_binance()
    from binance import AsyncClient

    class GuardedClient(AsyncClient):  # type: ignore[misc]
        """AsyncClient pointed at BINANCE_API_URL for /api and /sapi, every request guarded.

        ``_request`` is python-binance's one REST exit and ``_ws_api_request`` its WebSocket-API
        one; both call :func:`guard_request` before anything is sent.
        """

        def __init__(self, settings: Settings, *, with_key: bool) -> None:
            super().__init__(
                settings.binance_key if with_key else None,
                settings.binance_secret if with_key else None,
                requests_params={"timeout": aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)},
                loop=asyncio.get_running_loop(),
            )
            base = settings.binance_api_url.rstrip("/")
            self.API_URL = self.API_TESTNET_URL = f"{base}/api"
            self.MARGIN_API_URL = f"{base}/sapi"
            self.readiness_origin = base
            self.readiness_network = settings.network

        def _guard(self, method: str, url: str) -> None:
            guard_request(
                method,
                url,
                origin=self.readiness_origin,
                network=self.readiness_network,
                with_key=bool(self.API_KEY),
            )

        async def _request(
            self, method: str, uri: str, signed: bool, force_params: bool = False, **kwargs: Any
        ) -> Any:
            self._guard(method, uri)
            return await super()._request(method, uri, signed, force_params, **kwargs)

        async def _ws_api_request(self, method: str, signed: bool, params: dict[str, Any]) -> Any:
            self._guard("WS", f"wss://websocket-api/{method}")  # refused: the harness uses REST only
            return await super()._ws_api_request(method, signed, params)

        def _get_headers(self) -> dict[str, str]:
            return {**super()._get_headers(), "User-Agent": USER_AGENT}

        async def _handle_response(self, response: Any) -> Any:
            _LAST_WEIGHT.set(_int_or_none(response.headers.get(WEIGHT_HEADER)))
            return await super()._handle_response(response)

    return GuardedClient


@asynccontextmanager
async def guarded_client(settings: Settings, *, with_key: bool = True) -> AsyncIterator[Any]:
    """A :class:`GuardedClient` on the running loop, its HTTP session closed on the way out."""
    client = (await asyncio.to_thread(_client_class))(settings, with_key=with_key)
    try:
        yield client
    finally:
        await client.close_connection()


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiError:
    """A call that did not succeed: HTTP status (None: no HTTP answer), Binance code and msg."""

    request: str
    status: int | None
    code: int | None
    msg: str
    retry_after: int | None = None
    #: The exchange took the request but did not finish answering in time (hang, trickle).
    timed_out: bool = False

    @property
    def throttled(self) -> bool:
        """429 (over the weight limit) or 418 (IP banned): nothing works until Retry-After."""
        return self.status in (418, 429)

    def describe(self) -> str:
        if self.status is None:
            return f"{self.request}: {self.msg}"
        code = f", code {self.code}" if self.code is not None else ""
        return f"{self.request} answered HTTP {self.status}{code}: {self.msg}"


@dataclass(frozen=True, slots=True)
class Reply:
    """One exchange call: its JSON body or its error, round-trip time and reported weight."""

    request: str
    data: Any = None
    error: ApiError | None = None
    rtt_ms: float = 0.0
    used_weight: int | None = None


def _int_or_none(raw: object) -> int | None:
    try:
        return int(str(raw))
    except ValueError:
        return None


async def call(request: str, action: Callable[[], Awaitable[Any]]) -> Reply:
    """Run one python-binance call; turn whatever goes wrong on the wire into an :class:`ApiError`."""
    import aiohttp

    load_python_binance()
    from binance.exceptions import BinanceAPIException, BinanceRequestException

    _LAST_WEIGHT.set(None)
    started = time.perf_counter()

    def elapsed() -> float:
        return (time.perf_counter() - started) * 1000

    try:
        data = await action()
    except BinanceAPIException as exc:
        response = exc.response
        status = int(exc.status_code)
        code = int(exc.code) if isinstance(exc.code, int) and exc.code else None
        msg = str(exc.message) if code is not None else f"{status} {response.reason or ''}".strip()
        if code is None:
            msg = f"not a Binance API answer ({msg})"
        headers = response.headers
        error = ApiError(request, status, code, msg, _int_or_none(headers.get("Retry-After")))
        return Reply(
            request, error=error, rtt_ms=elapsed(), used_weight=_int_or_none(headers.get(WEIGHT_HEADER))
        )
    except BinanceRequestException as exc:
        return Reply(request, error=ApiError(request, 200, None, str(exc.message)[:200]), rtt_ms=elapsed())
    except TimeoutError:
        error = ApiError(
            request, None, None, f"no complete answer within {REQUEST_TIMEOUT_S:g} s", timed_out=True
        )
        return Reply(request, error=error, rtt_ms=elapsed())
    except aiohttp.ClientError as exc:
        error = ApiError(request, None, None, f"cannot reach the exchange ({type(exc).__name__}: {exc})")
        return Reply(request, error=error, rtt_ms=elapsed())
    return Reply(request, data=data, rtt_ms=elapsed(), used_weight=_LAST_WEIGHT.get())


# -- connectivity and clock ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connect:
    """``GET /api/v3/ping`` and ``GET /api/v3/time``, sent together."""

    ping: Reply
    time: Reply
    #: serverTime minus the local clock at the request's midpoint, in ms (positive: we are behind).
    skew_ms: float | None

    @property
    def error(self) -> ApiError | None:
        return self.ping.error or self.time.error


async def probe_connect(settings: Settings) -> Connect:
    async with guarded_client(settings, with_key=False) as client:

        async def server_time() -> tuple[Reply, float | None]:
            sent = time.time() * 1000
            reply = await call("GET /api/v3/time", client.get_server_time)
            midpoint = (sent + time.time() * 1000) / 2
            data = reply.data if isinstance(reply.data, dict) else {}
            server = data.get("serverTime")
            return reply, (float(server) - midpoint if isinstance(server, int) else None)

        ping, (time_reply, skew) = await asyncio.gather(call("GET /api/v3/ping", client.ping), server_time())
    return Connect(ping, time_reply, skew)


# -- account and key ----------------------------------------------------------------------------


def key_settings(settings: Settings) -> tuple[str, str]:
    """The key and secret settings for this target's network (testnet keys on testnet)."""
    if settings.network == "mainnet":
        return "binance_api_key", "binance_api_secret"
    return "binance_testnet_api_key", "binance_testnet_api_secret"


def _keyed(settings: Settings) -> bool:
    return bool(settings.binance_key and settings.binance_secret)


async def probe_account(settings: Settings) -> Reply | None:
    """Signed ``GET /api/v3/account``; None when the key is not configured (no request)."""
    if not _keyed(settings):
        return None
    async with guarded_client(settings) as client:
        return await call("GET /api/v3/account", client.get_account)


async def probe_api_restrictions(settings: Settings) -> Reply | None:
    """Signed ``GET /sapi/v1/account/apiRestrictions``; None off mainnet or without a key."""
    if settings.network != "mainnet" or not _keyed(settings):
        return None
    async with guarded_client(settings) as client:
        return await call("GET /sapi/v1/account/apiRestrictions", client.get_account_api_permissions)


async def probe_system_status(settings: Settings) -> Reply | None:
    """``GET /sapi/v1/system/status``; None off mainnet (the testnet has no /sapi)."""
    if settings.network != "mainnet":
        return None
    async with guarded_client(settings, with_key=False) as client:
        return await call("GET /sapi/v1/system/status", client.get_system_status)


# -- which network the endpoint is -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What network ``binance_api_url`` is: by its host when known, else by its behaviour."""

    url: str
    network: str | None
    how: str
    reply: Reply | None = None


def network_by_host(url: str) -> str | None:
    host = (urlsplit(url).hostname or "").lower()
    if host in TESTNET_HOSTS:
        return "testnet"
    if MAINNET_HOST.match(host):
        return "mainnet"
    return None


async def probe_endpoint(settings: Settings) -> Endpoint:
    url = settings.binance_api_url
    known = network_by_host(url)
    if known is not None:
        return Endpoint(url, known, f"{urlsplit(url).hostname} is a known {known} host")
    async with guarded_client(settings, with_key=False) as client:
        reply = await call("GET /sapi/v1/system/status", client.get_system_status)
    if reply.error is None:
        return Endpoint(url, "mainnet", "it serves GET /sapi/v1/system/status, as only mainnet does", reply)
    if reply.error.status == 404:
        return Endpoint(
            url, "testnet", "it answers 404 to GET /sapi/v1/system/status, as the testnet does", reply
        )
    return Endpoint(url, None, f"cannot tell: {reply.error.describe()}", reply)


def network_mismatch(endpoint: Endpoint, settings: Settings) -> str | None:
    """Why the endpoint is not the target's network; None when it is (or cannot be told).

    The judgement of ``binance.endpoint_matches_target``, shared with ``readiness init``."""
    if endpoint.network is None or endpoint.network == settings.network:
        return None
    return (
        f"target {settings.target} needs a {settings.network} endpoint, but BINANCE_API_URL="
        f"{endpoint.url} is {endpoint.network}: {endpoint.how}"
    )


def spot_trading_problems(account: Mapping[str, Any], restrictions: Mapping[str, Any] | None) -> list[str]:
    """What keeps the account and key from trading spot (``/api/v3/account``, and on mainnet the
    key's ``apiRestrictions``); empty when nothing does. The judgement of ``binance.can_trade``,
    shared with ``readiness init``."""
    permissions = account.get("permissions") or []
    problems = []
    if account.get("canTrade") is not True:
        problems.append("the account reports canTrade false")
    if permissions and "SPOT" not in permissions:
        problems.append(f"its permissions {permissions} lack SPOT")
    if restrictions is not None and restrictions.get("enableSpotAndMarginTrading") is False:
        problems.append("the API key lacks 'Enable Spot & Margin Trading'")
    return problems


# -- market data and orders ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SymbolFilters:
    """The order filters of one symbol, as exchangeInfo advertises them (Decimal, exact)."""

    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal
    min_notional: Decimal
    max_notional: Decimal
    #: Which notional filters the symbol has (MIN_NOTIONAL and/or NOTIONAL), for messages.
    notional_filters: tuple[str, ...]

    @classmethod
    def from_symbol(cls, symbol: dict[str, Any]) -> SymbolFilters:
        by_type = {f.get("filterType"): f for f in symbol.get("filters", []) if isinstance(f, dict)}

        def number(kind: str, name: str, default: str = "0") -> Decimal:
            return Decimal(str(by_type.get(kind, {}).get(name, default)))

        notional = tuple(name for name in ("MIN_NOTIONAL", "NOTIONAL") if name in by_type)
        return cls(
            min_price=number("PRICE_FILTER", "minPrice"),
            max_price=number("PRICE_FILTER", "maxPrice"),
            tick_size=number("PRICE_FILTER", "tickSize"),
            min_qty=number("LOT_SIZE", "minQty"),
            max_qty=number("LOT_SIZE", "maxQty"),
            step_size=number("LOT_SIZE", "stepSize"),
            min_notional=max((number(n, "minNotional") for n in notional), default=Decimal(0)),
            max_notional=number("NOTIONAL", "maxNotional"),
            notional_filters=notional,
        )

    def violations(self, price: Decimal, quantity: Decimal) -> tuple[str, ...]:
        """The filters a LIMIT order at ``price`` for ``quantity`` breaks, by Binance's rules."""
        broken: list[str] = []
        if not _within(price, self.min_price, self.max_price, self.tick_size):
            broken.append("PRICE_FILTER")
        if not _within(quantity, self.min_qty, self.max_qty, self.step_size):
            broken.append("LOT_SIZE")
        notional = price * quantity
        if notional < self.min_notional:
            broken.extend(self.notional_filters)
        elif self.max_notional and notional > self.max_notional and "NOTIONAL" not in broken:
            broken.append("NOTIONAL")
        return tuple(broken)

    def limit_price(self, last: Decimal) -> Decimal:
        """The last price on the tick grid, inside the price range."""
        price = (
            last if not self.tick_size else (last / self.tick_size).to_integral(ROUND_FLOOR) * self.tick_size
        )
        if self.min_price:
            price = max(price, self.min_price)
        return min(price, self.max_price) if self.max_price else price

    def smallest_quantity(self, price: Decimal) -> Decimal:
        """The smallest quantity on the step grid that meets minQty and the minimum notional."""
        needed = max(self.min_qty, self.min_notional / price if price else Decimal(0))
        if not self.step_size:
            return needed
        steps = ((needed - self.min_qty) / self.step_size).to_integral(ROUND_CEILING)
        return self.min_qty + steps * self.step_size


def _within(value: Decimal, minimum: Decimal, maximum: Decimal, step: Decimal) -> bool:
    """Binance's range-and-step rule; a zero bound or step disables that part of it."""
    if (minimum and value < minimum) or (maximum and value > maximum):
        return False
    try:
        return not step or (value - minimum) % step == 0
    except InvalidOperation:
        return False


def decimal_text(value: Decimal) -> str:
    """Plain decimal notation as Binance wants it: ``0.0001``, never ``1E-4``."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True, slots=True)
class Market:
    """exchangeInfo for the symbol and its last price, fetched together."""

    exchange_info: Reply
    ticker: Reply
    symbol: dict[str, Any] | None
    price: Decimal | None
    weight_limit: int | None

    @property
    def error(self) -> ApiError | None:
        return self.exchange_info.error or self.ticker.error


async def _market(client: Any, settings: Settings) -> Market:
    info, ticker = await asyncio.gather(
        call(
            "GET /api/v3/exchangeInfo", lambda: client._get("exchangeInfo", data={"symbol": settings.symbol})
        ),
        call("GET /api/v3/ticker/price", lambda: client.get_symbol_ticker(symbol=settings.symbol)),
    )
    symbol, limit = None, None
    if isinstance(info.data, dict):
        for entry in info.data.get("symbols", []):
            if isinstance(entry, dict) and entry.get("symbol") == settings.symbol:
                symbol = entry
        for rule in info.data.get("rateLimits", []):
            if (rule.get("rateLimitType"), rule.get("interval"), rule.get("intervalNum")) == (
                "REQUEST_WEIGHT",
                "MINUTE",
                1,
            ):
                limit = _int_or_none(rule.get("limit"))
    price = None
    if isinstance(ticker.data, dict):
        try:
            price = Decimal(str(ticker.data.get("price")))
        except InvalidOperation:
            price = None
    return Market(info, ticker, symbol, price, limit)


async def probe_market(settings: Settings) -> Market:
    async with guarded_client(settings, with_key=False) as client:
        return await _market(client, settings)


@dataclass(frozen=True, slots=True)
class TrialOrder:
    """One ``POST /api/v3/order/test`` (LIMIT BUY GTC) next to what the local filters say."""

    label: str
    price: Decimal
    quantity: Decimal
    local_violations: tuple[str, ...]
    reply: Reply

    @property
    def params(self) -> dict[str, str]:
        return order_params("", self.price, self.quantity)

    @property
    def accepted(self) -> bool:
        return self.reply.error is None

    @property
    def exchange_filter(self) -> str | None:
        """The filter order/test named (-1013 ``Filter failure: X``), if it named one."""
        error = self.reply.error
        match = _FILTER_FAILURE.search(error.msg) if error and error.code == -1013 else None
        return match.group(1) if match else None

    @property
    def conclusive(self) -> bool:
        """Accepted, or refused by a filter: anything else (-2010, 429) says nothing on filters."""
        return self.accepted or self.exchange_filter is not None

    @property
    def agrees(self) -> bool:
        if self.accepted or not self.local_violations:
            return self.accepted == (not self.local_violations)
        return self.exchange_filter in self.local_violations

    def describe(self) -> str:
        return f"BUY {decimal_text(self.quantity)} @ {decimal_text(self.price)} ({self.label})"


def order_params(symbol: str, price: Decimal, quantity: Decimal) -> dict[str, str]:
    return {
        "symbol": symbol,
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": decimal_text(quantity),
        "price": decimal_text(price),
    }


@dataclass(frozen=True, slots=True)
class Orders:
    """The test orders of one probe; ``problem`` says why none could be built."""

    market: Market
    filters: SymbolFilters | None = None
    orders: tuple[TrialOrder, ...] = ()
    problem: ApiError | str | None = None


def edge_orders(filters: SymbolFilters, last: Decimal) -> list[tuple[str, Decimal, Decimal]]:
    """(label, price, quantity) around every filter edge, starting with the smallest valid order."""
    price = filters.limit_price(last)
    qty = filters.smallest_quantity(price)
    step = filters.step_size or qty / 10
    tick = filters.tick_size or price / 10_000
    return [
        ("smallest valid order, at the minimum notional", price, qty),
        ("one step below, under the minimum notional", price, qty - step),
        ("one step above the minimum", price, qty + step),
        ("half a step off the LOT_SIZE grid", price, qty + step / 2),
        ("one tick up", price + tick, qty),
        ("half a tick off the PRICE_FILTER grid", price + tick / 2, qty),
    ]


async def _test_orders(settings: Settings, *, edges: bool) -> Orders | None:
    """exchangeInfo and price, then the orders together; None without a key (no request)."""
    if not _keyed(settings):
        return None
    async with guarded_client(settings) as client:
        market = await _market(client, settings)
        if market.error is not None:
            return Orders(market, problem=market.error)
        if market.symbol is None or market.price is None or market.price <= 0:
            return Orders(market, problem=f"exchangeInfo has no symbol {settings.symbol} with a price")
        filters = SymbolFilters.from_symbol(market.symbol)
        cases = edge_orders(filters, market.price)
        if not edges:
            cases = cases[:1]

        async def send(label: str, price: Decimal, qty: Decimal) -> TrialOrder:
            params = order_params(settings.symbol, price, qty)
            reply = await call("POST /api/v3/order/test", lambda: client.create_test_order(**params))
            return TrialOrder(label, price, qty, filters.violations(price, qty), reply)

        orders = await asyncio.gather(*(send(*case) for case in cases))
    return Orders(market, filters, tuple(orders))


async def probe_smallest_order(settings: Settings) -> Orders | None:
    return await _test_orders(settings, edges=False)


async def probe_edge_orders(settings: Settings) -> Orders | None:
    return await _test_orders(settings, edges=True)


# -- remediation --------------------------------------------------------------------------------


def remediation_for(error: ApiError, settings: Settings, skew_ms: float | None = None) -> str | None:
    """What an operator should do about ``error``, per Binance code; None: the check's own text."""
    key_name, secret_name = (Settings.env_name(n) for n in key_settings(settings))
    if error.throttled:
        wait = f"{error.retry_after} s" if error.retry_after is not None else "the time Binance names"
        return (
            f"rate limited or banned: retry after {wait}; meanwhile find what spends the request "
            "weight on this IP (use WebSocket streams instead of polling)"
        )
    if error.code == -2015:
        return (
            "key unknown, IP not whitelisted, or the key lacks this permission; testnet keys come "
            f"from the Spot testnet site, not the main site (check {key_name} and the key's IP list)"
        )
    if error.code == -2014:
        return f"API-key format invalid: set {key_name} to the whole key, without quotes or spaces"
    if error.code == -1022:
        return f"secret does not match key: set {secret_name} to the secret created with {key_name}"
    if error.code == -1021:
        measured = f"{skew_ms:.0f} ms" if skew_ms is not None else "unknown"
        return f"sync the clock (chrony/NTP); measured skew {measured}"
    if error.timed_out:
        return (
            f"BINANCE_API_URL={settings.binance_api_url} took the request but did not finish answering: "
            "check the network path (proxy, firewall, MTU) and Binance's status; retry later"
        )
    if error.status is None:
        return (
            f"cannot reach BINANCE_API_URL={settings.binance_api_url}: check the URL, DNS, firewall "
            "and proxy on this host"
        )
    if error.code is None:
        return (
            f"BINANCE_API_URL={settings.binance_api_url} does not answer like Binance (HTTP "
            f"{error.status}): check the URL and any proxy; if it is Binance, it is down, retry later"
        )
    return None


#: Every Binance probe, with the checks that read it (see :mod:`readiness.probes.network`).
PROBES: tuple[ProbeDef, ...] = (
    ProbeDef(
        "binance.connect",
        frozenset({"binance.connectivity", "binance.clock_skew", "binance.api_key_valid"}),
        probe_connect,
        SINGLE_STEP_S,
    ),
    ProbeDef(
        "binance.account",
        frozenset({"binance.api_key_valid", "binance.can_trade", "binance.balance_sufficient"}),
        probe_account,
        SINGLE_STEP_S,
    ),
    ProbeDef(
        "binance.api_restrictions",
        frozenset({"binance.withdrawals_disabled", "binance.ip_restricted", "binance.can_trade"}),
        probe_api_restrictions,
        SINGLE_STEP_S,
    ),
    ProbeDef(
        "binance.system_status", frozenset({"binance.system_status"}), probe_system_status, SINGLE_STEP_S
    ),
    ProbeDef(
        "binance.endpoint", frozenset({"binance.endpoint_matches_target"}), probe_endpoint, SINGLE_STEP_S
    ),
    ProbeDef(
        "binance.market",
        frozenset({"binance.symbol_tradable", "binance.rate_limit_headroom"}),
        probe_market,
        SINGLE_STEP_S,
    ),
    ProbeDef("binance.order_test", frozenset({"binance.order_validation"}), probe_smallest_order, TWO_STEP_S),
    ProbeDef("binance.edge_orders", frozenset({"integration.filters_agree"}), probe_edge_orders, TWO_STEP_S),
)

__all__ = [
    "ALLOWED_REQUESTS",
    "PROBES",
    "USER_AGENT",
    "ApiError",
    "Connect",
    "Endpoint",
    "Market",
    "Orders",
    "RefusedRequest",
    "Reply",
    "SymbolFilters",
    "TrialOrder",
    "guard_request",
    "guarded_client",
    "remediation_for",
]
