"""Component layer, Binance: reachability, clock, API key, account, symbol, orders, rate limit.

Thin checks over :mod:`readiness.probes.binance`, whose probes all start at session start. The
dependencies make one root cause read as one failure: an unreachable exchange blocks every other
Binance check, a rejected key blocks everything signed, a skewed clock blocks the key check
(its signed calls would fail with -1021 for the clock's sake, not the key's).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

import pytest

from readiness.context import CheckContext
from readiness.probes import binance
from readiness.probes.network import ProbeSet, ProbeTimeout
from readiness.settings import BINANCE_URLS

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONNECTIVITY = "binance.connectivity"
KEY_VALID = "binance.api_key_valid"
ENDPOINT = "binance.endpoint_matches_target"
#: The share of the per-minute request weight above which the bot is about to be throttled.
WEIGHT_FAIL_PCT = 80.0
WEIGHT_WARN_PCT = 50.0
SLOW_PING_MS = 1000.0


async def probe(readiness: CheckContext, probes: ProbeSet, name: str) -> Any:
    """A probe's result; a probe past its own deadline fails the check (the exchange hung)."""
    try:
        return await probes.result(name)
    except ProbeTimeout as exc:
        readiness.fail(
            f"Binance probe {name}: {exc}",
            remediation=f"BINANCE_API_URL={readiness.settings.binance_api_url} took the request but did "
            "not finish answering: check the network path (proxy, firewall, MTU) and Binance's status.",
        )


def fail_on(readiness: CheckContext, error: binance.ApiError, skew_ms: float | None = None) -> NoReturn:
    """Fail with the error's own remediation (per Binance code, Retry-After, or transport)."""
    readiness.fail(error.describe(), remediation=binance.remediation_for(error, readiness.settings, skew_ms))


def require_key(readiness: CheckContext) -> None:
    """Skip, naming BINANCE_TESTNET_API_* on testnet or BINANCE_API_* on mainnet, without a key."""
    readiness.require(*binance.key_settings(readiness.settings))


async def signed(readiness: CheckContext, probes: ProbeSet, name: str) -> dict[str, Any]:
    require_key(readiness)
    reply: binance.Reply = await probe(readiness, probes, name)
    if reply.error is not None:
        fail_on(readiness, reply.error)
    return reply.data if isinstance(reply.data, dict) else {}


@pytest.mark.readiness(
    id=CONNECTIVITY,
    layer="component",
    tier=1,
    title="Binance answers ping and server time",
    remediation="Check BINANCE_API_URL, DNS, firewall and proxy on this host, and Binance's status page.",
    phases=("postdeploy",),
)
async def test_connectivity(readiness: CheckContext, probes: ProbeSet) -> None:
    connect: binance.Connect = await probe(readiness, probes, "binance.connect")
    if connect.error is not None:
        fail_on(readiness, connect.error)
    readiness.metric("ping round trip", round(connect.ping.rtt_ms, 1), unit="ms", threshold=SLOW_PING_MS)
    if connect.ping.rtt_ms > SLOW_PING_MS:
        readiness.warn(f"ping took {connect.ping.rtt_ms:.0f} ms; the bot's orders will be slow too")


@pytest.mark.readiness(
    id="binance.clock_skew",
    layer="component",
    tier=1,
    title="The local clock agrees with Binance's",
    remediation="Sync the clock (chrony/NTP) so signed requests stay inside recvWindow.",
    phases=("postdeploy",),
    depends=(CONNECTIVITY,),
)
async def test_clock_skew(readiness: CheckContext, probes: ProbeSet) -> None:
    connect: binance.Connect = await probe(readiness, probes, "binance.connect")
    if connect.time.error is not None:
        fail_on(readiness, connect.time.error)
    if connect.skew_ms is None:
        readiness.fail("GET /api/v3/time answered without a serverTime")
    skew, limit = connect.skew_ms, readiness.settings.max_clock_skew_ms
    readiness.metric("clock skew", round(abs(skew), 1), unit="ms", threshold=limit)
    readiness.metric("server time round trip", round(connect.time.rtt_ms, 1), unit="ms")
    side = "behind" if skew > 0 else "ahead of"
    what = f"the local clock is {abs(skew):.0f} ms {side} Binance's"
    if abs(skew) > limit:
        readiness.fail(
            f"{what} (limit {limit:g} ms)",
            remediation=f"sync the clock (chrony/NTP); measured skew {skew:.0f} ms",
        )
    if abs(skew) > limit / 2:
        readiness.warn(f"{what}, over half the {limit:g} ms limit: sync the clock (chrony/NTP)")


