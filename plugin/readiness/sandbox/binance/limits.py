"""The IP's request weight and the account's order counts, kept as Binance keeps them."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field

WEIGHT_LIMIT = 6000
"""REQUEST_WEIGHT per minute, as advertised in exchangeInfo ``rateLimits``."""

STRIKES_BEFORE_BAN = 4
"""Requests rejected with 429 within a minute before the next one earns a 418 ban."""

BAN_SECONDS = 120
"""The shortest documented automated IP ban (bans scale from 2 minutes to 3 days)."""

ORDER_LIMITS = (("10S", 10.0, 100), ("1D", 86_400.0, 200_000))
"""The ORDERS rate limits: (header suffix, window in seconds, most new orders in it)."""


@dataclass
class Weight:
    """Rolling per-minute request weight for the one IP every loopback client shares."""

    window_s: float = 60.0
    entries: deque[tuple[float, int]] = field(default_factory=deque)
    strikes: deque[float] = field(default_factory=deque)
    banned_until: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _prune(self, now: float) -> None:
        while self.entries and now - self.entries[0][0] >= self.window_s:
            self.entries.popleft()
        while self.strikes and now - self.strikes[0] >= self.window_s:
            self.strikes.popleft()

    def used(self, now: float) -> int:
        with self.lock:
            self._prune(now)
            return sum(w for _, w in self.entries)

    def add(self, now: float, weight: int) -> None:
        with self.lock:
            self.entries.append((now, weight))

    def seconds_until_fits(self, now: float, weight: int, limit: int) -> int:
        with self.lock:
            self._prune(now)
            excess = sum(w for _, w in self.entries) + weight - limit
            for stamp, w in self.entries:
                excess -= w
                if excess <= 0:
                    return max(1, math.ceil(stamp + self.window_s - now))
            return max(1, math.ceil(self.window_s))


@dataclass
class OrderCount:
    """New orders placed per window (``X-MBX-ORDER-COUNT-10S`` / ``-1D``)."""

    placed: deque[float] = field(default_factory=deque)

    def counts(self, now: float) -> dict[str, int]:
        longest = max(window for _, window, _ in ORDER_LIMITS)
        while self.placed and now - self.placed[0] >= longest:
            self.placed.popleft()
        return {name: sum(1 for t in self.placed if now - t < window) for name, window, _ in ORDER_LIMITS}

    def exceeded(self, now: float) -> tuple[str, int] | None:
        """The first limit one more order would break, as (interval text, limit)."""
        counts = self.counts(now)
        for name, _, most in ORDER_LIMITS:
            if counts[name] >= most:
                return ("10 SECOND" if name == "10S" else "1 DAY"), most
        return None

    def add(self, now: float) -> None:
        self.placed.append(now)

    def headers(self, now: float) -> dict[str, str]:
        return {f"X-MBX-ORDER-COUNT-{name}": str(n) for name, n in self.counts(now).items()}
