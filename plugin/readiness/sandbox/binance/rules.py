"""The matching engine's front door: what an order must carry and which filters it must pass.

``order/test`` and ``order`` share it, so a test order is refused exactly when a real one would be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .protocol import BinanceError, Call, decimal_param, filter_failure, mandatory
from .venue import Symbol, Venue

ORDER_TYPES = (
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
)
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
#: Types that trade at the market when they run (at once, or when their stop triggers).
MARKET_TYPES = ("MARKET", "STOP_LOSS", "TAKE_PROFIT")
RESPONSE_TYPES = ("ACK", "RESULT", "FULL")


@dataclass(frozen=True)
class OrderRequest:
    """An order that passed every rule: what the matching engine is asked to do."""

    symbol: Symbol
    side: str
    type: str
    time_in_force: str | None
    quantity: Decimal | None
    quote_quantity: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    client_order_id: str | None
    response_type: str


def validate(venue: Venue, call: Call) -> OrderRequest:
    """Mandatory parameters, then trading status, then filters, in Binance's order."""
    params = call.params
    for name in ("symbol", "side", "type"):
        if not params.get(name):
            raise mandatory(name)
    symbol = venue.lookup(params["symbol"])
    if params["side"] not in ("BUY", "SELL"):
        raise BinanceError(400, -1117, "Invalid side.")
    order_type = params["type"]
    if order_type not in ORDER_TYPES:
        raise BinanceError(400, -1116, "Invalid orderType.")
    _check_mandatory(params, order_type)
    status, spot_allowed = venue.status(symbol)
    if status != "TRADING" or not spot_allowed:
        raise BinanceError(400, -2010, "Market is closed.")
    if "binance_cannot_trade" in venue.faults:
        raise BinanceError(400, -2010, "This account may not place or cancel orders.")
    response_type = params.get("newOrderRespType") or ("FULL" if order_type in ("MARKET", "LIMIT") else "ACK")
    if response_type not in RESPONSE_TYPES:
        raise BinanceError(400, -1100, "Illegal characters found in parameter 'newOrderRespType'.")
    _check_filters(venue, call, symbol, order_type)
    optional = {
        name: decimal_param(call, name)
        for name in ("quantity", "quoteOrderQty", "price", "stopPrice")
        if params.get(name)
    }
    return OrderRequest(
        symbol=symbol,
        side=params["side"],
        type=order_type,
        time_in_force=params.get("timeInForce"),
        quantity=optional.get("quantity"),
        quote_quantity=optional.get("quoteOrderQty"),
        price=optional.get("price"),
        stop_price=optional.get("stopPrice"),
        client_order_id=params.get("newClientOrderId") or None,
        response_type=response_type,
    )


def _check_mandatory(params: Mapping[str, str], order_type: str) -> None:
    needs_tif = order_type in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
    if needs_tif and not params.get("timeInForce"):
        raise mandatory("timeInForce")
    if not needs_tif and "timeInForce" in params:
        raise BinanceError(400, -1106, "Parameter 'timeInForce' sent when not required.")
    if needs_tif and params["timeInForce"] not in TIME_IN_FORCE:
        raise BinanceError(400, -1115, "Invalid timeInForce.")
    if order_type == "MARKET":
        has_qty, has_quote = bool(params.get("quantity")), bool(params.get("quoteOrderQty"))
        if not has_qty and not has_quote:
            raise BinanceError(
                400,
                -1102,
                "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
            )
        if has_qty and has_quote:
            raise BinanceError(400, -1106, "Parameter 'quoteOrderQty' sent when not required.")
        return
    if not params.get("quantity"):
        raise mandatory("quantity")
    if order_type not in ("STOP_LOSS", "TAKE_PROFIT") and not params.get("price"):
        raise mandatory("price")
    if order_type not in ("LIMIT", "LIMIT_MAKER") and not (
        params.get("stopPrice") or params.get("trailingDelta")
    ):
        raise BinanceError(
            400,
            -1102,
            "Param 'stopPrice' or 'trailingDelta' must be sent, but both were empty/null!",
        )


def _check_filters(venue: Venue, call: Call, symbol: Symbol, order_type: str) -> None:
    """PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL, NOTIONAL, in that order."""
    filters = venue.enforced_filters(symbol)
    at_market = order_type in MARKET_TYPES
    prices = [decimal_param(call, name) for name in ("price", "stopPrice") if call.params.get(name)]
    price_filter = filters["PRICE_FILTER"]
    for price in prices:
        if not within(price, price_filter["minPrice"], price_filter["maxPrice"], price_filter["tickSize"]):
            raise filter_failure("PRICE_FILTER")
    quantity: Decimal | None = None
    if call.params.get("quantity"):
        quantity = decimal_param(call, "quantity")
        lot = filters["LOT_SIZE"]
        if not within(quantity, lot["minQty"], lot["maxQty"], lot["stepSize"]):
            raise filter_failure("LOT_SIZE")
        market_lot = filters["MARKET_LOT_SIZE"]
        if at_market and not within(
            quantity, market_lot["minQty"], market_lot["maxQty"], market_lot["stepSize"]
        ):
            raise filter_failure("MARKET_LOT_SIZE")
    if quantity is None:
        notional = decimal_param(call, "quoteOrderQty")
    elif at_market:
        notional = quantity * symbol.path.price(venue.now_ms())
    else:
        notional = quantity * decimal_param(call, "price")
    min_notional = filters["MIN_NOTIONAL"]
    if (not at_market or min_notional["applyToMarket"]) and notional < Decimal(min_notional["minNotional"]):
        raise filter_failure("MIN_NOTIONAL")
    notional_filter = filters["NOTIONAL"]
    if (not at_market or notional_filter["applyMinToMarket"]) and notional < Decimal(
        notional_filter["minNotional"]
    ):
        raise filter_failure("NOTIONAL")
    if (not at_market or notional_filter["applyMaxToMarket"]) and notional > Decimal(
        notional_filter["maxNotional"]
    ):
        raise filter_failure("NOTIONAL")


def within(value: Decimal, minimum: str, maximum: str, step: str) -> bool:
    """Binance's range-and-step rule; a zero bound or step disables that part of the rule."""
    low, high, increment = Decimal(minimum), Decimal(maximum), Decimal(step)
    if low and value < low:
        return False
    if high and value > high:
        return False
    try:
        return not increment or (value - low) % increment == 0
    except InvalidOperation:
        return False