@pytest.mark.readiness(
    id=KEY_VALID,
    layer="component",
    tier=1,
    title="The API key and secret are accepted for signed calls",
    remediation="Create the API key again and set its key and secret for this target's network.",
    phases=("postdeploy",),
    depends=(CONNECTIVITY, "binance.clock_skew"),
)
async def test_api_key_valid(readiness: CheckContext, probes: ProbeSet) -> None:
    require_key(readiness)
    reply: binance.Reply = await probe(readiness, probes, "binance.account")
    if reply.error is not None:
        connect: binance.Connect = await probe(readiness, probes, "binance.connect")
        fail_on(readiness, reply.error, connect.skew_ms)


@pytest.mark.readiness(
    id=ENDPOINT,
    layer="component",
    tier=1,
    title="The Binance endpoint and keys belong to the target's network",
    remediation="Use BINANCE_TESTNET_API_* keys and the testnet URL on target testnet, BINANCE_API_* "
    "keys and api.binance.com on target mainnet.",
    phases=("postdeploy",),
    depends=(CONNECTIVITY,),
)
async def test_endpoint_matches_target(readiness: CheckContext, probes: ProbeSet) -> None:
    settings = readiness.settings
    expected = settings.network
    key_name, _ = binance.key_settings(settings)
    other = "binance_testnet_api_key" if expected == "mainnet" else "binance_api_key"
    if not getattr(settings, key_name) and getattr(settings, other):
        readiness.fail(
            f"target {settings.target} uses {settings.env_name(key_name)}, which is not set, "
            f"but {settings.env_name(other)} is: those keys belong to the other network",
            remediation=f"Set {settings.env_name(key_name)} and its secret for the {expected} network "
            f"(target {settings.target}).",
        )
    endpoint: binance.Endpoint = await probe(readiness, probes, "binance.endpoint")
    if endpoint.network is None:
        assert endpoint.reply is not None and endpoint.reply.error is not None
        fail_on(readiness, endpoint.reply.error)
    if mismatch := binance.network_mismatch(endpoint, settings):
        default = BINANCE_URLS[expected]
        readiness.fail(
            mismatch,
            remediation=f"Point BINANCE_API_URL at the {expected} API ({default}) or pick the target that "
            f"matches it; {expected} keys go in {settings.env_name(key_name)}.",
        )


@pytest.mark.readiness(
    id="binance.can_trade",
    layer="component",
    tier=1,
    title="The account and key may trade spot",
    remediation="Enable 'Enable Spot & Margin Trading' on the API key and make sure the account may "
    "trade spot (no trading restrictions on it).",
    phases=("postdeploy",),
    depends=(KEY_VALID,),
)
async def test_can_trade(readiness: CheckContext, probes: ProbeSet) -> None:
    account = await signed(readiness, probes, "binance.account")
    data = None
    if readiness.settings.network == "mainnet":
        restrictions: binance.Reply | None = await probe(readiness, probes, "binance.api_restrictions")
        data = restrictions.data if restrictions and isinstance(restrictions.data, dict) else {}
    if problems := binance.spot_trading_problems(account, data):
        readiness.fail("; ".join(problems))


def _mainnet_only(readiness: CheckContext) -> None:
    if readiness.settings.network != "mainnet":
        readiness.not_applicable("testnet has no /sapi (checked on mainnet only)")


