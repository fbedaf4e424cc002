"""The ``tried`` fixture: a reliability test names the case it tries, for the closing table."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .summary import CATEGORIES, PROPERTY

Tried = Callable[..., None]


@pytest.fixture
def tried(request: pytest.FixtureRequest) -> Tried:
    """``tried(category, case, figure="")``: the case held if this test passes."""

    def record(category: str, case: str, figure: str = "") -> None:
        assert category in CATEGORIES, category
        properties = request.node.user_properties
        properties[:] = [p for p in properties if p[0] != PROPERTY]
        properties.append((PROPERTY, (category, case, figure)))

    return record
