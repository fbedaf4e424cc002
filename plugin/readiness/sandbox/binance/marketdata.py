"""Public market-data and reference routes: every view read off the symbols' price paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import market
from .limits import WEIGHT_LIMIT
from .protocol import BinanceError, Call, Endpoint, Payload, Routes, fmt, int_param, mandatory, weight
from .rules import ORDER_TYPES
from .venue import Symbol, Venue, advertised_filters


def _depth_weight(call: Call) -> int:
    raw = call.params.get("limit", "")
    limit = int(raw) if raw.isdigit() else 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _per_symbol_weight(each: int, most: int) -> Callable[[Call], int]:
    def charge(call: Call) -> int:
        if "symbol" in call.params:
            return each
        if "symbols" in call.params:
            return min(most, each * max(1, call.params["symbols"].count(",") + 1))
        return most

    return charge


def _one_or_all(call: Call) -> int:
    return 2 if "symbol" in call.params else 4


class MarketData:
    """ping, time, exchangeInfo, klines, depth, trades, tickers, average price; futures listings."""

    def __init__(self, venue: Venue) -> None:
        self.venue = venue

    def routes(self) -> Routes:
        return {
            "/api/v3/ping": {"GET": Endpoint(lambda c: {}, weight(1))},
            "/api/v3/time": {"GET": Endpoint(lambda c: {"serverTime": self.venue.now_ms()}, weight(1))},
            "/api/v3/exchangeInfo": {"GET": Endpoint(self.exchange_info, weight(20))},
            "/api/v3/ticker/price": {"GET": Endpoint(self.ticker_price, _one_or_all)},
            "/api/v3/klines": {"GET": Endpoint(self.klines, weight(2))},
            "/api/v3/uiKlines": {"GET": Endpoint(self.klines, weight(2))},
            "/api/v3/depth": {"GET": Endpoint(self.depth, _depth_weight)},
            "/api/v3/trades": {"GET": Endpoint(self.trades, weight(25))},
            "/api/v3/historicalTrades": {"GET": Endpoint(self.historical_trades, weight(25), keyed=True)},
            "/api/v3/aggTrades": {"GET": Endpoint(self.agg_trades, weight(4))},
            "/api/v3/avgPrice": {"GET": Endpoint(self.avg_price, weight(2))},
            "/api/v3/ticker/24hr": {"GET": Endpoint(self.ticker_24hr, _per_symbol_weight(2, 80))},
            "/api/v3/ticker/bookTicker": {"GET": Endpoint(self.book_ticker, _one_or_all)},
            "/api/v3/ticker": {"GET": Endpoint(self.rolling_ticker, _per_symbol_weight(4, 200))},
            "/sapi/v1/system/status": {"GET": Endpoint(self.system_status, weight(1))},
            "/sapi/v1/margin/allPairs": {"GET": Endpoint(self.margin_pairs, weight(1), keyed=True)},
            "/sapi/v1/margin/isolated/allPairs": {
                "GET": Endpoint(self.margin_pairs, weight(10), signed=True)
            },
            # ccxt's default load_markets reads the futures listings too: the paper exchange has none.
            "/fapi/v1/exchangeInfo": {"GET": Endpoint(self.no_futures, weight(1))},
            "/dapi/v1/exchangeInfo": {"GET": Endpoint(self.no_futures, weight(1))},
        }

    # -- reference data

    def exchange_info(self, call: Call) -> Payload:
        return {
            "timezone": "UTC",
            "serverTime": self.venue.now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": WEIGHT_LIMIT,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [self._symbol_info(s) for s in self.venue.requested_symbols(call)],
        }

    def _symbol_info(self, symbol: Symbol) -> dict[str, Any]:
        status, spot_allowed = self.venue.status(symbol)
        mainnet = self.venue.network == "mainnet"
        return {
            "symbol": symbol.symbol,
            "status": status,
            "baseAsset": symbol.base,
            "baseAssetPrecision": 8,
            "quoteAsset": symbol.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": list(ORDER_TYPES),
            "icebergAllowed": True,
            "ocoAllowed": True,
            "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": True,
            "cancelReplaceAllowed": True,
            "amendAllowed": True,
            "isSpotTradingAllowed": spot_allowed,
            "isMarginTradingAllowed": mainnet,
            "filters": advertised_filters(symbol),
            "permissions": [],
            "permissionSets": [["SPOT", "MARGIN"] if mainnet else ["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
        }

    def system_status(self, call: Call) -> Payload:
        if "binance_maintenance" in self.venue.faults:
            return {"status": 1, "msg": "system_maintenance"}
        return {"status": 0, "msg": "normal"}

    def margin_pairs(self, call: Call) -> Payload:
        return [
            {
                "id": index,
                "symbol": s.symbol,
                "base": s.base,
                "quote": s.quote,
                "isMarginTrade": True,
                "isBuyAllowed": True,
                "isSellAllowed": True,
            }
            for index, s in enumerate(self.venue.symbols.values(), start=1)
        ]

    def no_futures(self, call: Call) -> Payload:
        """The paper exchange trades spot only: futures markets exist, with no symbol."""
        return {
            "timezone": "UTC",
            "serverTime": self.venue.now_ms(),
            "rateLimits": [],
            "exchangeFilters": [],
            "assets": [],
            "symbols": [],
        }

    # -- prices

    def ticker_price(self, call: Call) -> Payload:
        now = self.venue.now_ms()
        prices = [
            {"symbol": s.symbol, "price": fmt(s.path.price(now))} for s in self.venue.requested_symbols(call)
        ]
        return prices[0] if "symbol" in call.params else prices

    def klines(self, call: Call) -> Payload:
        symbol = self.venue.one_symbol(call)
        interval = call.params.get("interval", "")
        if not interval:
            raise mandatory("interval")
        if interval not in market.INTERVALS_MS:
            raise BinanceError(400, -1120, "Invalid interval.")
        limit = int_param(call, "limit", 500, 1000) or 500
        start, end = int_param(call, "startTime"), int_param(call, "endTime")
        if start is not None and end is not None and start > end:
            raise BinanceError(400, -1127, "More than 200 hours between startTime and endTime.")
        return market.klines(symbol.path, interval, self.venue.now_ms(), limit, start, end)

    def depth(self, call: Call) -> Payload:
        symbol = self.venue.one_symbol(call)
        limit = int_param(call, "limit", 100) or 100
        return market.depth(symbol.path, self.venue.now_ms(), min(limit, 5000))

    def trades(self, call: Call) -> Payload:
        symbol = self.venue.one_symbol(call)
        limit = int_param(call, "limit", 500, 1000) or 500
        return [market.trade_row(t) for t in symbol.path.trades_until(self.venue.now_ms(), limit)]

    def historical_trades(self, call: Call) -> Payload:
        symbol = self.venue.one_symbol(call)
        limit = int_param(call, "limit", 500, 1000) or 500
        now = self.venue.now_ms()
        from_id = int_param(call, "fromId")
        if from_id is None:
            trades = symbol.path.trades_until(now, limit)
        else:
            trades = symbol.path.trades_from(from_id, limit, now)
        return [market.trade_row(t) for t in trades]

    def agg_trades(self, call: Call) -> Payload:
        symbol = self.venue.one_symbol(call)
        limit = int_param(call, "limit", 500, 1000) or 500
        now = self.venue.now_ms()
        start, end = int_param(call, "startTime"), int_param(call, "endTime")
        from_id = int_param(call, "fromId")
        if start is not None and end is not None and end - start > 3_600_000:
            raise BinanceError(400, -1127, "More than 1 hours between startTime and endTime.")
        if from_id is not None:
            trades = symbol.path.trades_from(from_id, limit, now)
        elif start is not None:
            trades = symbol.path.trades_between(start, min(end if end is not None else now, now), limit)
        else:
            trades = symbol.path.trades_until(min(end if end is not None else now, now), limit)
        return [market.agg_trade_row(t) for t in trades]

    def avg_price(self, call: Call) -> Payload:
        return market.avg_price(self.venue.one_symbol(call).path, self.venue.now_ms())

    @staticmethod
    def _full(call: Call) -> bool:
        kind = call.params.get("type", "FULL")
        if kind not in ("FULL", "MINI"):
            raise BinanceError(400, -1139, "Invalid ticker type.")
        return kind == "FULL"

    def ticker_24hr(self, call: Call) -> Payload:
        full, now = self._full(call), self.venue.now_ms()
        rows = [
            market.window_ticker(s.path, now, 86_400_000, full=full, rolling=False)
            for s in self.venue.requested_symbols(call)
        ]
        return rows[0] if "symbol" in call.params else rows

    def rolling_ticker(self, call: Call) -> Payload:
        if "symbol" not in call.params and "symbols" not in call.params:
            raise BinanceError(
                400, -1102, "Parameter 'symbol' or 'symbols' must be sent, but both were empty/null!"
            )
        window = market.window_ms(call.params.get("windowSize", "1d"))
        if window is None:
            raise BinanceError(400, -1100, "Illegal characters found in parameter 'windowSize'.")
        full, now = self._full(call), self.venue.now_ms()
        rows = [
            market.window_ticker(s.path, now, window, full=full, rolling=True)
            for s in self.venue.requested_symbols(call)
        ]
        return rows[0] if "symbol" in call.params else rows

    def book_ticker(self, call: Call) -> Payload:
        now = self.venue.now_ms()
        rows = [market.book_ticker(s.path, now) for s in self.venue.requested_symbols(call)]
        return rows[0] if "symbol" in call.params else rows
