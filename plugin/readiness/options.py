"""Command-line options and ini values, read once into the run's :class:`RunState`.

Every bad value is a :class:`pytest.UsageError` naming where it came from (option, ini, file).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from .attestations import DEFAULT_FILE, Attestation, AttestationError, load_attestations, refuse_future
from .profiles.loading import load_profile
from .profiles.protocol import ProfileError
from .redact import Redactor
from .scoring import Thresholds
from .settings import Settings, SettingsError, load_settings
from .state import RunState
from .waivers import Waiver, WaiverError, load_waivers

GATES = ("go", "conditional")
#: The option group every readiness option lives in.
GROUP = "readiness"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup(GROUP, "deployment readiness")
    group.addoption(
        "--target",
        dest="readiness_target",
        metavar="TARGET",
        help="sandbox | testnet | mainnet (env READINESS_TARGET, ini readiness_target; default testnet)",
    )
    group.addoption(
        "--env-file", dest="readiness_env_file", metavar="PATH", help="secrets file (default: .env)"
    )
    group.addoption(
        "--readiness-config",
        dest="readiness_config",
        metavar="PATH",
        help="settings file (env READINESS_CONFIG; default readiness.toml or [tool.readiness])",
    )
    group.addoption(
        "--readiness-dir",
        dest="readiness_dir",
        metavar="DIR",
        help="output folder (ini readiness_dir)",
    )
    group.addoption(
        "--readiness-waivers",
        dest="readiness_waivers",
        metavar="PATH",
        help="waiver file (default readiness-waivers.toml if present)",
    )
    group.addoption(
        "--readiness-attestations",
        dest="readiness_attestations",
        metavar="PATH",
        help="attestations of the manual steps (env READINESS_ATTESTATIONS; "
        "default readiness-attestations.toml if present)",
    )
    group.addoption(
        "--readiness-gate",
        dest="readiness_gate",
        metavar="LEVEL",
        help="go | conditional: exit 0 when the verdict meets it, else 1 (ini readiness_gate)",
    )
    group.addoption(
        "--readiness-prometheus",
        dest="readiness_prometheus",
        metavar="PATH",
        help="also write the verdict, score and check counts as a Prometheus textfile "
        "(node_exporter's textfile collector; ini readiness_prometheus)",
    )
    group.addoption(
        "--signoff-by",
        dest="readiness_signoff_by",
        metavar="NAME",
        help="who prepares the sign-off",
    )
    group.addoption("--drill", dest="readiness_drill", action="store_true", help="also run the drill checks")
    group.addoption(
        "--no-readiness-catalogue",
        dest="readiness_no_catalogue",
        action="store_true",
        help="leave the built-in check catalogue out: run only this folder's own readiness checks",
    )
    group.addoption(
        "--sandbox-latency-ms",
        dest="readiness_sandbox_latency_ms",
        type=float,
        metavar="MS",
        help="add MS milliseconds to every request of the sandbox emulators",
    )
    group.addoption(
        "--sandbox-fault",
        dest="readiness_sandbox_faults",
        action="append",
        metavar="NAME",
        help="inject a named sandbox fault (repeatable; `readiness sandbox --list-faults`)",
    )
    parser.addini("readiness_target", "default target: sandbox | testnet | mainnet")
    parser.addini("readiness_go", "score at or above which the verdict is GO", default="85")
    parser.addini("readiness_conditional", "score below which the verdict is NO-GO", default="70")
    parser.addini("readiness_dir", "folder for readiness.json / readiness.html", default="reports")
    parser.addini("readiness_gate", "go | conditional (see --readiness-gate)")
    parser.addini("readiness_prometheus", "Prometheus textfile to write (see --readiness-prometheus)")


def _threshold(config: pytest.Config, name: str) -> float:
    raw = config.getini(name)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"ini option {name}: must be a number from 0 to 100, got {raw!r}") from None
    if not 0 <= value <= 100:
        raise pytest.UsageError(f"ini option {name}: must be a number from 0 to 100, got {raw!r}")
    return value


def _option_or_ini(config: pytest.Config, name: str) -> tuple[str | None, str]:
    value = config.getoption(name)
    if value:
        return str(value), "--" + name.replace("_", "-")
    ini = config.getini(name)
    return (str(ini) if ini else None), f"ini option {name}"


def _prometheus_path(config: pytest.Config) -> Path | None:
    """The textfile to write, refused at start when its folder is missing or it names a folder:
    the collector's folder exists already, and a typo should not write metrics nobody reads."""
    value, source = _option_or_ini(config, "readiness_prometheus")
    if value is None:
        return None
    base = Path(config.invocation_params.dir) if config.getoption("readiness_prometheus") else config.rootpath
    path = Path(os.path.abspath(base / os.path.expanduser(value)))
    if path.is_dir():
        raise pytest.UsageError(
            f"{source} {value}: is a folder; name the file to write in it, e.g. {path / 'readiness.prom'}"
        )
    if not path.parent.is_dir():
        raise pytest.UsageError(f"{source} {value}: no such folder {path.parent}")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise pytest.UsageError(f"{source} {value}: folder {path.parent} is not writable")
    return path


