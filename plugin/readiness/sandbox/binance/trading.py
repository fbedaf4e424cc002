"""Account, wallet, order and user-data-stream routes of the paper account."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from . import rules
from .limits import OrderCount
from .matching import RESULT_FIELDS, Engine, Order
from .protocol import (
    Answer,
    BinanceError,
    Call,
    Endpoint,
    Payload,
    Routes,
    fmt,
    int_param,
    random_token,
    weight,
)
from .venue import Venue

LISTEN_KEY_TTL_S = 3600.0
"""A listen key dies an hour after its last keepalive, as on Binance."""


def _open_orders_weight(call: Call) -> int:
    return 6 if call.params.get("symbol") else 80


class Trading:
    """What a signed client reads and does with its account; the engine does the matching."""

    def __init__(self, venue: Venue, engine: Engine) -> None:
        self.venue = venue
        self.engine = engine
        self.order_count = OrderCount()
        #: listen key -> monotonic expiry
        self.listen_keys: dict[str, float] = {}
        self._order_calls = 0

    def routes(self) -> Routes:
        return {
            "/api/v3/account": {"GET": Endpoint(self.account, weight(20), signed=True)},
            "/api/v3/account/commission": {"GET": Endpoint(self.commission, weight(20), signed=True)},
            "/api/v3/order/test": {
                "POST": Endpoint(
                    self.order_test,
                    lambda c: 20 if c.params.get("computeCommissionRates") == "true" else 1,
                    signed=True,
                )
            },
            "/api/v3/order": {
                "POST": Endpoint(self.new_order, weight(1), signed=True),
                "GET": Endpoint(self.query_order, weight(4), signed=True),
                "DELETE": Endpoint(self.cancel_order, weight(1), signed=True),
            },
            "/api/v3/openOrders": {
                "GET": Endpoint(self.open_orders, _open_orders_weight, signed=True),
                "DELETE": Endpoint(self.cancel_all, weight(1), signed=True),
            },
            "/api/v3/allOrders": {"GET": Endpoint(self.all_orders, weight(20), signed=True)},
            "/api/v3/myTrades": {"GET": Endpoint(self.my_trades, weight(20), signed=True)},
            "/api/v3/userDataStream": {
                "POST": Endpoint(self.new_listen_key, weight(2), keyed=True),
                "PUT": Endpoint(self.keep_listen_key, weight(2), keyed=True),
                "DELETE": Endpoint(self.close_listen_key, weight(2), keyed=True),
            },
            "/sapi/v1/account/apiRestrictions": {
                "GET": Endpoint(self.api_restrictions, weight(1), signed=True)
            },
            "/sapi/v1/capital/config/getall": {"GET": Endpoint(self.coins, weight(10), signed=True)},
            "/sapi/v1/asset/tradeFee": {"GET": Endpoint(self.trade_fee, weight(1), signed=True)},
        }

    # -- account

    def account(self, call: Call) -> Payload:
        faults = self.venue.faults
        cannot_trade = "binance_cannot_trade" in faults
        with self.engine.lock:
            self.engine.advance()
            rows = self.engine.balance_rows()
        if call.params.get("omitZeroBalances") == "true":
            rows = [row for row in rows if Decimal(row["free"]) or Decimal(row["locked"])]
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": fmt("0.001"),
                "taker": fmt("0.001"),
                "buyer": fmt("0"),
                "seller": fmt("0"),
            },
            "canTrade": not cannot_trade,
            "canWithdraw": "binance_withdrawals_enabled" in faults,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.venue.now_ms() - 60_000,
            "accountType": "SPOT",
            "balances": rows,
            "permissions": ["MARGIN"] if cannot_trade else ["SPOT"],
            "uid": 354937868,
        }

    def commission(self, call: Call) -> Payload:
        symbol = self.venue.one_symbol(call)
        rates = {"maker": fmt("0.001"), "taker": fmt("0.001"), "buyer": fmt("0"), "seller": fmt("0")}
        zero = dict.fromkeys(rates, fmt("0"))
        return {
            "symbol": symbol.symbol,
            "standardCommission": rates,
            "specialCommission": zero,
            "taxCommission": zero,
            "discount": {
                "enabledForAccount": True,
                "enabledForSymbol": True,
                "discountAsset": "BNB",
                "discount": fmt("0.25"),
            },
        }

    def trade_fee(self, call: Call) -> Payload:
        symbols = (
            [self.venue.lookup(call.params["symbol"])]
            if call.params.get("symbol")
            else self.venue.symbols.values()
        )
        return [{"symbol": s.symbol, "makerCommission": "0.001", "takerCommission": "0.001"} for s in symbols]

    def api_restrictions(self, call: Call) -> Payload:
        faults = self.venue.faults
        return {
            "ipRestrict": "binance_ip_unrestricted" not in faults,
            "createTime": 1_700_000_000_000,
            "enableReading": True,
            "enableSpotAndMarginTrading": "binance_cannot_trade" not in faults,
            "enableWithdrawals": "binance_withdrawals_enabled" in faults,
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": False,
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enablePortfolioMarginTrading": False,
            "enableFixApiTrade": False,
            "enableFixReadOnly": False,
        }

    def coins(self, call: Call) -> Payload:
        """The wallet's coin list (``capital/config/getall``); withdrawals shown as the key allows."""
        assets = sorted(
            {a for s in self.venue.symbols.values() for a in (s.base, s.quote)} | set(self.engine.free)
        )
        withdraw = "binance_withdrawals_enabled" in self.venue.faults
        zero = fmt("0")
        return [
            {
                "coin": asset,
                "name": asset,
                "depositAllEnable": True,
                "withdrawAllEnable": withdraw,
                "free": fmt(self.engine.available(asset)),
                "locked": fmt(self.engine.locked.get(asset, Decimal(0))),
                "freeze": zero,
                "withdrawing": zero,
                "ipoing": zero,
                "ipoable": zero,
                "storage": zero,
                "isLegalMoney": False,
                "trading": True,
                "networkList": [
                    {
                        "network": "BSC",
                        "coin": asset,
                        "name": "BNB Smart Chain (BEP20)",
                        "isDefault": True,
                        "depositEnable": True,
                        "withdrawEnable": withdraw,
                        "withdrawFee": fmt("0.0001"),
                        "withdrawMin": fmt("0.001"),
                        "withdrawMax": fmt("10000"),
                        "withdrawIntegerMultiple": fmt("0.00000001"),
                        "minConfirm": 15,
                        "unLockConfirm": 0,
                        "depositDesc": "",
                        "withdrawDesc": "",
                        "specialTips": "",
                        "busy": False,
                        "sameAddress": False,
                    }
                ],
            }
            for asset in assets
        ]

    # -- orders

    def order_test(self, call: Call) -> Payload:
        """Validate like the matching engine's front door; never touches balances (as real)."""
        rules.validate(self.venue, call)
        if call.params.get("computeCommissionRates") == "true":
            zero = {"maker": fmt("0"), "taker": fmt("0")}
            return {
                "standardCommissionForOrder": {"maker": fmt("0.001"), "taker": fmt("0.001")},
                "specialCommissionForOrder": zero,
                "taxCommissionForOrder": zero,
                "discount": {
                    "enabledForAccount": True,
                    "enabledForSymbol": True,
                    "discountAsset": "BNB",
                    "discount": fmt("0.25"),
                },
            }
        return {}

    def _throttle(self) -> None:
        """Fault ``binance_order_429``: every other order call is turned away as over the limit."""
        self._order_calls += 1
        if "binance_order_429" in self.venue.faults and self._order_calls % 2:
            raise BinanceError(
                429,
                -1015,
                "Too many new orders; current limit is 100 orders per 10 SECOND.",
                {"Retry-After": "1"},
            )

    def new_order(self, call: Call) -> Answer:
        self._throttle()
        now = time.monotonic()
        exceeded = self.order_count.exceeded(now)
        if exceeded is not None:
            interval, most = exceeded
            raise BinanceError(
                429,
                -1015,
                f"Too many new orders; current limit is {most} orders per {interval}.",
                self.order_count.headers(now),
            )
        request = rules.validate(self.venue, call)
        self.order_count.add(now)
        headers = self.order_count.headers(now)
        try:
            order = self.engine.place(request)
        except BinanceError as error:
            error.headers.update(headers)
            raise
        return Answer(order.result(request.response_type), headers)

    def _order(self, call: Call, *, unknown: BinanceError) -> Order:
        symbol = self.venue.one_symbol(call)
        order_id = int_param(call, "orderId")
        client_id = call.params.get("origClientOrderId") or None
        if order_id is None and client_id is None:
            raise BinanceError(
                400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        order = self.engine.find(symbol, order_id, client_id)
        if order is None:
            raise unknown
        return order

    def query_order(self, call: Call) -> Payload:
        self.engine.advance()
        return self._order(call, unknown=BinanceError(400, -2013, "Order does not exist.")).row()

    def cancel_order(self, call: Call) -> Payload:
        self._throttle()
        order = self.engine.cancel(self._order(call, unknown=_unknown_order()))
        return self._canceled_row(order, call.params.get("newClientOrderId"))

    def _canceled_row(self, order: Order, new_client_id: str | None) -> dict[str, Any]:
        row = order.row()
        return {
            "symbol": row["symbol"],
            "origClientOrderId": order.client_order_id,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": new_client_id or random_token(22),
            "transactTime": order.update_ms,
            **{name: row[name] for name in (*RESULT_FIELDS, "selfTradePreventionMode")},
        }

    def open_orders(self, call: Call) -> Payload:
        symbol = self.venue.lookup(call.params["symbol"]) if call.params.get("symbol") else None
        self.engine.advance()
        return [o.row() for o in self.engine.open_orders(symbol)]

    def cancel_all(self, call: Call) -> Payload:
        symbol = self.venue.one_symbol(call)
        with self.engine.lock:
            self.engine.advance()
            orders = self.engine.open_orders(symbol)
            if not orders:
                raise _unknown_order()
            return [self._canceled_row(self.engine.cancel(o), None) for o in orders]

    def all_orders(self, call: Call) -> Payload:
        symbol = self.venue.one_symbol(call)
        limit = int_param(call, "limit", 500, 1000) or 500
        from_id = int_param(call, "orderId")
        start, end = int_param(call, "startTime"), int_param(call, "endTime")
        self.engine.advance()
        with self.engine.lock:
            orders = [
                o
                for o in self.engine.orders.values()
                if o.symbol is symbol
                and (from_id is None or o.order_id >= from_id)
                and (start is None or o.time_ms >= start)
                and (end is None or o.time_ms <= end)
            ]
        picked = orders[:limit] if from_id is not None or start is not None else orders[-limit:]
        return [o.row() for o in picked]

    def my_trades(self, call: Call) -> Payload:
        symbol = self.venue.one_symbol(call)
        limit = int_param(call, "limit", 500, 1000) or 500
        order_id, from_id = int_param(call, "orderId"), int_param(call, "fromId")
        start, end = int_param(call, "startTime"), int_param(call, "endTime")
        self.engine.advance()
        with self.engine.lock:
            fills = [
                f
                for f in self.engine.fills
                if f.symbol == symbol.symbol
                and (order_id is None or f.order_id == order_id)
                and (from_id is None or f.trade_id >= from_id)
                and (start is None or f.time_ms >= start)
                and (end is None or f.time_ms <= end)
            ]
        picked = fills[:limit] if from_id is not None or start is not None else fills[-limit:]
        return [f.trade_row() for f in picked]

    # -- user-data stream

    def new_listen_key(self, call: Call) -> Payload:
        key = random_token(60)
        self.listen_keys[key] = time.monotonic() + LISTEN_KEY_TTL_S
        return {"listenKey": key}

    def _known_key(self, call: Call) -> str:
        key = call.params.get("listenKey", "")
        if not key:
            raise BinanceError(
                400, -1102, "Mandatory parameter 'listenKey' was not sent, was empty/null, or malformed."
            )
        if self.listen_keys.get(key, 0.0) < time.monotonic():
            self.listen_keys.pop(key, None)
            raise BinanceError(400, -1125, "This listenKey does not exist.")
        return key

    def keep_listen_key(self, call: Call) -> Payload:
        self.listen_keys[self._known_key(call)] = time.monotonic() + LISTEN_KEY_TTL_S
        return {}

    def close_listen_key(self, call: Call) -> Payload:
        self.listen_keys.pop(self._known_key(call), None)
        return {}

    def listen_key_alive(self, key: str) -> bool:
        return self.listen_keys.get(key, 0.0) >= time.monotonic()


def _unknown_order() -> BinanceError:
    return BinanceError(400, -2011, "Unknown order sent.")
