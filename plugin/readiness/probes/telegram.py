"""Telegram probes: getMe, getChat and two sendMessage calls, started together at session start.

Each probe makes one Bot API call with httpx and returns a :class:`TelegramAnswer`. An API error
(401, 400, 403, 429, a 502 page) is an answer, not an exception, so a check can turn it into a
remediation; only transport trouble raises (:class:`TelegramUnreachable`, or
:class:`~readiness.probes.network.ProbeTimeout` when the total deadline passes). The deadline is
enforced around the whole call, not per read: a server trickling one byte every half second
never trips httpx's read timeout. The bot token is part of every URL, so nothing here logs or
repeats a URL, and transport errors are re-raised without their httpx cause (which holds it).
"""

from __future__ import annotations

import asyncio
import functools
import html
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ..context import CheckContext
from ..settings import Settings
from .network import ProbeDef, ProbeSet, ProbeTimeout

#: The outer ProbeSet timeout of every Telegram probe: a backstop only; each probe enforces its
#: own deadline, derived from ``telegram_max_s`` (which ProbeDef cannot see) and capped below this.
BACKSTOP_S = 100.0
_MAX_DEADLINE_S = BACKSTOP_S - 10.0

PLAIN_TEXT = "Readiness check: test message from the deployment-readiness harness. No action needed."


class TelegramUnreachable(Exception):
    """The Bot API could not be reached or did not answer HTTP (DNS, refused, TLS, reset)."""


@dataclass(frozen=True, slots=True)
class TelegramAnswer:
    """What one Bot API call answered; ``missing`` lists unset variables when it was not made."""

    method: str
    ok: bool
    http_status: int
    error_code: int | None
    description: str
    retry_after: int | None
    elapsed_s: float
    result: Any = None
    missing: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """One line for a failure message, e.g. ``sendMessage answered 429 Too Many Requests: ...``."""
        code = self.error_code if self.error_code is not None else self.http_status
        return f"{self.method} answered {code} {self.description}".rstrip()


def lookup_deadline_s(settings: Settings) -> float:
    """getMe / getChat: they are not what is measured, but should answer within the limit too."""
    return min(max(settings.telegram_max_s, 5.0), _MAX_DEADLINE_S)


def send_deadline_s(settings: Settings) -> float:
    """sendMessage: long enough past the limit to report how slow it was, short enough to fail fast."""
    limit = settings.telegram_max_s
    return min(max(2 * limit, limit + 2.0), _MAX_DEADLINE_S)


def alert_text(target: str) -> str:
    """A critical alert formatted like the bot's (HTML parse mode), dynamic parts escaped."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    host = html.escape(socket.gethostname())
    return (
        f"<b>CRITICAL</b> readiness drill: test alert from the deployment-readiness harness\n"
        f"target <code>{html.escape(target)}</code> · host <code>{host}</code> · {now}\n"
        f"No action needed &lt;this is a test&gt;."
    )


async def call(
    settings: Settings, method: str, params: dict[str, Any] | None, deadline_s: float
) -> TelegramAnswer:
    """One Bot API call within ``deadline_s`` in total; API errors come back as answers."""
    missing = _missing(settings, needs_chat=method != "getMe")
    if missing:
        reason = f"not configured: set {', '.join(missing)}"
        return TelegramAnswer(method, False, 0, None, reason, None, 0.0, missing=missing)
    url = f"{settings.telegram_api_url}/bot{settings.telegram_bot_token}/{method}"
    try:
        async with httpx.AsyncClient(timeout=deadline_s, verify=_ssl_context()) as client:
            started = time.perf_counter()
            async with asyncio.timeout(deadline_s):
                if params is None:
                    response = await client.get(url)
                else:
                    response = await client.post(url, json=params)
            elapsed_s = time.perf_counter() - started
    except (TimeoutError, httpx.TimeoutException):
        raise ProbeTimeout(f"no answer within {deadline_s:g} s") from None
    except httpx.HTTPError as exc:
        raise TelegramUnreachable(_describe(exc, settings)) from None
    return _answer(method, response, elapsed_s)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for all probes: building one costs tens of ms of CPU on the shared loop."""
    return httpx.create_ssl_context()


def _missing(settings: Settings, *, needs_chat: bool) -> tuple[str, ...]:
    names = ["telegram_bot_token", *(["telegram_chat_id"] if needs_chat else [])]
    return tuple(Settings.env_name(n) for n in names if not getattr(settings, n))


def _describe(exc: httpx.HTTPError, settings: Settings) -> str:
    detail = str(exc) or type(exc).__name__
    if settings.telegram_bot_token:
        detail = detail.replace(settings.telegram_bot_token, "<token>")
    return f"{type(exc).__name__}: {detail}"


