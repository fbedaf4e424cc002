"""The Binance emulator against the real python-binance clients and plain httpx.

python-binance is used unchanged apart from its URL class attributes, so what passes here is what
the readiness checks will meet on the real exchange: shapes, statuses, error codes and headers.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from readiness.sandbox.binance import (
    FAULTS,
    BinanceEmulator,
    python_binance_urls,
    sign,
    signature_payload,
    verify,
)

from ..helpers import EMULATOR_TESTS_AGENT
from .conftest import ClientFactory, Served, ServeFactory

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from binance.async_client import AsyncClient
    from binance.exceptions import BinanceAPIException

DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_PAYLOAD = (
    "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1499827319559"
)
LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5, headers={"User-Agent": EMULATOR_TESTS_AGENT}) as client:
        yield client


def signed_query(secret: str, params: dict[str, Any], *, timestamp: int | None = None) -> str:
    """A query string signed the way every Binance client signs it."""
    stamp = int(time.time() * 1000) if timestamp is None else timestamp
    query = urlencode({**params, "timestamp": stamp})
    return f"{query}&signature={sign(secret, query)}"


def api_error(call: Any, **params: Any) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as caught:
        call(**params)
    return caught.value


def assert_error(response: httpx.Response, status: int, code: int, msg: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"code": code, "msg": msg}


# -- signing ---------------------------------------------------------------------------------


def test_signature_matches_binance_documented_vector() -> None:
    expected = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert sign(DOC_SECRET, DOC_PAYLOAD) == expected
    assert verify(DOC_SECRET, DOC_PAYLOAD, expected.upper())
    assert not verify(DOC_SECRET, DOC_PAYLOAD + "0", expected)


def test_signature_payload_is_query_then_body_without_signature() -> None:
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=abc"
    payload = signature_payload(query, body)
    assert sign(DOC_SECRET, payload) == ("0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77")
    assert signature_payload(DOC_PAYLOAD + "&signature=abc", "") == DOC_PAYLOAD


# -- configuration ---------------------------------------------------------------------------


def test_unknown_fault_is_a_value_error_listing_valid_faults() -> None:
    with pytest.raises(ValueError, match="binance_typo") as caught:
        BinanceEmulator(faults=["binance_typo"])
    assert all(name in str(caught.value) for name in FAULTS)


def test_every_fault_names_the_check_it_targets() -> None:
    assert len(FAULTS) >= 20
    for name, description in FAULTS.items():
        assert name.startswith("binance_")
        assert re.search(r"\(fails (binance|integration)\.[a-z_]+\)$", description), name


def test_default_credentials_are_random_binance_shaped_keys() -> None:
    first, second = BinanceEmulator(), BinanceEmulator()
    assert first.api_key != second.api_key and first.api_secret != second.api_secret
    assert len(first.api_key) == 64 and first.api_key.isalnum()


# -- public endpoints ------------------------------------------------------------------------


def test_ping_time_and_weight_header(served: Served, http: httpx.Client) -> None:
    ping = http.get(f"{served.url}/api/v3/ping")
    assert ping.status_code == 200 and ping.json() == {}
    assert ping.headers["content-type"].startswith("application/json")
    assert ping.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    before = int(time.time() * 1000)
    server_time = http.get(f"{served.url}/api/v3/time").json()["serverTime"]
    assert before - 50 <= server_time <= int(time.time() * 1000) + 50


def test_exchange_info_shape(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    info = client.get_exchange_info()
    assert info["timezone"] == "UTC" and isinstance(info["serverTime"], int)
    limits = {(r["rateLimitType"], r["interval"], r["intervalNum"]): r["limit"] for r in info["rateLimits"]}
    assert limits[("REQUEST_WEIGHT", "MINUTE", 1)] == 6000
    assert limits[("ORDERS", "SECOND", 10)] == 100
    assert any(kind == "RAW_REQUESTS" for kind, _, _ in limits)
    assert info["exchangeFilters"] == []
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert (btc["status"], btc["baseAsset"], btc["quoteAsset"]) == ("TRADING", "BTC", "USDT")
    assert btc["isSpotTradingAllowed"] is True and "LIMIT" in btc["orderTypes"]
    assert btc["permissionSets"] and "SPOT" in btc["permissionSets"][0]
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert set(filters) >= {
        "PRICE_FILTER",
        "LOT_SIZE",
        "MIN_NOTIONAL",
        "NOTIONAL",
        "MARKET_LOT_SIZE",
        "MAX_NUM_ORDERS",
    }
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert client.get_symbol_info("ETHUSDT")["quoteAsset"] == "USDT"
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "40"


def test_exchange_info_symbol_filters_and_invalid_symbol(served: Served, http: httpx.Client) -> None:
    one = http.get(f"{served.url}/api/v3/exchangeInfo", params={"symbol": "ETHUSDT"}).json()
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
    both = http.get(f"{served.url}/api/v3/exchangeInfo", params={"symbols": '["BTCUSDT","ETHUSDT"]'}).json()
    assert [s["symbol"] for s in both["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    bad = http.get(f"{served.url}/api/v3/exchangeInfo", params={"symbol": "NOPEUSDT"})
    assert_error(bad, 400, -1121, "Invalid symbol.")


def test_ticker_price_one_and_all_with_weights(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    ticker = client.get_symbol_ticker(symbol="BTCUSDT")
    assert ticker["symbol"] == "BTCUSDT" and ticker["price"].endswith("000000")  # on the 0.01 tick
    assert abs(Decimal(ticker["price"]) / 50000 - 1) < Decimal("0.25")  # the path starts at 50,000
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "2"
    assert {t["symbol"] for t in client.get_symbol_ticker()} == {"BTCUSDT", "ETHUSDT", "BNBUSDT", "ETHBTC"}
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "6"
    assert api_error(client.get_symbol_ticker, symbol="XXXUSDT").code == -1121


# -- SIGNED endpoints ------------------------------------------------------------------------


def test_account_shape(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    account = client.get_account()
    assert account["canTrade"] is True and account["canDeposit"] is True
    assert account["canWithdraw"] is False
    assert account["accountType"] == "SPOT" and account["permissions"] == ["SPOT"]
    assert isinstance(account["uid"], int) and isinstance(account["updateTime"], int)
    assert account["makerCommission"] == 10 and "commissionRates" in account
    balances = {b["asset"]: b for b in account["balances"]}
    assert balances["USDT"] == {"asset": "USDT", "free": "10000.00000000", "locked": "0.00000000"}
    assert balances["BTC"]["free"] == "0.50000000"
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "20"


def test_order_test_accepts_valid_orders(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    assert client.create_test_order(**LIMIT, quantity="0.0001", price="50000.00") == {}
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    market = {"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET"}
    assert client.create_test_order(**market, quantity="0.001") == {}
    assert client.create_test_order(**market, quoteOrderQty="12.5") == {}
    rates = client.create_test_order(**market, quoteOrderQty="10", computeCommissionRates="true")
    assert rates["standardCommissionForOrder"] == {"maker": "0.00100000", "taker": "0.00100000"}
    assert set(rates) == {
        "standardCommissionForOrder",
        "specialCommissionForOrder",
        "taxCommissionForOrder",
        "discount",
    }
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "23"


def test_order_test_ignores_balances(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(balances={"USDT": "0"}))
    assert client.create_test_order(**LIMIT, quantity="1", price="50000.00") == {}


@pytest.mark.parametrize(
    ("order", "failed_filter"),
    [
        ({**LIMIT, "quantity": "0.001", "price": "50000.005"}, "PRICE_FILTER"),
        ({**LIMIT, "quantity": "0.001", "price": "0.001"}, "PRICE_FILTER"),
        ({**LIMIT, "quantity": "0.000015", "price": "50000"}, "LOT_SIZE"),
        ({**LIMIT, "quantity": "9001", "price": "50000"}, "LOT_SIZE"),
        ({**LIMIT, "quantity": "0.00009", "price": "50000"}, "MIN_NOTIONAL"),
        ({**LIMIT, "quantity": "200", "price": "50000"}, "NOTIONAL"),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "150"},
            "MARKET_LOT_SIZE",
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quoteOrderQty": "4"},
            "MIN_NOTIONAL",
        ),
    ],
)
def test_order_test_filter_failures(
    served: Served, client_for: ClientFactory, order: dict[str, str], failed_filter: str
) -> None:
    error = api_error(client_for(served).create_test_order, **order)
    assert (error.status_code, error.code) == (400, -1013)
    assert error.message == f"Filter failure: {failed_filter}"


@pytest.mark.parametrize(
    ("order", "code", "msg"),
    [
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "1"},
            -1102,
            "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
        ),
        (
            {**LIMIT, "quantity": "0.001"},
            -1102,
            "Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
        ),
        (
            {**LIMIT, "price": "50000"},
            -1102,
            "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
        ),
        (
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET"},
            -1102,
            "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
        ),
        (
            {"symbol": "BTCUSDT", "type": "MARKET", "quantity": "1"},
            -1102,
            "Mandatory parameter 'side' was not sent, was empty/null, or malformed.",
        ),
        ({**LIMIT, "symbol": "FOOBAR", "quantity": "1", "price": "1"}, -1121, "Invalid symbol."),
        ({**LIMIT, "quantity": 1e-05, "price": "50000"}, -1100, None),
    ],
)
def test_order_test_parameter_errors(
    served: Served, client_for: ClientFactory, order: dict[str, Any], code: int, msg: str | None
) -> None:
    error = api_error(client_for(served).create_test_order, **order)
    assert (error.status_code, error.code) == (400, code)
    if msg is not None:
        assert error.message == msg


def test_sapi_on_mainnet(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    restrictions = client.get_account_api_permissions()
    assert restrictions["ipRestrict"] is True and restrictions["enableWithdrawals"] is False
    assert restrictions["enableReading"] is True
    assert restrictions["enableSpotAndMarginTrading"] is True
    assert set(restrictions) >= {
        "createTime",
        "enableInternalTransfer",
        "enableMargin",
        "enableFutures",
        "permitsUniversalTransfer",
        "enableVanillaOptions",
        "enablePortfolioMarginTrading",
        "enableFixApiTrade",
        "enableFixReadOnly",
    }
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "1"
    assert client.get_system_status() == {"status": 0, "msg": "normal"}


def test_sapi_is_404_on_testnet(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(network="testnet"))
    for call in (client.get_system_status, client.get_account_api_permissions):
        error = api_error(call)
        assert error.status_code == 404 and error.code == -1


# -- error paths -----------------------------------------------------------------------------


def test_timestamp_ahead_of_server(served: Served, http: httpx.Client) -> None:
    secret = served.emulator.api_secret
    query = signed_query(secret, {}, timestamp=int(time.time() * 1000) + 1500)
    response = http.get(
        f"{served.url}/api/v3/account?{query}", headers={"X-MBX-APIKEY": served.emulator.api_key}
    )
    assert_error(response, 400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def test_timestamp_outside_recv_window(served: Served, http: httpx.Client) -> None:
    secret = served.emulator.api_secret
    query = signed_query(secret, {"recvWindow": 5000}, timestamp=int(time.time() * 1000) - 6000)
    response = http.get(
        f"{served.url}/api/v3/account?{query}", headers={"X-MBX-APIKEY": served.emulator.api_key}
    )
    assert_error(response, 400, -1021, "Timestamp for this request is outside of the recvWindow.")
    inside = signed_query(secret, {"recvWindow": 8000}, timestamp=int(time.time() * 1000) - 6000)
    ok = http.get(f"{served.url}/api/v3/account?{inside}", headers={"X-MBX-APIKEY": served.emulator.api_key})
    assert ok.status_code == 200


def test_recv_window_above_limit(served: Served, http: httpx.Client) -> None:
    query = signed_query(served.emulator.api_secret, {"recvWindow": 60001})
    response = http.get(
        f"{served.url}/api/v3/account?{query}", headers={"X-MBX-APIKEY": served.emulator.api_key}
    )
    assert_error(response, 400, -1131, "recvWindow must be less than 60000")


def test_signature_checked_over_raw_query_and_body(served: Served, http: httpx.Client) -> None:
    """Binance's "mixed" example: part of the params in the query, the rest in the body."""
    secret, key = served.emulator.api_secret, served.emulator.api_key
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.001&price=50000.00&timestamp={int(time.time() * 1000)}"
    headers = {"X-MBX-APIKEY": key, "Content-Type": "application/x-www-form-urlencoded"}
    url = f"{served.url}/api/v3/order/test?{query}"
    good = http.post(url, content=f"{body}&signature={sign(secret, query + body)}", headers=headers)
    assert good.status_code == 200 and good.json() == {}
    joined = sign(secret, f"{query}&{body}")
    bad = http.post(url, content=f"{body}&signature={joined}", headers=headers)
    assert_error(bad, 400, -1022, "Signature for this request is not valid.")


