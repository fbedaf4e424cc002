"""The Binance checks against the sandbox: healthy passes; each fault fails exactly its check.

Every scenario is a real catalogue run (a pytest subprocess, the real python-binance client,
the emulator over loopback). The runs of the selected scenarios start together in a thread pool
when the module's first test asks for one, so the file costs a few runs' time, not the sum.
Testnet-flavour scenarios serve their own ``BinanceEmulator(network="testnet")`` from here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from readiness.catalogue import catalogue_specs
from readiness.context import CheckContext, CheckRuntime, RunView
from readiness.profiles.loading import load_profile
from readiness.redact import Redactor
from readiness.sandbox.binance import BinanceEmulator
from readiness.sandbox.server import BackgroundServer

from ..helpers import REPO, assert_go_but_partial, check_entry, outcomes, run_catalogue

FILES = ("checks/component/test_binance.py", "checks/integration/test_filters_agree.py")
#: Each Binance check and what it depends on (mirrors the markers, in dependency order).
DEPENDS: Mapping[str, tuple[str, ...]] = {
    "binance.connectivity": (),
    "binance.clock_skew": ("binance.connectivity",),
    "binance.api_key_valid": ("binance.connectivity", "binance.clock_skew"),
    "binance.endpoint_matches_target": ("binance.connectivity",),
    "binance.can_trade": ("binance.api_key_valid",),
    "binance.withdrawals_disabled": ("binance.api_key_valid", "binance.endpoint_matches_target"),
    "binance.ip_restricted": ("binance.api_key_valid", "binance.endpoint_matches_target"),
    "binance.system_status": ("binance.connectivity", "binance.endpoint_matches_target"),
    "binance.balance_sufficient": ("binance.api_key_valid",),
    "binance.symbol_tradable": ("binance.connectivity",),
    "binance.order_validation": ("binance.api_key_valid", "binance.symbol_tradable", "binance.can_trade"),
    "binance.rate_limit_headroom": ("binance.connectivity",),
    "integration.filters_agree": ("binance.order_validation",),
}
SAPI_CHECKS = ("binance.withdrawals_disabled", "binance.ip_restricted", "binance.system_status")
#: Plugins the catalogue does not use, left out to start each run faster.
LEAN = ("-p", "no:hypothesispytest", "-p", "no:anyio")
NO_KEYS = {
    "BINANCE_API_KEY": "",
    "BINANCE_API_SECRET": "",
    "BINANCE_TESTNET_API_KEY": "",
    "BINANCE_TESTNET_API_SECRET": "",
}


def expected(failed: str | None, not_applicable: tuple[str, ...] = ()) -> dict[str, str]:
    """``failed`` fails, what depends on it (transitively) is blocked, the rest passes."""
    result: dict[str, str] = {}
    for check, deps in DEPENDS.items():
        if check == failed:
            result[check] = "failed"
        elif any(result[dep] not in ("passed", "not_applicable") for dep in deps):
            result[check] = "blocked"
        else:
            result[check] = "not_applicable" if check in not_applicable else "passed"
    return result


@dataclass(frozen=True)
class Scenario:
    """One catalogue run: a sandbox with faults, or a testnet-flavour emulator served from here."""

    args: tuple[str, ...] = ("--target", "sandbox")
    faults: tuple[str, ...] = ()
    #: Serve a testnet-flavour emulator with these faults; env gets its URL and, under these
    #: variable names, its key and secret.
    emulator_keys: tuple[str, str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    select: tuple[str, ...] = FILES


TESTNET_KEYS = ("BINANCE_TESTNET_API_KEY", "BINANCE_TESTNET_API_SECRET")
MAINNET_KEYS = ("BINANCE_API_KEY", "BINANCE_API_SECRET")
SANDBOX_FAULTS = (
    "binance_down",
    "binance_hang",
    "binance_trickle",
    "binance_banned",
    "binance_rate_limited",
    "binance_clock_skew",
    "binance_clock_behind",
    "binance_key_rejected",
    "binance_bad_signature",
    "binance_key_format",
    "binance_cannot_trade",
    "binance_withdrawals_enabled",
    "binance_ip_unrestricted",
    "binance_maintenance",
    "binance_low_balance",
    "binance_symbol_halted",
    "binance_order_rejected",
    "binance_filter_mismatch",
    "binance_weight_high",
)
SCENARIOS: dict[str, Scenario] = {
    "healthy": Scenario(),
    **{fault: Scenario(faults=(fault,)) for fault in SANDBOX_FAULTS},
    "clock_behind_key_alone": Scenario(
        faults=("binance_clock_behind",), select=(FILES[0], "-k", "test_api_key_valid")
    ),
    "testnet_healthy": Scenario(("--target", "testnet"), emulator_keys=TESTNET_KEYS),
    "testnet_mainnet_flavor": Scenario(
        ("--target", "testnet"), faults=("binance_mainnet_flavor",), emulator_keys=TESTNET_KEYS
    ),
    "testnet_url_on_mainnet": Scenario(("--target", "mainnet"), emulator_keys=MAINNET_KEYS),
    "mainnet_url_on_testnet": Scenario(
        ("--target", "testnet"),
        env={"BINANCE_API_URL": "https://api.binance.com"},
    ),
    "testnet_url_on_mainnet_by_host": Scenario(
        ("--target", "mainnet"),
        env={"BINANCE_API_URL": "https://testnet.binance.vision"},
    ),
    "mainnet_keys_on_testnet": Scenario(
        ("--target", "testnet"),
        env={
            "BINANCE_API_URL": "https://testnet.binance.vision",
            "BINANCE_API_KEY": "k" * 64,
            "BINANCE_API_SECRET": "s" * 64,
        },
    ),
    "testnet_no_keys": Scenario(("--target", "testnet"), emulator_keys=None, select=(FILES[0],)),
    "mainnet_no_keys": Scenario(("--target", "mainnet"), emulator_keys=None, select=(FILES[0],)),
}


def _run(scenario: Scenario, tmp_path: Path) -> dict[str, Any]:
    env = {**NO_KEYS, **scenario.env}
    faults = [arg for fault in scenario.faults for arg in ("--sandbox-fault", fault)]
    if "sandbox" in scenario.args:
        return run_catalogue(tmp_path, *LEAN, *scenario.args, *faults, *scenario.select, env=env)
    needs_emulator = scenario.emulator_keys is not None or "BINANCE_API_URL" not in env
    if not needs_emulator:
        return run_catalogue(tmp_path, *LEAN, *scenario.args, *scenario.select, env=env)
    emulator = BinanceEmulator(network="testnet", faults=scenario.faults)
    with BackgroundServer(emulator.make_app()) as server:
        env["BINANCE_API_URL"] = server.url
        if scenario.emulator_keys is not None:
            key_name, secret_name = scenario.emulator_keys
            env[key_name], env[secret_name] = emulator.api_key, emulator.api_secret
        return run_catalogue(tmp_path, *LEAN, *scenario.args, *scenario.select, env=env)


@pytest.fixture(scope="module")
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Future[dict[str, Any]]]]:
    """Start the runs of every selected scenario at once; each test awaits its own."""
    wanted = {
        params["scenario"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module
        and "scenario" in (params := getattr(getattr(item, "callspec", None), "params", {}))
    }
    wanted -= set(URL_DECIDED)  # those call the check function itself
    with ThreadPoolExecutor(max_workers=6, thread_name_prefix="catalogue-run") as pool:
        yield {
            name: pool.submit(_run, SCENARIOS[name], tmp_path_factory.mktemp(name)) for name in sorted(wanted)
        }


def _report(reports: dict[str, Future[dict[str, Any]]], scenario: str) -> dict[str, Any]:
    return reports[scenario].result(timeout=300)


def _assert_failure(report: dict[str, Any], check_id: str, message: str, remediation: str) -> dict[str, Any]:
    """The check failed with this message (fnmatch) and remediation, in the JSON and the terminal."""
    entry = check_entry(report, check_id)
    assert entry["outcome"] == "failed", entry
    assert fnmatch(entry["message"], message), entry["message"]
    assert remediation in entry["remediation"], entry["remediation"]
    assert remediation in report["_stdout"], report["_stdout"][-3000:]
    return entry


@pytest.mark.parametrize("scenario", ["healthy"])
def test_healthy_sandbox_passes_every_binance_check(
    reports: dict[str, Future[dict[str, Any]]], scenario: str
) -> None:
    report = _report(reports, scenario)
    assert outcomes(report) == expected(None)
    assert_go_but_partial(report)  # the Binance file alone
    metrics = {m["name"] for m in check_entry(report, "binance.clock_skew")["metrics"]}
    assert "clock skew" in metrics
    headroom = check_entry(report, "binance.rate_limit_headroom")["metrics"]
    assert any(m["name"] == "request weight share" and m["value"] < 10 for m in headroom)


FAULT_CASES = [
    # (scenario, failing check, message pattern, remediation fragment)
    (
        "binance_down",
        "binance.connectivity",
        "GET /api/v3/ping answered HTTP 503: not a Binance API answer (503 Service Unavailable)",
        "does not answer like Binance (HTTP 503)",
    ),
    (
        "binance_hang",
        "binance.connectivity",
        "GET /api/v3/ping: no complete answer within 4 s",
        "took the request but did not finish answering",
    ),
    (
        "binance_trickle",
        "binance.connectivity",
        "GET /api/v3/time: no complete answer within 4 s",
        "took the request but did not finish answering",
    ),
    (
        "binance_banned",
        "binance.connectivity",
        "GET /api/v3/ping answered HTTP 418, code -1003: Way too many requests; *",
        "rate limited or banned: retry after 120 s",
    ),
    (
        "binance_rate_limited",
        "binance.connectivity",
        "GET /api/v3/ping answered HTTP 429, code -1003: Too many requests; *",
        "rate limited or banned: retry after 30 s",
    ),
    (
        "binance_clock_skew",
        "binance.clock_skew",
        "the local clock is * ms behind Binance's (limit 1000 ms)",
        "sync the clock (chrony/NTP); measured skew ",
    ),
    (
        "binance_clock_behind",
        "binance.clock_skew",
        "the local clock is * ms ahead of Binance's (limit 1000 ms)",
        "sync the clock (chrony/NTP); measured skew -",
    ),
    (
        "binance_key_rejected",
        "binance.api_key_valid",
        "GET /api/v3/account answered HTTP 401, code -2015: Invalid API-key, IP, or permissions for action.",
        "key unknown, IP not whitelisted, or the key lacks this permission; testnet keys come from the "
        "Spot testnet site, not the main site",
    ),
    (
        "binance_bad_signature",
        "binance.api_key_valid",
        "GET /api/v3/account answered HTTP 400, code -1022: Signature for this request is not valid.",
        "secret does not match key: set BINANCE_API_SECRET",
    ),
    (
        "binance_key_format",
        "binance.api_key_valid",
        "GET /api/v3/account answered HTTP 401, code -2014: API-key format invalid.",
        "API-key format invalid: set BINANCE_API_KEY",
    ),
    (
        "binance_cannot_trade",
        "binance.can_trade",
        "the account reports canTrade false; its permissions [[]'MARGIN'] lack SPOT; "
        "the API key lacks 'Enable Spot & Margin Trading'",
        "Enable 'Enable Spot & Margin Trading' on the API key",
    ),
    (
        "binance_withdrawals_enabled",
        "binance.withdrawals_disabled",
        "apiRestrictions reports enableWithdrawals true*",
        "Disable 'Enable Withdrawals' on the API key",
    ),
    (
        "binance_ip_unrestricted",
        "binance.ip_restricted",
        "apiRestrictions reports ipRestrict false*",
        "Restrict access to trusted IPs only",
    ),
    (
        "binance_maintenance",
        "binance.system_status",
        "system status 1: system_maintenance",
        "Wait until Binance ends its maintenance",
    ),
    (
        "binance_low_balance",
        "binance.balance_sufficient",
        "10 USDT free, below the minimum 100 USDT",
        "Deposit the quote asset",
    ),
    (
        "binance_symbol_halted",
        "binance.symbol_tradable",
        "BTCUSDT is not tradable: status BREAK, spot trading not allowed",
        "if Binance halted the symbol, wait",
    ),
    (
        "binance_order_rejected",
        "binance.order_validation",
        "order/test rejected the smallest valid order BUY 0.0001 @ * (*), notional *: "
        "POST /api/v3/order/test answered HTTP 400, code -1013: Filter failure: NOTIONAL",
        "refresh the bot's exchangeInfo",
    ),
    (
        "binance_filter_mismatch",
        "integration.filters_agree",
        "2 of 6 edge orders disagree: *BUY 0.00011 @ * (one step above the minimum): local filters "
        "accept, order/test rejects (LOT_SIZE)*",
        "refresh the bot's exchangeInfo cache",
    ),
    (
        "binance_weight_high",
        "binance.rate_limit_headroom",
        "59?? of 6000 request weight used in the last minute (*%), over 80%*",
        "move it to WebSocket streams",
    ),
]


@pytest.mark.parametrize(
    ("scenario", "check_id", "message", "remediation"), FAULT_CASES, ids=[c[0] for c in FAULT_CASES]
)
def test_each_fault_fails_exactly_its_check(
    reports: dict[str, Future[dict[str, Any]]], scenario: str, check_id: str, message: str, remediation: str
) -> None:
    report = _report(reports, scenario)
    assert outcomes(report) == expected(check_id)
    entry = _assert_failure(report, check_id, message, remediation)
    if entry["tier"] == 1:
        assert report["verdict"] == "NO-GO"


def test_every_binance_fault_is_exercised() -> None:
    from readiness.sandbox.binance import FAULTS

    covered = set(SANDBOX_FAULTS) | {"binance_mainnet_flavor"}
    assert covered == set(FAULTS)
    assert {case[0] for case in FAULT_CASES} == set(SANDBOX_FAULTS)


@pytest.mark.parametrize("scenario", ["binance_clock_skew", "binance_clock_behind"])
def test_clock_skew_remediation_names_the_measured_skew(
    reports: dict[str, Future[dict[str, Any]]], scenario: str
) -> None:
    remediation = check_entry(_report(reports, scenario), "binance.clock_skew")["remediation"]
    match = re.search(r"measured skew (-?\d+) ms", remediation)
    assert match, remediation
    target = 3000 if scenario == "binance_clock_skew" else -10_000
    assert abs(int(match.group(1)) - target) < 250


@pytest.mark.parametrize("scenario", ["binance_clock_behind", "clock_behind_key_alone"])
def test_clock_behind_blocks_the_key_check_or_fails_it_with_1021(
    reports: dict[str, Future[dict[str, Any]]], scenario: str
) -> None:
    """With clock_skew selected, the clock is the root cause and the key check is blocked (its
    -1021 says nothing about the key). Alone, its dependencies did not run, so it is not verified
    either: blocked, naming them, and the run is partial."""
    report = _report(reports, scenario)
    entry = check_entry(report, "binance.api_key_valid")
    assert entry["outcome"] == "blocked"
    if scenario == "binance_clock_behind":
        assert entry["blocked_by"] == ["binance.clock_skew"]
        return
    assert outcomes(report) == {"binance.api_key_valid": "blocked"}
    assert entry["blocked_by"] == ["binance.connectivity", "binance.clock_skew"]
    assert entry["message"] == (
        "not verified: depends on binance.connectivity, which did not run, "
        "binance.clock_skew, which did not run"
    )
    assert report["partial"] is True and report["verdict"] == "NO-GO"


def test_key_error_1021_remediation_names_the_clock() -> None:
    """A -1021 on a signed call is the clock's fault: the advice says to sync it, with the skew."""
    from readiness.probes.binance import ApiError, remediation_for
    from readiness.settings import Settings

    error = ApiError("GET /api/v3/account", 400, -1021, "Timestamp for this request was 1000ms ahead")
    assert (
        remediation_for(error, Settings(), skew_ms=-10_000)
        == "sync the clock (chrony/NTP); measured skew -10000 ms"
    )