@pytest.mark.readiness(
    id="binance.withdrawals_disabled",
    layer="component",
    tier=1,
    title="The API key cannot withdraw",
    remediation="Disable 'Enable Withdrawals' on the API key (API Management); the bot never withdraws.",
    phases=("postdeploy",),
    depends=(KEY_VALID, ENDPOINT),
)
async def test_withdrawals_disabled(readiness: CheckContext, probes: ProbeSet) -> None:
    _mainnet_only(readiness)
    restrictions = await signed(readiness, probes, "binance.api_restrictions")
    if restrictions.get("enableWithdrawals") is not False:
        readiness.fail("apiRestrictions reports enableWithdrawals true: a leaked key could empty the account")


@pytest.mark.readiness(
    id="binance.ip_restricted",
    layer="component",
    tier=2,
    title="The API key works only from trusted IPs",
    remediation="In API Management, edit the key's restrictions: 'Restrict access to trusted IPs only' "
    "with this host's public IP.",
    phases=("postdeploy",),
    depends=(KEY_VALID, ENDPOINT),
)
async def test_ip_restricted(readiness: CheckContext, probes: ProbeSet) -> None:
    _mainnet_only(readiness)
    restrictions = await signed(readiness, probes, "binance.api_restrictions")
    if restrictions.get("ipRestrict") is not True:
        readiness.fail("apiRestrictions reports ipRestrict false: the key works from any IP")


@pytest.mark.readiness(
    id="binance.system_status",
    layer="component",
    tier=2,
    title="Binance reports normal operation",
    remediation="Wait until Binance ends its maintenance (see its announcements) before deploying.",
    phases=("postdeploy",),
    depends=(CONNECTIVITY, ENDPOINT),
)
async def test_system_status(readiness: CheckContext, probes: ProbeSet) -> None:
    _mainnet_only(readiness)
    reply: binance.Reply | None = await probe(readiness, probes, "binance.system_status")
    assert reply is not None
    if reply.error is not None:
        fail_on(readiness, reply.error)
    data = reply.data if isinstance(reply.data, dict) else {}
    if data.get("status") != 0:
        readiness.fail(f"system status {data.get('status')!r}: {data.get('msg', '')}")


@pytest.mark.readiness(
    id="binance.balance_sufficient",
    layer="component",
    tier=2,
    title="Enough free quote asset to trade",
    remediation="Deposit the quote asset, or lower READINESS_MIN_BALANCE / READINESS_RECOMMENDED_BALANCE.",
    phases=("postdeploy",),
    depends=(KEY_VALID,),
)
async def test_balance_sufficient(readiness: CheckContext, probes: ProbeSet) -> None:
    settings = readiness.settings
    account = await signed(readiness, probes, "binance.account")
    asset = settings.quote_asset
    free = Decimal(0)
    for row in account.get("balances") or []:
        if isinstance(row, dict) and row.get("asset") == asset:
            try:
                free = Decimal(str(row.get("free")))
            except InvalidOperation:
                readiness.fail(f"account balance of {asset} is not a number: {row.get('free')!r}")
    readiness.metric(f"free {asset}", float(free), unit=asset, threshold=settings.min_balance)
    if free < Decimal(str(settings.min_balance)):
        readiness.fail(
            f"{free.normalize():f} {asset} free, below the minimum {settings.min_balance:g} {asset}"
        )
    if free < Decimal(str(settings.recommended_balance)):
        readiness.warn(
            f"{free.normalize():f} {asset} free, below the recommended "
            f"{settings.recommended_balance:g} {asset}"
        )