def test_wrong_secret_is_1022(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served, api_secret="x" * 64)
    error = api_error(client.get_account)
    assert (error.status_code, error.code) == (400, -1022)
    assert error.message == "Signature for this request is not valid."


def test_missing_api_key_is_2014(served: Served, http: httpx.Client) -> None:
    query = signed_query(served.emulator.api_secret, {})
    assert_error(http.get(f"{served.url}/api/v3/account?{query}"), 401, -2014, "API-key format invalid.")
    malformed = http.get(f"{served.url}/api/v3/account?{query}", headers={"X-MBX-APIKEY": "not a key"})
    assert_error(malformed, 401, -2014, "API-key format invalid.")


def test_unknown_api_key_is_2015(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served, api_key="k" * 64)
    error = api_error(client.get_account)
    assert (error.status_code, error.code) == (401, -2015)
    assert error.message == "Invalid API-key, IP, or permissions for action."


def test_weight_limit_gives_429_then_418_ban(served: Served, http: httpx.Client) -> None:
    served.emulator.add_weight(5999)
    assert http.get(f"{served.url}/api/v3/ping").status_code == 200
    limited = http.get(f"{served.url}/api/v3/ping")
    assert_error(
        limited,
        429,
        -1003,
        "Too many requests; current limit of IP(127.0.0.1) request weight per 1 MINUTE is 6000. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
    )
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-MBX-USED-WEIGHT-1M"] == "6000"
    for _ in range(3):
        assert http.get(f"{served.url}/api/v3/ping").status_code == 429
    banned = http.get(f"{served.url}/api/v3/ping")
    assert banned.status_code == 418 and banned.json()["code"] == -1003
    assert banned.json()["msg"].startswith("Way too many requests; IP(127.0.0.1) banned until ")
    assert banned.json()["msg"].endswith("Please use the websocket for live updates to avoid bans.")
    assert int(banned.headers["Retry-After"]) == 120


