"""A bot's own REST API (freqtrade's), behind the one allow-list of what the harness may send it.

Every run may read (``GET``). Only a drill may switch entries off and on (``POST /stopentry``,
``POST /start``), and only once the bot's ``/show_config`` said it runs in dry-run may a drill ask
it to enter or exit a trade (``/forceenter``, ``/forceexit``): nothing sent here can open a live
trade. The allow-list is enforced on every request the client makes, in :meth:`BotApi._guard`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final

import httpx

from .binance import USER_AGENT

__all__ = ["ALLOWED", "BotApi", "BotApiError", "BotApiRefused"]

#: Path under the API root -> (method, who may send it): "read" any run, "drill" a drill only,
#: "dry-run drill" a drill after ``/show_config`` said ``dry_run: true``.
ALLOWED: Final[Mapping[tuple[str, str], str]] = {
    ("GET", "/ping"): "read",
    ("GET", "/show_config"): "read",
    ("GET", "/status"): "read",
    ("GET", "/balance"): "read",
    ("POST", "/stopentry"): "drill",
    ("POST", "/start"): "drill",
    ("POST", "/forceenter"): "dry-run drill",
    ("POST", "/forceexit"): "dry-run drill",
}
TIMEOUT_S: Final = 5.0


class BotApiError(Exception):
    """The bot's API could not be reached or answered an error; the message says what to do."""


class BotApiRefused(BotApiError):
    """The harness refused to send a request outside the allow-list (a bug, never the bot's fault)."""


class BotApi:
    """A client of the bot's API at ``url`` (``http://host:port``), HTTP basic auth."""

    def __init__(
        self, url: str, username: str | None, password: str | None, *, drill: bool, timeout: float = TIMEOUT_S
    ) -> None:
        self.url = url.rstrip("/")
        self.drill = drill
        #: What the bot's /show_config said about dry-run; None until it was asked.
        self.dry_run: bool | None = None
        self._root = httpx.URL(self.url if self.url.endswith("/api/v1") else f"{self.url}/api/v1")
        self._auth = (username, password or "") if username else None
        self._timeout = timeout
        self._opened: httpx.Client | None = None

    @property
    def _client(self) -> httpx.Client:
        """Opened on first use and again after :meth:`close` (the crash drill's restarted bot)."""
        if self._opened is None:
            self._opened = httpx.Client(
                base_url=self._root,
                auth=self._auth,
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT},
                event_hooks={"request": [self._guard]},
            )
        return self._opened

    def _guard(self, request: httpx.Request) -> None:
        path = request.url.path.removeprefix(self._root.path)
        who = ALLOWED.get((request.method, path))
        if who is None or (who != "read" and not self.drill):
            raise BotApiRefused(f"{request.method} {path} is not sent to a bot's API outside a drill")
        if who == "dry-run drill" and self.dry_run is not True:
            raise BotApiRefused(
                f"{request.method} {path} is sent only to a bot whose /show_config says dry-run"
            )

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        where = f"the bot's API at {self.url}"
        try:
            answer = self._client.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise BotApiError(
                f"{where} cannot be reached ({type(exc).__name__}): is the bot running with its "
                "api_server enabled, and is READINESS_BOT_API_URL its address?"
            ) from None
        if answer.status_code == 401:
            raise BotApiError(
                f"{where} refused the credentials (401): set READINESS_BOT_API_USERNAME and "
                "READINESS_BOT_API_PASSWORD to its api_server username and password"
            )
        try:
            data = answer.json()
        except ValueError:
            data = None
        if answer.status_code >= 400:
            detail = (data.get("detail") or data.get("error")) if isinstance(data, dict) else None
            shown = detail or answer.text[:200]
            raise BotApiError(f"{method} {path} on {where}: {answer.status_code} {shown}")
        if data is None:
            raise BotApiError(f"{method} {path} on {where} answered {answer.status_code} without JSON")
        return data

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._call("POST", path, body)

    def show_config(self) -> dict[str, Any]:
        """``/show_config``, noting whether the bot runs in dry-run (what unlocks force entries)."""
        config = self.get("/show_config")
        if not isinstance(config, dict):
            raise BotApiError(f"GET /show_config on the bot's API at {self.url} did not answer an object")
        self.dry_run = config.get("dry_run") is True
        return config

    def close(self) -> None:
        client, self._opened = self._opened, None
        if client is not None:
            client.close()

    def __enter__(self) -> BotApi:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
