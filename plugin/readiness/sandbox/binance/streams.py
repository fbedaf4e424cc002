"""WebSocket market and user-data streams, and the WebSocket API's user-data subscription.

Served on the emulator's own origin under Binance's paths: ``/ws/<stream>``, ``/ws`` with live
``SUBSCRIBE``, ``/stream?streams=a/b`` (combined, each message wrapped as ``{"stream", "data"}``),
``/ws/<listenKey>`` for user data, and ``/ws-api/v3`` for ``userDataStream.subscribe.signature``,
which current python-binance and ccxt call instead of the listen-key stream. Market messages
come off the same price paths as the REST views; user-data events are the matching engine's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

from . import market
from .matching import Engine, Event
from .protocol import BinanceError, Call
from .trading import Trading
from .venue import Symbol, Venue

TICK_S = 0.25
"""How often each connection looks for messages that became due."""

DROP_AFTER_S = 3.0
"""Fault ``binance_ws_drop``: every stream connection is closed this long after it opened."""

_STREAM = re.compile(
    r"^(?P<symbol>[a-z0-9]+)@(?P<kind>trade|aggTrade|bookTicker|miniTicker|ticker"
    r"|kline_(?P<interval>[0-9]+[smhdwM])|depth(?P<levels>5|10|20)?(?P<fast>@100ms)?(?:@1000ms)?)$"
)
_ALL_MINI = "!miniTicker@arr"


@dataclass(frozen=True)
class MarketStream:
    """One subscribed market stream and what it says between two moments."""

    name: str
    symbol: Symbol
    kind: str
    interval: str = ""
    levels: int = 0
    every_ms: int = 1000

    def messages(self, since_ms: int, now_ms: int) -> Iterator[dict[str, Any]]:
        path = self.symbol.path
        name = self.symbol.symbol
        if self.kind in ("trade", "aggTrade"):
            for t in path.trades_between(since_ms + 1, now_ms, 100):
                if self.kind == "trade":
                    row = market.trade_row(t)
                    yield {
                        "e": "trade",
                        "E": t.time_ms,
                        "s": name,
                        "t": t.id,
                        "p": row["price"],
                        "q": row["qty"],
                        "T": t.time_ms,
                        "m": t.buyer_maker,
                        "M": True,
                    }
                else:
                    yield {"e": "aggTrade", "E": t.time_ms, "s": name, **market.agg_trade_row(t)}
            return
        if now_ms // self.every_ms == since_ms // self.every_ms:
            return  # nothing due in this window
        if self.kind.startswith("kline_"):
            yield from self._klines(since_ms, now_ms)
        elif self.kind == "bookTicker":
            book = market.book_ticker(path, now_ms)
            yield {
                "u": now_ms // 100,
                "s": name,
                "b": book["bidPrice"],
                "B": book["bidQty"],
                "a": book["askPrice"],
                "A": book["askQty"],
            }
        elif self.kind.startswith("depth"):
            view = market.depth(path, now_ms, self.levels or 20)
            if self.levels:
                yield view
            else:
                first = since_ms // 100 + 1
                yield {
                    "e": "depthUpdate",
                    "E": now_ms,
                    "s": name,
                    "U": first,
                    "u": view["lastUpdateId"],
                    "b": view["bids"],
                    "a": view["asks"],
                }
        else:
            yield mini_ticker(self.symbol, now_ms, full=self.kind == "ticker")

    def _klines(self, since_ms: int, now_ms: int) -> Iterator[dict[str, Any]]:
        length = market.INTERVALS_MS[self.interval]
        path = self.symbol.path
        opened = now_ms - now_ms % length
        if since_ms < opened:  # the candle before closed within this window: say so once
            yield self._kline(path.candle(length, opened - length, now_ms), now_ms, closed=True)
        yield self._kline(path.candle(length, opened, now_ms), now_ms, closed=False)

    def _kline(self, candle: market.Candle, now_ms: int, *, closed: bool) -> dict[str, Any]:
        row = candle.row()
        first = candle.open_ms // market.TRADE_EVERY_MS
        return {
            "e": "kline",
            "E": now_ms,
            "s": self.symbol.symbol,
            "k": {
                "t": candle.open_ms,
                "T": candle.close_ms,
                "s": self.symbol.symbol,
                "i": self.interval,
                "f": first,
                "L": first + candle.trades - 1,
                "o": row[1],
                "c": row[4],
                "h": row[2],
                "l": row[3],
                "v": row[5],
                "n": candle.trades,
                "x": closed,
                "q": row[7],
                "V": row[9],
                "Q": row[10],
                "B": "0",
            },
        }


def mini_ticker(symbol: Symbol, now_ms: int, *, full: bool) -> dict[str, Any]:
    view = market.window_ticker(symbol.path, now_ms, 86_400_000, full=full, rolling=False)
    message = {
        "e": "24hrTicker" if full else "24hrMiniTicker",
        "E": now_ms,
        "s": symbol.symbol,
        "c": view["lastPrice"],
        "o": view["openPrice"],
        "h": view["highPrice"],
        "l": view["lowPrice"],
        "v": view["volume"],
        "q": view["quoteVolume"],
    }
    if full:
        message |= {
            "p": view["priceChange"],
            "P": view["priceChangePercent"],
            "w": view["weightedAvgPrice"],
            "b": view["bidPrice"],
            "a": view["askPrice"],
            "O": view["openTime"],
            "C": view["closeTime"],
            "F": view["firstId"],
            "L": view["lastId"],
            "n": view["count"],
        }
    return message


class Streams:
    """The WebSocket side of one emulator; REST auth is reused for the WebSocket API's signature."""

    def __init__(
        self,
        venue: Venue,
        engine: Engine,
        trading: Trading,
        authenticate: Callable[[Call], None],
        record: Callable[[web.Request, int | None], None],
    ) -> None:
        self.venue = venue
        self.record = record
        self.engine = engine
        self.trading = trading
        self.authenticate = authenticate
        self.connections = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ws", self.raw)
        app.router.add_get("/ws/{names:.+}", self.raw)
        app.router.add_get("/stream", self.combined)
        app.router.add_get("/ws-api/v3", self.ws_api)

    # -- parsing

    def market_stream(self, name: str) -> MarketStream | None:
        if name == _ALL_MINI:
            return None
        match = _STREAM.match(name)
        if match is None:
            return None
        symbol = self.venue.symbols.get(match["symbol"].upper())
        interval = match["interval"] or ""
        if symbol is None or (interval and interval not in market.INTERVALS_MS):
            return None
        kind = match["kind"]
        if kind.startswith("kline_"):
            return MarketStream(name, symbol, kind, interval=interval, every_ms=1000)
        if kind.startswith("depth"):
            levels = int(match["levels"] or 0)
            return MarketStream(name, symbol, kind, levels=levels, every_ms=100 if match["fast"] else 1000)
        return MarketStream(name, symbol, kind)

    # -- handlers

    async def raw(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.match_info.get("names", "").split("/") if n]
        if len(names) == 1 and self.trading.listen_key_alive(names[0]):
            return await self._user_stream(request, names[0])
        return await self._market(request, names, combined=False)

    async def combined(self, request: web.Request) -> web.StreamResponse:
        names = [n for n in request.query.get("streams", "").split("/") if n]
        return await self._market(request, names, combined=True)

    async def _market(self, request: web.Request, names: list[str], *, combined: bool) -> web.StreamResponse:
        # Binance accepts any name in the URL and streams only the ones it knows (ccxt opens
        # ``/ws/<connection number>`` and subscribes afterwards).
        subscribed = {n: self.market_stream(n) for n in names if n == _ALL_MINI or self.market_stream(n)}
        ws = await self._open(request)
        feeder = asyncio.create_task(self._feed(ws, subscribed, combined))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await ws.send_str(json.dumps(self._control(message.data, subscribed)))
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
        return ws

    def _control(self, text: str, subscribed: dict[str, MarketStream | None]) -> dict[str, Any]:
        """``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` on an open stream connection."""
        try:
            request = json.loads(text)
            method, params, ident = request["method"], request.get("params", []), request["id"]
        except (ValueError, KeyError, TypeError):
            return {"error": {"code": 3, "msg": "Invalid JSON: expected an object with method and id"}}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(subscribed), "id": ident}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": ident}
        for name in params:
            if method == "UNSUBSCRIBE":
                subscribed.pop(name, None)
                continue
            stream = self.market_stream(str(name))
            if stream is None and name != _ALL_MINI:
                return {"error": {"code": 2, "msg": f"Invalid request: unknown stream {name}"}, "id": ident}
            subscribed[str(name)] = stream
        return {"result": None, "id": ident}

    async def _open(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        self.record(request, 101)
        self.connections += 1
        if "binance_ws_drop" in self.venue.faults:
            asyncio.get_running_loop().call_later(DROP_AFTER_S, lambda: asyncio.ensure_future(ws.close()))
        return ws

    async def _feed(
        self, ws: web.WebSocketResponse, subscribed: dict[str, MarketStream | None], combined: bool
    ) -> None:
        since = self.venue.now_ms() - 1000  # the first tick has something to say
        while not ws.closed:
            now = self.venue.now_ms()
            for name, stream in list(subscribed.items()):
                if stream is None:
                    due = now // 1000 != since // 1000
                    items: list[Any] = (
                        [[mini_ticker(s, now, full=False) for s in self.venue.symbols.values()]]
                        if due
                        else []
                    )
                else:
                    items = list(stream.messages(since, now))
                for data in items:
                    await ws.send_str(json.dumps({"stream": name, "data": data} if combined else data))
            since = now
            await asyncio.sleep(TICK_S)

    async def _user_stream(self, request: web.Request, listen_key: str) -> web.StreamResponse:
        ws = await self._open(request)
        with self._events() as events:
            sender = asyncio.create_task(self._forward(ws, events, dict))
            try:
                async for _ in ws:
                    pass
            finally:
                sender.cancel()
        return ws

    @contextlib.contextmanager
    def _events(self) -> Iterator[asyncio.Queue[Event]]:
        """The engine's events, handed over to this connection's loop whatever thread made them."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def listener(event: Event) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        self.engine.listeners.append(listener)
        try:
            yield queue
        finally:
            self.engine.listeners.remove(listener)

    @staticmethod
    async def _forward(
        ws: web.WebSocketResponse, events: asyncio.Queue[Event], wrap: Callable[[Event], dict[str, Any]]
    ) -> None:
        while not ws.closed:
            event = await events.get()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(json.dumps(wrap(event)))

    # -- WebSocket API

    async def ws_api(self, request: web.Request) -> web.StreamResponse:
        ws = await self._open(request)
        subscriptions: dict[int, asyncio.Task[None]] = {}
        with self._events() as events:
            try:
                async for message in ws:
                    if message.type == WSMsgType.TEXT:
                        answer = self._ws_api_call(message.data, ws, events, subscriptions)
                        await ws.send_str(json.dumps(answer))
            finally:
                for task in subscriptions.values():
                    task.cancel()
        return ws

    def _ws_api_call(
        self,
        text: str,
        ws: web.WebSocketResponse,
        events: asyncio.Queue[Event],
        subscriptions: dict[int, asyncio.Task[None]],
    ) -> dict[str, Any]:
        try:
            request = json.loads(text)
            ident, method = request.get("id"), request["method"]
            params = request.get("params") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            return _ws_error(None, BinanceError(400, -1102, "Mandatory parameter 'method' was not sent."))
        try:
            if method == "ping":
                result: Any = {}
            elif method == "time":
                result = {"serverTime": self.venue.now_ms()}
            elif method == "userDataStream.subscribe.signature":
                self.authenticate(_signed_call(params))
                number = len(subscriptions)
                subscriptions[number] = asyncio.ensure_future(
                    self._forward(ws, events, functools.partial(_in_subscription, number))
                )
                result = {"subscriptionId": number}
            elif method == "userDataStream.unsubscribe":
                wanted = params.get("subscriptionId")
                for number in [n for n in subscriptions if wanted is None or n == int(wanted)]:
                    subscriptions.pop(number).cancel()
                result = {}
            else:
                raise BinanceError(
                    400, -1100, f"The paper exchange's WebSocket API does not serve {method!r}."
                )
        except BinanceError as error:
            return _ws_error(ident, error)
        return {"id": ident, "status": 200, "result": result, "rateLimits": []}


def _signed_call(params: dict[str, Any]) -> Call:
    """A WebSocket API request as a REST call: signed over its other parameters, sorted by name."""
    fields = {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    payload = urlencode(sorted((k, v) for k, v in fields.items() if k != "signature"))
    raw_query = f"{payload}&signature={fields.get('signature', '')}"
    return Call("WS", "/ws-api/v3", fields, raw_query, "", {"X-MBX-APIKEY": fields.get("apiKey", "")})


def _in_subscription(number: int, event: Event) -> dict[str, Any]:
    return {"subscriptionId": number, "event": event}


def _ws_error(ident: Any, error: BinanceError) -> dict[str, Any]:
    return {"id": ident, "status": error.status, "error": {"code": error.code, "msg": error.msg}}