def test_python_binance_sees_429_code(served: Served, client_for: ClientFactory) -> None:
    served.emulator.add_weight(6000)
    error = api_error(client_for(served).get_exchange_info)
    assert (error.status_code, error.code) == (429, -1003)
    assert error.response.headers["Retry-After"]


def test_unknown_path_and_wrong_method(served: Served, http: httpx.Client) -> None:
    missing = http.get(f"{served.url}/api/v3/nothing")
    assert missing.status_code == 404 and missing.json()["code"] == -1
    assert "X-MBX-USED-WEIGHT-1M" in missing.headers
    wrong = http.post(f"{served.url}/api/v3/time")
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET"


def test_order_lists_and_fund_movements_refused_and_logged(served: Served, http: httpx.Client) -> None:
    """The paper exchange trades single orders and moves nothing: the rest is refused, as Binance
    refuses it (order lists: an error naming what is missing; withdrawals: no permission)."""
    served.emulator.set_faults(["binance_mainnet_flavor"])
    oco = http.post(f"{served.url}/api/v3/orderList/oco", content="symbol=BTCUSDT")
    assert oco.status_code == 400 and oco.json()["code"] == -1
    assert "single spot orders" in oco.json()["msg"]
    withdraw = http.post(f"{served.url}/sapi/v1/capital/withdraw/apply", content="coin=BTC")
    assert withdraw.status_code == 401
    assert withdraw.json() == {"code": -1002, "msg": "You are not authorized to execute this request."}
    assert [(r.path, r.status) for r in served.emulator.requests] == [
        ("/api/v3/orderList/oco", 400),
        ("/sapi/v1/capital/withdraw/apply", 401),
    ]


