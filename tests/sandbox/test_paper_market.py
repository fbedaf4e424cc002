"""The paper exchange's market data, read through the real python-binance client: one seeded
price path per symbol behind klines, depth, trades, tickers and the average price."""

from __future__ import annotations

import itertools
import time
from decimal import Decimal

import pytest

from readiness.sandbox.binance.market import INTERVALS_MS, PricePath

from .conftest import ClientFactory, Served
from .test_binance_emulator import api_error

SYMBOLS = {"BTCUSDT", "ETHUSDT", "BNBUSDT", "ETHBTC"}
FILTERS = [
    "PRICE_FILTER",
    "LOT_SIZE",
    "ICEBERG_PARTS",
    "MIN_NOTIONAL",
    "TRAILING_DELTA",
    "PERCENT_PRICE_BY_SIDE",
    "NOTIONAL",
    "MARKET_LOT_SIZE",
    "MAX_NUM_ORDERS",
    "MAX_NUM_ALGO_ORDERS",
]


def test_exchange_info_lists_the_symbols_with_the_real_filter_set(
    served: Served, client_for: ClientFactory
) -> None:
    info = client_for(served).get_exchange_info()
    assert {s["symbol"] for s in info["symbols"]} == SYMBOLS
    for symbol in info["symbols"]:
        assert [f["filterType"] for f in symbol["filters"]] == FILTERS
        assert symbol["permissionSets"] == [["SPOT", "MARGIN"]]
    ethbtc = next(s for s in info["symbols"] if s["symbol"] == "ETHBTC")
    assert (ethbtc["baseAsset"], ethbtc["quoteAsset"]) == ("ETH", "BTC")


@pytest.mark.parametrize("interval", sorted(INTERVALS_MS))
def test_klines_of_every_interval_end_with_the_open_candle(
    served: Served, client_for: ClientFactory, interval: str
) -> None:
    client = client_for(served)
    before = int(time.time() * 1000)
    rows = client.get_klines(symbol="BTCUSDT", interval=interval, limit=5)
    assert len(rows) == 5
    length = INTERVALS_MS[interval]
    opens = [row[0] for row in rows]
    assert all(b - a == length for a, b in itertools.pairwise(opens))
    assert opens[-1] <= before + 5_000 < opens[-1] + length + 5_000  # the last candle is still open
    for row in rows:
        open_, high, low, close = map(Decimal, row[1:5])
        assert low <= min(open_, close) <= max(open_, close) <= high
        assert row[6] == row[0] + length - 1 and row[8] >= 1


def test_klines_page_back_in_time_and_agree_with_each_other(
    served: Served, client_for: ClientFactory
) -> None:
    client = client_for(served)
    year_ago = int(time.time() * 1000) - 365 * 86_400_000
    old = client.get_klines(symbol="ETHUSDT", interval="1h", startTime=year_ago, limit=3)
    assert old[0][0] >= year_ago and old[0][0] - year_ago < 3_600_000
    again = client.get_klines(symbol="ETHUSDT", interval="1h", startTime=old[0][0], endTime=old[-1][0])
    assert again == old
    ending = client.get_klines(symbol="ETHUSDT", interval="1h", endTime=old[-1][0] + 1, limit=2)
    assert ending == old[1:]
    assert client.get_ui_klines(symbol="ETHUSDT", interval="1h", startTime=year_ago, limit=3) == old
    assert len(client.get_klines(symbol="ETHUSDT", interval="1m")) == 500  # the default limit
    assert api_error(client.get_klines, symbol="ETHUSDT", interval="7m").code == -1120
    assert api_error(client.get_klines, symbol="ETHUSDT", interval="1m", limit=1001).code == -1130
    assert api_error(client.get_klines, symbol="NOPE", interval="1m").code == -1121


def test_the_path_is_seeded_and_moves(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    closes = [Decimal(row[4]) for row in client.get_klines(symbol="BTCUSDT", interval="1h", limit=200)]
    assert len(set(closes)) > 150
    assert max(closes) / min(closes) < Decimal("1.5")
    path = PricePath("BTCUSDT", Decimal("50000.00"), Decimal("0.01"), Decimal("0.00001"))
    moment = 1_700_000_000_000
    assert path.price(moment) == PricePath(
        "BTCUSDT", Decimal("50000.00"), Decimal("0.01"), Decimal("0.00001")
    ).price(moment)
    assert path.price(moment) != PricePath(
        "ETHUSDT", Decimal("50000.00"), Decimal("0.01"), Decimal("0.00001")
    ).price(moment)


def test_views_agree_on_one_price(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    book = client.get_order_book(symbol="BNBUSDT", limit=10)
    assert len(book["bids"]) == len(book["asks"]) == 10
    best_bid, best_ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
    assert best_bid < best_ask
    bids = [Decimal(p) for p, _ in book["bids"]]
    assert bids == sorted(bids, reverse=True)
    last = Decimal(client.get_symbol_ticker(symbol="BNBUSDT")["price"])
    assert abs(last - best_ask) / last < Decimal("0.01")
    top = client.get_orderbook_ticker(symbol="BNBUSDT")
    assert Decimal(top["bidPrice"]) < Decimal(top["askPrice"])
    day = client.get_ticker(symbol="BNBUSDT")
    assert Decimal(day["lowPrice"]) <= Decimal(day["lastPrice"]) <= Decimal(day["highPrice"])
    assert day["closeTime"] - day["openTime"] == 86_400_000 and day["count"] > 0
    average = client.get_avg_price(symbol="BNBUSDT")
    assert average["mins"] == 5 and abs(Decimal(average["price"]) - last) / last < Decimal("0.02")
    assert {t["symbol"] for t in client.get_ticker()} == SYMBOLS
    assert {t["symbol"] for t in client.get_orderbook_tickers()} == SYMBOLS


def test_trades_and_aggregate_trades(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    trades = client.get_recent_trades(symbol="ETHBTC", limit=20)
    assert len(trades) == 20
    ids = [t["id"] for t in trades]
    assert ids == list(range(ids[0], ids[0] + 20))
    assert all(Decimal(t["qty"]) > 0 and Decimal(t["price"]) > 0 for t in trades)
    assert client.get_historical_trades(symbol="ETHBTC", fromId=ids[0], limit=5) == trades[:5]
    agg = client.get_aggregate_trades(symbol="ETHBTC", fromId=ids[0], limit=3)
    assert [a["a"] for a in agg] == ids[:3] and [a["p"] for a in agg] == [t["price"] for t in trades[:3]]
    start = trades[0]["time"]
    window = client.get_aggregate_trades(symbol="ETHBTC", startTime=start, endTime=start + 10_000)
    assert window[0]["T"] == start and all(start <= a["T"] <= start + 10_000 for a in window)


def test_rolling_window_ticker(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    hour = client._get("ticker", data={"symbol": "BTCUSDT", "windowSize": "1h"})
    assert hour["closeTime"] - hour["openTime"] == 3_600_000
    mini = client._get("ticker", data={"symbols": '["BTCUSDT","ETHUSDT"]', "type": "MINI"})
    assert [t["symbol"] for t in mini] == ["BTCUSDT", "ETHUSDT"] and "priceChange" not in mini[0]
    assert api_error(client._get, path="ticker", data={"symbol": "BTCUSDT", "windowSize": "9d"}).code == -1100
