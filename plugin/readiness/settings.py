"""Settings and targets: one typed object built from defaults, file, ``.env`` and env.

Precedence, lowest first: defaults, ``readiness.toml`` / ``[tool.readiness]``, ``.env``, the
process environment. Secrets are accepted from the environment only. Every value remembers
where it came from, so a bad one is reported with its source.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from .profiles.names import BotNames, BotNamesError, parse_bot_table

TARGETS = ("sandbox", "testnet", "mainnet")
DEFAULT_TARGET = "testnet"
#: The built-in bot profiles; anything else is an operator's own, as ``module:callable``.
PROFILES = ("reference", "freqtrade")
BINANCE_URLS = {"testnet": "https://testnet.binance.vision", "mainnet": "https://api.binance.com"}


class SettingsError(Exception):
    """A setting, the config file or the env file is unusable; reported as a usage error."""


@dataclass(frozen=True, slots=True)
class SettingDef:
    name: str
    env: str
    kind: str  # secret | str | float | percent | path | url | factory | profile
    default: Any = None
    #: What it is, in one sentence: the config template and docs/settings.md say it.
    doc: str = ""


DEFINITIONS: tuple[SettingDef, ...] = (
    SettingDef(
        "telegram_bot_token", "TELEGRAM_BOT_TOKEN", "secret", doc="The alert bot's token, from @BotFather."
    ),
    SettingDef(
        "telegram_chat_id",
        "TELEGRAM_CHAT_ID",
        "secret",
        doc="The chat the bot alerts (a group's id starts with -100).",
    ),
    SettingDef(
        "binance_testnet_api_key",
        "BINANCE_TESTNET_API_KEY",
        "secret",
        doc="The Spot testnet API key (target testnet).",
    ),
    SettingDef(
        "binance_testnet_api_secret",
        "BINANCE_TESTNET_API_SECRET",
        "secret",
        doc="The Spot testnet API key's secret.",
    ),
    SettingDef(
        "binance_api_key",
        "BINANCE_API_KEY",
        "secret",
        doc="The Binance API key (target mainnet); it must not be able to withdraw.",
    ),
    SettingDef("binance_api_secret", "BINANCE_API_SECRET", "secret", doc="The Binance API key's secret."),
    SettingDef(
        "telegram_api_url",
        "TELEGRAM_API_URL",
        "url",
        "https://api.telegram.org",
        doc="The Telegram Bot API origin (a local Bot API server or a proxy).",
    ),
    SettingDef(
        "binance_api_url",
        "BINANCE_API_URL",
        "url",
        doc="The Binance origin serving /api and /sapi; defaults to the target's network.",
    ),
    SettingDef(
        "symbol",
        "READINESS_SYMBOL",
        "str",
        "BTCUSDT",
        doc="The symbol the bot trades, judged by the exchange checks.",
    ),
    SettingDef(
        "quote_asset", "READINESS_QUOTE_ASSET", "str", "USDT", doc="The asset the balance checks count."
    ),
    SettingDef(
        "telegram_max_s",
        "READINESS_TELEGRAM_MAX_S",
        "float",
        5.0,
        doc="Longest a test alert may take to be delivered, in seconds.",
    ),
    SettingDef(
        "max_clock_skew_ms",
        "READINESS_MAX_CLOCK_SKEW_MS",
        "float",
        1000.0,
        doc="Largest difference allowed between this host's clock and Binance's, in ms.",
    ),
    SettingDef(
        "min_balance",
        "READINESS_MIN_BALANCE",
        "float",
        100.0,
        doc="Free quote balance below which the run fails.",
    ),
    SettingDef(
        "recommended_balance",
        "READINESS_RECOMMENDED_BALANCE",
        "float",
        1000.0,
        doc="Free quote balance below which the run warns.",
    ),
    SettingDef("audit_trail", "READINESS_AUDIT_TRAIL", "path", doc="The bot's JSONL audit trail."),
    SettingDef(
        "positions_db", "READINESS_POSITIONS_DB", "path", doc="The bot's positions database (SQLite)."
    ),
    SettingDef(
        "risk_config",
        "READINESS_RISK_CONFIG",
        "path",
        doc="The bot's risk limits (TOML, or freqtrade's config.json).",
    ),
    SettingDef("log_file", "READINESS_LOG_FILE", "path", doc="The bot's log file."),
    SettingDef("pid_file", "READINESS_PID_FILE", "path", doc="The bot's PID file."),
    SettingDef(
        "risk_manager",
        "READINESS_RISK_MANAGER",
        "factory",
        doc="The bot's risk manager factory, module:callable, probed by the risk and drill checks.",
    ),
    SettingDef(
        "bot_command",
        "READINESS_BOT_COMMAND",
        "str",
        doc="The command that starts the bot, for the crash-recovery drill.",
    ),
    SettingDef(
        "max_rss_mb",
        "READINESS_MAX_RSS_MB",
        "float",
        1024.0,
        doc="Most resident memory the bot may use, in MiB.",
    ),
    SettingDef(
        "min_disk_free_mb",
        "READINESS_MIN_DISK_FREE_MB",
        "float",
        1024.0,
        doc="Least free disk space on the bot's filesystem, in MiB.",
    ),
    SettingDef(
        "bot_profile",
        "READINESS_BOT_PROFILE",
        "profile",
        "reference",
        doc="How the bot is read: reference, freqtrade, or module:callable.",
    ),
    SettingDef(
        "bot_api_url", "READINESS_BOT_API_URL", "url", doc="The bot's own HTTP API (freqtrade's REST API)."
    ),
    SettingDef(
        "bot_api_username", "READINESS_BOT_API_USERNAME", "str", doc="The login of the bot's HTTP API."
    ),
    SettingDef(
        "bot_api_password", "READINESS_BOT_API_PASSWORD", "secret", doc="The password of the bot's HTTP API."
    ),
    SettingDef(
        "bot_repo", "READINESS_BOT_REPO", "path", doc="The bot's git repository, which must be clean."
    ),
    SettingDef(
        "bot_test_report", "READINESS_BOT_TEST_REPORT", "path", doc="The JUnit XML of the bot's own tests."
    ),
    SettingDef(
        "bot_dependency_audit",
        "READINESS_BOT_DEPENDENCY_AUDIT",
        "path",
        doc="A `pip-audit -f json` report of the bot's dependencies.",
    ),
    SettingDef(
        "min_test_pass_rate",
        "READINESS_MIN_TEST_PASS_RATE",
        "percent",
        100.0,
        doc="Least share of the bot's tests that must pass, in percent.",
    ),
    SettingDef(
        "drill_max_age_days",
        "READINESS_DRILL_MAX_AGE_DAYS",
        "float",
        7.0,
        doc="Oldest a drill run may be and still back a preflight, in days.",
    ),
    SettingDef(
        "drill_evidence",
        "READINESS_DRILL_EVIDENCE",
        "path",
        doc="A drill report, or a reports folder whose history names the drill runs.",
    ),
    SettingDef(
        "attestations", "READINESS_ATTESTATIONS", "path", doc="The attestation file for the manual steps."
    ),
)
BY_NAME: Mapping[str, SettingDef] = {d.name: d for d in DEFINITIONS}
_SECRET_ENVS = frozenset(d.env for d in DEFINITIONS if d.kind == "secret")


def how_to_set(variables: Sequence[str], env_file: Path | None = None, *, name_them: bool = True) -> str:
    """What to do about variables that are not set: the same advice wherever they are named
    (``name_them=False`` where the sentence before already names them)."""
    where = f"{env_file or '.env'} or the environment"
    if not _SECRET_ENVS.issuperset(variables):
        where += " (settings that are not secrets may also go in readiness.toml)"
    them = ", ".join(variables) if name_them else "it" if len(variables) == 1 else "them"
    return f"Run `readiness init` or set {them} in {where}"


@dataclass(frozen=True, slots=True)
class Settings:
    target: str = DEFAULT_TARGET
    telegram_bot_token: str | None = None
    telegram_chat_id: str | None = None
    binance_testnet_api_key: str | None = None
    binance_testnet_api_secret: str | None = None
    binance_api_key: str | None = None
    binance_api_secret: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    binance_api_url: str = BINANCE_URLS["testnet"]
    symbol: str = "BTCUSDT"
    quote_asset: str = "USDT"
    telegram_max_s: float = 5.0
    max_clock_skew_ms: float = 1000.0
    min_balance: float = 100.0
    recommended_balance: float = 1000.0
    audit_trail: Path | None = None
    positions_db: Path | None = None
    risk_config: Path | None = None
    log_file: Path | None = None
    pid_file: Path | None = None
    risk_manager: str | None = None
    bot_command: str | None = None
    max_rss_mb: float = 1024.0
    min_disk_free_mb: float = 1024.0
    bot_profile: str = "reference"
    bot_api_url: str | None = None
    bot_api_username: str | None = None
    bot_api_password: str | None = None
    bot_repo: Path | None = None
    bot_test_report: Path | None = None
    bot_dependency_audit: Path | None = None
    min_test_pass_rate: float = 100.0
    drill_max_age_days: float = 7.0
    #: Where the drill runs are recorded (a reports folder, or a drill report in one); default: this
    #: run's reports folder.
    drill_evidence: Path | None = None
    #: The attestation file the ``manual.*`` checks read (``--readiness-attestations`` wins).
    attestations: Path | None = None
    #: The names the reference profile reads the bot by (the config file's ``[bot]`` table).
    bot: BotNames = field(default_factory=BotNames)
    config_file: Path | None = None
    config_sha256: str | None = None
    env_file: Path | None = None
    #: Where each non-default value came from, e.g. ``"environment variable READINESS_SYMBOL"``.
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def network(self) -> str:
        """The Binance network this target speaks to; the sandbox emulates mainnet, /sapi included."""
        return "testnet" if self.target == "testnet" else "mainnet"

    @property
    def binance_key(self) -> str | None:
        """The key for this network: testnet keys on testnet, mainnet keys on mainnet."""
        return self.binance_api_key if self.network == "mainnet" else self.binance_testnet_api_key

    @property
    def binance_secret(self) -> str | None:
        return self.binance_api_secret if self.network == "mainnet" else self.binance_testnet_api_secret

    @property
    def unconfigured(self) -> bool:
        """None of the target's credentials is set: a first run (the sandbox brings its own)."""
        credentials = (self.telegram_bot_token, self.telegram_chat_id, self.binance_key, self.binance_secret)
        return self.target != "sandbox" and not any(credentials)

    def secrets(self) -> list[str]:
        return [v for d in DEFINITIONS if d.kind == "secret" and (v := getattr(self, d.name))]

    @staticmethod
    def env_name(name: str) -> str:
        """The variable an operator sets for setting ``name`` (for 'set X' messages)."""
        return BY_NAME[name].env


