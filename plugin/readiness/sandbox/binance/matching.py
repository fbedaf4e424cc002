"""The paper exchange's matching engine: one account's balances, orders and fills.

Orders trade against the symbol's price path, never against each other: a marketable order takes
the best price of the book at once (taker commission), a resting order fills at its limit price
when a trade of the tape reaches it (maker commission), a stop order triggers when the tape crosses
its stop price. Commission is taken from the asset received, as Binance does without BNB
discount. Every change is offered to the listeners (the user-data streams) as Binance's events.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .market import Trade
from .protocol import BinanceError, fmt, random_token
from .rules import MARKET_TYPES, OrderRequest
from .venue import Symbol, Venue

COMMISSION = Decimal("0.001")
"""Maker and taker commission rate (Binance's standard 0.1%)."""

MAX_SCAN_MS = 3_600_000
"""How far back a resting order is matched against the tape when nobody asked for an hour."""

LOW_BALANCE_USDT = Decimal("10")

Event = dict[str, Any]
Listener = Callable[[Event], None]

#: The order fields a RESULT response and a cancel answer carry, in Binance's order.
RESULT_FIELDS = (
    "price",
    "origQty",
    "executedQty",
    "origQuoteOrderQty",
    "cummulativeQuoteQty",
    "status",
    "timeInForce",
    "type",
    "side",
)
_STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


def insufficient_balance() -> BinanceError:
    return BinanceError(400, -2010, "Account has insufficient balance for requested action.")


@dataclass
class Fill:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    maker: bool

    def fill_row(self) -> dict[str, Any]:
        return {
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "tradeId": self.trade_id,
        }

    def trade_row(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.price * self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time_ms,
            "isBuyer": self.side == "BUY",
            "isMaker": self.maker,
            "isBestMatch": True,
        }


@dataclass
class Order:
    symbol: Symbol
    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str | None
    orig_qty: Decimal
    orig_quote_qty: Decimal
    price: Decimal
    stop_price: Decimal
    time_ms: int
    status: str = "NEW"
    executed_qty: Decimal = Decimal(0)
    quote_qty: Decimal = Decimal(0)
    update_ms: int = 0
    working_ms: int = -1
    #: Amount of the spent asset held back while the order rests.
    locked: Decimal = Decimal(0)
    fills: list[Fill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def is_working(self) -> bool:
        return self.working_ms >= 0

    @property
    def spends(self) -> str:
        return self.symbol.quote if self.side == "BUY" else self.symbol.base

    def row(self) -> dict[str, Any]:
        """The order as GET ``order``, ``openOrders`` and ``allOrders`` show it."""
        return {
            "symbol": self.symbol.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "cummulativeQuoteQty": fmt(self.quote_qty),
            "status": self.status,
            "timeInForce": self.time_in_force or "GTC",
            "type": self.type,
            "side": self.side,
            "stopPrice": fmt(self.stop_price),
            "icebergQty": fmt(0),
            "time": self.time_ms,
            "updateTime": self.update_ms or self.time_ms,
            "isWorking": self.is_working,
            "workingTime": self.working_ms,
            "origQuoteOrderQty": fmt(self.orig_quote_qty),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def result(self, response_type: str) -> dict[str, Any]:
        """The answer to POST ``order`` for ``newOrderRespType`` ACK, RESULT or FULL."""
        ack = {
            "symbol": self.symbol.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "transactTime": self.time_ms,
        }
        if response_type == "ACK":
            return ack
        row = self.row()
        result = ack | {name: row[name] for name in RESULT_FIELDS}
        if self.type in _STOP_TYPES:
            result["stopPrice"] = row["stopPrice"]
        result |= {"workingTime": self.working_ms, "selfTradePreventionMode": "EXPIRE_MAKER"}
        if response_type == "FULL":
            result["fills"] = [f.fill_row() for f in self.fills]
        return result


class Engine:
    """Balances, orders and fills of the one paper account; thread-safe (tests read it directly)."""

    def __init__(self, venue: Venue, balances: dict[str, Decimal]) -> None:
        self.venue = venue
        self.free: dict[str, Decimal] = dict(balances)
        self.locked: dict[str, Decimal] = {}
        self.orders: dict[int, Order] = {}
        self.fills: list[Fill] = []
        self.listeners: list[Listener] = []
        self.lock = threading.RLock()
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._scanned_ms = venue.now_ms()

    # -- balances

    def available(self, asset: str) -> Decimal:
        free = self.free.get(asset, Decimal(0))
        if asset == "USDT" and "binance_low_balance" in self.venue.faults:
            return min(free, LOW_BALANCE_USDT)
        return free

    def _move(self, asset: str, free: Decimal = Decimal(0), locked: Decimal = Decimal(0)) -> None:
        self.free[asset] = self.free.get(asset, Decimal(0)) + free
        self.locked[asset] = self.locked.get(asset, Decimal(0)) + locked

    def balance_rows(self, assets: Iterable[str] | None = None) -> list[dict[str, str]]:
        names = list(assets) if assets is not None else sorted(set(self.free) | set(self.locked))
        return [
            {"asset": a, "free": fmt(self.available(a)), "locked": fmt(self.locked.get(a, Decimal(0)))}
            for a in names
        ]

    # -- orders

    def find(self, symbol: Symbol, order_id: int | None, client_order_id: str | None) -> Order | None:
        with self.lock:
            for order in self.orders.values():
                if order.symbol is not symbol:
                    continue
                if order_id is not None and order.order_id == order_id:
                    return order
                if order_id is None and order.client_order_id == client_order_id:
                    return order
        return None

    def open_orders(self, symbol: Symbol | None) -> list[Order]:
        with self.lock:
            return [o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol is symbol)]

    def place(self, request: OrderRequest) -> Order:
        """Accept, match what is marketable now, rest the rest; refusals raise BinanceError."""
        with self.lock:
            self.advance()
            now = self.venue.now_ms()
            symbol = request.symbol
            bid, ask = self._touch(symbol, now)
            self._refuse_unplaceable(request, bid, ask)
            qty = request.quantity
            if qty is None:  # MARKET by quoteOrderQty: as much as the quote buys or sells at the touch
                assert request.quote_quantity is not None
                touch = ask if request.side == "BUY" else bid
                qty = (request.quote_quantity / touch).quantize(symbol.path.step, ROUND_DOWN)
            reference = (
                request.price if request.price is not None else (ask if request.side == "BUY" else bid)
            )
            spend = qty * reference if request.side == "BUY" else qty
            if request.quote_quantity is not None and request.side == "BUY":
                spend = request.quote_quantity
            order = Order(
                symbol=symbol,
                order_id=next(self._order_ids),
                client_order_id=request.client_order_id or ("web_" + random_token(22)),
                side=request.side,
                type=request.type,
                time_in_force=request.time_in_force,
                orig_qty=qty,
                orig_quote_qty=request.quote_quantity or Decimal(0),
                price=request.price or Decimal(0),
                stop_price=request.stop_price or Decimal(0),
                time_ms=now,
            )
            if spend > self.available(order.spends):
                raise insufficient_balance()
            self.orders[order.order_id] = order
            self._emit(order, "NEW", now)
            if order.type in _STOP_TYPES:
                self._rest(order, spend, now, working=False)
            elif order.type == "MARKET":
                self._fill(order, qty, ask if order.side == "BUY" else bid, now, maker=False)
            else:
                self._limit(order, spend, bid, ask, now)
            return order

    def _refuse_unplaceable(self, request: OrderRequest, bid: Decimal, ask: Decimal) -> None:
        if request.client_order_id and any(
            o.client_order_id == request.client_order_id for o in self.open_orders(request.symbol)
        ):
            raise BinanceError(400, -2010, "Duplicate order sent.")
        if (
            request.type == "LIMIT_MAKER"
            and request.price is not None
            and self._marketable(request.side, request.price, bid, ask)
        ):
            raise BinanceError(400, -2010, "Order would immediately match and take.")
        if (
            request.type in _STOP_TYPES
            and request.stop_price is not None
            and self._triggered(
                request.type, request.side, request.stop_price, ask if request.side == "BUY" else bid
            )
        ):
            raise BinanceError(400, -2010, "Stop price would trigger immediately.")
        open_here = self.open_orders(request.symbol)
        if len(open_here) >= 200:
            raise BinanceError(400, -1013, "Filter failure: MAX_NUM_ORDERS")
        if request.type in _STOP_TYPES and sum(o.type in _STOP_TYPES for o in open_here) >= 5:
            raise BinanceError(400, -1013, "Filter failure: MAX_NUM_ALGO_ORDERS")

    def cancel(self, order: Order) -> Order:
        with self.lock:
            self.advance()
            if not order.is_open:
                raise BinanceError(400, -2011, "Unknown order sent.")
            now = self.venue.now_ms()
            self._release(order)
            order.status, order.update_ms = "CANCELED", now
            self._emit(order, "CANCELED", now)
            return order

    # -- matching

    def advance(self) -> None:
        """Match resting and stop orders against the tape since the last call."""
        with self.lock:
            now = self.venue.now_ms()
            start = max(self._scanned_ms + 1, now - MAX_SCAN_MS)
            self._scanned_ms = now
            waiting = [o for o in self.orders.values() if o.is_open]
            if not waiting:
                return
            tapes: dict[str, list[Trade]] = {}
            for order in waiting:
                name = order.symbol.symbol
                if name not in tapes:
                    tapes[name] = order.symbol.path.trades_between(start, now, MAX_SCAN_MS)
                for trade in tapes[name]:
                    if trade.time_ms < order.time_ms or not order.is_open:
                        continue
                    self._on_trade(order, trade)

    def _on_trade(self, order: Order, trade: Trade) -> None:
        if not order.is_working:
            if not self._triggered(order.type, order.side, order.stop_price, trade.price):
                return
            order.working_ms = trade.time_ms
            if order.type in MARKET_TYPES:
                self._release(order)
                self._fill(order, order.orig_qty, trade.price, trade.time_ms, maker=False)
                return
        if self._marketable(order.side, order.price, trade.price, trade.price):
            self._release(order)
            self._fill(order, order.orig_qty - order.executed_qty, order.price, trade.time_ms, maker=True)

    @staticmethod
    def _marketable(side: str, price: Decimal, bid: Decimal, ask: Decimal) -> bool:
        return price >= ask if side == "BUY" else price <= bid

    @staticmethod
    def _triggered(order_type: str, side: str, stop: Decimal, price: Decimal) -> bool:
        """Stop-loss sells below and buys above its stop; take-profit the other way round."""
        rising = (side == "BUY") == order_type.startswith("STOP_LOSS")
        return price >= stop if rising else price <= stop

    def _touch(self, symbol: Symbol, now: int) -> tuple[Decimal, Decimal]:
        bids, asks = symbol.path.book(now, 1)
        return bids[0][0], asks[0][0]

    def _limit(self, order: Order, spend: Decimal, bid: Decimal, ask: Decimal, now: int) -> None:
        order.working_ms = now
        marketable = self._marketable(order.side, order.price, bid, ask)
        if marketable:
            self._fill(order, order.orig_qty, ask if order.side == "BUY" else bid, now, maker=False)
        elif order.time_in_force in ("IOC", "FOK"):
            order.status, order.update_ms = "EXPIRED", now
            self._emit(order, "EXPIRED", now)
        else:
            self._rest(order, spend, now, working=True)

    def _rest(self, order: Order, spend: Decimal, now: int, *, working: bool) -> None:
        order.locked = spend
        self._move(order.spends, free=-spend, locked=spend)
        if working:
            order.working_ms = now
        self._emit_balances(now, [order.spends])

    def _release(self, order: Order) -> None:
        if order.locked:
            self._move(order.spends, free=order.locked, locked=-order.locked)
            order.locked = Decimal(0)

    def _fill(self, order: Order, qty: Decimal, price: Decimal, now: int, *, maker: bool) -> None:
        symbol = order.symbol
        quote = qty * price
        if order.side == "BUY":
            paid, got, received_asset = (symbol.quote, quote), qty, symbol.base
        else:
            paid, got, received_asset = (symbol.base, qty), quote, symbol.quote
        if paid[1] > self.available(paid[0]):
            order.status, order.update_ms = "EXPIRED", now  # the price moved beyond the balance
            self._emit(order, "EXPIRED", now)
            return
        commission = got * COMMISSION
        self._move(paid[0], free=-paid[1])
        self._move(received_asset, free=got - commission)
        fill = Fill(
            next(self._trade_ids),
            order.order_id,
            symbol.symbol,
            order.side,
            price,
            qty,
            commission,
            received_asset,
            now,
            maker,
        )
        order.fills.append(fill)
        self.fills.append(fill)
        order.executed_qty += qty
        order.quote_qty += quote
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED"
        order.update_ms = now
        if order.working_ms < 0:
            order.working_ms = now
        self._emit(order, "TRADE", now, fill)
        self._emit_balances(now, [symbol.base, symbol.quote])

    # -- user-data events

    def _emit(self, order: Order, execution: str, now: int, fill: Fill | None = None) -> None:
        if not self.listeners:
            return
        event: Event = {
            "e": "executionReport",
            "E": now,
            "s": order.symbol.symbol,
            "c": order.client_order_id,
            "S": order.side,
            "o": order.type,
            "f": order.time_in_force or "GTC",
            "q": fmt(order.orig_qty),
            "p": fmt(order.price),
            "P": fmt(order.stop_price),
            "F": fmt(0),
            "g": -1,
            "C": "",
            "x": execution,
            "X": order.status,
            "r": "NONE",
            "i": order.order_id,
            "l": fmt(fill.qty if fill else 0),
            "z": fmt(order.executed_qty),
            "L": fmt(fill.price if fill else 0),
            "n": fmt(fill.commission if fill else 0),
            "N": fill.commission_asset if fill else None,
            "T": now,
            "t": fill.trade_id if fill else -1,
            "I": 0,
            "w": order.is_open and order.is_working,
            "m": fill.maker if fill else False,
            "M": False,
            "O": order.time_ms,
            "Z": fmt(order.quote_qty),
            "Y": fmt(fill.qty * fill.price if fill else 0),
            "Q": fmt(order.orig_quote_qty),
            "W": order.working_ms,
            "V": "EXPIRE_MAKER",
        }
        self._publish(event)

    def _emit_balances(self, now: int, assets: list[str]) -> None:
        if self.listeners:
            rows = self.balance_rows(assets)
            self._publish(
                {
                    "e": "outboundAccountPosition",
                    "E": now,
                    "u": now,
                    "B": [{"a": r["asset"], "f": r["free"], "l": r["locked"]} for r in rows],
                }
            )

    def _publish(self, event: Event) -> None:
        for listener in list(self.listeners):
            listener(event)
