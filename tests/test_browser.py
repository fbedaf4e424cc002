"""The sign-off report in a real browser: readable with and without JavaScript, and printable.

Runs headless Debian Chromium through Playwright (never a downloaded browser). The report comes
from a real plugin run (the ``rendered_report`` fixture), with every outcome, a waiver and a trend.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .helpers import run_pytest

BROWSER_SUITE = """
import pytest

def check(check_id, tier=2, **extra):
    return pytest.mark.readiness(id=check_id, layer=extra.pop("layer", "component"), tier=tier,
                                 title="Check " + check_id, remediation="Fix <" + check_id + ">", **extra)

@check("b.passed", tier=1)
def test_passed(readiness):
    readiness.metric("latency", 0.4, unit="s", threshold=5)

@check("b.warned")
def test_warned(readiness):
    readiness.metric("balance", 150, unit="USDT", threshold=1000)
    readiness.warn("balance below recommended")

@check("b.failed", tier=1, layer="integration")
def test_failed():
    assert False, "<script>alert(1)</script> rejected"

@check("b.blocked", depends=("b.failed",), layer="integration")
def test_blocked(): pass

@check("b.skipped", layer="system")
def test_skipped(readiness):
    readiness.require("pid_file")

@check("b.na", layer="system")
def test_na(readiness):
    readiness.not_applicable("mainnet only")

@pytest.fixture
def broken():
    raise RuntimeError("boom")

@check("b.error", layer="system")
def test_error(broken): pass

@check("b.minor", tier=3, layer="system")
def test_minor():
    assert False
"""

CHROMIUM = "/usr/bin/chromium"
if shutil.which(CHROMIUM) is None:
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

LAUNCH_ARGS = [
    "--no-sandbox",  # Chromium's sandbox cannot run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class RenderedReport:
    path: Path
    verdict: str
    check_ids: list[str]


@pytest.fixture
def rendered_report(pytester: pytest.Pytester) -> RenderedReport:
    """readiness.html as a real plugin run writes it (every outcome, a waiver, a trend of runs)."""
    pytester.makepyfile(test_checks=BROWSER_SUITE)
    pytester.path.joinpath("readiness-waivers.toml").write_text(
        '[[waiver]]\nid = "b.minor"\njustification = "tracked"\napproved_by = "RM"\nexpires = 2099-01-01\n'
    )
    for _ in range(3):
        pytester.runpytest("--target", "sandbox", "--signoff-by", "Jane Doe")
    report = json.loads((pytester.path / "reports" / "readiness.json").read_text())
    assert len(report["checks"]) == 8
    return RenderedReport(
        pytester.path / "reports" / "readiness.html", report["verdict"], [c["id"] for c in report["checks"]]
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
def test_report_reads_and_prints_in_chromium(
    browser: Any, rendered_report: RenderedReport, tmp_path: Path, javascript: bool
) -> None:
    context = browser.new_context(java_script_enabled=javascript)
    try:
        page = context.new_page()
        problems: list[str] = []

        def on_console(message: Any) -> None:
            if message.type == "error":
                problems.append(f"console error: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))

        page.goto(rendered_report.path.as_uri(), wait_until="load")

        body = page.inner_text("body")  # rendered text only: hidden elements are left out
        assert body.lstrip().startswith("SANDBOX RUN")
        assert rendered_report.verdict in body
        assert page.get_by_text(rendered_report.verdict, exact=True).first.is_visible()
        missing = [check_id for check_id in rendered_report.check_ids if check_id not in body]
        assert not missing, f"check ids not visible: {missing}"
        for check_id in rendered_report.check_ids:
            assert page.locator(f'[id="check-{check_id}"] .check-id').is_visible()
        assert page.title().startswith("SANDBOX RUN")
        assert requests == [rendered_report.path.as_uri()]  # nothing but the file itself

        pdf = tmp_path / f"readiness-{'js' if javascript else 'nojs'}.pdf"
        page.pdf(path=str(pdf), format="A4", print_background=True)
        data = pdf.read_bytes()
        assert data.startswith(b"%PDF")
        assert len(data) > 10_000
        assert not problems, problems
    finally:
        context.close()


#: Where the screenshots go when set (CI keeps them as artifacts); else the test's own folder.
ARTIFACTS = "READINESS_BROWSER_ARTIFACTS"
#: A PDF page object (``/Type /Pages`` is the page tree, not a page).
PDF_PAGE = re.compile(rb"/Type\s*/Page(?!s)")


def _artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get(ARTIFACTS) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def all_pass_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A healthy sandbox preflight of the whole catalogue, as an operator's first rehearsal writes it."""
    folder = tmp_path_factory.mktemp("all-pass")
    done = run_pytest("-m", "preflight", "--target", "sandbox", "-p", "no:randomly", cwd=folder)
    report = json.loads((folder / "reports" / "readiness.json").read_text("utf-8"))
    assert report["verdict"] == "GO", done.stdout[-3000:]
    return folder / "reports" / "readiness.html"


def test_an_all_pass_report_prints_on_three_pages_at_most(
    browser: Any, all_pass_report: Path, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    try:
        page.goto(all_pass_report.as_uri(), wait_until="load")
        artifacts = _artifacts(tmp_path)
        page.screenshot(path=str(artifacts / "all-pass-screen.png"), full_page=True)
        title = page.locator(".g-fine .check-title").first
        remedy = page.locator(".g-fine details.remedy-quiet").first
        assert title.is_visible() and remedy.is_visible()  # readable on screen
        pdf = artifacts / "all-pass.pdf"
        page.pdf(path=str(pdf), format="A4", print_background=True)
        pages = len(PDF_PAGE.findall(pdf.read_bytes()))
        assert 1 <= pages <= 3, f"an all-pass report prints on {pages} pages"
        page.emulate_media(media="print")
        page.screenshot(path=str(artifacts / "all-pass-print.png"), full_page=True)
        assert not title.is_visible() and not remedy.is_visible()  # collapsed in print
        assert page.locator("#checks").get_by_text("release.bot_repo_clean").is_visible()
        assert page.locator("#evidence").get_by_text("(this run)").is_visible()
    finally:
        page.close()


@pytest.mark.parametrize("which", ["all-pass", "every-outcome"])
def test_the_verdict_box_and_the_gauge_share_the_verdicts_colour(
    browser: Any, all_pass_report: Path, rendered_report: RenderedReport, tmp_path: Path, which: str
) -> None:
    path = all_pass_report if which == "all-pass" else rendered_report.path
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    try:
        page.goto(path.as_uri(), wait_until="load")
        page.locator(".summary").screenshot(path=str(_artifacts(tmp_path) / f"verdict-{which}.png"))
        word = page.locator(".verdict-word").evaluate("e => getComputedStyle(e).color")
        gauge = page.locator(".gauge-number").evaluate("e => getComputedStyle(e).fill")
        assert word == gauge
        expected = "rgb(26, 127, 55)" if which == "all-pass" else "rgb(207, 34, 46)"  # --go, --nogo
        assert word == expected
        if which == "every-outcome":  # the root cause and its fix lead the box
            box = page.locator(".verdict").inner_text()
            assert "b.failed failed" in box and "Fix: Fix <b.failed>" in box
            assert box.index("Root causes") < box.index("score")
    finally:
        page.close()
