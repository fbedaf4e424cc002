"""Fixtures that serve the emulators on loopback and hand out clients pointed at them."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from readiness.sandbox.binance import BinanceEmulator, python_binance_urls
from readiness.sandbox.server import BackgroundServer
from readiness.sandbox.telegram import TelegramEmulator

from ..helpers import EMULATOR_TESTS_AGENT
from .telegram_helpers import GROUP, Running, StartTelegram

with warnings.catch_warnings():
    # python-binance 1.0.37 imports a name websockets deprecated; the import is not ours to fix.
    warnings.simplefilter("ignore", DeprecationWarning)
    from binance.client import Client


@dataclass(frozen=True)
class Served:
    """A running emulator and the base URL it answers on."""

    emulator: BinanceEmulator
    url: str


def point_ccxt(urls: dict[str, Any], served: Served) -> None:
    """Move every API origin ccxt knows (REST and WebSocket) to the emulator, in place; each path
    stays as ccxt wrote it, so a bot's ccxt config needs nothing but these URLs."""
    for name, url in urls.items():
        if isinstance(url, dict):
            point_ccxt(url, served)
        elif isinstance(url, str) and url.startswith(("http", "ws")):
            origin = served.url if url.startswith("http") else served.url.replace("http://", "ws://", 1)
            urls[name] = origin + urlsplit(url).path


ServeFactory = Callable[..., Served]
ClientFactory = Callable[..., Any]


@pytest.fixture
def serve() -> Iterator[ServeFactory]:
    """Start emulators (constructor kwargs) in background servers; stop them all afterwards."""
    servers: list[BackgroundServer] = []

    def start(**kwargs: Any) -> Served:
        emulator = BinanceEmulator(journal_tag=EMULATOR_TESTS_AGENT, **kwargs)
        server = BackgroundServer(emulator.make_app())
        servers.append(server)
        return Served(emulator, server.start())

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def served(serve: ServeFactory) -> Served:
    """A healthy mainnet-flavoured emulator (it serves /sapi)."""
    return serve(network="mainnet")


@pytest.fixture
def client_for() -> Iterator[ClientFactory]:
    """Build real python-binance sync clients pointed at an emulator; close them afterwards.

    The sync client grabs ``asyncio.get_event_loop()`` (creating one if none is set) and never
    closes it; owning that loop here keeps its ResourceWarning out of the warnings-as-errors run.
    """
    clients: list[Any] = []
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def build(target: Served, *, api_key: str | None = None, api_secret: str | None = None) -> Any:
        emulator_client = type("EmulatorClient", (Client,), python_binance_urls(target.url))
        client = emulator_client(
            api_key if api_key is not None else target.emulator.api_key,
            api_secret if api_secret is not None else target.emulator.api_secret,
            ping=False,
        )
        client.session.headers["User-Agent"] = EMULATOR_TESTS_AGENT
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close_connection()
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def start_telegram() -> Iterator[StartTelegram]:
    """Serve Telegram emulators (constructor kwargs) in background servers; stop them all afterwards."""
    servers: list[BackgroundServer] = []

    def start(**kwargs: Any) -> Running:
        emulator = TelegramEmulator(**kwargs)
        server = BackgroundServer(emulator.make_app())
        servers.append(server)
        return Running(emulator, server.start())

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def tg(start_telegram: StartTelegram) -> Running:
    """A healthy Telegram emulator whose bot can reach one supergroup."""
    return start_telegram(chat_id=GROUP)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as http:
        yield http
