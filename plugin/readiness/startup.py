"""Placeholder until path-option checking lands."""

from __future__ import annotations

from collections.abc import Sequence

import pytest


def check_path_options(config: pytest.Config, args: Sequence[str]) -> None:
    return None