@pytest.mark.readiness(
    id="binance.symbol_tradable",
    layer="component",
    tier=1,
    title="The symbol trades on spot",
    remediation="Check READINESS_SYMBOL; if Binance halted the symbol, wait for trading to resume.",
    phases=("postdeploy",),
    depends=(CONNECTIVITY,),
)
async def test_symbol_tradable(readiness: CheckContext, probes: ProbeSet) -> None:
    settings = readiness.settings
    market: binance.Market = await probe(readiness, probes, "binance.market")
    if market.exchange_info.error is not None:
        if market.exchange_info.error.code == -1121:
            readiness.fail(
                f"Binance does not list symbol {settings.symbol}",
                remediation="Set READINESS_SYMBOL to a symbol this network lists (e.g. BTCUSDT).",
            )
        fail_on(readiness, market.exchange_info.error)
    symbol = market.symbol
    if symbol is None:
        readiness.fail(f"exchangeInfo has no entry for {settings.symbol}")
    problems = []
    if symbol.get("status") != "TRADING":
        problems.append(f"status {symbol.get('status')}")
    if symbol.get("isSpotTradingAllowed") is not True:
        problems.append("spot trading not allowed")
    if problems:
        readiness.fail(f"{settings.symbol} is not tradable: {', '.join(problems)}")
    if symbol.get("quoteAsset") != settings.quote_asset:
        readiness.warn(
            f"{settings.symbol} is quoted in {symbol.get('quoteAsset')}, not READINESS_QUOTE_ASSET="
            f"{settings.quote_asset}: the balance check looks at the wrong asset"
        )


@pytest.mark.readiness(
    id="binance.order_validation",
    layer="component",
    tier=1,
    title="The smallest valid order passes order/test",
    remediation="The exchange rejects an order its own filters allow: refresh the bot's exchangeInfo "
    "and compare the symbol's filters with what order/test enforces.",
    phases=("postdeploy",),
    depends=(KEY_VALID, "binance.symbol_tradable", "binance.can_trade"),
)
async def test_order_validation(readiness: CheckContext, probes: ProbeSet) -> None:
    require_key(readiness)
    result: binance.Orders | None = await probe(readiness, probes, "binance.order_test")
    assert result is not None  # the key is configured: the probe ran
    if isinstance(result.problem, binance.ApiError):
        fail_on(readiness, result.problem)
    if result.problem is not None or not result.orders:
        readiness.fail(str(result.problem or "no order could be built from the symbol's filters"))
    order = result.orders[0]
    notional = order.price * order.quantity
    readiness.metric("smallest order notional", float(notional), unit=readiness.settings.quote_asset)
    if order.reply.error is not None:
        error = order.reply.error
        what = (
            f"order/test rejected the smallest valid order {order.describe()}, notional "
            f"{binance.decimal_text(notional)}: {error.describe()}"
        )
        readiness.fail(what, remediation=binance.remediation_for(error, readiness.settings))


@pytest.mark.readiness(
    id="binance.rate_limit_headroom",
    layer="component",
    tier=3,
    title="The request weight per minute has headroom",
    remediation="Find what else spends request weight from this IP (another bot, a script polling REST) "
    "and move it to WebSocket streams: at the limit Binance answers 429, then bans the IP (418).",
    phases=("postdeploy",),
    depends=(CONNECTIVITY,),
)
async def test_rate_limit_headroom(readiness: CheckContext, probes: ProbeSet) -> None:
    market: binance.Market = await probe(readiness, probes, "binance.market")
    reply = market.exchange_info
    if reply.error is not None:
        fail_on(readiness, reply.error)
    used, limit = reply.used_weight, market.weight_limit
    if used is None:
        readiness.fail(f"{reply.request} answered without the {binance.WEIGHT_HEADER} header")
    if not limit:
        readiness.fail("exchangeInfo lists no REQUEST_WEIGHT limit per minute")
    share = 100.0 * used / limit
    readiness.metric("request weight used", used, threshold=limit)
    readiness.metric("request weight share", round(share, 1), unit="%", threshold=WEIGHT_FAIL_PCT)
    what = f"{used} of {limit} request weight used in the last minute ({share:.1f}%)"
    if share > WEIGHT_FAIL_PCT:
        readiness.fail(f"{what}, over {WEIGHT_FAIL_PCT:g}%: the bot is about to be throttled")
    if share > WEIGHT_WARN_PCT:
        readiness.warn(f"{what}, over {WEIGHT_WARN_PCT:g}%")
