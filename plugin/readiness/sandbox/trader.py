"""How the reference bot trades: python-binance's AsyncClient, pointed at ``BINANCE_API_URL``.

The bot opens its positions with real market orders on the sandbox's paper exchange, so the
positions it records come from fills, and the exchange's balances move with them (commission
included). python-binance is imported on first use: a bot that never trades does not pay for it.
"""

from __future__ import annotations

import asyncio
import functools
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

__all__ = ["OPENING_ORDERS", "USER_AGENT", "Position", "TradeError", "open_positions", "position_from_fills"]

#: How the bot names itself to the exchange (and in the sandbox's request journal).
USER_AGENT: Final = "readiness-sandbox-bot"

#: (symbol, base asset, quantity) bought at market when the bot starts on an empty positions DB.
OPENING_ORDERS: Final[tuple[tuple[str, str, str], ...]] = (
    ("BTCUSDT", "BTC", "0.5"),
    ("ETHUSDT", "ETH", "5"),
)

ORDER_TIMEOUT_S: Final = 2.0
#: The longest Retry-After the bot waits out before its one retry of a rate-limited order.
RETRY_AFTER_MAX_S: Final = 2.0


class TradeError(Exception):
    """An order the exchange refused, filled nothing, or got no answer in time."""

    def __init__(self, message: str, opened: list[Position] | None = None) -> None:
        super().__init__(message)
        #: The positions opened before this failure: the exchange holds them all the same.
        self.opened = opened or []


@dataclass(frozen=True)
class Position:
    """What one filled market order leaves the bot holding."""

    symbol: str
    #: What the account gained: the filled quantity minus commission paid in the base asset.
    qty: float
    #: What the order filled, before commission.
    filled_qty: float
    avg_price: float
    order_id: int


def position_from_fills(order: Mapping[str, Any], base_asset: str) -> Position:
    """A FULL order response as a position: quantities in Decimal, so 0.5 - 0.0005 stays exact."""
    filled = Decimal(order["executedQty"])
    if filled <= 0:
        raise TradeError(f"{order['symbol']}: order {order['orderId']} filled nothing ({order['status']})")
    fee = sum(
        (Decimal(f["commission"]) for f in order.get("fills", []) if f["commissionAsset"] == base_asset),
        Decimal(0),
    )
    return Position(
        symbol=order["symbol"],
        qty=float(filled - fee),
        filled_qty=float(filled),
        avg_price=float(Decimal(order["cummulativeQuoteQty"]) / filled),
        order_id=int(order["orderId"]),
    )


async def open_positions(
    api_url: str, api_key: str, api_secret: str, warn: Callable[[str], None]
) -> list[Position]:
    """Buy :data:`OPENING_ORDERS` at market, in order; the first failure stops there (TradeError,
    carrying the positions opened before it, so the bot records what the exchange really holds).

    An order turned away as rate-limited (429 with Retry-After) is tried once more after the wait,
    which ``warn`` reports.
    """
    client = _client_class()(api_url, api_key, api_secret)
    opened: list[Position] = []
    try:
        for symbol, base_asset, qty in OPENING_ORDERS:
            try:
                order = await _buy(client, symbol, qty, warn)
                opened.append(position_from_fills(order, base_asset))
            except TradeError as exc:
                raise TradeError(str(exc), opened) from None
            except Exception as exc:  # python-binance raises its own, aiohttp's and asyncio's errors
                raise TradeError(f"market BUY {qty} {symbol} failed: {_describe(exc)}", opened) from None
    finally:
        await client.close_connection()
    return opened


async def _buy(client: Any, symbol: str, qty: str, warn: Callable[[str], None]) -> dict[str, Any]:
    buy = functools.partial(client.order_market_buy, symbol=symbol, quantity=qty, newOrderRespType="FULL")
    try:
        return await buy()  # type: ignore[no-any-return]
    except Exception as exc:
        wait = _retry_after(exc)
        if wait is None:
            raise
        warn(f"market BUY {qty} {symbol} rate-limited ({_describe(exc)}); retrying in {wait:g} s")
    await asyncio.sleep(wait)
    return await buy()  # type: ignore[no-any-return]


def _retry_after(exc: BaseException) -> float | None:
    """The wait a 429 asks for, when it asks for one the bot is willing to wait out."""
    response = getattr(exc, "response", None)
    if getattr(exc, "status_code", None) != 429 or response is None:
        return None
    try:
        wait = float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
    return wait if 0 <= wait <= RETRY_AFTER_MAX_S else None


def _describe(exc: BaseException) -> str:
    status, code, message = (getattr(exc, name, None) for name in ("status_code", "code", "message"))
    if code is not None:
        return f"HTTP {status}, code {code}: {message}"
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {ORDER_TIMEOUT_S:g} s"
    return f"{type(exc).__name__}: {exc}"


def _client_class() -> type[Any]:
    import aiohttp

    with warnings.catch_warnings():
        # python-binance imports a name websockets deprecated; that is python-binance's to fix.
        warnings.simplefilter("ignore", DeprecationWarning)
        from binance import AsyncClient

    class BotClient(AsyncClient):  # type: ignore[misc]
        """AsyncClient whose /api calls go to ``api_url`` and say who sends them."""

        def __init__(self, api_url: str, api_key: str, api_secret: str) -> None:
            super().__init__(
                api_key,
                api_secret,
                requests_params={"timeout": aiohttp.ClientTimeout(total=ORDER_TIMEOUT_S)},
                loop=asyncio.get_running_loop(),
            )
            self.API_URL = self.API_TESTNET_URL = f"{api_url.rstrip('/')}/api"

        def _get_headers(self) -> dict[str, str]:
            return {**super()._get_headers(), "User-Agent": USER_AGENT}

    return BotClient
