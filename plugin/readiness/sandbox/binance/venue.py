"""The exchange every route reads: its network, clock, active faults, symbols and their filters."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from . import faults as fault_names
from .market import PricePath
from .protocol import BinanceError, Call, fmt, mandatory

Network = Literal["testnet", "mainnet"]


@dataclass
class Symbol:
    symbol: str
    base: str
    quote: str
    start_price: Decimal
    tick_size: str
    step_size: str
    market_max_qty: str
    min_notional: str = "5"
    status: str = "TRADING"
    spot_allowed: bool = True
    path: PricePath = field(init=False)

    def __post_init__(self) -> None:
        self.path = PricePath(self.symbol, self.start_price, Decimal(self.tick_size), Decimal(self.step_size))


def default_symbols() -> dict[str, Symbol]:
    return {
        s.symbol: s
        for s in (
            Symbol("BTCUSDT", "BTC", "USDT", Decimal("50000.00"), "0.01", "0.00001", "100"),
            Symbol("ETHUSDT", "ETH", "USDT", Decimal("2500.00"), "0.01", "0.0001", "1000"),
            Symbol("BNBUSDT", "BNB", "USDT", Decimal("600.00"), "0.01", "0.001", "5000"),
            Symbol("ETHBTC", "ETH", "BTC", Decimal("0.05000"), "0.00001", "0.0001", "1000", "0.0001"),
        )
    }


class Venue:
    """Shared state of one emulated exchange; the route modules hold it, never each other."""

    def __init__(self, network: Network, faults: Collection[str]) -> None:
        if network not in ("testnet", "mainnet"):
            raise ValueError(f"network must be 'testnet' or 'mainnet', not {network!r}")
        self.network: Network = network
        self.symbols = default_symbols()
        self.faults: frozenset[str] = frozenset()
        self.set_faults(faults)

    def set_faults(self, faults: Collection[str]) -> None:
        """Replace the active faults; a price gap starts the moment its fault is set."""
        names = fault_names.validate(faults)
        if ("binance_price_gap" in names) != ("binance_price_gap" in self.faults):
            start = self.now_ms() if "binance_price_gap" in names else None
            for symbol in self.symbols.values():
                symbol.path.gap(start, fault_names.GAP_FACTOR)
        self.faults = names

    @property
    def serves_sapi(self) -> bool:
        """Whether ``/sapi`` exists here: mainnet, or a testnet wearing mainnet's flavour."""
        return self.network == "mainnet" or "binance_mainnet_flavor" in self.faults

    def now_ms(self) -> int:
        """The exchange clock in ms, shifted by the clock faults."""
        offset = 0
        if "binance_clock_skew" in self.faults:
            offset = fault_names.SKEW_AHEAD_MS
        if "binance_clock_behind" in self.faults:
            offset = fault_names.BEHIND_MS
        return int(time.time() * 1000) + offset

    def lookup(self, name: str) -> Symbol:
        symbol = self.symbols.get(name)
        if symbol is None:
            raise BinanceError(400, -1121, "Invalid symbol.")
        return symbol

    def one_symbol(self, call: Call) -> Symbol:
        if not call.params.get("symbol"):
            raise mandatory("symbol")
        return self.lookup(call.params["symbol"])

    def requested_symbols(self, call: Call) -> list[Symbol]:
        """``symbol``, a JSON ``symbols`` list, or every symbol."""
        if "symbol" in call.params and "symbols" in call.params:
            raise BinanceError(400, -1128, "Combination of optional parameters invalid.")
        if "symbol" in call.params:
            return [self.lookup(call.params["symbol"])]
        if "symbols" in call.params:
            try:
                names = json.loads(call.params["symbols"])
            except ValueError:
                raise BinanceError(400, -1100, "Illegal characters found in parameter 'symbols'.") from None
            if not isinstance(names, list) or not names:
                raise mandatory("symbols")
            return [self.lookup(str(name)) for name in names]
        return list(self.symbols.values())

    def status(self, symbol: Symbol) -> tuple[str, bool]:
        """(trading status, spot trading allowed), as the faults leave them."""
        if symbol.symbol == "BTCUSDT" and "binance_symbol_halted" in self.faults:
            return "BREAK", False
        return symbol.status, symbol.spot_allowed

    def enforced_filters(self, symbol: Symbol) -> dict[str, dict[str, Any]]:
        """What order placement checks: the advertised filters, unless a fault makes them differ."""
        filters = {f["filterType"]: dict(f) for f in advertised_filters(symbol)}
        if "binance_order_rejected" in self.faults:
            filters["NOTIONAL"]["minNotional"] = fmt("1000000")
        if "binance_filter_mismatch" in self.faults:
            coarse = fmt(Decimal(symbol.step_size) * 10)
            filters["LOT_SIZE"]["stepSize"] = coarse
            filters["LOT_SIZE"]["minQty"] = coarse
        return filters


def advertised_filters(symbol: Symbol) -> list[dict[str, Any]]:
    """The symbol's filters in exchangeInfo, in Binance's order and spelling."""
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": fmt(symbol.tick_size),
            "maxPrice": fmt("1000000"),
            "tickSize": fmt(symbol.tick_size),
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": fmt(symbol.step_size),
            "maxQty": fmt("9000"),
            "stepSize": fmt(symbol.step_size),
        },
        {"filterType": "ICEBERG_PARTS", "limit": 10},
        {
            "filterType": "MIN_NOTIONAL",
            "minNotional": fmt(symbol.min_notional),
            "applyToMarket": True,
            "avgPriceMins": 5,
        },
        {
            "filterType": "TRAILING_DELTA",
            "minTrailingAboveDelta": 10,
            "maxTrailingAboveDelta": 2000,
            "minTrailingBelowDelta": 10,
            "maxTrailingBelowDelta": 2000,
        },
        {
            "filterType": "PERCENT_PRICE_BY_SIDE",
            "bidMultiplierUp": "5",
            "bidMultiplierDown": "0.2",
            "askMultiplierUp": "5",
            "askMultiplierDown": "0.2",
            "avgPriceMins": 5,
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": fmt(symbol.min_notional),
            "applyMinToMarket": True,
            "maxNotional": fmt("9000000"),
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": fmt("0"),
            "maxQty": fmt(symbol.market_max_qty),
            "stepSize": fmt("0"),
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
    ]
