"""The HTML sign-off report: what a reviewer must find in it, and what it must never contain."""

from __future__ import annotations

import copy
import hashlib
import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from readiness.report.drill_evidence import phase_evidence, recorded_runs
from readiness.report.html import render_html
from readiness.scoring import RootCause

OUTCOMES = ("passed", "warned", "failed", "error", "blocked", "skipped", "not_applicable")
SHA = hashlib.sha256(b"readiness.json bytes").hexdigest()
EXTERNAL = re.compile(r"""\b(?:src|href|xlink:href|action)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:|//)""", re.I)


def sample_check(check_id: str, outcome: str, **extra: Any) -> dict[str, Any]:
    layer = extra.pop("layer", "component")
    tier = extra.pop("tier", 2)
    check = {
        "id": check_id,
        "nodeid": f"checks/{layer}/test_{check_id.split('.')[0]}.py::test_{check_id.replace('.', '_')}",
        "title": f"Title of {check_id}",
        "layer": layer,
        "tier": tier,
        "weight": {1: 5, 2: 3, 3: 1}[tier],
        "outcome": outcome,
        "duration_s": 0.0123,
        "message": "" if outcome == "passed" else f"{outcome}: what happened in {check_id}",
        "remediation": f"Fix {check_id} by doing the right thing.",
        "metrics": [],
        "blocked_by": [],
        "waiver": None,
    }
    check.update(extra)
    return check


def sample_report(*, sandbox: bool = False, verdict: str = "NO-GO", score: float = 61.54) -> dict[str, Any]:
    """A readiness.json dict with every outcome, metrics over and within, a block and waivers."""
    waiver = {
        "id": "binance.balance_sufficient",
        "justification": "Testnet balance is topped up by hand on Mondays.",
        "approved_by": "Risk Officer",
        "expires": "2026-12-31",
        "status": "active",
    }
    checks = [
        sample_check("env.config_complete", "passed", tier=1),
        sample_check(
            "telegram.delivery_latency",
            "passed",
            tier=1,
            metrics=[{"name": "round_trip", "value": 412.5, "unit": "ms", "threshold": 5000}],
        ),
        sample_check(
            "binance.clock_skew",
            "warned",
            tier=1,
            metrics=[{"name": "skew", "value": 612, "unit": "ms", "threshold": 1000}],
        ),
        sample_check(
            "binance.api_key_valid",
            "failed",
            tier=1,
            message="Binance rejected the key: -2015 Invalid API-key, IP, or permissions for action.",
            remediation="Create a new testnet key at the testnet site and set BINANCE_TESTNET_API_KEY.",
        ),
        sample_check("binance.can_trade", "blocked", tier=1, blocked_by=["binance.api_key_valid"]),
        sample_check("positions.db_healthy", "error", tier=1, message="fixture 'positions' broke"),
        sample_check(
            "binance.balance_sufficient",
            "warned",
            metrics=[{"name": "free_quote", "value": 150.0, "unit": "USDT", "threshold": None}],
            waiver=waiver,
        ),
        sample_check(
            "system.disk_space",
            "failed",
            layer="system",
            tier=1,
            metrics=[{"name": "disk_free", "value": 2048.5, "unit": "MB", "threshold": 1024}],
        ),
        sample_check("binance.ip_restricted", "skipped", message="set BINANCE_API_KEY to verify"),
        sample_check("binance.withdrawals_disabled", "not_applicable", tier=1, message="testnet"),
        sample_check("binance.rate_limit_headroom", "passed", tier=3),
    ]
    layers: dict[str, Any] = {}
    for check in checks:
        layer = layers.setdefault(check["layer"], {"score": 50.0, "counts": dict.fromkeys(OUTCOMES, 0)})
        layer["counts"][check["outcome"]] += 1
    return {
        **(
            {"notice": "SANDBOX RUN: emulated Binance and Telegram, not a deployment check"}
            if sandbox
            else {}
        ),
        "schema": "readiness-report/1",
        "sandbox": sandbox,
        "target": "sandbox" if sandbox else "testnet",
        "verdict": verdict,
        "score": score,
        "complete": True,
        "thresholds": {"go": 85.0, "conditional": 70.0},
        "root_causes": [cause.to_json() for cause in CAUSES],
        "reasons": [
            *(cause.text for cause in CAUSES if cause.tier1),
            f"score {score} is below the conditional threshold 70",
        ],
        "started_at": "2026-11-24T03:40:00.123456+00:00",
        "finished_at": "2026-11-24T03:40:02.654321+00:00",
        "environment": {
            "git_commit": "0123456789abcdef0123456789abcdef01234567",
            "python": "3.11.7",
            "platform": "Linux-6.1-x86_64",
            "config_sha256": None,
            "config_file": None,
            "pytest": "9.0.3",
            "readiness": "0.1.0",
            "hostname": "ci-runner-7",
            "workers": 0,
            "signoff_by": "Jane Doe",
            "extra": {"nested": [1, 2]},
        },
        "layers": layers,
        "checks": checks,
        "waivers": [
            waiver,
            {
                "id": "ops.ws_reconnects",
                "justification": "Known flaky exchange websocket.",
                "approved_by": "Ops Lead",
                "expires": "2026-01-01",
                "status": "expired",
            },
        ],
    }