def _coerce(definition: SettingDef, raw: object, source: str, base: Path) -> Any:
    where = f"{source}: setting '{definition.name}'"
    if definition.kind in ("float", "percent"):
        if isinstance(raw, bool):
            raise SettingsError(f"{where} must be a number, got {raw!r}")
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SettingsError(f"{where} must be a number, got {raw!r}") from None
        if not math.isfinite(value) or value < 0:
            raise SettingsError(f"{where} must be a finite number >= 0, got {raw!r}")
        if definition.kind == "percent" and value > 100:
            raise SettingsError(f"{where} is a percentage: at most 100, got {raw!r}")
        return value
    if not isinstance(raw, str):
        raise SettingsError(f"{where} must be a string, got {raw!r}")
    text = raw.strip()
    if definition.kind == "path":
        path = Path(text).expanduser()
        return path if path.is_absolute() else base / path
    if definition.kind == "url":
        if not text.startswith(("http://", "https://")):
            raise SettingsError(f"{where} must be an http(s) URL, got {raw!r}")
        return text.rstrip("/")
    if definition.kind == "profile" and text in PROFILES:
        return text
    if definition.kind in ("factory", "profile"):
        module, _, attribute = text.partition(":")
        if not module or not attribute:
            shape = "look like 'package.module:callable'"
            if definition.kind == "profile":
                shape = f"be {' or '.join(repr(p) for p in PROFILES)}, or {shape}"
            raise SettingsError(f"{where} must {shape}, got {raw!r}")
    return text


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file, refusing lines python-dotenv would silently drop."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"env file {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"env file {path}: not UTF-8 text") from None
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            raise SettingsError(
                f"env file {path}, line {binding.original.line}: cannot parse "
                f"{binding.original.string.strip()[:40]!r}; use KEY=value"
            )
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def _read_config(path: Path, *, pyproject: bool) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"config file {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"config file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path}: invalid TOML: {exc}") from None
    if pyproject:
        section = data.get("tool", {}).get("readiness", {})
        if not isinstance(section, dict):
            raise SettingsError(f"config file {path}: [tool.readiness] must be a table")
        return section
    return data


