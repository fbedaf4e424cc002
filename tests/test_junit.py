"""JUnit XML: every readiness check's test case names its check, layer, tier and readiness outcome."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

SUITE = """
import pytest

def check(check_id, tier=2, **extra):
    return pytest.mark.readiness(id=check_id, layer=extra.pop("layer", "component"), tier=tier,
                                 title=check_id, remediation="fix " + check_id, **extra)

@pytest.fixture
def broken():
    raise RuntimeError("no database")

@pytest.fixture
def fails_after():
    yield
    raise RuntimeError("cleanup failed")

@check("j.key", tier=1)
def test_key():
    assert False, "key rejected"

@check("j.trade", depends=("j.key",))
def test_trade():
    pass

@check("j.ok", tier=3, layer="system")
def test_ok():
    pass

@check("j.disk", layer="system")
def test_disk(readiness):
    readiness.warn("disk 80% full")

@check("j.na", layer="system")
def test_na(readiness):
    readiness.not_applicable("mainnet only")

@check("j.config", layer="system")
def test_config():
    pytest.skip("not configured")

@check("j.db", layer="integration")
def test_db(broken):
    pass

@check("j.cleanup", layer="integration")
def test_cleanup(fails_after):
    pass

@check("j.twice", layer="integration")
def test_twice(fails_after):
    assert False, "call failed too"

def test_plain():
    pass
"""
EXPECTED = {
    "test_key": ("j.key", "component", "1", "failed"),
    "test_trade": ("j.trade", "component", "2", "blocked"),
    "test_ok": ("j.ok", "system", "3", "passed"),
    "test_disk": ("j.disk", "system", "2", "warned"),
    "test_na": ("j.na", "system", "2", "not_applicable"),
    "test_config": ("j.config", "system", "2", "skipped"),
    "test_db": ("j.db", "integration", "2", "error"),
    "test_cleanup": ("j.cleanup", "integration", "2", "error"),
    "test_twice": ("j.twice", "integration", "2", "failed"),
}


def _properties(path: str) -> dict[str, list[dict[str, str]]]:
    """Each test case's properties by test name (a failed call with a failed teardown makes two)."""
    found: dict[str, list[dict[str, str]]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        properties = {p.get("name", ""): p.get("value", "") for p in case.findall("properties/property")}
        found.setdefault(case.get("name", ""), []).append(properties)
    return found


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
@pytest.mark.parametrize("workers", [(), ("-n", "2", "--dist", "loadfile")], ids=["serial", "xdist"])
def test_every_check_case_carries_its_readiness_properties(
    pytester: pytest.Pytester, family: str, workers: tuple[str, ...]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    run = pytester.runpytest_subprocess if workers else pytester.runpytest
    run("--junitxml=junit.xml", "-o", f"junit_family={family}", *workers)
    cases = _properties(str(pytester.path / "junit.xml"))
    assert cases["test_plain"] == [{}]
    assert len(cases["test_twice"]) == 2  # the failed call and the failed teardown
    for name, values in EXPECTED.items():
        expected = dict(zip(("readiness_id", "layer", "tier", "outcome"), values, strict=True))
        assert cases[name] and all(properties == expected for properties in cases[name]), (name, cases[name])
