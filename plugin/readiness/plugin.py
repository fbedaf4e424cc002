"""The pytest plugin: collects readiness checks, scores them and writes the sign-off reports.

Everything a run knows lives in one :class:`RunState` in ``config.stash``. Scoring happens
once, in ``pytest_sessionfinish`` of the process that sees every report (the only process of
a serial run, the controller under xdist), so exit status, JSON, HTML and terminal agree.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest

from .context import Blocked, CheckContext, CheckRuntime
from .redact import MASK, Redactor, is_secret_name
from .report import document as doc
from .report.files import append_history, read_history, write_atomic
from .report.terminal import write_summary
from .results import ResultCollector
from .scoring import (
    SATISFIED,
    Assessment,
    CheckResult,
    Thresholds,
    Verdict,
    apply_dependencies,
    assess,
    attach_waivers,
    waiver_entries,
)
from .settings import Settings, SettingsError, load_settings
from .spec import LAYERS, PHASES, CheckSpec, InvalidCheck, spec_from_marker
from .waivers import Waiver, WaiverError, load_waivers

if TYPE_CHECKING:
    from .sandbox.session import Sandbox

GATES = ("go", "conditional")
HISTORY_IN_REPORT = 30
MANIFEST_OPTION = "readiness_manifest_dir"


@dataclass(slots=True)
class RunState:
    settings: Settings
    redact: Redactor
    thresholds: Thresholds
    waivers: list[Waiver]
    out_dir: Path
    gate: str | None
    signoff_by: str | None
    drill: bool
    started_at: dt.datetime
    #: Where xdist workers leave the specs they collected for the controller to read.
    manifest_dir: Path | None = None
    collected: dict[str, str] = field(default_factory=dict)  # check id -> nodeid
    collected_specs: dict[str, CheckSpec] = field(default_factory=dict)  # check id -> spec
    expected: dict[str, CheckSpec] = field(default_factory=dict)  # nodeid -> spec, selected
    collector: ResultCollector = field(default_factory=ResultCollector)
    collection_errors: int = 0
    document: dict[str, Any] | None = None
    written: list[str] = field(default_factory=list)
    #: Ctrl-C or SIGTERM reached pytest (possibly before the session began).
    interrupted: bool = False


state_key = pytest.StashKey[RunState]()
spec_key = pytest.StashKey[CheckSpec]()
runtime_key = pytest.StashKey[CheckRuntime]()
_sigterm_key = pytest.StashKey[Any]()
sandbox_key = pytest.StashKey["Sandbox"]()
_saved_environ_key = pytest.StashKey[dict[str, str | None]]()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("readiness", "deployment readiness")
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
        "--readiness-gate",
        dest="readiness_gate",
        metavar="LEVEL",
        help="go | conditional: exit 0 when the verdict meets it, else 1 (ini readiness_gate)",
    )
    group.addoption(
        "--signoff-by",
        dest="readiness_signoff_by",
        metavar="NAME",
        help="who prepares the sign-off",
    )
    group.addoption("--drill", dest="readiness_drill", action="store_true", help="also run the drill checks")
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


def _load_settings(config: pytest.Config, env_file: Path | None = None) -> tuple[Settings, dict[str, str]]:
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


def _start_sandbox(config: pytest.Config, state: RunState) -> None:
    """Start the sandbox and point the environment and the run's settings at it (xdist workers
    and the bot inherit the environment)."""
    latency = config.getoption("readiness_sandbox_latency_ms")
    faults = config.getoption("readiness_sandbox_faults") or []
    if state.settings.target != "sandbox":
        if latency is not None or faults:
            raise pytest.UsageError("--sandbox-latency-ms and --sandbox-fault need --target sandbox")
        return
    if _is_worker(config) or config.getoption("help"):
        return  # a worker inherits the controller's sandbox through the environment
    if latency is not None and not latency >= 0:
        raise pytest.UsageError(f"--sandbox-latency-ms: must be >= 0, got {latency:g}")
    from .sandbox.session import Sandbox, SandboxError

    try:
        sandbox = Sandbox(latency_ms=latency or 0.0, faults=faults)
    except SandboxError as exc:
        raise pytest.UsageError(f"--sandbox-fault: {exc}") from None
    config.stash[sandbox_key] = sandbox
    env = sandbox.start()
    config.stash[_saved_environ_key] = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    state.settings, environ = _load_settings(config, sandbox.env_file)
    state.redact = Redactor.from_environ(environ, state.settings.secrets())


def _stop_sandbox(config: pytest.Config) -> None:
    sandbox = config.stash.get(sandbox_key, None)
    if sandbox is None:
        return
    for name, value in config.stash.get(_saved_environ_key, {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    sandbox.stop()


def _build_state(config: pytest.Config) -> RunState:
    rootdir = Path(config.rootpath)
    invocation_dir = Path(config.invocation_params.dir)
    settings, environ = _load_settings(config)
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
    waiver_option = config.getoption("readiness_waivers")
    waiver_path = invocation_dir / waiver_option if waiver_option else rootdir / "readiness-waivers.toml"
    waivers: list[Waiver] = []
    if waiver_option and not waiver_path.is_file():
        raise pytest.UsageError(f"--readiness-waivers {waiver_option}: no such file")
    if waiver_path.is_file():
        try:
            waivers = load_waivers(waiver_path)
        except WaiverError as exc:
            raise pytest.UsageError(str(exc)) from None
    out_option, _ = _option_or_ini(config, "readiness_dir")
    out_dir = (invocation_dir if config.getoption("readiness_dir") else rootdir) / (out_option or "reports")
    return RunState(
        settings=settings,
        redact=Redactor.from_environ(environ, settings.secrets()),
        thresholds=Thresholds(go=go, conditional=conditional),
        waivers=waivers,
        out_dir=out_dir,
        gate=gate,
        signoff_by=config.getoption("readiness_signoff_by"),
        drill=drill,
        started_at=dt.datetime.now(dt.UTC),
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "readiness(id, layer, tier, title, remediation, weight=None, phases=(), depends=()): "
        "a deployment-readiness check (see SPEC §2)",
    )
    for name in dict.fromkeys((*LAYERS, *PHASES)):
        config.addinivalue_line("markers", f"{name}: readiness checks of the {name} layer or phase")
    # pluggy warns, then re-raises, when an old-style hookwrapper's teardown raises; under the
    # common "warnings are errors" setting that warning would replace a Ctrl-C or SIGTERM landing
    # there (pytest-asyncio, pytest-timeout, pytest-html have such wrappers), losing the interrupt
    config.addinivalue_line("filterwarnings", "ignore::pluggy.PluggyTeardownRaisedWarning")
    if not _is_worker(config):
        _install_sigterm(config)
    state = _build_state(config)
    config.stash[state_key] = state
    config.pluginmanager.register(_ReportListener(state), "readiness-reports")
    _start_sandbox(config, state)  # last: everything above may still refuse the run
    if _is_worker(config):
        manifest_dir = config.workerinput.get(MANIFEST_OPTION)  # type: ignore[attr-defined]
        state.manifest_dir = Path(manifest_dir) if manifest_dir else None
        return
    if config.pluginmanager.hasplugin("html"):
        from . import html_hooks

        config.pluginmanager.register(html_hooks, "readiness-html")


def _install_sigterm(config: pytest.Config) -> None:
    """Let SIGTERM end the run like Ctrl-C, so the reports are still written (incomplete)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    config.stash[_sigterm_key] = signal.signal(signal.SIGTERM, interrupt)


