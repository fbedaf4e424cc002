"""The bot's risk-manager protocol over the reference bot's loopback control API.

The harness loads it with ``READINESS_RISK_MANAGER=readiness.sandbox.riskclient:connect``; the
bot's folder comes from ``READINESS_SANDBOX_BOT_DIR``. The client looks the bot's address up in
``control.json`` on every call, so it keeps working after a crash drill restarts the bot on another
port. The launcher that starts and stops the bot lives beside it, in :mod:`readiness.sandbox.bot`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import httpx

from readiness.sandbox.bot import CONTROL_FILE

__all__ = ["BOT_DIR_ENV", "BotUnreachable", "RiskManagerClient", "RiskManagerError", "connect"]

BOT_DIR_ENV: Final = "READINESS_SANDBOX_BOT_DIR"
DEFAULT_TIMEOUT_S: Final = 3.0


class BotUnreachable(ConnectionError):
    """The bot's control API cannot be found or does not answer."""


class RiskManagerError(RuntimeError):
    """The bot answered, but not as the protocol expects (bad request, server error)."""


class RiskManagerClient:
    """The risk manager the harness expects of a bot, implemented by calls to the bot's control API.

    Give ``workdir`` (control.json is re-read on every call) or a fixed ``url``. Connections are
    not kept alive, so a client that is never closed leaks no socket.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if (workdir is None) == (url is None):
            raise ValueError("give exactly one of workdir and url")
        self.workdir = Path(workdir) if workdir is not None else None
        self._url = url.rstrip("/") if url is not None else None
        self._http = httpx.Client(
            timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0), trust_env=False
        )

    @property
    def url(self) -> str:
        """The control API's base URL (from control.json when built with a workdir)."""
        if self._url is not None:
            return self._url
        assert self.workdir is not None
        path = self.workdir / CONTROL_FILE
        try:
            url = json.loads(path.read_bytes())["url"]
        except FileNotFoundError:
            raise BotUnreachable(f"bot not running: {path} does not exist") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BotUnreachable(f"cannot read the bot's address from {path}: {exc}") from None
        if not isinstance(url, str):
            raise BotUnreachable(f"{path} has no url")
        return url

    def activate_kill_switch(self, reason: str) -> None:
        """Stop new BUYs; the bot persists the state, audits it and alerts Telegram."""
        self._call("POST", "/kill-switch/activate", {"reason": reason})

    def deactivate_kill_switch(self, reason: str) -> None:
        """Re-enable trading."""
        self._call("POST", "/kill-switch/deactivate", {"reason": reason})

    @property
    def kill_switch_active(self) -> bool:
        return bool(self._call("GET", "/kill-switch")["active"])

    def validate_trade(self, symbol: str, side: str, quote_qty: float | Decimal | str) -> tuple[bool, str]:
        """Ask the bot's pre-trade rules whether this order may go out, and why."""
        answer = self._call(
            "POST", "/validate-trade", {"symbol": symbol, "side": side, "quote_qty": str(quote_qty)}
        )
        return bool(answer["allowed"]), str(answer["reason"])

    def health(self) -> dict[str, Any]:
        """The bot's /health answer: ok, pid, seq, audit_ok, kill_switch_active, uptime_s, faults."""
        return self._call("GET", "/health")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RiskManagerClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        url = self.url + path
        try:
            response = self._http.request(method, url, json=payload)
        except httpx.TimeoutException as exc:
            raise BotUnreachable(f"bot control API {url} timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise BotUnreachable(f"bot control API {url} unreachable: {exc}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            detail = body.get("error") if isinstance(body, dict) else response.text[:200]
            raise RiskManagerError(f"{method} {path} answered HTTP {response.status_code}: {detail}")
        return body


def connect(workdir: str | os.PathLike[str] | None = None) -> RiskManagerClient:
    """The ``READINESS_RISK_MANAGER`` factory: a client for the bot in ``workdir``.

    ``workdir`` defaults to ``$READINESS_SANDBOX_BOT_DIR``. The bot must be up: this checks
    /health once, so a misconfigured factory fails here with a clear message, not mid-drill.
    """
    if workdir is None:
        workdir = os.environ.get(BOT_DIR_ENV)
        if not workdir:
            raise BotUnreachable(f"no bot folder: pass workdir or set {BOT_DIR_ENV}")
    client = RiskManagerClient(workdir)
    try:
        client.health()
    except BaseException:
        client.close()
        raise
    return client