def _answer(method: str, response: httpx.Response, elapsed_s: float) -> TelegramAnswer:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "ok" not in body:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        reason = f"{response.reason_phrase} (not a Bot API answer: {kind})".strip()
        return TelegramAnswer(method, False, response.status_code, None, reason, None, elapsed_s)
    parameters = body.get("parameters")
    retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
    error_code = body.get("error_code")
    return TelegramAnswer(
        method=method,
        ok=body["ok"] is True,
        http_status=response.status_code,
        error_code=error_code if isinstance(error_code, int) else None,
        description=str(body.get("description", "")),
        retry_after=retry_after if isinstance(retry_after, int) else None,
        elapsed_s=elapsed_s,
        result=body.get("result"),
    )


async def get_me(settings: Settings) -> TelegramAnswer:
    return await call(settings, "getMe", None, lookup_deadline_s(settings))


async def get_chat(settings: Settings) -> TelegramAnswer:
    return await call(
        settings, "getChat", {"chat_id": settings.telegram_chat_id}, lookup_deadline_s(settings)
    )


async def send_plain(settings: Settings) -> TelegramAnswer:
    """A silent plain-text message: what delivery latency is measured on."""
    params = {"chat_id": settings.telegram_chat_id, "text": PLAIN_TEXT, "disable_notification": True}
    return await call(settings, "sendMessage", params, send_deadline_s(settings))


async def send_alert(settings: Settings) -> TelegramAnswer:
    """The formatted critical alert, through the same parse mode the bot's alerts use."""
    params = {"chat_id": settings.telegram_chat_id, "text": alert_text(settings.target), "parse_mode": "HTML"}
    return await call(settings, "sendMessage", params, send_deadline_s(settings))


def diagnose(answer: TelegramAnswer) -> str | None:
    """A remediation for an API error, sharper than a check's own; None when nothing specific fits."""
    text = answer.description.lower()
    if answer.error_code == 401:
        return (
            "token revoked or mistyped: create or copy the token again from @BotFather "
            "and set TELEGRAM_BOT_TOKEN"
        )
    if answer.error_code == 400 and "chat not found" in text:
        return "send /start to the bot from the alert chat, or fix TELEGRAM_CHAT_ID"
    if answer.error_code == 400 and "parse entities" in text:
        return (
            "the alert formatter produced invalid HTML for parse_mode=HTML: escape dynamic values "
            "(html.escape: <, >, &) and close every tag, or send alerts without parse_mode"
        )
    if answer.error_code == 403:
        if "blocked" in text:
            return "bot blocked in the alert chat: unblock the bot (or press Start again) in that chat"
        return (
            "bot kicked from or not a member of the alert chat: re-add the bot to the chat "
            "(with the right to post messages)"
        )
    if answer.error_code == 404:
        return (
            "the Bot API answered 404 Not Found: TELEGRAM_BOT_TOKEN is malformed (it looks like "
            "123456789:AA...) or TELEGRAM_API_URL does not point at the Bot API"
        )
    if answer.error_code == 429:
        wait = f"retry after {answer.retry_after} s" if answer.retry_after is not None else "retry later"
        return f"rate limited: {wait}; make sure nothing else floods messages through this bot"
    if answer.http_status >= 500 or answer.error_code is None:
        return (
            f"Telegram (TELEGRAM_API_URL) answered HTTP {answer.http_status} instead of the Bot API: "
            "check proxies and TELEGRAM_API_URL, then retry; if it persists, Telegram is down"
        )
    return None


async def await_answer(probes: ProbeSet, readiness: CheckContext, name: str) -> TelegramAnswer:
    """The probe's answer, or the check fails on a timeout or an unreachable API (not a traceback)."""
    try:
        answer: TelegramAnswer = await probes.result(name)
    except ProbeTimeout as exc:
        readiness.fail(
            f"{_METHODS[name]}: {exc} (limit {readiness.settings.telegram_max_s:g} s)",
            remediation="Telegram did not answer in time: check the network path to TELEGRAM_API_URL "
            "(proxy, firewall, DNS) and Telegram's status; alerts would arrive this late or not at all",
        )
    except TelegramUnreachable as exc:
        readiness.fail(
            f"{_METHODS[name]}: cannot reach {readiness.settings.telegram_api_url}: {exc}",
            remediation="Let this host reach TELEGRAM_API_URL over HTTPS (DNS, firewall, HTTPS_PROXY), "
            "or fix TELEGRAM_API_URL",
        )
    if answer.missing:  # the check required its settings first; this is a safety net
        pytest.skip(answer.description)
    return answer


def _probe(
    name: str, checks: tuple[str, ...], run: Callable[[Settings], Awaitable[TelegramAnswer]]
) -> ProbeDef:
    return ProbeDef(name=name, checks=frozenset(checks), run=run, timeout_s=BACKSTOP_S)


_METHODS = {
    "telegram.get_me": "getMe",
    "telegram.get_chat": "getChat",
    "telegram.send_plain": "sendMessage",
    "telegram.send_alert": "sendMessage (alert)",
}

PROBES: tuple[ProbeDef, ...] = (
    _probe("telegram.get_me", ("telegram.token_valid",), get_me),
    _probe("telegram.get_chat", ("telegram.chat_reachable",), get_chat),
    _probe("telegram.send_plain", ("telegram.delivery_latency",), send_plain),
    _probe("telegram.send_alert", ("integration.alert_path",), send_alert),
)