@contextlib.contextmanager
def _signals_held() -> Generator[list[int], None, None]:
    """Hold Ctrl-C and SIGTERM while the reports are written or the sandbox stops, so an
    impatient second signal cannot tear a report or orphan the bot; yields what arrived."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        arrived.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield arrived
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    with _signals_held():
        if (
            state is not None
            and state.interrupted
            and not state.written
            and not _is_worker(config)
            and _is_readiness_run(config, state)
        ):
            _finish(config, pytest.ExitCode.INTERRUPTED)  # interrupted before the session began
        _stop_sandbox(config)
    previous = config.stash.get(_sigterm_key, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
    if state is not None and state.manifest_dir is not None and not _is_worker(config):
        shutil.rmtree(state.manifest_dir, ignore_errors=True)


class _RedactingFilter(logging.Filter):
    """Mask secrets in log records before pytest's handlers format them (live log, capture, file)."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.redact.contains_secret(message):
            record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash[state_key]
    logging_plugin = session.config.pluginmanager.get_plugin("logging-plugin")
    if logging_plugin is not None:
        log_filter = _RedactingFilter(state.redact)
        for name in ("log_cli_handler", "caplog_handler", "report_handler", "log_file_handler"):
            handler = getattr(logging_plugin, name, None)
            if isinstance(handler, logging.Handler):
                handler.addFilter(log_filter)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[state_key]
    settings = state.settings
    config_file = settings.config_file or "none (defaults and environment)"
    lines = [
        f"readiness: target {settings.target} ({settings.sources['target']}), config {config_file}",
        f"readiness: GO >= {state.thresholds.go:g}, CONDITIONAL GO >= {state.thresholds.conditional:g}"
        + (f", gate {state.gate}" if state.gate else "")
        + (f", {len(state.waivers)} waiver(s)" if state.waivers else ""),
    ]
    return [state.redact(line) for line in lines]


