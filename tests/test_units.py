"""Pure pieces: the redactor, dependency relabelling, scoring edge cases."""

from __future__ import annotations

import pytest

from readiness.redact import Redactor
from readiness.scoring import CheckResult, Outcome, Thresholds, apply_dependencies, assess, score
from readiness.spec import CheckSpec


def _result(check_id: str, outcome: Outcome, tier: int = 2, depends: tuple[str, ...] = ()) -> CheckResult:
    spec = CheckSpec(
        check_id, "component", tier, check_id, "fix", {1: 5.0, 2: 3.0, 3: 1.0}[tier], ("preflight",), depends
    )
    return CheckResult(spec=spec, nodeid=f"t.py::{check_id}", outcome=outcome)


def test_redactor_masks_values_encodings_and_token_shapes() -> None:
    redact = Redactor(["s3cr3t/value+x", "abc"])
    assert redact("key=s3cr3t/value+x") == "key=***"
    assert redact("q=s3cr3t%2Fvalue%2Bx&") == "q=***&"
    assert redact("bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe") == "bot***/getMe"
    assert redact("abc stays: too short to be a credential") == "abc stays: too short to be a credential"
    assert Redactor.from_environ({"MY_API_KEY": "k-123456", "HOME": "/root"})("k-123456 /root") == "*** /root"


def test_dependency_cycle_terminates() -> None:
    """Cycles are refused at collection; scoring still must not recurse forever on one."""
    results = [
        _result("a.one", Outcome.FAILED, depends=("a.two",)),
        _result("a.two", Outcome.PASSED, depends=("a.one",)),
    ]
    apply_dependencies(results)
    assert results[0].outcome is Outcome.FAILED


def test_not_applicable_dependency_does_not_block() -> None:
    results = [_result("a.na", Outcome.NOT_APPLICABLE), _result("a.dep", Outcome.PASSED, depends=("a.na",))]
    apply_dependencies(results)
    assert results[1].outcome is Outcome.PASSED


def test_score_is_zero_without_countable_checks() -> None:
    assert score([]) == 0.0
    assert score([_result("a.na", Outcome.NOT_APPLICABLE)]) == 0.0


@pytest.mark.parametrize(
    ("outcome", "verdict"),
    [
        (Outcome.PASSED, "GO"),
        (Outcome.WARNED, "GO"),
        (Outcome.NOT_APPLICABLE, "GO"),
        (Outcome.SKIPPED, "NO-GO"),
        (Outcome.BLOCKED, "NO-GO"),
        (Outcome.ERROR, "NO-GO"),
    ],
)
def test_tier_one_outcomes(outcome: Outcome, verdict: str) -> None:
    results = [_result("a.t1", outcome, tier=1), *[_result(f"a.p{i}", Outcome.PASSED) for i in range(30)]]
    assert str(assess(results, thresholds=Thresholds()).verdict) == verdict


def test_score_exactly_at_thresholds() -> None:
    thresholds = Thresholds(go=75, conditional=50)
    go = [
        _result("a.p", Outcome.PASSED),
        _result("b.p", Outcome.PASSED),
        _result("c.p", Outcome.PASSED),
        _result("d.f", Outcome.FAILED),
    ]
    assert str(assess(go, thresholds=thresholds).verdict) == "GO"
    conditional = [_result("a.p", Outcome.PASSED), _result("b.f", Outcome.FAILED)]
    assert str(assess(conditional, thresholds=thresholds).verdict) == "CONDITIONAL GO"