def test_request_log_records_every_request(served: Served, client_for: ClientFactory) -> None:
    client = client_for(served)
    started = time.time()
    client.ping()
    client.get_account()
    client.create_test_order(**LIMIT, quantity="0.001", price="50000.00")
    api_error(client.get_symbol_ticker, symbol="NOPE")
    log = served.emulator.requests
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/api/v3/ping", 200),
        ("GET", "/api/v3/account", 200),
        ("POST", "/api/v3/order/test", 200),
        ("GET", "/api/v3/ticker/price", 400),
    ]
    assert "timestamp=" in log[1].query and "signature=" in log[2].body
    assert all(started - 1 <= r.time <= time.time() for r in log)
    safe = {("GET", p) for p in ("/api/v3/ping", "/api/v3/account", "/api/v3/ticker/price")}
    assert {(r.method, r.path) for r in log} <= safe | {("POST", "/api/v3/order/test")}


def test_latency_delays_every_response(serve: ServeFactory, http: httpx.Client) -> None:
    slow = serve(latency_ms=200)
    started = time.monotonic()
    assert http.get(f"{slow.url}/api/v3/ping").status_code == 200
    assert time.monotonic() - started >= 0.2


# -- async client ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_client_end_to_end(served: Served) -> None:
    async_class: Any = type("EmulatorAsyncClient", (AsyncClient,), python_binance_urls(served.url))
    client = await async_class.create(served.emulator.api_key, served.emulator.api_secret)
    try:
        assert (await client.get_server_time())["serverTime"] > 0
        assert (await client.get_account())["accountType"] == "SPOT"
        order = {**LIMIT, "quantity": "0.001", "price": "50000.00"}
        assert await client.create_test_order(**order) == {}
        assert (await client.get_account_api_permissions())["enableWithdrawals"] is False
        with pytest.raises(BinanceAPIException) as caught:
            await client.create_test_order(**{**order, "quantity": "0.000015"})
        assert caught.value.code == -1013 and caught.value.message == "Filter failure: LOT_SIZE"
    finally:
        await client.close_connection()


