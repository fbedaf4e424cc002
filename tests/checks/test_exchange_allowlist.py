"""SPEC §9: the harness never sends an exchange request that could move funds or place an order.

The allow-list lives in :func:`readiness.probes.binance.guard_request`, which the probes' client
calls before every request. These tests drive the real python-binance client at a live
emulator and read the emulator's request log: a refused call must not reach it at all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from readiness.probes.binance import ALLOWED_REQUESTS, RefusedRequest, guard_request, guarded_client
from readiness.sandbox.binance import BinanceEmulator
from readiness.sandbox.server import BackgroundServer
from readiness.settings import Settings

from ..helpers import run_catalogue

ORIGIN = "http://127.0.0.1:9"
ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
ORDER_ARGS = {**ORDER, "quantity": "0.0001", "price": "50000"}


@pytest.mark.parametrize(
    ("method", "url", "network", "with_key", "allowed"),
    [
        ("get", f"{ORIGIN}/api/v3/ping", "testnet", False, True),
        ("GET", f"{ORIGIN}/api/v3/account?timestamp=1&signature=x", "testnet", True, True),
        ("post", f"{ORIGIN}/api/v3/order/test", "mainnet", True, True),
        ("get", f"{ORIGIN}/sapi/v1/account/apiRestrictions", "mainnet", True, True),
        ("post", f"{ORIGIN}/api/v3/order", "mainnet", True, False),
        ("delete", f"{ORIGIN}/api/v3/order", "mainnet", True, False),
        ("get", f"{ORIGIN}/api/v3/order", "mainnet", True, False),
        ("post", f"{ORIGIN}/sapi/v1/capital/withdraw/apply", "mainnet", True, False),
        ("post", f"{ORIGIN}/api/v3/userDataStream", "mainnet", True, False),
        ("put", f"{ORIGIN}/api/v3/order/test", "mainnet", True, False),
        ("get", f"{ORIGIN}/api/v3/order/test/../../v3/order", "mainnet", True, False),
        ("post", f"{ORIGIN}/api/v3/order/test/", "mainnet", True, False),
        ("get", "https://api.binance.com/api/v3/ping", "mainnet", False, False),
        ("get", "http://127.0.0.1:10/api/v3/ping", "mainnet", False, False),
        ("get", "https://fapi.binance.com/fapi/v1/ping", "mainnet", False, False),
        # /sapi off mainnet: refused, except the keyless system/status that identifies a host.
        ("get", f"{ORIGIN}/sapi/v1/account/apiRestrictions", "testnet", True, False),
        ("get", f"{ORIGIN}/sapi/v1/system/status", "testnet", True, False),
        ("get", f"{ORIGIN}/sapi/v1/system/status", "testnet", False, True),
        ("WS", "wss://websocket-api/order.place", "mainnet", True, False),
    ],
)
def test_guard_allows_only_read_only_requests_and_order_test(
    method: str, url: str, network: str, with_key: bool, allowed: bool
) -> None:
    def guard() -> None:
        guard_request(method, url, origin=ORIGIN, network=network, with_key=with_key)

    if allowed:
        guard()
    else:
        with pytest.raises(RefusedRequest, match=r"^refused "):
            guard()


def test_allow_list_has_one_post_and_it_is_order_test() -> None:
    assert {path for method, path in ALLOWED_REQUESTS if method != "GET"} == {"/api/v3/order/test"}


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[tuple[BinanceEmulator, Settings]]:
    """A live emulator of the network named by the test's parameter, and settings pointing at it."""
    network: Literal["testnet", "mainnet"] = (
        "testnet" if getattr(request, "param", "mainnet") == "testnet" else "mainnet"
    )
    emulator = BinanceEmulator(network=network)
    with BackgroundServer(emulator.make_app()) as server:
        target = "sandbox" if network == "mainnet" else "testnet"
        settings = Settings(
            target=target,
            binance_api_url=server.url,
            binance_api_key=emulator.api_key,
            binance_api_secret=emulator.api_secret,
            binance_testnet_api_key=emulator.api_key,
            binance_testnet_api_secret=emulator.api_secret,
        )
        yield emulator, settings


