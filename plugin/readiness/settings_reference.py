"""The settings reference (``docs/settings.md``), generated from the settings table so the docs
cannot drift from what the harness reads; a test keeps the committed file equal to it.

Regenerate with ``python -m readiness.settings_reference > docs/settings.md``.
"""

from __future__ import annotations

from .settings import BINANCE_URLS, DEFINITIONS, SettingDef

#: How each kind of value is written, for the reference's "value" column.
KINDS = {
    "secret": "secret: environment or `.env` only",
    "str": "text",
    "float": "number",
    "percent": "number, 0 to 100",
    "path": "path (in `readiness.toml`: relative to that file)",
    "url": "http(s) URL",
    "factory": "`module:callable`",
    "profile": "`reference`, `freqtrade` or `module:callable`",
}

_HEAD = """\
# Settings reference

Every setting the harness reads. Secrets come only from the environment or `.env` (`--env-file`
names another file); every other setting may also go in `readiness.toml` (`--readiness-config`,
or `READINESS_CONFIG`) or a `[tool.readiness]` table of `pyproject.toml`, under the name in the
first column. A variable set in the environment or `.env` overrides the file. The target is
`--target`, `READINESS_TARGET` or the ini option `readiness_target` (default `testnet`).
`readiness init` writes `.env` and a `readiness.toml` listing all of these, commented out. The
names the reference profile reads the bot's files and fields by go in a `[bot]` table of the same
file ([profiles.md](profiles.md)).

A check whose setting is not set ends skipped, naming the variable to set.

| setting | variable | value | default | what it is |
|---|---|---|---|---|
"""


def default_text(definition: SettingDef) -> str:
    """The default as a reader would write it; the Binance origin's depends on the target."""
    if definition.name == "binance_api_url":
        return ", ".join(f"{target}: {url}" for target, url in BINANCE_URLS.items())
    if definition.default is None:
        return "—"
    if isinstance(definition.default, float) and definition.default.is_integer():
        return str(int(definition.default))
    return str(definition.default)


def markdown() -> str:
    rows = [
        f"| `{d.name}` | `{d.env}` | {KINDS[d.kind]} | {default_text(d)} | {d.doc} |" for d in DEFINITIONS
    ]
    return _HEAD + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
