"""Bots' own client libraries run unchanged against the paper exchange: only their URLs move.

Each drives market data, a resting limit order seen in open orders then cancelled, and a market
order filled and visible in balances and trades.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from readiness.probes.binance import load_python_binance

from ..helpers import EMULATOR_TESTS_AGENT
from .conftest import Served, ServeFactory, point_ccxt


def _no_errors(served: Served) -> None:
    refused = sorted({(r.method, r.path, r.status) for r in served.emulator.requests if r.status != 200})
    assert refused == []


@pytest.fixture
def mainnet(serve: ServeFactory) -> Served:
    return serve(network="mainnet")


# -- ccxt -------------------------------------------------------------------------------------


@pytest.fixture
def ccxt_binance(mainnet: Served) -> Iterator[Any]:
    import ccxt

    exchange = ccxt.binance(
        {
            "apiKey": mainnet.emulator.api_key,
            "secret": mainnet.emulator.api_secret,
            "userAgent": EMULATOR_TESTS_AGENT,
        }
    )
    point_ccxt(exchange.urls["api"], mainnet)
    yield exchange
    exchange.session.close()


def test_ccxt_with_default_options(ccxt_binance: Any, mainnet: Served) -> None:
    exchange = ccxt_binance
    markets = exchange.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "BNB/USDT", "ETH/BTC"} <= set(markets)
    assert markets["BTC/USDT"]["limits"]["cost"]["min"] == 5
    ticker = exchange.fetch_ticker("BTC/USDT")
    assert ticker["bid"] < ticker["ask"]
    assert set(exchange.fetch_tickers()) >= {"BTC/USDT", "ETH/BTC"}
    book = exchange.fetch_order_book("BTC/USDT", 5)
    assert len(book["bids"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
    candles = exchange.fetch_ohlcv("BTC/USDT", "1m", limit=3)
    assert len(candles) == 3 and all(low <= high for _, _, high, low, _, _ in candles)
    assert len(exchange.fetch_trades("BTC/USDT", limit=5)) == 5
    assert exchange.fetch_trading_fees()["BTC/USDT"]["taker"] == 0.001

    resting = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, round(ticker["bid"] * 0.9, 2))
    assert [o["id"] for o in exchange.fetch_open_orders("BTC/USDT")] == [resting["id"]]
    assert exchange.fetch_order(resting["id"], "BTC/USDT")["status"] == "open"
    assert exchange.cancel_order(resting["id"], "BTC/USDT")["status"] == "canceled"
    btc = exchange.fetch_balance()["BTC"]["free"]
    filled = exchange.create_order("BTC/USDT", "market", "buy", 0.001)
    assert (filled["status"], filled["filled"]) == ("closed", 0.001)
    assert exchange.fetch_balance()["BTC"]["free"] == pytest.approx(btc + 0.001 * 0.999)
    (trade,) = exchange.fetch_my_trades("BTC/USDT")
    assert trade["order"] == filled["id"] and trade["fee"]["currency"] == "BTC"
    _no_errors(mainnet)


# -- Binance's official spot SDK ----------------------------------------------------------------


def test_binance_sdk_spot(serve: ServeFactory) -> None:
    from binance_common.configuration import ConfigurationRestAPI
    from binance_sdk_spot.rest_api.models import (
        KlinesIntervalEnum,
        NewOrderSideEnum,
        NewOrderTimeInForceEnum,
        NewOrderTypeEnum,
    )
    from binance_sdk_spot.spot import Spot

    served = serve(network="testnet")
    config = ConfigurationRestAPI(
        api_key=served.emulator.api_key,
        api_secret=served.emulator.api_secret,
        base_path=served.url,
    )
    api = Spot(config_rest_api=config).rest_api
    config.base_headers["User-Agent"] = EMULATOR_TESTS_AGENT  # the SDK sets its own on first use
    candles = api.klines("BTCUSDT", KlinesIntervalEnum["INTERVAL_1m"].value, limit=2).data()
    assert len(candles) == 2
    assert len(api.depth("BTCUSDT", limit=5).data().bids) == 5
    bid = Decimal(api.ticker_book_ticker(symbol="BTCUSDT").data().actual_instance.bid_price)
    buy, limit = NewOrderSideEnum["BUY"].value, NewOrderTypeEnum["LIMIT"].value
    gtc = NewOrderTimeInForceEnum["GTC"].value
    resting = api.new_order(
        "BTCUSDT", buy, limit, time_in_force=gtc, quantity=0.001, price=float(round(bid * Decimal("0.9"), 2))
    ).data()
    assert resting.status == "NEW"
    assert [o.order_id for o in api.get_open_orders(symbol="BTCUSDT").data()] == [resting.order_id]
    assert api.delete_order("BTCUSDT", order_id=resting.order_id).data().status == "CANCELED"
    filled = api.new_order("BTCUSDT", buy, NewOrderTypeEnum["MARKET"].value, quantity=0.001).data()
    assert filled.status == "FILLED" and filled.fills[0].commission_asset == "BTC"
    (btc,) = [b for b in api.get_account().data().balances if b.asset == "BTC"]
    assert Decimal(btc.free) == Decimal("0.5") + Decimal("0.001") * Decimal("0.999")
    assert [t.order_id for t in api.my_trades("BTCUSDT").data()] == [filled.order_id]
    assert api.account_commission("BTCUSDT").data().standard_commission.taker == "0.00100000"
    _no_errors(served)


# -- python-binance's AsyncClient ---------------------------------------------------------------


def test_python_binance_async_client(mainnet: Served) -> None:
    from readiness.sandbox.binance import python_binance_urls

    load_python_binance()
    from binance.async_client import AsyncClient

    async def trade() -> None:
        client_class = type("EmulatorAsyncClient", (AsyncClient,), python_binance_urls(mainnet.url))
        client = client_class(mainnet.emulator.api_key, mainnet.emulator.api_secret)
        client.session.headers["User-Agent"] = EMULATOR_TESTS_AGENT
        try:
            candles = await client.get_klines(symbol="ETHUSDT", interval="5m", limit=4)
            assert len(candles) == 4
            ticker = await client.get_ticker(symbol="ETHUSDT")
            price = f"{Decimal(ticker['bidPrice']) * Decimal('0.9'):.2f}"
            resting = await client.order_limit_buy(symbol="ETHUSDT", quantity="0.01", price=price)
            assert [o["orderId"] for o in await client.get_open_orders(symbol="ETHUSDT")] == [
                resting["orderId"]
            ]
            await client.cancel_order(symbol="ETHUSDT", orderId=resting["orderId"])
            filled = await client.order_market_sell(symbol="ETHUSDT", quantity="0.1")
            assert filled["status"] == "FILLED"
            eth = await client.get_asset_balance(asset="ETH")
            assert Decimal(eth["free"]) == Decimal("4.9")
            assert len(await client.get_my_trades(symbol="ETHUSDT")) == 1
        finally:
            await client.close_connection()

    asyncio.run(trade())
    _no_errors(mainnet)
