"""Binance's wire rules shared by every route: the call, its errors, its parameters, its signature."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_NUMBER = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")


class BinanceError(Exception):
    """A documented Binance error: HTTP status plus the ``{"code", "msg"}`` body."""

    def __init__(self, status: int, code: int, msg: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Call:
    """One request, parsed: query and body parameters merged as Binance merges them."""

    method: str
    path: str
    params: dict[str, str]
    raw_query: str
    raw_body: str
    headers: Mapping[str, str]


Payload = dict[str, Any] | list[Any]


@dataclass
class Answer:
    """A handler's payload with response headers of its own (e.g. the order-count headers)."""

    payload: Payload
    headers: dict[str, str]


Handler = Callable[[Call], Payload | Answer]


@dataclass(frozen=True)
class Endpoint:
    handler: Handler
    weight: Callable[[Call], int]
    signed: bool = False
    #: MARKET_DATA / USER_STREAM security: the API key header is required, no signature.
    keyed: bool = False


Routes = dict[str, dict[str, Endpoint]]


def weight(value: int) -> Callable[[Call], int]:
    """A fixed request weight."""
    return lambda call: value


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def filter_failure(name: str) -> BinanceError:
    return BinanceError(400, -1013, f"Filter failure: {name}")


def decimal_param(call: Call, name: str, default: str | None = None) -> Decimal:
    raw = call.params.get(name, default)
    if raw is None or raw == "":
        raise mandatory(name)
    if not _NUMBER.match(raw):
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        )
    return Decimal(raw)


def int_param(call: Call, name: str, default: int | None = None, most: int | None = None) -> int | None:
    raw = call.params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.lstrip("-").isdigit():
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    value = int(raw)
    if value < 0 or (most is not None and value > most) or (name == "limit" and value == 0):
        raise BinanceError(400, -1130, f"Data sent for parameter '{name}' is not valid.")
    return value


def fmt(value: Decimal | str | int) -> str:
    """A decimal as Binance prints amounts: eight places."""
    return f"{Decimal(value):.8f}"


def random_token(length: int = 64) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of ``payload`` keyed with ``secret``: Binance's SIGNED-endpoint rule."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, payload: str, signature: str) -> bool:
    """Whether ``signature`` (case-insensitive hex, as Binance accepts) signs ``payload``."""
    return hmac.compare_digest(sign(secret, payload), signature.lower())


def signature_payload(raw_query: str, raw_body: str) -> str:
    """``totalParams``: the query string concatenated with the body, ``signature`` removed.

    Binance signs the bytes as sent, so both parts stay percent-encoded and in their order.
    """

    def strip(part: str) -> str:
        return "&".join(p for p in part.split("&") if p and not p.startswith("signature="))

    return strip(raw_query) + strip(raw_body)


def python_binance_urls(base_url: str) -> dict[str, str]:
    """The python-binance ``BaseClient`` URL attributes that route a client to ``base_url``."""
    base = base_url.rstrip("/")
    return {
        "API_URL": f"{base}/api",
        "API_TESTNET_URL": f"{base}/api",
        "MARGIN_API_URL": f"{base}/sapi",
    }
