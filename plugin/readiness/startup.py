"""Path options written with a space, and the project configuration pytest chose before it knew them.

pytest finds the rootdir and the ini file before any plugin has added its options, so in
``--readiness-dir reports/`` it takes ``reports/`` for a test path. When that folder lies outside
the project, pytest settles on a different rootdir and ini file and the run goes on with the
project's configuration silently lost. Once our options are known, the choice is made again with
the real test paths; if it differs, the run stops before anything runs, with the ``=`` spelling
(which pytest reads correctly from the start).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import pytest
from _pytest.config.findpaths import determine_setup

from .options import GROUP


def check_path_options(config: pytest.Config, parser: pytest.Parser, args: Sequence[str]) -> None:
    spaced = list(_spaced_values(parser, args))
    if not spaced:
        return
    ns = config.known_args_namespace
    rootpath, inipath, _, _ = determine_setup(
        inifile=ns.inifilename,
        override_ini=ns.override_ini,
        args=ns.file_or_dir,
        rootdir_cmd_arg=ns.rootdir or None,
        invocation_dir=config.invocation_params.dir,
    )
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    option, value = spaced[0]
    raise pytest.UsageError(
        f"{option} {value}: write it as {option}={value} — written with a space, pytest took "
        f"{value} for a test path and chose rootdir {config.rootpath} "
        f"(configfile {config.inipath or 'none'}) instead of {rootpath} "
        f"(configfile {inipath or 'none'})"
    )


def _spaced_values(parser: pytest.Parser, args: Sequence[str]) -> Iterator[tuple[str, str]]:
    """Yield (option, value) for each of our value-taking options written as two words."""
    group = parser.getgroup(GROUP)
    valued = {
        name
        for option in group.options
        if option.attrs().get("action", "store") == "store"
        for name in option.names()
    }
    for option, value in itertools.pairwise(args):
        if option in valued:
            yield option, value
