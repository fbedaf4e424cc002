"""The Telegram emulator's named faults: each breaks exactly one readiness check."""

from __future__ import annotations

from collections.abc import Collection

#: Fault name -> what it does and the check it is meant to fail.
FAULTS: dict[str, str] = {
    "telegram_token_revoked": (
        "every call answers 401 Unauthorized, as after /revoke in BotFather (fails telegram.token_valid)"
    ),
    "telegram_chat_not_found": (
        "getChat, sendMessage and every other call naming the chat answer 400 'chat not found'; getMe "
        "works (fails telegram.chat_reachable)"
    ),
    "telegram_bot_blocked": (
        "sendMessage (and every other send method) answers 403 'bot was blocked by the user'; getMe and "
        "getChat work (fails telegram.delivery_latency)"
    ),
    "telegram_slow": (
        "sendMessage answers only after 6 s, over the 5 s limit (fails telegram.delivery_latency)"
    ),
    "telegram_rate_limited": (
        "sendMessage answers 429 'Too Many Requests: retry after 17' (fails telegram.delivery_latency)"
    ),
    "telegram_parse_entities": (
        'sendMessage with any parse_mode answers 400 "can\'t parse entities"; plain text works '
        "(fails integration.alert_path, which sends a formatted alert)"
    ),
    "telegram_down": (
        "every request answers 502 Bad Gateway with nginx's HTML page (fails telegram.token_valid)"
    ),
    "telegram_hang": (
        "sendMessage is accepted and never answered; nothing is delivered "
        "(fails telegram.delivery_latency through its timeout)"
    ),
    "telegram_hang_all": (
        "every call is accepted and never answered, getMe included "
        "(fails telegram.token_valid through its timeout; the checks after it end blocked)"
    ),
    "telegram_trickle_all": (
        "every answer arrives one byte every 0.5 s, getMe included "
        "(fails telegram.token_valid unless it enforces a total deadline)"
    ),
    "telegram_trickle": (
        "sendMessage is delivered but its answer arrives one byte every 0.5 s, so a per-read "
        "timeout never fires (fails telegram.delivery_latency unless it enforces a total deadline)"
    ),
}

#: Default ``send_delay_s``: how long sendMessage takes under ``telegram_slow`` (over the 5 s limit).
SLOW_SEND_S = 6.0
#: ``retry_after`` (seconds) answered under ``telegram_rate_limited``.
RATE_LIMIT_RETRY_AFTER = 17
#: Seconds between the bytes of an answer under ``telegram_trickle``.
TRICKLE_INTERVAL_S = 0.5
#: What sendMessage answers under ``telegram_parse_entities``, per parse mode: TDLib's own messages.
INJECTED_PARSE_ERRORS = {
    "HTML": 'Can\'t find end tag corresponding to start tag "b"',
    "MarkdownV2": "Character '.' is reserved and must be escaped with the preceding '\\'",
    "Markdown": "Can't find end of the entity starting at byte offset 0",
}


def validate_faults(faults: Collection[str]) -> frozenset[str]:
    """Return ``faults`` as a set, or raise ValueError naming the unknown one and the valid ones."""
    for name in faults:
        if name not in FAULTS:
            valid = ", ".join(sorted(FAULTS))
            raise ValueError(f"unknown Telegram sandbox fault {name!r}; valid faults: {valid}")
    return frozenset(faults)