@pytest.mark.asyncio
async def test_async_client_sees_auth_errors(served: Served) -> None:
    async_class: Any = type("EmulatorAsyncClient", (AsyncClient,), python_binance_urls(served.url))
    client = async_class(served.emulator.api_key, "wrong-secret")
    try:
        with pytest.raises(BinanceAPIException) as caught:
            await client.get_account()
        assert (caught.value.status_code, caught.value.code) == (400, -1022)
    finally:
        await client.close_connection()


# -- faults ----------------------------------------------------------------------------------


def test_fault_down(serve: ServeFactory, http: httpx.Client) -> None:
    down = serve(faults=["binance_down"])
    response = http.get(f"{down.url}/api/v3/ping")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "503 Service Temporarily Unavailable" in response.text


def test_fault_clock_skew_keeps_signed_calls_working(
    serve: ServeFactory, client_for: ClientFactory, http: httpx.Client
) -> None:
    skewed = serve(faults=["binance_clock_skew"])
    local = int(time.time() * 1000)
    server = http.get(f"{skewed.url}/api/v3/time").json()["serverTime"]
    assert 2900 <= server - local <= 3100
    assert client_for(skewed).get_account()["canTrade"] is True
    query = signed_query(skewed.emulator.api_secret, {"recvWindow": 5000})
    default_window = http.get(
        f"{skewed.url}/api/v3/account?{query}", headers={"X-MBX-APIKEY": skewed.emulator.api_key}
    )
    assert default_window.status_code == 200


def test_fault_clock_behind(serve: ServeFactory, client_for: ClientFactory, http: httpx.Client) -> None:
    behind = serve(faults=["binance_clock_behind"])
    server = http.get(f"{behind.url}/api/v3/time").json()["serverTime"]
    assert 9900 <= int(time.time() * 1000) - server <= 10100
    error = api_error(client_for(behind).get_account)
    assert (error.status_code, error.code) == (400, -1021)
    assert error.message == "Timestamp for this request was 1000ms ahead of the server's time."


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ("binance_key_rejected", 401, -2015),
        ("binance_bad_signature", 400, -1022),
        ("binance_key_format", 401, -2014),
    ],
)
def test_fault_auth(
    serve: ServeFactory, client_for: ClientFactory, fault: str, status: int, code: int
) -> None:
    target = serve(network="mainnet", faults=[fault])
    client = client_for(target)
    assert client.get_exchange_info()["symbols"]
    for call in (client.get_account, client.get_account_api_permissions):
        error = api_error(call)
        assert (error.status_code, error.code) == (status, code)


def test_fault_cannot_trade(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(network="mainnet", faults=["binance_cannot_trade"]))
    account = client.get_account()
    assert account["canTrade"] is False and "SPOT" not in account["permissions"]
    assert client.get_account_api_permissions()["enableSpotAndMarginTrading"] is False


def test_fault_withdrawals_enabled(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(network="mainnet", faults=["binance_withdrawals_enabled"]))
    assert client.get_account_api_permissions()["enableWithdrawals"] is True
    assert client.get_account()["canWithdraw"] is True


def test_fault_ip_unrestricted(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(network="mainnet", faults=["binance_ip_unrestricted"]))
    assert client.get_account_api_permissions()["ipRestrict"] is False