# --- collection -------------------------------------------------------------------------------


_MARKERS = {name: getattr(pytest.mark, name) for name in (*LAYERS, *PHASES)}


def _register_item(state: RunState, item: pytest.Item) -> str | None:
    """Validate one item's marker and tag it with its layer and phases; return a problem."""
    mark = item.get_closest_marker("readiness")
    if mark is None:
        return None
    try:
        spec = spec_from_marker(mark)
    except InvalidCheck as exc:
        return f"{item.nodeid}: readiness id {mark.kwargs.get('id')!r}: {exc}"
    first = state.collected.get(spec.id)
    if first is not None and first != item.nodeid:  # the same test may be collected twice (node-id args)
        return f"{item.nodeid}: readiness id {spec.id!r} is already used by {first}"
    state.collected[spec.id] = item.nodeid
    state.collected_specs[spec.id] = spec
    item.stash[spec_key] = spec
    item.stash[runtime_key] = CheckRuntime()
    for name in (spec.layer, *spec.phases):
        item.add_marker(_MARKERS[name])
    return None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Turn a bad readiness marker into a collection error of the module that declares it."""
    report = yield
    state = collector.config.stash.get(state_key, None)
    if state is None or not report.passed:
        return report
    problems = [
        problem
        for node in report.result
        if isinstance(node, pytest.Item) and (problem := _register_item(state, node)) is not None
    ]
    if problems:
        report.outcome = "failed"
        report.longrepr = "\n".join(problems)
        report.result = []
    return report


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Keep secrets out of test ids (and so out of every report that names a test)."""
    state = config.stash.get(state_key, None)
    if state is not None and isinstance(val, str) and state.redact.contains_secret(val):
        return state.redact(val)
    return None


def _dependency_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """Stable order in which every check comes after the checks it depends on."""
    position = {item.stash[spec_key].id: item for item in items if spec_key in item.stash}
    ordered: list[pytest.Item] = []
    placed: set[int] = set()

    def place(item: pytest.Item, chain: tuple[str, ...]) -> None:
        if id(item) in placed:
            return
        spec = item.stash.get(spec_key, None)
        if spec is not None and spec.id in chain:
            cycle = " -> ".join((*chain[chain.index(spec.id) :], spec.id))
            raise pytest.UsageError(f"readiness depends= forms a cycle: {cycle}")
        for dep in spec.depends if spec else ():
            if dep in position:
                place(position[dep], (*chain, spec.id) if spec else chain)
        placed.add(id(item))
        ordered.append(item)

    for item in items:
        place(item, ())
    return ordered


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = config.stash[state_key]
    if not state.drill:
        drills = {i for i in items if (s := i.stash.get(spec_key, None)) is not None and s.layer == "drill"}
        if drills:
            config.hook.pytest_deselected(items=[i for i in items if i in drills])
            items[:] = [i for i in items if i not in drills]
    items[:] = _dependency_order(items)


def _check_waivers(state: RunState) -> None:
    for waiver in state.waivers:
        spec = state.collected_specs.get(waiver.id)
        if spec is not None and spec.tier == 1:
            raise pytest.UsageError(
                f"waiver for {waiver.id}: tier-1 checks cannot be waived ({state.collected[waiver.id]})"
            )


@pytest.hookimpl(tryfirst=True)  # the manifest must exist before xdist reports collection done
def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash[state_key]
    state.expected = {item.nodeid: item.stash[spec_key] for item in session.items if spec_key in item.stash}
    if _is_worker(session.config):
        if state.manifest_dir is not None:
            manifest = {
                "expected": {nodeid: spec.to_json() for nodeid, spec in state.expected.items()},
                "collected": {check_id: spec.to_json() for check_id, spec in state.collected_specs.items()},
                "nodeids": state.collected,
            }
            worker_id = session.config.workerinput["workerid"]  # type: ignore[attr-defined]
            write_atomic(state.manifest_dir / f"{worker_id}.json", json.dumps(manifest).encode())
        return
    _check_waivers(state)
    _warm_sandbox(session.config, state)


