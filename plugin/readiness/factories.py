"""``package.module:attribute`` strings (a risk-manager factory, a bot profile) resolved to the object."""

from __future__ import annotations

import importlib
from typing import Any


class FactoryError(Exception):
    """The module cannot be imported or lacks the attribute; the message says which."""


def resolve(spec: str) -> Any:
    """The object ``spec`` (``module:attr.attr``) names; raises :class:`FactoryError`."""
    module_name, _, attribute = spec.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise FactoryError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise FactoryError(f"{module_name!r} has no attribute {attribute!r}") from None
    return target