Call = Callable[[Any], Awaitable[Any]]
REFUSED_CALLS: dict[str, Call] = {
    "live order": lambda c: c.create_order(**ORDER_ARGS),
    "market buy": lambda c: c.order_market_buy(symbol="BTCUSDT", quantity="0.0001"),
    "cancel order": lambda c: c.cancel_order(symbol="BTCUSDT", orderId=1),
    "withdraw": lambda c: c.withdraw(coin="USDT", address="TXYZ", amount="100"),
    "universal transfer": lambda c: c.universal_transfer(type="MAIN_UMFUTURE", asset="USDT", amount="1"),
    "listen key (other POST)": lambda c: c.stream_get_listen_key(),
    "futures order (other origin)": lambda c: c.futures_create_order(**ORDER_ARGS),
    "websocket order": lambda c: c.ws_create_order(**ORDER_ARGS),
}


@pytest.mark.parametrize("name", list(REFUSED_CALLS))
def test_refused_calls_never_reach_the_exchange(
    emulator: tuple[BinanceEmulator, Settings], name: str
) -> None:
    server, settings = emulator

    async def attempt() -> None:
        async with guarded_client(settings) as client:
            with pytest.raises(RefusedRequest):
                await REFUSED_CALLS[name](client)
            await client.create_test_order(**ORDER_ARGS)  # the control: allowed, and logged

    asyncio.run(attempt())
    assert [(r.method, r.path) for r in server.requests] == [("POST", "/api/v3/order/test")]


@pytest.mark.parametrize("emulator", ["testnet"], indirect=True)
def test_signed_sapi_is_refused_off_mainnet(emulator: tuple[BinanceEmulator, Settings]) -> None:
    """python-binance with ``testnet=True`` would send these to mainnet; here they go nowhere."""
    server, settings = emulator

    async def attempt() -> None:
        async with guarded_client(settings) as client:
            with pytest.raises(RefusedRequest, match="/sapi is used on the mainnet network only"):
                await client.get_account_api_permissions()
        async with guarded_client(settings, with_key=False) as keyless:
            await keyless.ping()

    asyncio.run(attempt())
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/api/v3/ping")]


RECORDER = """
import json, os
from readiness.state import sandbox_key

def pytest_sessionfinish(session):
    sandbox = session.config.stash.get(sandbox_key, None)
    records = [] if sandbox is None else sandbox.binance.requests
    with open(os.environ["BINANCE_REQUEST_LOG"], "w") as log:
        json.dump([[r.method, r.path, r.status, r.harness] for r in records], log)
"""


def test_a_whole_sandbox_preflight_stays_inside_the_allow_list(tmp_path: Path) -> None:
    (tmp_path / "binance_request_log.py").write_text(RECORDER, encoding="utf-8")
    log = tmp_path / "requests.json"
    report = run_catalogue(
        tmp_path,
        "-p",
        "binance_request_log",
        "-m",
        "preflight",
        "--target",
        "sandbox",
        env={"PYTHONPATH": str(tmp_path), "BINANCE_REQUEST_LOG": str(log)},
    )
    requests = json.loads(log.read_text("utf-8"))
    binance_checks = [c for c in report["checks"] if c["id"].startswith(("binance.", "integration.filters"))]
    assert binance_checks and all(c["outcome"] == "passed" for c in binance_checks), binance_checks
    seen = {(method, path) for method, path, _, harness in requests if harness}
    assert ("POST", "/api/v3/order/test") in seen and ("GET", "/api/v3/account") in seen
    assert seen <= ALLOWED_REQUESTS, seen - ALLOWED_REQUESTS
    # everything else is the sandbox's bot buying its opening positions
    others = [(method, path, status) for method, path, status, harness in requests if not harness]
    assert {(m, p) for m, p, _ in others} - {("POST", "/api/v3/order")} <= {("GET", "/api/v3/ping")}, others
    assert [s for m, p, s in others if p == "/api/v3/order"] == [200, 200]