#: The sample report's root causes, as the scoring writes them.
CAUSES = (
    RootCause(
        "binance.api_key_valid failed: Binance rejected the key: -2015 Invalid API-key, IP, or permissions for action.",
        "Create a new testnet key at the testnet site and set BINANCE_TESTNET_API_KEY.",
        ("binance.api_key_valid", "binance.can_trade"),
        True,
        "binance.api_key_valid",
    ),
    RootCause(
        "positions.db_healthy error: fixture 'positions' broke",
        "Fix positions.db_healthy by doing the right thing.",
        ("positions.db_healthy",),
        True,
        "positions.db_healthy",
    ),
    RootCause(
        "system.disk_space failed: failed: what happened in system.disk_space",
        "Fix system.disk_space by doing the right thing.",
        ("system.disk_space",),
        True,
        "system.disk_space",
    ),
    RootCause(
        "BINANCE_API_KEY not set",
        "Run `readiness init` or set it in .env or the environment",
        ("binance.ip_restricted",),
        False,
    ),
)


def sample_history(runs: int) -> list[dict[str, Any]]:
    verdicts = ("NO-GO", "CONDITIONAL GO", "GO")
    return [
        {
            "finished_at": f"2026-11-{1 + i % 28:02d}T03:40:02+00:00",
            "target": "testnet",
            "verdict": verdicts[i % 3],
            "score": float(40 + (i * 7) % 60),
            "complete": i % 5 != 0,
            "git_commit": f"{i:040x}",
            "counts": {"passed": i},
        }
        for i in range(runs)
    ]