def _find_config(
    explicit: str | None, environ: Mapping[str, str], rootdir: Path
) -> tuple[Path | None, bool, str]:
    if explicit:
        return Path(explicit), False, "--readiness-config"
    if environ.get("READINESS_CONFIG"):
        return Path(environ["READINESS_CONFIG"]), False, "environment variable READINESS_CONFIG"
    candidate = rootdir / "readiness.toml"
    if candidate.is_file():
        return candidate, False, "readiness.toml"
    pyproject = rootdir / "pyproject.toml"
    if pyproject.is_file():
        return pyproject, True, "pyproject.toml"
    return None, False, ""


def load_settings(
    *,
    rootdir: Path,
    invocation_dir: Path,
    environ: Mapping[str, str],
    target_option: str | None = None,
    target_ini: str | None = None,
    env_file_option: str | None = None,
    config_option: str | None = None,
) -> tuple[Settings, dict[str, str]]:
    """Build the settings; return them with the merged environment (``.env`` under os.environ)."""
    env_file: Path | None = None
    if env_file_option:
        # abspath, not resolve(): a symlink loop must reach read_env_file's error, not raise here
        env_file = Path(os.path.abspath(invocation_dir / env_file_option))
        if not env_file.exists() and not env_file.is_symlink():
            raise SettingsError(f"--env-file {env_file_option}: no such file")
    elif (rootdir / ".env").is_file():
        env_file = rootdir / ".env"
    merged: dict[str, str] = read_env_file(env_file) if env_file else {}
    merged.update(environ)
    env_source = {name: f"env file {env_file}" for name in merged if name not in environ}

    def env_origin(name: str) -> str:
        return env_source.get(name, f"environment variable {name}")

    if target_option:
        target, target_source = target_option, "--target"
    elif merged.get("READINESS_TARGET"):
        target, target_source = merged["READINESS_TARGET"], env_origin("READINESS_TARGET")
    elif target_ini:
        target, target_source = target_ini, "ini option readiness_target"
    else:
        target, target_source = DEFAULT_TARGET, "default"
    target = target.strip().lower()
    if target not in TARGETS:
        raise SettingsError(f"{target_source}: unknown target {target!r}; use one of {', '.join(TARGETS)}")

    values: dict[str, Any] = {"target": target}
    sources: dict[str, str] = {"target": target_source}
    config_path, is_pyproject, config_origin = _find_config(config_option, merged, rootdir)
    config_sha256 = None
    if config_path is not None:
        config_path = invocation_dir / config_path if not config_path.is_absolute() else config_path
        if not config_path.exists() and not config_path.is_symlink():
            raise SettingsError(f"{config_origin}: config file {config_path} does not exist")
        table = _read_config(config_path, pyproject=is_pyproject)
        if is_pyproject and not table:
            config_path = None
        else:
            config_sha256 = hashlib.sha256(config_path.read_bytes()).hexdigest()
            label = f"{config_path.name} [tool.readiness]" if is_pyproject else str(config_path)
            for key, raw in table.items():
                if key == "bot":
                    if not isinstance(raw, dict):
                        raise SettingsError(f"{label}: 'bot' must be a table ([bot]), got {raw!r}")
                    try:
                        values["bot"] = parse_bot_table(raw, label)
                    except BotNamesError as exc:
                        raise SettingsError(str(exc)) from None
                    sources["bot"] = label
                    continue
                definition = BY_NAME.get(key)
                if definition is None:
                    known = ", ".join([*sorted(d.name for d in DEFINITIONS if d.kind != "secret"), "[bot]"])
                    raise SettingsError(f"{label}: unknown setting {key!r}; known settings: {known}")
                if definition.kind == "secret":
                    raise SettingsError(
                        f"{label}: {key!r} is a secret; set {definition.env} in the environment or .env"
                    )
                values[key] = _coerce(definition, raw, label, config_path.parent)
                sources[key] = label
    for definition in DEFINITIONS:
        raw_env = merged.get(definition.env, "")
        if raw_env.strip():
            origin = env_origin(definition.env)
            values[definition.name] = _coerce(definition, raw_env, origin, invocation_dir)
            sources[definition.name] = origin
    if "binance_api_url" not in values and target in BINANCE_URLS:
        values["binance_api_url"] = BINANCE_URLS[target]
    known_fields = {f.name for f in fields(Settings)}
    settings = Settings(
        **{k: v for k, v in values.items() if k in known_fields},
        config_file=config_path,
        config_sha256=config_sha256,
        env_file=env_file,
        sources=sources,
    )
    return settings, merged