def _warm_sandbox(config: pytest.Config, state: RunState) -> None:
    """Deployment checks read the bot's recent history; give a fresh sandbox bot a moment."""
    sandbox = config.stash.get(sandbox_key, None)
    if sandbox is not None and any(spec.layer == "deployment" for spec in state.expected.values()):
        sandbox.wait_for_bot_activity()


# --- running ----------------------------------------------------------------------------------


@pytest.fixture
def readiness(request: pytest.FixtureRequest) -> CheckContext:
    """Record metrics, warnings and remediations from inside a readiness check."""
    node = request.node
    if spec_key not in node.stash:
        pytest.fail(f"{node.nodeid}: the readiness fixture needs @pytest.mark.readiness(...)", pytrace=False)
    state = request.config.stash[state_key]
    return CheckContext(node.stash[spec_key], node.stash[runtime_key], state.settings, state.redact)


@pytest.fixture(scope="session")
def sandbox(pytestconfig: pytest.Config) -> Sandbox:
    """The running sandbox: its emulators record what reached them (``--target sandbox``)."""
    running = pytestconfig.stash.get(sandbox_key, None)
    if running is None:
        pytest.skip("needs --target sandbox, in the process that runs the sandbox (not an xdist worker)")
    return running


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Block a check at once when a dependency already finished without passing."""
    spec = item.stash.get(spec_key, None)
    if spec is None or not spec.depends:
        return
    outcomes = item.config.stash[state_key].collector.outcomes
    unmet = [dep for dep in spec.depends if dep in outcomes and outcomes[dep] not in SATISFIED]
    if unmet:
        runtime = item.stash[runtime_key]
        named = ", ".join(f"{dep} ({outcomes[dep]})" for dep in unmet)
        runtime.kind, runtime.reason, runtime.blocked_by = (
            "blocked",
            f"not verified: depends on {named}",
            unmet,
        )
        raise Blocked(runtime.reason)


def _redact_report(report: pytest.TestReport, redact: Redactor) -> None:
    if report.longrepr is not None and redact.contains_secret(str(report.longrepr)):
        if isinstance(report.longrepr, tuple):
            path, lineno, reason = report.longrepr
            report.longrepr = (path, lineno, redact(reason))
        else:
            report.longrepr = redact(str(report.longrepr))
    report.sections = [(title, redact(content)) for title, content in report.sections]
    report.user_properties = [(redact(str(k)), v) for k, v in report.user_properties]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Mask secrets before any reporter sees the report; attach what the check recorded."""
    report = yield
    state = item.config.stash[state_key]
    _redact_report(report, state.redact)
    spec = item.stash.get(spec_key, None)
    if spec is not None:
        report.readiness = {  # type: ignore[attr-defined]
            "id": spec.id,
            "layer": spec.layer,
            "tier": spec.tier,
            **item.stash[runtime_key].to_json(),
        }
    return report


