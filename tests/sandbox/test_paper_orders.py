"""The paper exchange trades: orders rest, fill and cancel through the real python-binance client,
balances move with commission, and refusals carry Binance's own codes."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest

from readiness.sandbox.binance.market import TRADE_EVERY_MS

from .conftest import ClientFactory, Served
from .test_binance_emulator import api_error


def _balance(client: Any, asset: str) -> tuple[Decimal, Decimal]:
    row = client.get_asset_balance(asset=asset)
    return Decimal(row["free"]), Decimal(row["locked"])


def _touch(client: Any, symbol: str = "BTCUSDT") -> tuple[Decimal, Decimal]:
    book = client.get_orderbook_ticker(symbol=symbol)
    return Decimal(book["bidPrice"]), Decimal(book["askPrice"])


def test_resting_limit_order_listed_then_cancelled(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    bid, _ = _touch(client)
    price = f"{bid * Decimal('0.9'):.2f}"
    free_before, _ = _balance(client, "USDT")
    placed = client.order_limit_buy(
        symbol="BTCUSDT", quantity="0.001", price=price, newClientOrderId="rest-1"
    )
    assert placed["status"] == "NEW" and placed["fills"] == [] and placed["clientOrderId"] == "rest-1"
    locked = Decimal("0.001") * Decimal(price)
    assert _balance(client, "USDT") == (free_before - locked, locked)
    (listed,) = client.get_open_orders(symbol="BTCUSDT")
    assert (listed["orderId"], listed["price"], listed["isWorking"]) == (
        placed["orderId"],
        f"{price}000000",
        True,
    )
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="rest-1")["status"] == "NEW"
    cancelled = client.cancel_order(symbol="BTCUSDT", orderId=placed["orderId"])
    assert cancelled["status"] == "CANCELED" and cancelled["origClientOrderId"] == "rest-1"
    assert client.get_open_orders(symbol="BTCUSDT") == []
    assert _balance(client, "USDT") == (free_before, Decimal(0))
    again = api_error(client.cancel_order, symbol="BTCUSDT", orderId=placed["orderId"])
    assert (again.status_code, again.code, again.message) == (400, -2011, "Unknown order sent.")
    missing = api_error(client.get_order, symbol="BTCUSDT", orderId=999)
    assert (missing.code, missing.message) == (-2013, "Order does not exist.")
    assert [o["status"] for o in client.get_all_orders(symbol="BTCUSDT")] == ["CANCELED"]


def test_market_order_fills_moves_balances_and_shows_in_trades(
    served: Served, client_for: ClientFactory
) -> None:
    client = client_for(served)
    usdt, btc = _balance(client, "USDT")[0], _balance(client, "BTC")[0]
    filled = client.order_market_buy(symbol="BTCUSDT", quantity="0.01")
    assert filled["status"] == "FILLED" and filled["executedQty"] == "0.01000000"
    (fill,) = filled["fills"]
    price, commission = Decimal(fill["price"]), Decimal(fill["commission"])
    assert fill["commissionAsset"] == "BTC" and commission == Decimal("0.01") * Decimal("0.001")
    assert _balance(client, "USDT")[0] == usdt - price * Decimal("0.01")
    assert _balance(client, "BTC")[0] == btc + Decimal("0.01") - commission
    (trade,) = client.get_my_trades(symbol="BTCUSDT")
    assert (trade["orderId"], trade["isBuyer"], trade["isMaker"]) == (filled["orderId"], True, False)
    assert Decimal(trade["quoteQty"]) == price * Decimal("0.01")
    by_quote = client.order_market_sell(symbol="BTCUSDT", quoteOrderQty="100")
    assert by_quote["status"] == "FILLED" and Decimal(by_quote["cummulativeQuoteQty"]) <= 100
    assert by_quote["fills"][0]["commissionAsset"] == "USDT"
    assert client.get_trade_fee(symbol="BTCUSDT") == [
        {"symbol": "BTCUSDT", "makerCommission": "0.001", "takerCommission": "0.001"}
    ]
    commission_rates = client._get("account/commission", True, data={"symbol": "BTCUSDT"})
    assert commission_rates["standardCommission"]["taker"] == "0.00100000"


def test_resting_order_fills_when_the_walk_reaches_it(served: Served, client_for: ClientFactory) -> None:
    """A limit order placed at the first coming trade beyond the touch fills when the tape gets there."""
    client = client_for(served)
    path = served.emulator.venue.symbols["BTCUSDT"].path
    now = served.emulator.server_time_ms()
    bid, ask = _touch(client)
    tape = path.trades_between(now + 1, now + 10 * TRADE_EVERY_MS, 10)
    crossing = next((t for t in tape if not bid <= t.price <= ask), None)
    assert crossing is not None, f"the walk stays between {bid} and {ask} for 20 s"
    side, price = ("BUY" if crossing.price < bid else "SELL"), crossing.price
    order = client.create_order(
        symbol="BTCUSDT", side=side, type="LIMIT", timeInForce="GTC", quantity="0.001", price=str(price)
    )
    assert order["status"] == "NEW"
    deadline = time.monotonic() + (crossing.time_ms - now) / 1000 + 2
    while client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] != "FILLED":
        assert time.monotonic() < deadline, "the resting order never filled"
        time.sleep(0.2)
    (trade,) = client.get_my_trades(symbol="BTCUSDT", orderId=order["orderId"])
    assert trade["isMaker"] is True and Decimal(trade["price"]) == price


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({"quantity": "100"}, -2010, "Account has insufficient balance for requested action."),
        ({"quantity": "0.000001"}, -1013, "Filter failure: LOT_SIZE"),
        ({"quantity": "0.00001"}, -1013, "Filter failure: MIN_NOTIONAL"),
    ],
    ids=["insufficient", "lot_size", "notional"],
)
def test_refusals_carry_binance_codes(
    served: Served, client_for: ClientFactory, params: dict[str, str], code: int, message: str
) -> None:
    client = client_for(served)
    error = api_error(client.order_market_buy, symbol="BTCUSDT", **params)
    assert (error.status_code, error.code, error.message) == (400, code, message)
    assert client.get_all_orders(symbol="BTCUSDT") == []


def test_order_kinds(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    bid, ask = _touch(client)
    maker = api_error(
        client.create_order,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT_MAKER",
        quantity="0.001",
        price=f"{ask * Decimal('1.05'):.2f}",  # still the ask's side after the walk's next step
    )
    assert (maker.code, maker.message) == (-2010, "Order would immediately match and take.")
    far = f"{bid * Decimal('0.8'):.2f}"
    for tif in ("IOC", "FOK"):
        expired = client.create_order(
            symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce=tif, quantity="0.001", price=far
        )
        assert expired["status"] == "EXPIRED" and expired["executedQty"] == "0.00000000"
    taken = client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="IOC", quantity="0.001", price=str(ask * 2)
    )
    _, asks = served.emulator.venue.symbols["BTCUSDT"].path.book(taken["transactTime"], 1)
    assert taken["status"] == "FILLED" and Decimal(taken["fills"][0]["price"]) == asks[0][0]
    stop = client.create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_LOSS_LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price=f"{bid * Decimal('0.7'):.2f}",
        stopPrice=f"{bid * Decimal('0.75'):.2f}",
        newOrderRespType="RESULT",
    )
    assert stop["status"] == "NEW" and "fills" not in stop and stop["workingTime"] == -1
    too_late = api_error(
        client.create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="TAKE_PROFIT_LIMIT",
        timeInForce="GTC",
        quantity="0.001",
        price=f"{bid * Decimal('0.7'):.2f}",
        stopPrice=f"{bid * Decimal('0.75'):.2f}",
    )
    assert (too_late.code, too_late.message) == (-2010, "Stop price would trigger immediately.")
    ack = client.order_limit_buy(symbol="ETHUSDT", quantity="0.1", price="100.00", newOrderRespType="ACK")
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    cancelled = client._delete("openOrders", True, data={"symbol": "BTCUSDT"})
    assert [o["orderId"] for o in cancelled] == [stop["orderId"]]
    nothing = api_error(client._delete, path="openOrders", signed=True, data={"symbol": "BTCUSDT"})
    assert nothing.code == -2011


def test_order_count_headers(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    client.order_market_buy(symbol="BTCUSDT", quantity="0.001")
    client.order_market_buy(symbol="BTCUSDT", quantity="0.001")
    headers = client.response.headers
    assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == ("2", "2")


def test_listen_key_lifecycle(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    key = client.stream_get_listen_key()
    assert len(key) == 60
    assert client.stream_keepalive(key) == {}
    assert client.stream_close(key) == {}
    gone = api_error(client.stream_keepalive, listenKey=key)
    assert (gone.code, gone.message) == (-1125, "This listenKey does not exist.")
