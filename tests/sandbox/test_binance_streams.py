"""WebSocket market and user-data streams, driven by python-binance's socket manager, ccxt.pro
and a bare aiohttp client: the same walk and the same fills as the REST views."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from readiness.probes.binance import load_python_binance
from readiness.sandbox.binance import python_binance_urls

from ..helpers import EMULATOR_TESTS_AGENT
from .conftest import Served, point_ccxt

WAIT_S = 5


def _ws(served: Served) -> str:
    return served.url.replace("http://", "ws://")


def test_python_binance_socket_manager(served: Served) -> None:
    load_python_binance()
    from binance.async_client import AsyncClient
    from binance.ws.streams import BinanceSocketManager

    ws = _ws(served)

    async def listen() -> None:
        urls = python_binance_urls(served.url) | {"WS_API_URL": f"{ws}/ws-api/v3"}
        client = type("EmulatorAsyncClient", (AsyncClient,), urls)(
            served.emulator.api_key, served.emulator.api_secret
        )
        client.session.headers["User-Agent"] = EMULATOR_TESTS_AGENT
        manager = type("EmulatorSockets", (BinanceSocketManager,), {"STREAM_URL": f"{ws}/"})(client)
        try:
            async with manager.kline_socket("BTCUSDT", "1m") as stream:
                kline = await asyncio.wait_for(stream.recv(), WAIT_S)
            assert (kline["e"], kline["s"], kline["k"]["i"]) == ("kline", "BTCUSDT", "1m")
            assert float(kline["k"]["l"]) <= float(kline["k"]["c"]) <= float(kline["k"]["h"])
            async with manager.multiplex_socket(["ethusdt@bookTicker", "btcusdt@depth5"]) as stream:
                first = await asyncio.wait_for(stream.recv(), WAIT_S)
            assert first["stream"] in ("ethusdt@bookTicker", "btcusdt@depth5")
            async with manager.user_socket() as user:
                order = await client.order_market_buy(symbol="BTCUSDT", quantity="0.001")
                events = [await asyncio.wait_for(user.recv(), WAIT_S) for _ in range(3)]
            reports = [e for e in events if e["e"] == "executionReport"]
            assert [(e["i"], e["x"], e["X"]) for e in reports] == [
                (order["orderId"], "NEW", "NEW"),
                (order["orderId"], "TRADE", "FILLED"),
            ]
            (position,) = [e for e in events if e["e"] == "outboundAccountPosition"]
            assert {b["a"] for b in position["B"]} == {"BTC", "USDT"}
        finally:
            await client.close_connection()

    asyncio.run(listen())
    paths = {(r.path, r.status) for r in served.emulator.requests}
    assert {("/ws/btcusdt@kline_1m", 101), ("/stream", 101), ("/ws-api/v3", 101)} <= paths


def test_ccxt_pro_watches(served: Served) -> None:
    import ccxt.pro as ccxtpro

    async def watch() -> None:
        exchange = ccxtpro.binance(
            {
                "apiKey": served.emulator.api_key,
                "secret": served.emulator.api_secret,
                "userAgent": EMULATOR_TESTS_AGENT,
            }
        )
        point_ccxt(exchange.urls["api"], served)
        try:
            await exchange.load_markets()
            ticker = await asyncio.wait_for(exchange.watch_ticker("BTC/USDT"), WAIT_S)
            assert ticker["symbol"] == "BTC/USDT" and ticker["last"] > 0
            candles = await asyncio.wait_for(exchange.watch_ohlcv("ETH/USDT", "1m"), WAIT_S)
            assert candles[-1][2] >= candles[-1][3]

            async def place() -> None:
                await asyncio.sleep(0.3)
                await exchange.create_order("BTC/USDT", "market", "buy", 0.001)

            placing = asyncio.create_task(place())
            orders = await asyncio.wait_for(exchange.watch_orders("BTC/USDT"), WAIT_S)
            await placing
            assert orders[-1]["symbol"] == "BTC/USDT"
        finally:
            await exchange.close()

    asyncio.run(watch())


async def _receive(ws: aiohttp.ClientWebSocketResponse) -> Any:
    message = await asyncio.wait_for(ws.receive(), WAIT_S)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


def test_listen_key_stream_and_live_subscriptions(served: Served) -> None:
    key = served.emulator.trading.new_listen_key(None)["listenKey"]  # type: ignore[arg-type]

    async def talk() -> None:
        async with aiohttp.ClientSession(headers={"User-Agent": EMULATOR_TESTS_AGENT}) as session:
            async with session.ws_connect(f"{_ws(served)}/ws/{key}") as user:
                await asyncio.sleep(0.1)
                served.emulator.engine.place(_market_buy(served))
                assert (await _receive(user))["e"] == "executionReport"
            async with session.ws_connect(f"{_ws(served)}/ws") as live:
                await live.send_json({"method": "SUBSCRIBE", "params": ["bnbusdt@miniTicker"], "id": 7})
                assert await _receive(live) == {"result": None, "id": 7}
                assert (await _receive(live))["e"] == "24hrMiniTicker"
                await live.send_json({"method": "SUBSCRIBE", "params": ["nope@trade"], "id": 8})
                while (answer := await _receive(live)).get("id") != 8:
                    pass
                assert answer["error"]["code"] == 2
            async with session.ws_connect(f"{_ws(served)}/ws-api/v3") as api:
                await api.send_json(
                    {
                        "id": "x",
                        "method": "userDataStream.subscribe.signature",
                        "params": {"apiKey": served.emulator.api_key, "timestamp": 1, "signature": "00"},
                    }
                )
                refused = await _receive(api)
                assert refused["status"] == 400 and refused["error"]["code"] == -1021

    asyncio.run(talk())


def _market_buy(served: Served) -> Any:
    from readiness.sandbox.binance.rules import OrderRequest

    symbol = served.emulator.venue.symbols["BTCUSDT"]
    from decimal import Decimal

    return OrderRequest(symbol, "BUY", "MARKET", None, Decimal("0.001"), None, None, None, None, "FULL")


def test_sandbox_env_lines_point_at_the_streams() -> None:
    from readiness.sandbox.session import Sandbox

    async def talk(env: dict[str, str]) -> None:
        async with aiohttp.ClientSession(headers={"User-Agent": EMULATOR_TESTS_AGENT}) as session:
            async with session.ws_connect(f"{env['BINANCE_STREAM_URL']}/ws/btcusdt@bookTicker") as stream:
                assert (await _receive(stream))["s"] == "BTCUSDT"
            async with session.ws_connect(env["BINANCE_WS_API_URL"]) as api:
                await api.send_json({"id": 1, "method": "time"})
                assert (await _receive(api))["result"]["serverTime"] > 0

    with Sandbox() as sandbox:
        sandbox.binance.journal_tag = EMULATOR_TESTS_AGENT
        asyncio.run(talk(sandbox.env))
