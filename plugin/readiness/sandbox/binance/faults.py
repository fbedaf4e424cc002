"""The Binance emulator's named faults: each breaks exactly what one readiness check verifies."""

from __future__ import annotations

from collections.abc import Collection

FAULTS: dict[str, str] = {
    "binance_down": "binance.connectivity: every path answers 503 with a load balancer's page",
    "binance_clock_skew": "binance.clock_skew: server clock 3,000 ms ahead; signed calls pass",
    "binance_clock_behind": "binance.api_key_valid: server clock 10 s behind; signed calls -1021",
    "binance_key_rejected": "binance.api_key_valid: signed endpoints answer -2015",
    "binance_bad_signature": "binance.api_key_valid: server holds another secret, answers -1022",
    "binance_key_format": "binance.api_key_valid: signed endpoints answer -2014",
    "binance_cannot_trade": "binance.can_trade: account canTrade false, permissions lack SPOT",
    "binance_withdrawals_enabled": "binance.withdrawals_disabled: key may withdraw",
    "binance_ip_unrestricted": "binance.ip_restricted: apiRestrictions ipRestrict false",
    "binance_maintenance": "binance.system_status: /sapi/v1/system/status reports maintenance",
    "binance_low_balance": "binance.balance_sufficient: USDT free balance is 10",
    "binance_symbol_halted": "binance.symbol_tradable: BTCUSDT status BREAK, spot trading off",
    "binance_order_rejected": (
        "binance.order_validation: order/test enforces NOTIONAL minNotional 1,000,000 "
        "while exchangeInfo still advertises 5"
    ),
    "binance_filter_mismatch": (
        "integration.filters_agree: order/test enforces a LOT_SIZE step 10x coarser than advertised"
    ),
    "binance_weight_high": "binance.rate_limit_headroom: X-MBX-USED-WEIGHT-1M reports 5,900+",
    "binance_rate_limited": "binance.connectivity: every request gets 429, Retry-After 30",
    "binance_banned": "binance.connectivity: every request gets 418 (IP banned), Retry-After 120",
    "binance_mainnet_flavor": (
        "binance.endpoint_matches_target: a testnet emulator that serves /sapi like mainnet"
    ),
    "binance_hang": "binance.connectivity: accepts the connection and never answers",
    "binance_trickle": "binance.connectivity: answers one byte every 0.5 s",
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
