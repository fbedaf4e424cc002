"""The answers ``readiness init`` collects, named by the settings table so nothing is spelled twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..probes.binance import key_settings
from ..redact import Redactor
from ..settings import BINANCE_URLS, BY_NAME, Settings

#: The targets init sets up; the sandbox brings its own credentials.
TARGETS = ("testnet", "mainnet")


@dataclass(frozen=True, slots=True)
class Question:
    """One answer: the setting it fills and how to ask for it (secrets are read without echo)."""

    setting: str
    prompt: str
    default: str | None = None

    @property
    def env(self) -> str:
        return BY_NAME[self.setting].env

    @property
    def secret(self) -> bool:
        return BY_NAME[self.setting].kind == "secret"


def questions(target: str) -> dict[str, Question]:
    """Every question for ``target``, by setting name, in the order they are asked."""
    key, secret = key_settings(Settings(target=target))
    network = "Spot testnet" if target == "testnet" else "Binance"
    found = [
        Question("telegram_api_url", "Telegram Bot API origin", BY_NAME["telegram_api_url"].default),
        Question("telegram_bot_token", "Telegram bot token (from @BotFather)"),
        Question("telegram_chat_id", "Telegram alert chat id"),
        Question("binance_api_url", "Binance API origin", BINANCE_URLS[target]),
        Question(key, f"{network} API key"),
        Question(secret, f"{network} API secret"),
    ]
    return {q.setting: q for q in found}


def to_settings(target: str, answers: Mapping[str, str]) -> Settings:
    """The answers so far as the harness's own settings, so the probes can be used unchanged."""
    values: dict[str, Any] = {name: value for name, value in answers.items() if value}
    return Settings(target=target, **values)


def redactor(answers: Mapping[str, str]) -> Redactor:
    """Masks every secret answered so far (and any token shape) in what init prints."""
    return Redactor(value for name, value in answers.items() if BY_NAME[name].kind == "secret")
