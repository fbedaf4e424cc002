"""The paper exchange's market: one deterministic, seeded price path per symbol behind every view.

Klines, depth, trades, tickers and the average price are all read off the same path, so a bot sees
one consistent market whichever endpoint it polls, and the same market in every run. The path is
multi-scale value noise (a sum of octaves of interpolated seeded randomness, minutes to weeks), so
any moment, however far back, is computed directly: history back in time costs no more than now.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

#: Binance's kline intervals and their lengths in ms (``1M`` is a calendar month: 30 days here).
INTERVALS_MS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
    "1M": 2_592_000_000,
}
#: Octaves of the path: (period in seconds, amplitude of the log price).
_OCTAVES = ((60, 0.0008), (900, 0.002), (3_600, 0.004), (14_400, 0.008), (86_400, 0.015), (604_800, 0.03))
#: A trade every this many ms on the tape (trades, aggTrades, volumes).
TRADE_EVERY_MS = 2_000
#: Points a candle's high and low are sampled at, at most.
_CANDLE_SAMPLES = 12
#: A week-long candle opens on Monday; the epoch was a Thursday.
_WEEK_OFFSET_MS = 4 * 86_400_000


_MASK = (1 << 64) - 1


def _unit(seed: int, index: int) -> float:
    """A seeded uniform value in [-1, 1) for integer ``index`` (SplitMix64: cheap, well mixed)."""
    z = (seed + (index & _MASK) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return (z ^ (z >> 31)) / 2**63 - 1.0


@dataclass(frozen=True, slots=True)
class Candle:
    open_ms: int
    close_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int

    def row(self) -> list[object]:
        """The kline as Binance lists it (taker-buy volumes: half of the volume)."""
        return [
            self.open_ms,
            str(self.open),
            str(self.high),
            str(self.low),
            str(self.close),
            f"{self.volume:.8f}",
            self.close_ms,
            f"{self.quote_volume:.8f}",
            self.trades,
            f"{self.volume / 2:.8f}",
            f"{self.quote_volume / 2:.8f}",
            "0",
        ]


@dataclass(frozen=True, slots=True)
class Trade:
    id: int
    time_ms: int
    price: Decimal
    qty: Decimal
    buyer_maker: bool


class PricePath:
    """The price of one symbol at any moment, rounded to its tick, from a seed and a start price."""

    def __init__(self, symbol: str, start: Decimal, tick: Decimal, step: Decimal, seed: int = 0) -> None:
        self.symbol = symbol
        self.start = start
        self.tick = tick
        self.step = step
        digest = hashlib.sha256(f"{seed}:{symbol}".encode()).digest()
        self._seeds = [int.from_bytes(digest[i : i + 8], "big") for i in range(0, 32, 8)]
        self._octaves = [(period, amplitude, self._seeds[0] ^ period) for period, amplitude in _OCTAVES]
        self._gap: tuple[int, float] | None = None

    def _log_move(self, seconds: float) -> float:
        total = 0.0
        for period, amplitude, seed in self._octaves:
            position = seconds / period
            left = math.floor(position)
            frac = position - left
            smooth = frac * frac * (3 - 2 * frac)
            a, b = _unit(seed, left), _unit(seed, left + 1)
            total += amplitude * (a + (b - a) * smooth)
        return total

    def gap(self, from_ms: int | None, factor: float) -> None:
        """From ``from_ms`` on (None: never), every price is ``factor`` times the walk's."""
        self._gap = (from_ms, factor) if from_ms is not None else None

    def price(self, time_ms: int) -> Decimal:
        raw = float(self.start) * math.exp(self._log_move(time_ms / 1000))
        if self._gap is not None and time_ms >= self._gap[0]:
            raw *= self._gap[1]
        return self._round(Decimal(repr(raw)), self.tick)

    @staticmethod
    def _round(value: Decimal, unit: Decimal) -> Decimal:
        return max(unit, (value / unit).quantize(Decimal(1), ROUND_HALF_UP) * unit)

    def trade(self, index: int) -> Trade:
        """The ``index``-th trade of the tape (one every :data:`TRADE_EVERY_MS`)."""
        time_ms = index * TRADE_EVERY_MS
        size = (1.5 + _unit(self._seeds[1], index)) * 20 / float(self.start) * 50
        qty = self._round(Decimal(repr(size)), self.step)
        return Trade(index, time_ms, self.price(time_ms), qty, _unit(self._seeds[2], index) < 0)

    def trades_until(self, now_ms: int, limit: int) -> list[Trade]:
        last = now_ms // TRADE_EVERY_MS
        return [self.trade(i) for i in range(last - limit + 1, last + 1)]

    def trades_from(self, first: int, limit: int, now_ms: int) -> list[Trade]:
        last = now_ms // TRADE_EVERY_MS
        return [self.trade(i) for i in range(first, min(last, first + limit - 1) + 1)]

    def trades_between(self, start_ms: int, end_ms: int, limit: int) -> list[Trade]:
        first = -(-start_ms // TRADE_EVERY_MS)
        last = end_ms // TRADE_EVERY_MS
        return [self.trade(i) for i in range(first, min(last, first + limit - 1) + 1)]

    def candle(self, interval_ms: int, open_ms: int, now_ms: int) -> Candle:
        close_ms = open_ms + interval_ms - 1
        until = min(close_ms, now_ms)
        points = [
            self.price(open_ms + (until - open_ms) * k // _CANDLE_SAMPLES) for k in range(_CANDLE_SAMPLES + 1)
        ]
        trades = max(1, (until - open_ms) // TRADE_EVERY_MS)
        mean_qty = Decimal(repr(30 / float(self.start) * 50))
        volume = (mean_qty * trades).quantize(self.step)
        close = points[-1]
        return Candle(
            open_ms,
            close_ms,
            points[0],
            max(points),
            min(points),
            close,
            volume,
            (volume * (points[0] + close) / 2).quantize(Decimal("0.00000001")),
            int(trades),
        )

    def candles(
        self, interval: str, now_ms: int, *, limit: int, start_ms: int | None, end_ms: int | None
    ) -> list[Candle]:
        """Candles as Binance returns them: from ``start_ms`` forward, else the latest ``limit``
        ending at ``end_ms`` (or now); never past the current, still open, candle."""
        length = INTERVALS_MS[interval]
        latest = _open_of(min(now_ms, end_ms) if end_ms is not None else now_ms, length, interval)
        if start_ms is not None:
            first = _open_of(start_ms, length, interval)
            if first < start_ms:
                first += length
            opens: Iterator[int] = iter(range(first, latest + 1, length))
        else:
            opens = iter(range(latest - (limit - 1) * length, latest + 1, length))
        return [self.candle(length, o, now_ms) for _, o in zip(range(limit), opens, strict=False)]

    def book(
        self, now_ms: int, limit: int
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """(bids, asks): one level per tick around the price, sizes seeded per level."""
        mid = self.price(now_ms)
        second = now_ms // 1000

        def size(level: int, side: int) -> Decimal:
            raw = (1.2 + _unit(self._seeds[3] ^ side, second * 10_000 + level)) * 200 / float(mid)
            return self._round(Decimal(repr(raw)), self.step)

        bids = [(mid - self.tick * (1 + k), size(k, 1)) for k in range(limit)]
        asks = [(mid + self.tick * k, size(k, 2)) for k in range(limit)]
        return [b for b in bids if b[0] > 0], asks


def _open_of(time_ms: int, length: int, interval: str) -> int:
    offset = _WEEK_OFFSET_MS if interval == "1w" else 0
    return (time_ms - offset) // length * length + offset


# -- REST views -------------------------------------------------------------------------------
# Each takes the validated parameters and the exchange clock and returns Binance's JSON shape.


def klines(
    path: PricePath, interval: str, now_ms: int, limit: int, start_ms: int | None, end_ms: int | None
) -> list[list[object]]:
    return [c.row() for c in path.candles(interval, now_ms, limit=limit, start_ms=start_ms, end_ms=end_ms)]


def depth(path: PricePath, now_ms: int, limit: int) -> dict[str, object]:
    bids, asks = path.book(now_ms, limit)
    return {
        "lastUpdateId": now_ms // 100,
        "bids": [[str(p), str(q)] for p, q in bids],
        "asks": [[str(p), str(q)] for p, q in asks],
    }


def trade_row(trade: Trade) -> dict[str, object]:
    return {
        "id": trade.id,
        "price": str(trade.price),
        "qty": str(trade.qty),
        "quoteQty": f"{trade.price * trade.qty:.8f}",
        "time": trade.time_ms,
        "isBuyerMaker": trade.buyer_maker,
        "isBestMatch": True,
    }


def agg_trade_row(trade: Trade) -> dict[str, object]:
    return {
        "a": trade.id,
        "p": str(trade.price),
        "q": str(trade.qty),
        "f": trade.id,
        "l": trade.id,
        "T": trade.time_ms,
        "m": trade.buyer_maker,
        "M": True,
    }


def avg_price(path: PricePath, now_ms: int) -> dict[str, object]:
    points = [path.price(now_ms - k * 60_000) for k in range(5)]
    mean = sum(points, Decimal(0)) / len(points)
    return {"mins": 5, "price": f"{mean:.8f}", "closeTime": now_ms}


def window_ticker(
    path: PricePath, now_ms: int, window_ms: int, *, full: bool, rolling: bool
) -> dict[str, object]:
    """ticker/24hr (``rolling=False``) or the rolling-window ``ticker``; ``full=False`` is type MINI."""
    open_ms = now_ms - window_ms
    hours = [path.price(open_ms + k * window_ms // 48) for k in range(49)]
    first, last = hours[0], hours[-1]
    trades = window_ms // TRADE_EVERY_MS
    volume = (Decimal(repr(30 / float(path.start) * 50)) * trades).quantize(path.step)
    quote = (volume * sum(hours, Decimal(0)) / len(hours)).quantize(Decimal("0.00000001"))
    first_id = open_ms // TRADE_EVERY_MS
    ticker: dict[str, object] = {"symbol": path.symbol}
    if full:
        change = last - first
        ticker |= {
            "priceChange": f"{change:.8f}",
            "priceChangePercent": f"{change / first * 100:.3f}",
            "weightedAvgPrice": f"{quote / volume if volume else last:.8f}",
        }
        if not rolling:
            bids, asks = path.book(now_ms, 1)
            ticker |= {
                "prevClosePrice": f"{first:.8f}",
                "lastPrice": f"{last:.8f}",
                "lastQty": str(path.trade(now_ms // TRADE_EVERY_MS).qty),
                "bidPrice": f"{bids[0][0]:.8f}",
                "bidQty": f"{bids[0][1]:.8f}",
                "askPrice": f"{asks[0][0]:.8f}",
                "askQty": f"{asks[0][1]:.8f}",
            }
    ticker |= {
        "openPrice": f"{first:.8f}",
        "highPrice": f"{max(hours):.8f}",
        "lowPrice": f"{min(hours):.8f}",
        "lastPrice": f"{last:.8f}",
        "volume": f"{volume:.8f}",
        "quoteVolume": f"{quote:.8f}",
        "openTime": open_ms,
        "closeTime": now_ms,
        "firstId": first_id,
        "lastId": now_ms // TRADE_EVERY_MS,
        "count": trades,
    }
    return ticker


def book_ticker(path: PricePath, now_ms: int) -> dict[str, object]:
    bids, asks = path.book(now_ms, 1)
    return {
        "symbol": path.symbol,
        "bidPrice": f"{bids[0][0]:.8f}",
        "bidQty": f"{bids[0][1]:.8f}",
        "askPrice": f"{asks[0][0]:.8f}",
        "askQty": f"{asks[0][1]:.8f}",
    }


_WINDOW = re.compile(r"^([1-9][0-9]*)([mhd])$")
_WINDOW_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_WINDOW_MAX = {"m": 59, "h": 23, "d": 7}


def window_ms(text: str) -> int | None:
    """A rolling ``windowSize`` (1m..59m, 1h..23h, 1d..7d) in ms; None when Binance refuses it."""
    match = _WINDOW.match(text)
    if match is None or int(match[1]) > _WINDOW_MAX[match[2]]:
        return None
    return int(match[1]) * _WINDOW_UNIT_MS[match[2]]
