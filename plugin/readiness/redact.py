"""Keep credentials out of every output: one redactor, applied wherever text leaves the run."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping

MASK = "***"
#: Any environment variable whose name contains one of these holds a secret.
SECRET_NAME_PARTS = ("TOKEN", "SECRET", "PASSWORD", "API_KEY")
#: Telegram bot tokens: ``<bot id>:<35 url-safe characters>``, wherever they turn up (URLs, logs).
TELEGRAM_TOKEN = r"\d{5,16}:[A-Za-z0-9_-]{30,}"
#: Shorter values would mask ordinary words and numbers; no real credential is that short.
MIN_SECRET_LENGTH = 4


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)


class Redactor:
    """Replace known secret values (and their URL-encoded forms) and token shapes by ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            variants.update({secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)})
        alternatives = [re.escape(v) for v in sorted(variants, key=len, reverse=True)]
        alternatives.append(TELEGRAM_TOKEN)
        self._pattern = re.compile("|".join(alternatives))
        self.secrets = frozenset(variants)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], extra: Iterable[str] = ()) -> Redactor:
        """Every value of a secret-named variable, plus ``extra`` (the configured credentials)."""
        found = [value for name, value in environ.items() if is_secret_name(name)]
        return cls([*found, *extra])

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if text else text

    def contains_secret(self, text: str) -> bool:
        return bool(text) and self._pattern.search(text) is not None
