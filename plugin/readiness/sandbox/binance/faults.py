"""The Binance emulator's named faults: each breaks exactly what one readiness check verifies."""

from __future__ import annotations

from collections.abc import Collection

FAULTS: dict[str, str] = {
    "binance_down": "every path answers 503 with a load balancer's page (fails binance.connectivity)",
    "binance_clock_skew": (
        "the server clock runs 3,000 ms ahead; signed calls still pass (fails binance.clock_skew)"
    ),
    "binance_clock_behind": (
        "the server clock runs 10 s behind, so signed calls answer -1021 (fails binance.api_key_valid)"
    ),
    "binance_key_rejected": "signed endpoints answer -2015 (fails binance.api_key_valid)",
    "binance_bad_signature": (
        "the server holds another secret, so signed calls answer -1022 (fails binance.api_key_valid)"
    ),
    "binance_key_format": "signed endpoints answer -2014 (fails binance.api_key_valid)",
    "binance_cannot_trade": "the account has canTrade false and no SPOT permission (fails binance.can_trade)",
    "binance_withdrawals_enabled": (
        "apiRestrictions says the key may withdraw (fails binance.withdrawals_disabled)"
    ),
    "binance_ip_unrestricted": (
        "apiRestrictions says the key has no IP allow-list (fails binance.ip_restricted)"
    ),
    "binance_maintenance": "/sapi/v1/system/status reports maintenance (fails binance.system_status)",
    "binance_low_balance": "the free USDT balance is 10 (fails binance.balance_sufficient)",
    "binance_symbol_halted": "BTCUSDT is in status BREAK, spot trading off (fails binance.symbol_tradable)",
    "binance_order_rejected": (
        "order/test enforces a minimum notional of 1,000,000 while exchangeInfo still advertises 5 "
        "(fails binance.order_validation)"
    ),
    "binance_filter_mismatch": (
        "order/test enforces a LOT_SIZE step 10x coarser than exchangeInfo advertises "
        "(fails integration.filters_agree)"
    ),
    "binance_weight_high": "X-MBX-USED-WEIGHT-1M reports 5,900 or more (fails binance.rate_limit_headroom)",
    "binance_rate_limited": "every request answers 429 with Retry-After 30 (fails binance.connectivity)",
    "binance_banned": (
        "every request answers 418 (IP banned) with Retry-After 120 (fails binance.connectivity)"
    ),
    "binance_mainnet_flavor": (
        "a testnet endpoint that serves /sapi as only mainnet does (fails binance.endpoint_matches_target)"
    ),
    "binance_hang": "accepts the connection and never answers (fails binance.connectivity)",
    "binance_trickle": "answers one byte every 0.5 s (fails binance.connectivity)",
}

#: Faults a bot meets on a real exchange, for rehearsing the bot itself: no readiness check is
#: made to fail by them, so they are not in the per-check catalogue above.
BOT_FAULTS: dict[str, str] = {
    "binance_ws_drop": "every WebSocket connection is closed 3 s after it opened (the bot's reconnect path)",
    "binance_5xx_burst": "the first 3 of every 10 REST requests answer 502 with a load balancer's page",
    "binance_order_429": "every other order placement or cancel answers 429 -1015 with Retry-After 1",
    "binance_price_gap": "every price drops 8% at the moment the fault is set, and stays there",
}

SKEW_AHEAD_MS = 3000
BEHIND_MS = -10_000
WEIGHT_HIGH_BASE = 5900
TRICKLE_INTERVAL_S = 0.5
BURST_EVERY, BURST_LENGTH = 10, 3
GAP_FACTOR = 0.92


def validate(faults: Collection[str]) -> frozenset[str]:
    """The faults as a set; an unknown name is a ValueError listing the valid ones."""
    names = frozenset(faults)
    unknown = sorted(names - FAULTS.keys() - BOT_FAULTS.keys())
    if unknown:
        raise ValueError(
            f"unknown Binance sandbox fault(s): {', '.join(unknown)}; "
            f"valid faults: {', '.join(sorted(FAULTS | BOT_FAULTS))}"
        )
    return names