def visible_text(page: str) -> str:
    """The page's text without tags, comments, styles or the SVG ``<title>`` tooltips."""
    page = re.sub(r"<!--.*?-->|<style>.*?</style>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture
def report() -> dict[str, Any]:
    return sample_report()


def test_verdict_score_reasons_and_every_check_id_are_visible(report: dict[str, Any]) -> None:
    page = render_html(report, history=[], json_sha256=SHA)
    text = visible_text(page)
    assert "NO-GO" in text
    assert "61.54" in text
    assert "testnet" in text
    box = visible_text(re.search(r'<section class="verdict .*?</section>', page, re.S)[0])  # type: ignore[index]
    for cause in CAUSES:  # each root cause once, with its fix and what it accounts for
        assert box.count(cause.reason) == 1 and cause.fix in box
    assert "2 checks: 1 failed, 1 blocked" in box and "1 check skipped or blocked" in box
    assert f"score {report['score']} is below the conditional threshold 70" in box
    for check in report["checks"]:
        assert check["id"] in text
        assert check["title"] in text
    for outcome in OUTCOMES:
        assert outcome.replace("_", " ").upper() in text  # the word, not only a colour


def test_failed_check_shows_remediation_and_message(report: dict[str, Any]) -> None:
    text = visible_text(render_html(report, history=[], json_sha256=SHA))
    assert "Create a new testnet key at the testnet site and set BINANCE_TESTNET_API_KEY." in text
    assert "-2015 Invalid API-key, IP, or permissions for action." in text


def test_non_passing_checks_come_first_in_a_stable_order(report: dict[str, Any]) -> None:
    page = render_html(report, history=[], json_sha256=SHA)
    order = re.findall(r'<article class="check o-(\w+)[^"]*" id="check-([^"]+)"', page)
    assert [check_id for _, check_id in order] == [
        "binance.api_key_valid",
        "binance.can_trade",
        "positions.db_healthy",
        "system.disk_space",
        "binance.clock_skew",
        "binance.balance_sufficient",
        "binance.ip_restricted",
        "env.config_complete",
        "telegram.delivery_latency",
        "binance.withdrawals_disabled",
        "binance.rate_limit_headroom",
    ]


def test_metrics_over_threshold_are_called_out(report: dict[str, Any]) -> None:
    page = render_html(report, history=[], json_sha256=SHA)
    disk = page[page.index('id="check-system.disk_space"') :]
    disk = disk[: disk.index("</article>")]
    assert "2048.5 MB" in disk
    assert "1024 MB" in disk
    assert "OVER the threshold" in disk
    latency = page[page.index('id="check-telegram.delivery_latency"') :]
    latency = latency[: latency.index("</article>")]
    assert "412.5 ms" in latency
    assert "within" in latency
    assert "OVER" not in latency
    balance = page[page.index('id="check-binance.balance_sufficient"') :]
    assert "no threshold" in balance[: balance.index("</article>")]


def test_tier1_layers_waivers_and_blocked_by(report: dict[str, Any]) -> None:
    page = render_html(report, history=[], json_sha256=SHA)
    tier1 = page[page.index('id="tier1"') : page.index('id="checks"')]
    assert "4 of 8 tier-1 checks did not pass" in visible_text(tier1)
    assert tier1.count('class="bad"') == 4
    layers = page[page.index('id="layers"') : page.index('id="tier1"')]
    assert '<th scope="row">component</th>' in layers
    assert '<th scope="row">system</th>' in layers
    waivers = visible_text(page[page.index('id="waivers"') : page.index('id="environment"')])
    for needle in ("binance.balance_sufficient", "ACTIVE", "Risk Officer", "2026-12-31", "EXPIRED"):
        assert needle in waivers
    assert 'href="#check-binance.api_key_valid"' in page  # blocked_by links to its blocker
    assert "Testnet balance is topped up by hand on Mondays." in visible_text(page)


def test_environment_and_signoff_block(report: dict[str, Any]) -> None:
    page = render_html(report, history=[], json_sha256=SHA)
    environment = visible_text(page[page.index('id="environment"') : page.index('id="signoff"')])
    for key in report["environment"]:
        assert key in environment
    assert '{"nested": [1, 2]}' in environment
    signoff = visible_text(page[page.index('id="signoff"') :])
    assert "Jane Doe" in signoff
    assert SHA in signoff
    assert "0123456789abcdef0123456789abcdef01234567" in signoff
    assert "2026-11-24 03:40:02 UTC" in signoff
    for label in ("Approved by", "Signature"):
        assert label in signoff


def test_signoff_without_a_name_leaves_a_line_to_sign(report: dict[str, Any]) -> None:
    report["environment"]["signoff_by"] = None
    page = render_html(report, history=[], json_sha256=SHA)
    assert '<th scope="row">Prepared by</th><td class="blank"></td>' in page


def test_sandbox_run_says_so_first() -> None:
    page = render_html(sample_report(sandbox=True), history=[], json_sha256=SHA)
    first_line = page.splitlines()[0]
    assert first_line.startswith("<!DOCTYPE html><!-- SANDBOX RUN")
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title is not None and title.group(1).startswith("SANDBOX RUN")
    body = page[page.index("<body>") + len("<body>") :]
    assert visible_text(body).strip().startswith("SANDBOX RUN")


def test_real_run_does_not_claim_to_be_a_sandbox(report: dict[str, Any]) -> None:
    page = render_html(report, history=[], json_sha256=SHA)
    assert page.startswith("<!DOCTYPE html><!-- Readiness sign-off report: NO-GO")
    assert "SANDBOX" not in page
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title is not None and title.group(1).startswith("Readiness NO-GO")


@pytest.mark.parametrize("sandbox", [False, True])
def test_self_contained_without_scripts_or_external_resources(sandbox: bool) -> None:
    page = render_html(sample_report(sandbox=sandbox), history=sample_history(30), json_sha256=SHA)
    assert "<script" not in page.lower()
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", page)  # no event-handler attributes
    assert not EXTERNAL.findall(page), EXTERNAL.findall(page)
    assert "http://" not in page and "https://" not in page
    assert "@import" not in page and "url(" not in page
    assert '<html lang="en">' in page
    assert '<th scope="col">' in page


def test_values_are_escaped(report: dict[str, Any]) -> None:
    report["checks"][3]["message"] = "<script>alert('x')</script> & \"quoted\""
    report["checks"][3]["title"] = "<img src=x onerror=alert(1)>"
    report["environment"]["hostname"] = "<b>host</b>"
    report["reasons"].append("<i>reason</i>")
    page = render_html(report, history=[], json_sha256=SHA)
    assert "<script" not in page
    assert "<img" not in page
    assert "<b>host</b>" not in page and "<i>reason</i>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &#34;quoted&#34;" in page


@pytest.mark.parametrize("runs", [0, 1])
def test_first_run_has_no_trend_chart(report: dict[str, Any], runs: int) -> None:
    page = render_html(report, history=sample_history(runs), json_sha256=SHA)
    trend = page[page.index('id="trend"') : page.index('id="layers"')]
    assert "first run" in trend.lower()
    assert "<svg" not in trend


def test_long_history_draws_every_run_with_a_text_alternative(report: dict[str, Any]) -> None:
    history = sample_history(30)
    page = render_html(report, history=history, json_sha256=SHA)
    trend = page[page.index('id="trend"') : page.index('id="layers"')]
    assert trend.count("<circle") == 30
    assert trend.count('class="threshold ') == 2
    assert "<title" in trend and "<desc" in trend
    assert trend.count('<tr><th scope="row">') == 30  # the runs as a table
    assert 'class="pt go' in trend and 'class="pt nogo' in trend and "hollow" in trend


def test_history_entries_lacking_fields_do_not_break_the_page(report: dict[str, Any]) -> None:
    history: list[dict[str, Any]] = [
        {},
        {"score": "n/a", "verdict": 3},
        {"finished_at": "yesterday", "score": 50},
        {"score": None},
        {"score": 90.5, "verdict": "GO", "complete": True},
    ]
    page = render_html(report, history=history, json_sha256=SHA)
    trend = page[page.index('id="trend"') : page.index('id="layers"')]
    assert trend.count("<circle") == 2
    assert "yesterday" in trend


def test_sparse_report_still_renders() -> None:
    """An interrupted run or an older schema may leave fields out; the page still says so."""
    page = render_html({"verdict": "NO-GO", "checks": [{"id": "a.b"}, "junk"]}, history=[], json_sha256=SHA)
    text = visible_text(page)
    assert "NO-GO" in text and "a.b" in text and "INCOMPLETE" in text
    assert "No waivers" in text


def test_incomplete_run_is_flagged(report: dict[str, Any]) -> None:
    report["complete"] = False
    text = visible_text(render_html(report, history=[], json_sha256=SHA))
    assert "INCOMPLETE" in text


@pytest.mark.parametrize(
    ("verdict", "css"), [("GO", "go"), ("CONDITIONAL GO", "conditional"), ("NO-GO", "nogo")]
)
def test_verdict_banner_colour(report: dict[str, Any], verdict: str, css: str) -> None:
    report["verdict"] = verdict
    page = render_html(report, history=[], json_sha256=SHA)
    assert f'<section class="verdict {css}"' in page
    assert f'<p class="verdict-word">{verdict}</p>' in page


@pytest.mark.parametrize("score", [0.0, 42.0, 100.0])
def test_gauge_marks_both_thresholds(report: dict[str, Any], score: float) -> None:
    report["score"] = score
    page = render_html(report, history=[], json_sha256=SHA)
    gauge = page[page.index('class="score-card"') : page.index("</svg>")]
    assert gauge.count('class="gauge-tick"') == 2
    assert ">85</text>" in gauge and ">70</text>" in gauge
    assert ('class="gauge-value' in gauge) == (score > 0)


def test_report_is_not_modified(report: dict[str, Any]) -> None:
    before = copy.deepcopy(report)
    render_html(report, history=sample_history(3), json_sha256=SHA)
    assert report == before
    json.dumps(report)


def test_two_thousand_checks_render() -> None:
    report = sample_report()
    template = report["checks"]
    report["checks"] = [
        {**copy.deepcopy(template[i % len(template)]), "id": f"bulk.check_{i:04d}"} for i in range(2000)
    ]
    page = render_html(report, history=sample_history(30), json_sha256=SHA)
    assert page.count('<article class="check') == 2000
    assert "bulk.check_1999" in page


@pytest.mark.parametrize(
    ("verdict", "cls"), [("GO", "go"), ("CONDITIONAL GO", "conditional"), ("NO-GO", "nogo")]
)
def test_the_gauge_takes_the_verdicts_colour(verdict: str, cls: str) -> None:
    page = render_html(sample_report(verdict=verdict), history=[], json_sha256=SHA)
    assert re.search(rf'<text class="gauge-number {cls}"', page)


def test_counts_read_as_words(report: dict[str, Any]) -> None:
    report["checks"] = report["checks"][:1]
    report["root_causes"], report["reasons"] = [], []
    text = " ".join(visible_text(render_html(report, history=[], json_sha256=SHA)).split())
    assert "· 1 check" in text and not re.search(r"(?<![\w.-])1 checks", text)
    assert "1 of 1 tier-1 check passed" in text
    assert " is failed" not in text and " is blocked" not in text


def _recorded_run(folder: Path, phases: list[str], verdict: str, name: str) -> str:
    data = json.dumps({"verdict": verdict, "phases": phases}).encode()
    (folder / name).write_bytes(data)
    sha256 = hashlib.sha256(data).hexdigest()
    entry = {
        "finished_at": "2026-11-20T10:00:00+00:00",
        "target": "testnet",
        "phases": phases,
        "verdict": verdict,
        "complete": True,
        "report": name,
        "json_sha256": sha256,
    }
    with (folder / "history.jsonl").open("a") as history:
        history.write(json.dumps(entry) + "\n")
    return sha256


def test_the_evidence_panel_names_each_phases_newest_run_and_whether_it_still_hashes(
    tmp_path: Path, report: dict[str, Any]
) -> None:
    _recorded_run(tmp_path, ["drill"], "NO-GO", "old-drill.json")
    drill = _recorded_run(tmp_path, ["drill"], "GO", "readiness-drill.json")
    preflight = _recorded_run(tmp_path, ["preflight"], "NO-GO", "readiness.json")
    (tmp_path / "readiness.json").write_text("{}")  # changed after it was recorded
    evidence = phase_evidence(tmp_path, recorded_runs(tmp_path, "testnet"))
    assert [item.phase for item in evidence] == ["preflight", "drill", "postdeploy"]
    page = render_html(report, history=[], json_sha256=drill, evidence=evidence)
    panel = re.search(r'<section id="evidence".*?</section>', page, re.S)[0]  # type: ignore[index]
    preflight_row, drill_row, postdeploy_row = re.findall(r"<tr.*?</tr>", panel, re.S)[1:]
    assert preflight in preflight_row and 'class="bad"' in preflight_row
    assert "no longer hashes to what" in visible_text(preflight_row)
    assert drill in drill_row and "(this run)" in drill_row and "still hashes" in drill_row
    assert "none recorded" in postdeploy_row
    assert 'href="#evidence"' in page
    assert '<section id="evidence"' not in render_html(report, history=[], json_sha256=SHA)
