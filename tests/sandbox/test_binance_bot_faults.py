"""Faults for rehearsing a bot: what a real exchange does to it now and then, one test each."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import aiohttp
import httpx

from readiness.sandbox.binance import BOT_FAULTS
from readiness.sandbox.binance.faults import GAP_FACTOR

from ..helpers import EMULATOR_TESTS_AGENT
from .conftest import ClientFactory, ServeFactory
from .test_binance_emulator import api_error


def test_every_bot_fault_is_tested() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    assert all(f"def test_{name.removeprefix('binance_')}(" in source for name in BOT_FAULTS)


def test_ws_drop(serve: ServeFactory) -> None:
    served = serve(faults=["binance_ws_drop"])

    async def listen() -> aiohttp.WSMessage:
        url = served.url.replace("http", "ws") + "/ws/btcusdt@bookTicker"
        async with (
            aiohttp.ClientSession(headers={"User-Agent": EMULATOR_TESTS_AGENT}) as session,
            session.ws_connect(url) as ws,
        ):
            while True:
                message = await asyncio.wait_for(ws.receive(), 6)
                if message.type != aiohttp.WSMsgType.TEXT:
                    return message

    closing = asyncio.run(listen())
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


def test_5xx_burst(serve: ServeFactory) -> None:
    served = serve(faults=["binance_5xx_burst"])
    with httpx.Client(headers={"User-Agent": EMULATOR_TESTS_AGENT}) as http:
        statuses = [http.get(f"{served.url}/api/v3/ping").status_code for _ in range(20)]
    assert statuses == ([502] * 3 + [200] * 7) * 2


def test_order_429(serve: ServeFactory, client_for: ClientFactory) -> None:
    served = serve(network="mainnet", faults=["binance_order_429"])
    client = client_for(served)
    refused = api_error(client.order_market_buy, symbol="BTCUSDT", quantity="0.001")
    assert (refused.status_code, refused.code) == (429, -1015)
    assert refused.response.headers["Retry-After"] == "1"
    assert client.order_market_buy(symbol="BTCUSDT", quantity="0.001")["status"] == "FILLED"


def test_price_gap(serve: ServeFactory, client_for: ClientFactory) -> None:
    served = serve(network="mainnet")
    client = client_for(served)
    before = Decimal(client.get_symbol_ticker(symbol="BTCUSDT")["price"])
    served.emulator.set_faults(["binance_price_gap"])
    after = Decimal(client.get_symbol_ticker(symbol="BTCUSDT")["price"])
    assert after / before < Decimal(repr(GAP_FACTOR)) * Decimal("1.01")
    served.emulator.set_faults([])
    assert Decimal(client.get_symbol_ticker(symbol="BTCUSDT")["price"]) / before > Decimal("0.99")
