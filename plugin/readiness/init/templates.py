"""The files init writes, as text: ``.env`` and the three setting templates.

``readiness.toml`` is generated from the settings table, so every setting the harness reads is in
it and none it does not; the waiver and attestation examples are in the exact format their
loaders parse, so uncommenting one gives a valid entry.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
from collections.abc import Mapping

from ..settings import BINANCE_URLS, BY_NAME, DEFINITIONS, SettingDef

#: What a setting without a default looks like, by kind (uncommented as is, it still parses).
_PLACEHOLDERS = {
    "path": ("<path>", "a path, relative to this file"),
    "url": ("https://...", "an http(s) URL"),
    "factory": ("package.module:callable", "a factory, package.module:callable"),
    "str": ("<text>", "text"),
    "profile": ("reference", "reference, freqtrade or module:callable"),
}


def env_file(target: str, answers: Mapping[str, str], today: dt.date) -> str:
    """``.env``: the credentials, the target, and the origins when they are not the defaults.

    Values are quoted for sh only when they need it; python-dotenv reads the lines alike.
    """
    defaults = {
        "telegram_api_url": BY_NAME["telegram_api_url"].default,
        "binance_api_url": BINANCE_URLS[target],
    }
    lines = [
        f"# Written by `readiness init` on {today.isoformat()} for target {target}; each value checked live.",
        "# Secrets: keep this file mode 600 and out of version control.",
        f"READINESS_TARGET={target}",
    ]
    for name, value in answers.items():
        if defaults.get(name) != value:
            lines.append(f"{BY_NAME[name].env}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


def _setting_lines(definition: SettingDef) -> list[str]:
    """What the setting is and its variable, then the setting commented out at its default."""
    if definition.name == "binance_api_url":
        value, note = BINANCE_URLS["testnet"], "  # on mainnet: " + BINANCE_URLS["mainnet"]
    elif definition.default is not None:
        value, note = definition.default, ""
    else:
        placeholder, what = _PLACEHOLDERS[definition.kind]
        value, note = placeholder, f"  # {what}; no default"
    return [f"# {definition.env}: {definition.doc}", f"# {definition.name} = {json.dumps(value)}{note}", "#"]


def readiness_toml() -> str:
    """Every setting that is not a secret, commented out at its default."""
    lines = [
        "# readiness.toml: the harness's settings that are not secrets (secrets go in .env).",
        "# Uncomment a line to change a setting; the environment variable named after it (also from",
        "# .env) overrides this file. The bot's file and field names go in a [bot] table (docs/profiles.md).",
        "",
        *(line for d in DEFINITIONS if d.kind != "secret" for line in _setting_lines(d)),
    ]
    return "\n".join(lines) + "\n"


def waivers_toml(today: dt.date) -> str:
    """An empty waiver file with one commented example (a tier-2 check; tier 1 cannot be waived)."""
    expires = today + dt.timedelta(days=30)
    return (
        "# readiness-waivers.toml: signed-off exceptions. A waived check still runs but leaves the score\n"
        "# until the waiver expires (inclusive); tier-1 checks cannot be waived. One [[waiver]] per check:\n"
        "#\n"
        "# [[waiver]]\n"
        '# id = "binance.ip_restricted"\n'
        '# justification = "the exchange IP changes until the static egress is live (OPS-123)"\n'
        '# approved_by = "Jane Doe"\n'
        f"# expires = {expires.isoformat()}\n"
    )


def attestations_toml(today: dt.date) -> str:
    """An empty attestation file with one commented example per manual step."""
    lines = [
        "# readiness-attestations.toml: a person's record that a manual step was done. Each passes its",
        "# manual.* check until it expires, then fails until it is checked again and renewed.",
    ]
    expires = (today + dt.timedelta(days=90)).isoformat()
    for check_id in (
        "manual.runbook_reviewed",
        "manual.rollback_plan_ready",
        "manual.escalation_contacts_current",
    ):
        lines += [
            "#",
            "# [[attestation]]",
            f'# id = "{check_id}"',
            '# attested_by = "Jane Doe"',
            f"# date = {today.isoformat()}",
            f"# expires = {expires}",
            '# note = "what was checked, and where the evidence is"',
        ]
    return "\n".join(lines) + "\n"
