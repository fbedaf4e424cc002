"""Each answer checked against the live API as it is given, through the harness's own probes.

The probes are the ones the checks read (Telegram getMe, getChat, a test message; Binance's
endpoint, account and API-key restrictions), so init accepts exactly what a later run would
pass, and every Binance request still goes through the probes' allow-list (GET requests only
here). A :class:`Problem` says what is wrong and which answers to ask for again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

from ..probes import binance, telegram
from ..probes.network import ProbeTimeout
from ..settings import BINANCE_URLS, Settings
from .answers import to_settings


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    #: The settings whose answers are asked for again (interactive) before this step reruns.
    ask_again: tuple[str, ...]


Outcome = str | Problem  # what was confirmed, for the terminal, or what is wrong


@dataclass(frozen=True, slots=True)
class Step:
    """One validation: the answers it needs (asked for first, in this order) and its check."""

    needs: tuple[str, ...]
    check: Callable[[Settings], Outcome]


def _run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


def _origin(setting: str) -> Step:
    def check(settings: Settings) -> Outcome:
        url = getattr(settings, setting)
        if not url.startswith(("http://", "https://")):
            return Problem(f"{Settings.env_name(setting)} must be an http(s) URL, got {url!r}", (setting,))
        return f"{Settings.env_name(setting)} {url}"

    return Step((setting,), check)


# -- Telegram -----------------------------------------------------------------------------------

_TOKEN = ("telegram_api_url", "telegram_bot_token")
_CHAT = (*_TOKEN, "telegram_chat_id")


def _telegram(
    settings: Settings, probe: Callable[[Settings], Coroutine[Any, Any, telegram.TelegramAnswer]]
) -> telegram.TelegramAnswer | Problem:
    """The probe's answer, or a problem with the origin when Telegram cannot be reached at all."""
    try:
        answer: telegram.TelegramAnswer = _run(probe(settings))
    except (ProbeTimeout, telegram.TelegramUnreachable) as exc:
        return Problem(
            f"cannot reach the Bot API at {settings.telegram_api_url} ({exc}): check the URL, DNS, "
            "firewall and proxy on this host",
            _TOKEN,
        )
    if answer.http_status >= 500 or (answer.error_code is None and not answer.ok):
        return Problem(f"{answer.summary}: {telegram.diagnose(answer)}", _TOKEN)
    return answer


def _rejected(what: str, answer: telegram.TelegramAnswer, ask_again: tuple[str, ...]) -> Problem:
    code = answer.error_code if answer.error_code is not None else answer.http_status
    advice = telegram.diagnose(answer) or "check it and try again"
    return Problem(f"Telegram rejected the {what} ({code} {answer.description}): {advice}", ask_again)


def _check_token(settings: Settings) -> Outcome:
    answer = _telegram(settings, telegram.get_me)
    if isinstance(answer, Problem):
        return answer
    if not answer.ok:
        return _rejected("token", answer, ("telegram_bot_token",))
    bot = answer.result if isinstance(answer.result, dict) else {}
    return f"token accepted: bot @{bot.get('username', '?')}"


def _check_chat(settings: Settings) -> Outcome:
    answer = _telegram(settings, telegram.get_chat)
    if isinstance(answer, Problem):
        return answer
    if not answer.ok:
        return _rejected("chat", answer, ("telegram_chat_id",))
    chat = answer.result if isinstance(answer.result, dict) else {}
    name = chat.get("title") or chat.get("username") or chat.get("first_name") or "?"
    return f"chat found: {name!r} ({chat.get('type', '?')})"


def _check_message(settings: Settings) -> Outcome:
    answer = _telegram(settings, telegram.send_plain)
    if isinstance(answer, Problem):
        return answer
    if not answer.ok:
        return _rejected("test message", answer, ("telegram_chat_id",))
    return f"test message delivered in {answer.elapsed_s:.2f} s: look for it in the chat"


# -- Binance ------------------------------------------------------------------------------------


def _keys(settings: Settings) -> tuple[str, str]:
    return binance.key_settings(settings)


def _key_problem(error: binance.ApiError, settings: Settings) -> Problem:
    key, secret = _keys(settings)
    advice = binance.remediation_for(error, settings) or "check the key and its secret"
    if error.status is None or error.code is None:
        return Problem(f"{error.describe()}: {advice}", ("binance_api_url",))
    again = (secret,) if error.code == -1022 else (key, secret)
    return Problem(f"Binance rejected the key ({error.describe()}): {advice}", again)


def _check_endpoint(settings: Settings) -> Outcome:
    """The origin belongs to the target's network, judged as binance.endpoint_matches_target does."""
    endpoint: binance.Endpoint = _run(binance.probe_endpoint(settings))
    if endpoint.network is None:
        assert endpoint.reply is not None and endpoint.reply.error is not None
        return _key_problem(endpoint.reply.error, settings)
    if mismatch := binance.network_mismatch(endpoint, settings):
        return Problem(
            f"{mismatch}; use {BINANCE_URLS[settings.network]} or run init with --target {endpoint.network}",
            ("binance_api_url",),
        )
    return f"{endpoint.url} is {endpoint.network}: {endpoint.how}"


def _check_key(settings: Settings) -> Outcome:
    """The key signs, may trade spot (as binance.can_trade judges) and, on mainnet, cannot withdraw
    (as binance.withdrawals_disabled judges: the testnet has no /sapi, and its funds are not real)."""
    reply: binance.Reply | None = _run(binance.probe_account(settings))
    assert reply is not None  # the step needs key and secret
    if reply.error is not None:
        return _key_problem(reply.error, settings)
    restrictions = None
    if settings.network == "mainnet":
        answer: binance.Reply | None = _run(binance.probe_api_restrictions(settings))
        assert answer is not None
        if answer.error is not None:
            return _key_problem(answer.error, settings)
        restrictions = answer.data if isinstance(answer.data, dict) else {}
    account = reply.data if isinstance(reply.data, dict) else {}
    if problems := binance.spot_trading_problems(account, restrictions):
        return Problem(
            f"the key works but may not trade spot ({'; '.join(problems)}): enable 'Enable Spot & Margin "
            "Trading' on the key and make sure the account may trade spot, then give it again",
            _keys(settings),
        )
    if restrictions is None:
        return "key accepted: the account may trade spot (withdrawals not checked: the testnet has no /sapi)"
    if restrictions.get("enableWithdrawals") is not False:
        return Problem(
            "the key may withdraw (apiRestrictions enableWithdrawals true): a leaked key could empty the "
            "account; disable 'Enable Withdrawals' on the key in API Management, then give it again",
            _keys(settings),
        )
    return "key accepted: the account may trade spot, and the key cannot withdraw"


def steps(target: str) -> tuple[Step, ...]:
    """Every validation, in the order the answers are asked for."""
    key, secret = _keys(Settings(target=target))
    signed = ("binance_api_url", key, secret)
    return (
        _origin("telegram_api_url"),
        Step(_TOKEN, _check_token),
        Step(_CHAT, _check_chat),
        Step(_CHAT, _check_message),
        _origin("binance_api_url"),
        Step(("binance_api_url",), _check_endpoint),
        Step(signed, _check_key),
    )


def check(step: Step, target: str, answers: Mapping[str, str]) -> Outcome:
    return step.check(to_settings(target, answers))