@pytest.mark.parametrize("scenario", ["testnet_healthy"])
def test_testnet_flavor_marks_sapi_checks_not_applicable(
    reports: dict[str, Future[dict[str, Any]]], scenario: str
) -> None:
    report = _report(reports, scenario)
    assert outcomes(report) == expected(None, not_applicable=SAPI_CHECKS)
    for check_id in SAPI_CHECKS:
        assert check_entry(report, check_id)["message"] == "testnet has no /sapi (checked on mainnet only)"
    assert_go_but_partial(report)


ENDPOINT_CASES = [
    (
        "testnet_mainnet_flavor",
        "target testnet needs a testnet endpoint, but BINANCE_API_URL=http://127.0.0.1:* is mainnet: "
        "it serves GET /sapi/v1/system/status, as only mainnet does",
        "Point BINANCE_API_URL at the testnet API (https://testnet.binance.vision)",
    ),
    (
        "testnet_url_on_mainnet",
        "target mainnet needs a mainnet endpoint, but BINANCE_API_URL=http://127.0.0.1:* is testnet: "
        "it answers 404 to GET /sapi/v1/system/status, as the testnet does",
        "Point BINANCE_API_URL at the mainnet API (https://api.binance.com)",
    ),
    (
        "mainnet_url_on_testnet",
        "target testnet needs a testnet endpoint, but BINANCE_API_URL=https://api.binance.com is mainnet: "
        "api.binance.com is a known mainnet host",
        "Point BINANCE_API_URL at the testnet API",
    ),
    (
        "testnet_url_on_mainnet_by_host",
        "target mainnet needs a mainnet endpoint, but BINANCE_API_URL=https://testnet.binance.vision is "
        "testnet: testnet.binance.vision is a known testnet host",
        "Point BINANCE_API_URL at the mainnet API",
    ),
    (
        "mainnet_keys_on_testnet",
        "target testnet uses BINANCE_TESTNET_API_KEY, which is not set, but BINANCE_API_KEY is: "
        "those keys belong to the other network",
        "Set BINANCE_TESTNET_API_KEY and its secret for the testnet network",
    ),
]