def test_fault_maintenance(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(network="mainnet", faults=["binance_maintenance"]))
    assert client.get_system_status() == {"status": 1, "msg": "system_maintenance"}


def test_fault_low_balance(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(faults=["binance_low_balance"]))
    balances = {b["asset"]: b["free"] for b in client.get_account()["balances"]}
    assert balances["USDT"] == "10.00000000"


def test_fault_symbol_halted(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(faults=["binance_symbol_halted"]))
    info = client.get_symbol_info("BTCUSDT")
    assert info["status"] == "BREAK" and info["isSpotTradingAllowed"] is False
    assert client.get_symbol_info("ETHUSDT")["status"] == "TRADING"
    error = api_error(client.create_test_order, **LIMIT, quantity="0.001", price="50000.00")
    assert (error.code, error.message) == (-2010, "Market is closed.")


def test_fault_order_rejected(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(faults=["binance_order_rejected"]))
    notional = next(f for f in client.get_symbol_info("BTCUSDT")["filters"] if f["filterType"] == "NOTIONAL")
    assert notional["minNotional"] == "5.00000000"
    error = api_error(client.create_test_order, **LIMIT, quantity="0.0001", price="50000.00")
    assert (error.code, error.message) == (-1013, "Filter failure: NOTIONAL")


def test_fault_filter_mismatch_breaks_only_step_edges(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(faults=["binance_filter_mismatch"]))
    info = client.get_symbol_info("BTCUSDT")
    lot = next(f for f in info["filters"] if f["filterType"] == "LOT_SIZE")
    assert lot["stepSize"] == "0.00001000"
    price = Decimal("50000.00")  # a LIMIT order's own price, where 5 USDT is exactly 0.0001 BTC
    smallest = (Decimal("5") / price).quantize(Decimal(lot["stepSize"]))
    assert smallest * price >= 5
    assert client.create_test_order(**LIMIT, quantity=str(smallest), price=str(price)) == {}
    edge = str(smallest + Decimal(lot["stepSize"]))
    error = api_error(client.create_test_order, **LIMIT, quantity=edge, price=str(price))
    assert (error.code, error.message) == (-1013, "Filter failure: LOT_SIZE")


def test_fault_weight_high(serve: ServeFactory, http: httpx.Client) -> None:
    heavy = serve(faults=["binance_weight_high"])
    for _ in range(3):
        response = http.get(f"{heavy.url}/api/v3/ping")
        assert response.status_code == 200
        assert 5900 <= int(response.headers["X-MBX-USED-WEIGHT-1M"]) < 6000


def test_fault_rate_limited(serve: ServeFactory, client_for: ClientFactory) -> None:
    limited = serve(faults=["binance_rate_limited"])
    error = api_error(client_for(limited).ping)
    assert (error.status_code, error.code) == (429, -1003)
    assert error.response.headers["Retry-After"] == "30"


def test_fault_banned(serve: ServeFactory, client_for: ClientFactory) -> None:
    error = api_error(client_for(serve(faults=["binance_banned"])).get_server_time)
    assert (error.status_code, error.code) == (418, -1003)
    assert error.response.headers["Retry-After"] == "120"


def test_fault_mainnet_flavor(serve: ServeFactory, client_for: ClientFactory) -> None:
    client = client_for(serve(network="testnet", faults=["binance_mainnet_flavor"]))
    assert client.get_system_status() == {"status": 0, "msg": "normal"}


def test_fault_hang_times_out_and_server_still_stops(serve: ServeFactory) -> None:
    hung = serve(faults=["binance_hang"])
    started = time.monotonic()
    with httpx.Client(timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
        http.get(f"{hung.url}/api/v3/ping")
    assert time.monotonic() - started < 2
    assert [(r.path, r.status) for r in hung.emulator.requests] == [("/api/v3/ping", None)]


def test_fault_trickle_sends_one_byte_per_half_second(serve: ServeFactory, http: httpx.Client) -> None:
    slow = serve(faults=["binance_trickle"])
    started = time.monotonic()
    response = http.get(f"{slow.url}/api/v3/ping")
    assert response.json() == {}
    assert time.monotonic() - started >= 1.0
    with pytest.raises(httpx.ReadTimeout), httpx.Client(timeout=0.3) as impatient:
        impatient.get(f"{slow.url}/api/v3/time")
