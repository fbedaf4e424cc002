"""The Binance Spot emulator, a paper exchange: see :mod:`.emulator` for how it is served."""

from .emulator import BinanceEmulator
from .faults import BOT_FAULTS, FAULTS
from .journal import REQUEST_LOG_ENV, RequestRecord
from .protocol import python_binance_urls, sign, signature_payload, verify

__all__ = [
    "BOT_FAULTS",
    "FAULTS",
    "REQUEST_LOG_ENV",
    "BinanceEmulator",
    "RequestRecord",
    "python_binance_urls",
    "sign",
    "signature_payload",
    "verify",
]
