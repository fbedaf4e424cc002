"""freqtrade's config.json read as risk limits: what it has is judged, what it lacks is named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from readiness.profiles.freqtrade import NO_COUNTERPART, read_risk_limits

GOOD = {"max_open_trades": 3, "stake_amount": 100, "stoploss": -0.1, "tradable_balance_ratio": 0.99}


def _read(tmp_path: Path, config: Any) -> Any:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config) if not isinstance(config, str) else config)
    before = path.read_bytes()
    limits = read_risk_limits(path)
    assert path.read_bytes() == before
    return limits


def test_a_sound_config_gives_the_reference_limits_it_has_counterparts_for(tmp_path: Path) -> None:
    limits = _read(tmp_path, GOOD)
    assert limits.problems == []
    assert limits.values == {
        "max_open_positions": 3.0,
        "max_position_usdt": 100.0,
        "max_loss_per_trade_usdt": 10.0,
    }
    assert [n.split(" has no counterpart")[0] for n in limits.notes] == list(NO_COUNTERPART)
    assert limits.warnings == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"max_open_trades": -1}, "max_open_trades is -1 (unlimited): nothing caps the open positions"),
        ({"max_open_trades": 2.5}, "max_open_trades must be a whole number >= 1, got 2.5"),
        ({"max_open_trades": "3"}, "max_open_trades must be a whole number >= 1, got '3'"),
        ({"stake_amount": 0}, "stake_amount must be a positive number or 'unlimited', got 0"),
        ({"stoploss": 0.1}, "stoploss must be a number between -1 and 0 (e.g. -0.1 for 10 %), got 0.1"),
        ({"stoploss": -1}, "stoploss must be a number between -1 and 0 (e.g. -0.1 for 10 %), got -1"),
        ({"tradable_balance_ratio": 1.5}, "tradable_balance_ratio must be a number in (0, 1], got 1.5"),
    ],
)
def test_each_unsafe_limit_is_a_problem_naming_its_key(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    limits = _read(tmp_path, {**GOOD, **change})
    assert limits.problems == [problem]
    assert limits.remediation and str(tmp_path / "config.json") in limits.remediation


def test_what_the_strategy_may_hold_is_a_warning(tmp_path: Path) -> None:
    limits = _read(
        tmp_path, {**{k: v for k, v in GOOD.items() if k != "stoploss"}, "stake_amount": "unlimited"}
    )
    assert limits.problems == []
    assert "stoploss is not in the config: the strategy's stoploss applies" in limits.warnings
    assert "stake_amount is 'unlimited': each trade stakes a share of the whole balance" in limits.warnings


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{not json", "not JSON: "), ("[1, 2]", "not a JSON object but list"), ("", "not JSON: ")],
)
def test_a_file_that_is_not_a_config_says_so(tmp_path: Path, text: str, problem: str) -> None:
    limits = _read(tmp_path, text)
    assert len(limits.problems) == 1 and limits.problems[0].startswith(problem)
