"""The built-in check catalogue: where it is installed, when it joins a run, which checks it has.

The catalogue is the ``readiness.checks`` package (the repo's top-level ``checks/`` folder). It
joins a run whenever the run selects a phase or a layer (``-m preflight``, ``-m component``) or
collects any of its files, unless ``--no-readiness-catalogue`` leaves it out.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import pkgutil
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import pytest

from .spec import LAYERS, PHASES, CheckSpec, spec_from_marker

PACKAGE = "readiness.checks"
_EXPRESSION_WORDS = frozenset({"and", "or", "not"})
_NAME = re.compile(r"[A-Za-z_][\w.]*")


@functools.cache
def catalogue_dir() -> Path | None:
    """The installed catalogue's folder, or ``None`` when the package ships without it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def in_catalogue(path: Path) -> bool:
    folder = catalogue_dir()
    return folder is not None and path.resolve().is_relative_to(folder)


def expression_names(config: pytest.Config) -> set[str]:
    """The marker names a ``-m`` expression mentions."""
    expression = config.getoption("markexpr", "") or ""
    return {word for word in _NAME.findall(expression) if word not in _EXPRESSION_WORDS}


def selects_phase_or_layer(config: pytest.Config) -> bool:
    return bool(expression_names(config) & {*LAYERS, *PHASES})


def excluded(config: pytest.Config) -> bool:
    return bool(config.getoption("readiness_no_catalogue"))


def add_to_collection(config: pytest.Config) -> None:
    """Collect the catalogue beside the folder's own tests when the run selects a phase or layer.

    Only when pytest collects its default paths (the invocation folder or ``testpaths``): when
    files or node ids are named, the run is what was named, and the verdict says it is partial.
    """
    folder = catalogue_dir()
    if folder is None or excluded(config) or not selects_phase_or_layer(config):
        return
    if config.args_source is pytest.Config.ArgsSource.ARGS:
        return
    invocation = Path(config.invocation_params.dir)
    for arg in config.args:
        path = (invocation / arg.split("::", 1)[0]).resolve()
        if folder.is_relative_to(path) or path.is_relative_to(folder):
            return
    config.args.append(str(folder))


@functools.cache
def catalogue_specs() -> Mapping[str, CheckSpec]:
    """Every built-in check by id, read from the catalogue's modules without collecting them."""
    specs: dict[str, CheckSpec] = {}
    if catalogue_dir() is None:
        return specs
    package = importlib.import_module(PACKAGE)
    for info in pkgutil.walk_packages(package.__path__, prefix=PACKAGE + "."):
        if info.ispkg or not info.name.rsplit(".", 1)[-1].startswith("test_"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # third-party import-time deprecations are not ours
            module = importlib.import_module(info.name)
        for _, function in inspect.getmembers(module, inspect.isfunction):
            for mark in getattr(function, "pytestmark", ()):
                if mark.name == "readiness":
                    spec = spec_from_marker(mark, function.__doc__)
                    specs[spec.id] = spec
    return specs