@pytest.mark.parametrize(
    ("scenario", "message", "remediation"), ENDPOINT_CASES, ids=[c[0] for c in ENDPOINT_CASES]
)
def test_endpoint_mismatch_is_caught_both_ways(
    reports: dict[str, Future[dict[str, Any]]], scenario: str, message: str, remediation: str
) -> None:
    if scenario in URL_DECIDED:
        failure, runtime = asyncio.run(_endpoint_check_alone(SCENARIOS[scenario]))
        assert fnmatch(failure, message), failure
        assert runtime.remediation is not None and remediation in runtime.remediation
        return
    report = _report(reports, scenario)
    _assert_failure(report, "binance.endpoint_matches_target", message, remediation)
    # Decided by behaviour on a live emulator: the /sapi checks are blocked, the rest passes.
    assert outcomes(report) == expected("binance.endpoint_matches_target")


#: Decided by the URL (a known host) or the keys alone. A catalogue run of this check alone would
#: block it (its connectivity dependency did not run, and real hosts are out of reach here), so
#: these call the check function itself with the scenario's settings: no request leaves.
URL_DECIDED = ("mainnet_url_on_testnet", "testnet_url_on_mainnet_by_host", "mainnet_keys_on_testnet")


async def _endpoint_check_alone(scenario: Scenario) -> tuple[str, CheckRuntime]:
    from readiness.checks.component.test_binance import test_endpoint_matches_target
    from readiness.probes.catalogue import PROBES
    from readiness.probes.network import ProbeSet
    from readiness.settings import load_settings

    target = scenario.args[scenario.args.index("--target") + 1]
    settings, _ = load_settings(
        rootdir=REPO,
        invocation_dir=REPO,
        environ={**NO_KEYS, **scenario.env},
        target_option=target,
        target_ini=None,
        env_file_option=None,
        config_option=None,
    )
    spec = catalogue_specs()["binance.endpoint_matches_target"]
    runtime = CheckRuntime()
    probes = ProbeSet()
    probes.start(PROBES, settings, {spec.id})
    await asyncio.sleep(0)  # let the probes begin, as they do in a session before its first check
    try:
        run = RunView(reports_dir=REPO / "reports", started_at=dt.datetime.now(dt.UTC))
        context = CheckContext(spec, runtime, settings, load_profile(settings), Redactor(), run)
        await test_endpoint_matches_target(context, probes)
    except pytest.fail.Exception as failure:
        return str(failure), runtime
    finally:
        await probes.close()
    raise AssertionError("the endpoint check passed")


@pytest.mark.parametrize(
    ("scenario", "variables"),
    [
        ("testnet_no_keys", "BINANCE_TESTNET_API_KEY, BINANCE_TESTNET_API_SECRET"),
        ("mainnet_no_keys", "BINANCE_API_KEY, BINANCE_API_SECRET"),
    ],
)
def test_missing_keys_skip_naming_the_variable(
    reports: dict[str, Future[dict[str, Any]]], scenario: str, variables: str
) -> None:
    report = _report(reports, scenario)
    entry = check_entry(report, "binance.api_key_valid")
    assert entry["outcome"] == "skipped"
    assert entry["message"] == f"not configured: set {variables}"
    for check_id in ("binance.can_trade", "binance.balance_sufficient", "binance.order_validation"):
        assert check_entry(report, check_id)["outcome"] == "blocked"
    assert check_entry(report, "binance.connectivity")["outcome"] == "passed"