def read_settings(config: pytest.Config, env_file: Path | None = None) -> tuple[Settings, dict[str, str]]:
    """``env_file``: the sandbox's own ``.env``, used unless ``--env-file`` names another."""
    try:
        return load_settings(
            rootdir=Path(config.rootpath),
            invocation_dir=Path(config.invocation_params.dir),
            environ=os.environ,
            target_option=config.getoption("readiness_target"),
            target_ini=config.getini("readiness_target") or None,
            env_file_option=config.getoption("readiness_env_file") or (str(env_file) if env_file else None),
            config_option=config.getoption("readiness_config"),
        )
    except SettingsError as exc:
        raise pytest.UsageError(str(exc)) from None


def _waivers(config: pytest.Config) -> list[Waiver]:
    option = config.getoption("readiness_waivers")
    path = (
        Path(config.invocation_params.dir) / option
        if option
        else Path(config.rootpath) / "readiness-waivers.toml"
    )
    if option and not path.is_file():
        raise pytest.UsageError(f"--readiness-waivers {option}: no such file")
    if not path.is_file():
        return []
    try:
        return load_waivers(path)
    except WaiverError as exc:
        raise pytest.UsageError(str(exc)) from None


def read_attestations(
    config: pytest.Config, settings: Settings, today: dt.date
) -> tuple[Path, list[Attestation]]:
    """The attestation file and what it says: ``--readiness-attestations``, else the
    ``attestations`` setting, else ``readiness-attestations.toml`` in the rootdir.

    Only that last one may be missing (nothing is attested yet); the path is kept either way, so
    a ``manual.*`` check can say which file to write.
    """
    option = config.getoption("readiness_attestations")
    if option:
        path = Path(os.path.abspath(Path(config.invocation_params.dir) / option))
        missing = f"--readiness-attestations {option}: no such file"
    elif settings.attestations is not None:
        path = settings.attestations
        origin = settings.sources.get("attestations", "setting attestations")
        missing = f"{origin}: setting 'attestations': attestation file {path} does not exist"
    else:
        path, missing = Path(config.rootpath) / DEFAULT_FILE, ""
    # a symlink loop or a dangling link exists enough to be read, and refused for what it is
    if not path.exists() and not path.is_symlink():
        if missing:
            raise pytest.UsageError(missing)
        return path, []
    try:
        attestations = load_attestations(path)
        refuse_future(attestations, today)
    except AttestationError as exc:
        raise pytest.UsageError(str(exc)) from None
    return path, attestations


def build_state(config: pytest.Config, sandbox_env_file: Path | None = None) -> RunState:
    settings, environ = read_settings(config, sandbox_env_file)
    go = _threshold(config, "readiness_go")
    conditional = _threshold(config, "readiness_conditional")
    if conditional > go:
        raise pytest.UsageError(
            f"ini options readiness_conditional ({conditional:g}) must not exceed readiness_go ({go:g})"
        )
    gate, gate_source = _option_or_ini(config, "readiness_gate")
    if gate is not None and gate not in GATES:
        raise pytest.UsageError(f"{gate_source}: unknown gate {gate!r}; use go or conditional")
    drill = bool(config.getoption("readiness_drill"))
    if drill and settings.target == "mainnet":
        raise pytest.UsageError("--drill is refused on target mainnet: drills change the bot's state")
    out_option, _ = _option_or_ini(config, "readiness_dir")
    base = Path(config.invocation_params.dir) if config.getoption("readiness_dir") else Path(config.rootpath)
    try:
        profile = load_profile(settings)
    except ProfileError as exc:
        raise pytest.UsageError(str(exc)) from None
    started_at = dt.datetime.now(dt.UTC)
    attestation_file, attestations = read_attestations(config, settings, started_at.astimezone().date())
    return RunState(
        settings=settings,
        profile=profile,
        redact=Redactor.from_environ(environ, settings.secrets()),
        thresholds=Thresholds(go=go, conditional=conditional),
        waivers=_waivers(config),
        attestations=attestations,
        attestation_file=attestation_file,
        out_dir=base / (out_option or "reports"),
        gate=gate,
        prometheus=_prometheus_path(config),
        signoff_by=config.getoption("readiness_signoff_by"),
        drill=drill,
        started_at=started_at,
        sandbox_env_file=sandbox_env_file,
    )