class _ReportListener:
    """Receives the reports of this run (these hooks have no ``config`` argument)."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.state.collector.add(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.state.collection_errors += 1

    def pytest_keyboard_interrupt(self) -> None:
        self.state.interrupted = True


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(report: pytest.TestReport) -> tuple[str, str, str] | None:
    data = getattr(report, "readiness", None)
    if not isinstance(data, dict):
        return None
    if report.skipped and data.get("kind") == "not_applicable":
        return "not applicable", "n", "NOT APPLICABLE"
    if report.skipped and data.get("kind") == "blocked":
        return "blocked", "b", "BLOCKED"
    if report.when == "call" and report.passed and data.get("warnings"):
        return "warned", "W", "WARNED"
    return None


# --- the end of the run -----------------------------------------------------------------------


def _merge_manifest(state: RunState, path: Path) -> None:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for nodeid, data in manifest["expected"].items():
        state.expected.setdefault(nodeid, CheckSpec.from_json(data))
    for check_id, data in manifest["collected"].items():
        state.collected_specs.setdefault(check_id, CheckSpec.from_json(data))
    for check_id, nodeid in manifest["nodeids"].items():
        state.collected.setdefault(check_id, nodeid)


def _interruption(state: RunState, exitstatus: int) -> str | None:
    if state.collection_errors:
        return f"{state.collection_errors} error(s) during collection"
    if state.collector.crashed:
        return f"a worker crashed while running {', '.join(state.collector.crashed)}"
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return "interrupted (Ctrl-C or SIGTERM)"
    return None


def _results(state: RunState) -> tuple[list[CheckResult], list[str]]:
    results: list[CheckResult] = []
    missing: list[str] = []
    for nodeid, spec in state.expected.items():
        result = state.collector.result(spec, nodeid)
        if result is None:
            missing.append(spec.id)
        else:
            results.append(result)
    apply_dependencies(results)
    return results, missing


def _finish(config: pytest.Config, exitstatus: int) -> Assessment:
    state = config.stash[state_key]
    results, missing = _results(state)
    today = dt.date.today()
    attach_waivers(results, state.waivers, today)
    assessment = assess(
        results,
        thresholds=state.thresholds,
        missing=missing,
        interrupted=_interruption(state, exitstatus),
    )
    workers = getattr(config.option, "numprocesses", None)
    document = doc.build(
        target=state.settings.target,
        assessment=assessment,
        thresholds=state.thresholds,
        results=results,
        waivers=waiver_entries(state.waivers, results, today),
        started_at=state.started_at,
        finished_at=dt.datetime.now(dt.UTC),
        env=doc.environment(
            rootdir=Path(config.rootpath),
            settings=state.settings,
            signoff_by=state.signoff_by,
            workers=workers if isinstance(workers, int) else 0,
        ),
    )
    json_bytes = state.redact(doc.dumps(document)).encode("utf-8")
    json_path = state.out_dir / "readiness.json"
    write_atomic(json_path, json_bytes)
    history_path = state.out_dir / "history.jsonl"
    append_history(history_path, doc.history_entry(document))
    from .report.html import render_html  # Jinja2 is imported only by the process that writes

    html = render_html(
        document,
        history=read_history(history_path, HISTORY_IN_REPORT),
        json_sha256=hashlib.sha256(json_bytes).hexdigest(),
    )
    html_path = state.out_dir / "readiness.html"
    write_atomic(html_path, state.redact(html).encode("utf-8"))
    state.document = document
    state.written = [str(json_path), str(html_path)]
    return assessment


def _redact_metadata(config: pytest.Config, redact: Redactor) -> None:
    """pytest-metadata merges each xdist worker's raw metadata late; mask it before pytest-html."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return
    metadata = config.stash.get(metadata_key, None)
    if metadata is not None:
        _mask_mapping(metadata, redact)


def _mask_mapping(mapping: dict[str, Any], redact: Redactor) -> None:
    for key, value in list(mapping.items()):
        if isinstance(value, dict):
            _mask_mapping(value, redact)
        elif isinstance(value, str):
            mapping[key] = MASK if is_secret_name(key) and value else redact(value)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(state_key, None)
    if state is None or _is_worker(config) or exitstatus == pytest.ExitCode.USAGE_ERROR:
        return
    _redact_metadata(config, state.redact)
    if not _is_readiness_run(config, state):
        return
    with _signals_held() as arrived:
        assessment = _finish(config, exitstatus)
    if state.gate is not None:
        needed = (Verdict.GO,) if state.gate == "go" else (Verdict.GO, Verdict.CONDITIONAL)
        session.exitstatus = (
            pytest.ExitCode.OK if assessment.verdict in needed else pytest.ExitCode.TESTS_FAILED
        )
    if arrived:  # the reports are whole; the signal still ends the run as interrupted
        session.exitstatus = pytest.ExitCode.INTERRUPTED


def _is_readiness_run(config: pytest.Config, state: RunState) -> bool:
    """Checks were collected, or a target or gate was asked for; else leave other suites' folders be."""
    return bool(state.collected or state.gate or config.getoption("readiness_target"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    if state is not None and state.document is not None:
        write_summary(terminalreporter, state.document, state.written)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: give each worker the folder where it leaves its collected specs."""
    state = node.config.stash[state_key]
    if state.manifest_dir is None:
        state.manifest_dir = Path(tempfile.mkdtemp(prefix="readiness-manifest-"))
    node.workerinput[MANIFEST_OPTION] = str(state.manifest_dir)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist controller: learn the collected checks (and refuse tier-1 waivers) before tests run."""
    state = node.config.stash[state_key]
    if state.manifest_dir is not None:
        _merge_manifest(state, state.manifest_dir / f"{node.gateway.id}.json")
    _check_waivers(state)
    _warm_sandbox(node.config, state)


@pytest.hookimpl(optionalhook=True)
def pytest_metadata(metadata: dict[str, Any], config: pytest.Config) -> None:
    state = config.stash.get(state_key, None)
    if state is not None:
        _mask_mapping(metadata, state.redact)
